// The HTTP/2 flow-control window the server grants each inbound stream. grpc-js decodes every
// message that arrives in the window and holds it until the handler asks for it; TaskEventStream
// asks for one update at a time, so with node's default window a client flooding updates parks
// about a second of work on the server, long enough for it to reach V8's old generation and stay
// there until a full collection. A small window keeps that backlog to a few milliseconds; a large
// request costs only more WINDOW_UPDATE round trips (docs/operations.md#memory-and-limits).
import type * as http2 from 'node:http2';
import type * as grpc from '@grpc/grpc-js';

export const INBOUND_STREAM_WINDOW_BYTES = 8 * 1024;

type Http2Servers = Map<http2.Http2Server | http2.Http2SecureServer, unknown>;

/** Applies the window to every HTTP/2 server grpc-js has bound so far (it takes no such channel option). */
export function limitInboundWindow(server: grpc.Server): void {
  const servers = (server as unknown as { http2Servers?: Http2Servers }).http2Servers;
  // A grpc-js that moved this field must fail loudly here, not silently lose the bound.
  if (!(servers instanceof Map)) throw new Error('grpc-js keeps no http2Servers map; src/grpc/inbound-window.ts needs updating for this grpc-js version');
  for (const http2Server of servers.keys()) http2Server.updateSettings({ initialWindowSize: INBOUND_STREAM_WINDOW_BYTES });
}
