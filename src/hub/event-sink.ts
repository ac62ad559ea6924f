// The back-pressure contract between a subscription and where it delivers; its own file so the
// subscription and its bookmark clock both depend on it instead of on each other.
import type { RiggerError } from '../model/errors';
import type { LoggedEvent } from '../model/logged-event';

/** Where a subscription delivers: a gRPC stream, or anything else with the same back-pressure contract. */
export interface EventSink {
  /** Delivers one matching event (or snapshot entry); false means the sink is full and more must wait for onDrain. */
  write(event: LoggedEvent): boolean;
  /** Delivers a bookmark at `sequence` (the sink encodes it); false as for write. */
  writeBookmark(sequence: number): boolean;
  /** Calls `callback` once, when the sink can take events again. */
  onDrain(callback: () => void): void;
  /** Ends the stream with an error (history compacted away, server shutting down). */
  fail(error: RiggerError): void;
}
