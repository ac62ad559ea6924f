// Encode-once: an event is encoded when it is committed (the store keeps the bytes in the log) and
// every stream that carries it is handed those bytes. The streaming methods' serializer passes them
// through untouched.
import type * as grpc from '@grpc/grpc-js';
import type { EventEncoder } from '../model/logged-event';
import { loadProto, SERVICE_NAME } from './proto';

type Serialize = (value: unknown) => Buffer;

let serializeTaskEvent: Serialize | undefined;

/** rigger.v1.TaskEvent's protobuf encoding, as every client decodes it. The contract loads on first use. */
export const encodeTaskEvent: EventEncoder = (event) => {
  serializeTaskEvent ??= (loadProto().definition[SERVICE_NAME] as grpc.ServiceDefinition).SubscribeToTaskEvents!
    .responseSerialize as Serialize;
  return serializeTaskEvent(event);
};

/** The serializer of the event streams, which only ever send encoded events: the bytes pass through. */
export const passThroughSerializer: Serialize = (value) => {
  if (!Buffer.isBuffer(value)) throw new TypeError('event streams send encoded events (Buffers) only');
  return value;
};
