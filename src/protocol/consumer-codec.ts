// ConsumeTaskEvents responses. A delivery carries the event's bytes as encoded at commit, wrapped
// by hand (two length-delimited fields and a varint), so a delivery costs no decode or encode of
// the event; the other responses are encoded by protobufjs. Both sides of the wire are the
// generated rigger.v1.ConsumeResponse.
import type * as grpc from '@grpc/grpc-js';
import type { ConsumeResponse } from '../generated/rigger/v1/ConsumeResponse';
import { loadProto, SERVICE_NAME } from './proto';

/** Field 1 (delivery / event), wire type 2 (length-delimited). */
const TAG_FIELD_1_BYTES = 0x0a;
/** Field 2 (attempt), wire type 0 (varint). */
const TAG_FIELD_2_VARINT = 0x10;
/** Field 3 (delivery_id), wire type 2 (length-delimited). */
const TAG_FIELD_3_BYTES = 0x1a;

function varint(value: number): number[] {
  const bytes: number[] = [];
  let v = value;
  while (v > 0x7f) {
    bytes.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  bytes.push(v);
  return bytes;
}

/** ConsumeResponse{ delivery: ConsumerDelivery{ event: <encoded TaskEvent>, attempt, delivery_id } } (an ASCII id). */
export function encodeDelivery(encodedEvent: Buffer, attempt: number, deliveryId: string): Buffer {
  const inner = [TAG_FIELD_1_BYTES, ...varint(encodedEvent.length)];
  const tail = Buffer.from([TAG_FIELD_2_VARINT, ...varint(attempt), TAG_FIELD_3_BYTES, ...varint(deliveryId.length), ...Buffer.from(deliveryId, 'latin1')]);
  const innerLength = inner.length + encodedEvent.length + tail.length;
  const head = Buffer.from([TAG_FIELD_1_BYTES, ...varint(innerLength), ...inner]);
  return Buffer.concat([head, encodedEvent, tail], head.length + encodedEvent.length + tail.length);
}

type Serialize = (value: unknown) => Buffer;
let serialize: Serialize | undefined;

/** Any other ConsumeResponse (acks_committed, joined), encoded by protobufjs. */
export function encodeConsumeResponse(response: ConsumeResponse): Buffer {
  serialize ??= (loadProto().definition[SERVICE_NAME] as grpc.ServiceDefinition).ConsumeTaskEvents!.responseSerialize as Serialize;
  return serialize(response);
}
