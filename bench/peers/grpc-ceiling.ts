// The transport ceiling: a bare grpc-js server (no store, no hub) that streams one pre-encoded
// buffer of the hub's event size to every open stream, as fast as each stream drains.
import * as grpc from '@grpc/grpc-js';
import { serveCommands } from '../ipc';
import { listenOnLoopback } from './listen';
import { rawServerStreamDefinition } from '../wire';

const WRITES_PER_TURN = 256;

let payload = Buffer.alloc(200, 120);
let pumping = false;
const open = new Set<grpc.ServerWritableStream<Buffer, Buffer>>();

/** Writes to one stream until it is full, then again when it drains; yields every WRITES_PER_TURN. */
function pump(stream: grpc.ServerWritableStream<Buffer, Buffer>): void {
  if (!pumping || !open.has(stream)) return;
  for (let i = 0; i < WRITES_PER_TURN; i++) {
    if (!stream.write(payload)) {
      stream.once('drain', () => pump(stream));
      return;
    }
  }
  setImmediate(() => pump(stream));
}

const server = new grpc.Server();
server.addService(rawServerStreamDefinition(), {
  Stream(call: grpc.ServerWritableStream<Buffer, Buffer>) {
    open.add(call);
    const release = () => open.delete(call);
    call.on('cancelled', release);
    call.on('close', release);
    call.on('error', release);
    call.sendMetadata(new grpc.Metadata());
    if (pumping) pump(call);
  },
});

serveCommands({
  listen: () => listenOnLoopback(server),
  start({ size }: { size: number }) {
    payload = Buffer.alloc(size, 120);
    pumping = true;
    for (const stream of open) pump(stream);
    return { streams: open.size };
  },
  stop() {
    pumping = false;
    return {};
  },
});
