// The JSON of one task event, as every sidecar that forwards events writes it (the NATS bridge's
// payload, the webhook's --format json body, the exec sidecar's stdin): the TaskEvent as the wire
// decodes it, with the proto's field names (snake_case) and enums as numbers. One encoder, so the
// three stay byte-for-byte the same.
import type { TaskEvent } from '../src/model/task';

export function eventJson(event: TaskEvent): string {
  return JSON.stringify(event);
}
