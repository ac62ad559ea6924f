// gRPC metadata names of the rigger protocol: what the server sends and what clients read. Both
// sides import them from here, so a header is spelled in one place.

/** Response header of an event stream: the sequence after which its events start. */
export const POSITION_HEADER = 'x-rigger-position';
/** Response header of an event stream, and trailer of a FAILED_PRECONDITION position: the log's identity, which its positions are of. */
export const LOG_ID_HEADER = 'x-rigger-log-id';
/** Trailer of a FAILED_PRECONDITION position: the last sequence the log shares with the position's identity. */
export const PARTED_AFTER_TRAILER = 'x-rigger-parted-after';
/** Request header naming who made a change (recorded as the event's actor). */
export const ACTOR_HEADER = 'x-rigger-actor';
/** Request header carrying `Bearer <token>`. */
export const AUTHORIZATION_HEADER = 'authorization';
/** Trailer of an OUT_OF_RANGE status: the oldest sequence the server still holds. */
export const OLDEST_SEQUENCE_TRAILER = 'x-rigger-oldest-sequence';
/** Trailer of an OUT_OF_RANGE status for a sequence from the future: the newest one. */
export const LATEST_SEQUENCE_TRAILER = 'x-rigger-latest-sequence';

/** Which RiggerError detail travels as which trailer; other details stay on the server. */
export const DETAIL_TRAILERS: Readonly<Record<string, string>> = {
  oldest_sequence: OLDEST_SEQUENCE_TRAILER,
  latest_sequence: LATEST_SEQUENCE_TRAILER,
  log_id: LOG_ID_HEADER,
  parted_after: PARTED_AFTER_TRAILER,
};

/** Request header naming the client program (e.g. "logger/4711": a kind, then what tells instances apart), shown by GetHubStatus. */
export const CLIENT_NAME_HEADER = 'x-rigger-client-name';
