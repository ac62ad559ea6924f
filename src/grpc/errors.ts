import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { RiggerError, type ErrorKind } from '../model/errors';
import { DETAIL_TRAILERS } from '../protocol/metadata';

const STATUS_BY_KIND: Record<ErrorKind, grpc.status> = {
  invalid_argument: grpc.status.INVALID_ARGUMENT,
  not_found: grpc.status.NOT_FOUND,
  conflict: grpc.status.FAILED_PRECONDITION,
  out_of_range: grpc.status.OUT_OF_RANGE,
  unavailable: grpc.status.UNAVAILABLE,
  storage_full: grpc.status.RESOURCE_EXHAUSTED,
  permission_denied: grpc.status.PERMISSION_DENIED,
  unauthenticated: grpc.status.UNAUTHENTICATED,
  resource_exhausted: grpc.status.RESOURCE_EXHAUSTED,
  internal: grpc.status.INTERNAL,
};

/** A domain error as a gRPC status; the details clients act on travel as trailers (DETAIL_TRAILERS). */
export function toServiceError(error: unknown, logger: Logger): grpc.StatusObject {
  const metadata = new grpc.Metadata();
  if (error instanceof RiggerError) {
    for (const [key, value] of Object.entries(error.details)) {
      const trailer = DETAIL_TRAILERS[key];
      if (trailer !== undefined) metadata.set(trailer, value);
    }
    return { code: STATUS_BY_KIND[error.kind], details: boundedDetails(error.message), metadata };
  }
  logger.error({ err: error }, 'unexpected error in a call');
  return { code: grpc.status.INTERNAL, details: boundedDetails(`internal error: ${(error as Error)?.message ?? String(error)}`), metadata };
}

/** Longest status message sent, in characters. */
const MAX_DETAILS_CHARS = 2000;

// Messages quote the offending input. Unbounded, a huge input becomes a grpc-message trailer larger
// than the client accepts, and the call (with the whole connection) stalls instead of failing.
function boundedDetails(message: string): string {
  if (message.length <= MAX_DETAILS_CHARS) return message;
  const keep = MAX_DETAILS_CHARS / 2 - 20;
  return `${message.slice(0, keep)} ...[${message.length - 2 * keep} characters cut]... ${message.slice(-keep)}`;
}
