// Encode-once: each event is serialized to protobuf at most once, however many streams carry it.
// The streaming methods' serializer passes those bytes through untouched.
import type { TaskEvent } from '../model/task';

type Serialize = (value: unknown) => Buffer;

export interface EventCodec {
  encode(event: TaskEvent): Buffer;
  /** The serializer to install on streaming methods: Buffers pass through, objects are encoded. */
  passThrough: Serialize;
}

export function createEventCodec(serializeTaskEvent: Serialize): EventCodec {
  const cache = new WeakMap<TaskEvent, Buffer>();
  return {
    encode(event) {
      let bytes = cache.get(event);
      if (bytes === undefined) {
        bytes = serializeTaskEvent(event);
        cache.set(event, bytes);
      }
      return bytes;
    },
    passThrough: (value) => (Buffer.isBuffer(value) ? value : serializeTaskEvent(value)),
  };
}
