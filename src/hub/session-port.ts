// What every stream session (subscribe-session.ts, event-stream-session.ts, consume-session.ts)
// needs of its transport and its logger; src/grpc/stream-ports.ts implements the ports over gRPC.

export interface SessionPort {
  /** The client's address as the transport sees it. */
  readonly peer: string;
  /** Bytes written to the stream and not yet let out to the client. */
  readonly queuedBytes: number;
  /** Ends the stream with `error` as its status. */
  fail(error: unknown): void;
}

export interface SessionLogger {
  debug(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}
