// Encode-once: an event is encoded when it is committed (the store keeps the bytes in the log) and
// every stream that carries it is handed those bytes. The streaming methods' serializer passes them
// through untouched.
import type * as grpc from '@grpc/grpc-js';
import type { EventEncoder } from '../model/logged-event';
import { loadDefinition, SERVICE_NAME } from './proto';

type Serialize = (value: unknown) => Buffer;

let serializeTaskEvent: Serialize | undefined;

function serializer(): Serialize {
  if (!serializeTaskEvent) {
    const serialize = (loadDefinition()[SERVICE_NAME] as grpc.ServiceDefinition).SubscribeToTaskEvents!.responseSerialize as Serialize;
    // protobufjs compiles a type's encoder on its first use; do that now, not inside a write transaction.
    const task = { id: '', title: '', status: 1, subtask_ids: [], created_at: '', updated_at: '', context_files: [], dependencies: [], version: 1 };
    serialize({
      sequence: 1,
      event_id: '',
      timestamp: '',
      event_type: 2,
      task,
      previous_task: task,
      actor: '',
      metadata: { k: 'v' },
      changed_fields: ['title'],
    });
    serializeTaskEvent = serialize;
  }
  return serializeTaskEvent;
}

/** rigger.v1.TaskEvent's protobuf encoding, as every client decodes it. The contract loads on first use. */
export const taskEventEncoder: EventEncoder = {
  prepare: () => void serializer(),
  encode: (event) => serializer()(event),
};

/** The serializer of the event streams, which only ever send encoded events: the bytes pass through. */
export const passThroughSerializer: Serialize = (value) => {
  if (!Buffer.isBuffer(value)) throw new TypeError('event streams send encoded events (Buffers) only');
  return value;
};
