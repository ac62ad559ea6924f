// Domain errors. Each kind maps to one gRPC status code (src/grpc/errors.ts) and to exit code 1 on
// the CLI; the message always says what was wrong and, where it can, how to fix it.

export type ErrorKind =
  | 'invalid_argument'
  | 'not_found'
  | 'conflict' // a precondition the caller set does not hold (expected_version)
  | 'out_of_range' // asked for history the log no longer keeps
  | 'unavailable' // the store is busy or shutting down; retrying later can succeed
  | 'storage_full'
  | 'permission_denied'
  | 'unauthenticated'
  | 'resource_exhausted'
  | 'internal';

export class RiggerError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    readonly details: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'RiggerError';
  }
}

export const invalidArgument = (message: string) => new RiggerError('invalid_argument', message);
export const notFound = (message: string) => new RiggerError('not_found', message);
