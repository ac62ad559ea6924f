// Encode-once: an event is encoded when it is committed (the store keeps the bytes in the log) and
// every stream that carries it is handed those bytes. The streaming methods' serializer passes them
// through untouched.
import type { EventEncoder } from '../model/logged-event';
import { loadMessageType } from './proto';

type Serialize = (value: unknown) => Buffer;

let serializeTaskEvent: Serialize | undefined;

function serializer(): Serialize {
  if (!serializeTaskEvent) {
    const type = loadMessageType('rigger.v1.TaskEvent');
    const serialize: Serialize = (value) => type.encode(type.fromObject(value as object)).finish() as Buffer;
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
