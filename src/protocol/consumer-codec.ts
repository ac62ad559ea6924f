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

function varintSize(value: number): number {
  let size = 1;
  for (let v = value; v > 0x7f; v = Math.floor(v / 128)) size++;
  return size;
}

function writeVarint(out: Buffer, at: number, value: number): number {
  let v = value;
  while (v > 0x7f) {
    out[at++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  out[at++] = v;
  return at;
}

/** ConsumeResponse{ delivery: ConsumerDelivery{ event: <encoded TaskEvent>, attempt, delivery_id } } (an ASCII id), in one allocation. */
export function encodeDelivery(encodedEvent: Buffer, attempt: number, deliveryId: string): Buffer {
  const eventLength = encodedEvent.length;
  const innerLength = 1 + varintSize(eventLength) + eventLength + 1 + varintSize(attempt) + 1 + varintSize(deliveryId.length) + deliveryId.length;
  const out = Buffer.allocUnsafe(1 + varintSize(innerLength) + innerLength);
  let at = 0;
  out[at++] = TAG_FIELD_1_BYTES;
  at = writeVarint(out, at, innerLength);
  out[at++] = TAG_FIELD_1_BYTES;
  at = writeVarint(out, at, eventLength);
  at += encodedEvent.copy(out, at);
  out[at++] = TAG_FIELD_2_VARINT;
  at = writeVarint(out, at, attempt);
  out[at++] = TAG_FIELD_3_BYTES;
  at = writeVarint(out, at, deliveryId.length);
  out.write(deliveryId, at, 'latin1');
  return out;
}

type Serialize = (value: unknown) => Buffer;
let serialize: Serialize | undefined;

/** Any other ConsumeResponse (acks_committed, joined), encoded by protobufjs. */
export function encodeConsumeResponse(response: ConsumeResponse): Buffer {
  serialize ??= (loadProto().definition[SERVICE_NAME] as grpc.ServiceDefinition).ConsumeTaskEvents!.responseSerialize as Serialize;
  return serialize(response);
}
