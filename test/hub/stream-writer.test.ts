// EventStreamWriter's accounting of bytes not yet let out, against a call that completes writes
// when the test says so (in order, as an HTTP/2 stream does). The writer keeps the sizes of its
// pending writes in a queue it compacts as it goes; messages of varying sizes and a queue that
// never empties for thousands of writes make any slip in that queue show as a wrong full/drain
// moment. Streams against the real server are covered by backpressure.test.ts and retention.test.ts.
import type * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventStreamWriter } from '../../src/grpc/stream-writer';

const HIGH_WATER = 64 * 1024;
const LOW_WATER = 16 * 1024;

function fakeCall(): { call: grpc.ServerInterceptingCallInterface; complete(): void; pending(): number } {
  const callbacks: (() => void)[] = [];
  const call = { sendMessage: (_message: Buffer, callback: () => void) => callbacks.push(callback) };
  return {
    call: call as unknown as grpc.ServerInterceptingCallInterface,
    complete: () => callbacks.shift()!(),
    pending: () => callbacks.length,
  };
}

test('the writer reports full and drains at the right byte counts while its queue turns over many times', async () => {
  const { call, complete, pending } = fakeCall();
  const writer = new EventStreamWriter(call);
  const sizes: number[] = [];
  let pendingBytes = 0;
  let n = 0;
  const write = () => {
    const size = 20 + (n++ % 57);
    sizes.push(size);
    pendingBytes += size;
    assert.equal(writer.write(Buffer.alloc(size)), pendingBytes < HIGH_WATER, `write ${n}: ${pendingBytes} bytes pending`);
  };
  const completeOne = () => {
    complete();
    pendingBytes -= sizes.shift()!;
  };

  // Hover at the high-water mark: write while not full, else let one out. Every write checks the
  // full/not-full answer against the exact count, and the queue turns over thousands of times
  // without emptying (so it is compacted on the way).
  const hover = (steps: number) => {
    for (let i = 0; i < steps; i++) {
      if (pendingBytes < HIGH_WATER) write();
      else completeOne();
    }
    assert.ok(pending() > 1000, `${pending()} writes still pending`);
  };
  // Drain: the callback runs exactly when the pending bytes fall below the low-water mark.
  const drainExactly = () => {
    let drained = false;
    writer.onDrain(() => (drained = true));
    while (pendingBytes >= LOW_WATER) {
      assert.equal(drained, false, `drained early with ${pendingBytes} bytes pending`);
      completeOne();
    }
    assert.equal(drained, true, `not drained with ${pendingBytes} bytes pending`);
  };
  hover(10_000);
  drainExactly();

  // Empty, then a new drain wait is answered at once (in a microtask).
  while (pending() > 0) completeOne();
  assert.equal(pendingBytes, 0);
  let again = false;
  writer.onDrain(() => (again = true));
  await Promise.resolve();
  assert.equal(again, true);

  // And from empty, the same again.
  hover(10_000);
  drainExactly();
});
