import * as grpc from '@grpc/grpc-js';
import { OLDEST_SEQUENCE_TRAILER } from '../protocol/metadata';

/**
 * Why an event stream ended. `retryable` streams are resumed by the client on its own
 * (UNAVAILABLE: server restart, connection lost); every other code ends the subscription and
 * reaches the caller, OUT_OF_RANGE above all: the history needed to resume is gone, and only the
 * caller can decide how to recover (re-list, then resume from `oldestSequence - 1`, say).
 */
export class StreamError extends Error {
  constructor(
    readonly code: grpc.status,
    readonly details: string,
    readonly metadata: grpc.Metadata = new grpc.Metadata(),
  ) {
    super(`${grpc.status[code] ?? code}: ${details}`);
    this.name = 'StreamError';
  }

  static from(error: grpc.ServiceError): StreamError {
    return new StreamError(error.code, error.details, error.metadata);
  }

  get retryable(): boolean {
    if (this.code === grpc.status.UNAVAILABLE) return true;
    // A dropped HTTP/2 stream can surface as INTERNAL "Received RST_STREAM ..." instead.
    return this.code === grpc.status.INTERNAL && /RST_STREAM/.test(this.details);
  }

  /** For OUT_OF_RANGE: the oldest sequence the server still holds (from `x-rigger-oldest-sequence`). */
  get oldestSequence(): number | undefined {
    const value = this.metadata.get(OLDEST_SEQUENCE_TRAILER)[0];
    return value === undefined ? undefined : Number(value);
  }
}
