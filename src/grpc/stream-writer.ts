// Writes an event stream's pre-encoded messages straight to its call, many per turn of the event
// loop. grpc-js's ServerWritableStream is a Node Writable that hands the call one message and waits
// for that write to complete before the next, so every message leaves in its own HTTP/2 DATA frame
// and costs the client one frame to parse. Written back to back, Node's HTTP/2 session packs the
// queued messages into full frames: the same gRPC bytes on the wire, a fraction of the work at
// both ends. Back-pressure is kept: a write completes only when HTTP/2 flow control lets it out,
// so a client that stops reading fills its writer, and the hub stops feeding it.
import * as grpc from '@grpc/grpc-js';

/** Bytes written but not yet let out by HTTP/2 above which write() reports full. */
const HIGH_WATER_BYTES = 64 * 1024;
/** ... and below which a full writer drains. */
const LOW_WATER_BYTES = 16 * 1024;
/** Completed sizes dropped from the front of the queue once this many have piled up (and half of it). */
const COMPACT_AFTER = 1024;

export class EventStreamWriter {
  private pendingBytes = 0;
  /**
   * Sizes of the messages written and not yet let out, oldest first from `firstPending`: a stream
   * completes its writes in order, so one callback made here serves every write (no closure per
   * message on the hot path).
   */
  private readonly pendingSizes: number[] = [];
  private firstPending = 0;
  private readonly onWritten = () => this.written();
  /** Made when a full writer is first waited on: most streams never fill, and an idle one holds nothing here. */
  private drainCallbacks: (() => void)[] | undefined;

  constructor(private readonly call: grpc.ServerInterceptingCallInterface) {}

  /** Sends one encoded message; false when the writer is full (wait for onDrain). */
  write(message: Buffer): boolean {
    this.pendingBytes += message.length;
    this.pendingSizes.push(message.length);
    this.call.sendMessage(message, this.onWritten);
    return this.pendingBytes < HIGH_WATER_BYTES;
  }

  /** Bytes written and not yet let out by HTTP/2 (GetHubStatus). */
  get queuedBytes(): number {
    return this.pendingBytes;
  }

  /** Whether the last write reported full and the writer has not drained since. */
  get full(): boolean {
    return this.pendingBytes >= HIGH_WATER_BYTES;
  }

  /** Calls `callback` once, when a full writer has drained below its low-water mark. */
  onDrain(callback: () => void): void {
    if (this.pendingBytes < LOW_WATER_BYTES) queueMicrotask(callback);
    else (this.drainCallbacks ??= []).push(callback);
  }

  private written(): void {
    this.pendingBytes -= this.pendingSizes[this.firstPending++]!;
    if (this.firstPending === this.pendingSizes.length) {
      this.pendingSizes.length = 0;
      this.firstPending = 0;
    } else if (this.firstPending >= COMPACT_AFTER && this.firstPending * 2 >= this.pendingSizes.length) {
      this.pendingSizes.splice(0, this.firstPending);
      this.firstPending = 0;
    }
    if (this.pendingBytes >= LOW_WATER_BYTES || this.drainCallbacks === undefined) return;
    const callbacks = this.drainCallbacks;
    this.drainCallbacks = undefined;
    for (const callback of callbacks) callback();
  }
}

/**
 * An interceptor that gives every call on `paths` an EventStreamWriter, and the lookup for its
 * handler. The handler's call object does not expose the intercepting call beneath it, but it does
 * carry the request Metadata object the interceptors pass along, so that object is the key (every
 * interceptor of ours passes it on as it is). Installed first (innermost), so the writer sends
 * straight into grpc-js's own call: no interceptor of ours acts on outgoing messages.
 */
export function eventStreamWriters(paths: ReadonlySet<string>): {
  interceptor: grpc.ServerInterceptor;
  writerFor(metadata: grpc.Metadata): EventStreamWriter | undefined;
} {
  const writers = new WeakMap<grpc.Metadata, EventStreamWriter>();
  const interceptor: grpc.ServerInterceptor = (method, next) => {
    if (!paths.has(method.path)) return new grpc.ServerInterceptingCall(next);
    return new grpc.ServerInterceptingCall(next, {
      start: (startNext) =>
        startNext({
          onReceiveMetadata: (metadata, pass) => {
            writers.set(metadata, new EventStreamWriter(next));
            pass(metadata);
          },
        }),
    });
  };
  return { interceptor, writerFor: (metadata) => writers.get(metadata) };
}
