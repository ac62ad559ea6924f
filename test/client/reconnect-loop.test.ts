// The client's one reconnect loop, in process: a fake stream factory, a clock and retry waits the
// test moves by hand, so every rule is checked without a server and without waiting: retry on
// UNAVAILABLE at the backoff's pace, fail fast on the codes retrying cannot fix, reopen from the
// strategy's position, cancel a call the server has not answered only once it answers (or after
// UNANSWERED_CANCEL_MS), and give up on a stream that falls silent once it has shown a heartbeat.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { backoffDelay, DEFAULT_BACKOFF } from '../../src/client/backoff';
import { ReconnectLoop, UNANSWERED_CANCEL_MS, type Disconnect, type LoopSettings, type StreamStrategy } from '../../src/client/reconnect-loop';
import type { StreamError } from '../../src/client/stream-error';
import { seededRandom } from '../support/seeded-random';
import { FakeCall, FakeClock, FakeWait } from './fake-stream';

const SEED = Number(process.env.RIGGER_TEST_SEED ?? 20261207);
const SILENCE_MS = 2500;

interface Message {
  sequence: number;
  heartbeat?: boolean;
}

/** A strategy over fake calls: resumes after the last sequence received, records all it hears. */
class Harness {
  readonly calls: FakeCall<Message>[] = [];
  readonly disconnects: Disconnect[] = [];
  readonly failures: StreamError[] = [];
  readonly received: number[] = [];
  readonly reconnectCounts: number[] = [];
  ended = 0;
  position = 0;
  recoverTo: number | undefined;
  leaveGracefully = false;
  readonly clock = new FakeClock();
  readonly waits = new FakeWait();
  readonly loop: ReconnectLoop<FakeCall<Message>, Message>;

  constructor(settings: Partial<LoopSettings> = {}) {
    const strategy: StreamStrategy<FakeCall<Message>, Message> = {
      open: () => {
        const call = new FakeCall<Message>({ since: this.position });
        this.calls.push(call);
        return call;
      },
      answered: () => this.reconnectCounts.push(this.loop.connected()),
      message: (message) => {
        if (message.heartbeat) this.loop.heartbeatSeen();
        this.received.push(message.sequence);
        this.position = message.sequence;
      },
      ended: () => this.ended++,
      recover: (error) => {
        if (error.code !== grpc.status.FAILED_PRECONDITION || this.recoverTo === undefined) return false;
        this.position = this.recoverTo;
        this.recoverTo = undefined;
        return true;
      },
      leave: (call) => {
        if (!this.leaveGracefully) return false;
        call.end();
        return true;
      },
      disconnected: (disconnect) => this.disconnects.push(disconnect),
      failed: (error) => this.failures.push(error),
    };
    this.loop = new ReconnectLoop(strategy, {
      backoff: DEFAULT_BACKOFF,
      wait: this.waits.wait,
      endedDetails: 'the server ended the stream',
      clock: this.clock,
      random: seededRandom(SEED),
      ...settings,
    });
  }

  get call(): FakeCall<Message> {
    return this.calls.at(-1)!;
  }
}

test('UNAVAILABLE is retried at the backoff pace, each reopen waiting for its wait; a connection starts the backoff over', (t) => {
  t.diagnostic(`seed ${SEED}; rerun with RIGGER_TEST_SEED=${SEED}`);
  const backoff = { initialDelayMs: 100, maxDelayMs: 1000, multiplier: 2, maxAttempts: Number.POSITIVE_INFINITY };
  const h = new Harness({ backoff });
  const expected = seededRandom(SEED);
  h.loop.start();
  assert.equal(h.calls.length, 1);
  for (let attempt = 0; attempt < 6; attempt++) {
    h.call.fail(grpc.status.UNAVAILABLE, 'connection refused');
    assert.equal(h.calls.length, attempt + 1, 'nothing is reopened before the wait ends');
    const disconnect = h.disconnects.at(-1)!;
    assert.equal(disconnect.attempt, attempt + 1);
    assert.equal(disconnect.reason, 'ended');
    assert.equal(disconnect.error.code, grpc.status.UNAVAILABLE);
    const delay = backoffDelay(attempt, backoff, expected);
    assert.equal(disconnect.retryInMs, delay);
    assert.equal(h.waits.waits.at(-1)!.delayMs, delay);
    assert.ok(delay <= backoff.maxDelayMs);
    h.waits.fire();
    assert.equal(h.calls.length, attempt + 2);
  }
  assert.equal(h.ended, 6, 'each lost stream let go of what it held');
  h.call.answer();
  h.call.fail(grpc.status.UNAVAILABLE, 'server restart');
  assert.equal(h.disconnects.at(-1)!.attempt, 1, 'answered: the count starts over');
  assert.equal(h.disconnects.at(-1)!.retryInMs, backoffDelay(0, backoff, expected));
  assert.equal(h.failures.length, 0);
});

test('a stream ended without a status, and INTERNAL RST_STREAM, are retried like UNAVAILABLE', () => {
  const h = new Harness();
  h.loop.start();
  h.call.finish();
  assert.equal(h.disconnects.length, 1);
  assert.equal(h.disconnects[0]!.error.code, grpc.status.UNAVAILABLE);
  assert.equal(h.disconnects[0]!.error.details, 'the server ended the stream');
  h.waits.fire();
  h.call.fail(grpc.status.INTERNAL, 'Received RST_STREAM with code 2');
  assert.equal(h.disconnects.length, 2);
  h.waits.fire();
  h.call.fail(grpc.status.INTERNAL, 'some other internal error');
  assert.equal(h.disconnects.length, 2, 'any other INTERNAL is fatal');
  assert.equal(h.failures.length, 1);
});

const { FAILED_PRECONDITION, OUT_OF_RANGE, INVALID_ARGUMENT, PERMISSION_DENIED, UNAUTHENTICATED, RESOURCE_EXHAUSTED, NOT_FOUND } = grpc.status;
for (const code of [FAILED_PRECONDITION, OUT_OF_RANGE, INVALID_ARGUMENT, PERMISSION_DENIED, UNAUTHENTICATED, RESOURCE_EXHAUSTED, NOT_FOUND]) {
  test(`${grpc.status[code]} fails at once: no wait, no reopen, the loop is closed`, () => {
    const h = new Harness();
    h.loop.start();
    h.call.answer();
    h.call.fail(code, 'refused', { 'x-rigger-oldest-sequence': '7' });
    assert.equal(h.failures.length, 1);
    assert.equal(h.failures[0]!.code, code);
    assert.equal(h.failures[0]!.details, 'refused');
    assert.equal(h.failures[0]!.oldestSequence, 7, 'the trailers reach the caller');
    assert.equal(h.disconnects.length, 0);
    assert.equal(h.waits.waits.length, 0);
    assert.equal(h.calls.length, 1);
    assert.equal(h.loop.closed, true);
  });
}

test('maxAttempts failed reopens in a row end the loop with the last error', () => {
  const h = new Harness({ backoff: { ...DEFAULT_BACKOFF, maxAttempts: 3 } });
  h.loop.start();
  for (let i = 0; i < 3; i++) {
    h.call.fail(grpc.status.UNAVAILABLE, 'connection refused');
    h.waits.fire();
  }
  h.call.fail(grpc.status.UNAVAILABLE, 'connection refused');
  assert.equal(h.disconnects.length, 3);
  assert.equal(h.failures.length, 1);
  assert.equal(h.failures[0]!.code, grpc.status.UNAVAILABLE);
  assert.equal(h.failures[0]!.details, 'gave up after 3 reconnect attempts: connection refused');
  assert.equal(h.calls.length, 4);
});

test('maxAttempts 0: the first loss ends the loop', () => {
  const h = new Harness({ backoff: { ...DEFAULT_BACKOFF, maxAttempts: 0 } });
  h.loop.start();
  h.call.fail(grpc.status.UNAVAILABLE, 'connection refused');
  assert.equal(h.failures[0]!.details, 'gave up after 0 reconnect attempts: connection refused');
  assert.equal(h.calls.length, 1);
});

test('each reopen asks for the position the strategy holds then; the lost stream no longer reaches it', () => {
  const h = new Harness();
  h.loop.start();
  assert.deepEqual(h.call.request, { since: 0 });
  h.call.answer();
  h.call.send({ sequence: 3 });
  h.call.send({ sequence: 5 });
  const lost = h.call;
  lost.fail(grpc.status.UNAVAILABLE, 'connection reset');
  lost.send({ sequence: 99 }); // a late message of the lost stream
  lost.answer();
  h.waits.fire();
  assert.deepEqual(h.call.request, { since: 5 });
  h.call.answer();
  h.call.send({ sequence: 6 });
  h.call.finish();
  h.waits.fire();
  assert.deepEqual(h.call.request, { since: 6 });
  assert.deepEqual(h.received, [3, 5, 6]);
  assert.deepEqual(h.reconnectCounts, [0, 1]);
});

test('a strategy that recovers from a refusal reopens at once from its new position, without a backoff', () => {
  const h = new Harness();
  h.loop.start();
  h.call.answer();
  h.call.send({ sequence: 9 });
  h.recoverTo = 4;
  h.call.fail(grpc.status.FAILED_PRECONDITION, 'the log was restored');
  assert.equal(h.calls.length, 2);
  assert.deepEqual(h.call.request, { since: 4 });
  assert.equal(h.waits.waits.length, 0);
  assert.equal(h.disconnects.length, 0);
  h.call.fail(grpc.status.FAILED_PRECONDITION, 'the log was restored');
  assert.equal(h.failures.length, 1, 'no recovery the second time: the refusal ends the loop');
});

test('close before the server answers: the call is cancelled once the headers come, not before', () => {
  const h = new Harness();
  h.loop.start();
  h.loop.close();
  assert.equal(h.call.cancels, 0, 'no cancel yet: grpc-js would send no RST_STREAM, and the server would keep the stream');
  h.call.answer();
  assert.equal(h.call.cancels, 1);
  assert.deepEqual(h.reconnectCounts, [], 'a closed loop hears nothing more');
  h.call.fail(grpc.status.CANCELLED, 'Cancelled on client');
  assert.equal(h.failures.length, 0, 'the cancel of a closed loop reaches nobody');
  assert.equal(h.disconnects.length, 0);
});

test('close before the server answers: a server that never answers has the call cancelled after UNANSWERED_CANCEL_MS', () => {
  const h = new Harness();
  h.loop.start();
  h.loop.close();
  h.clock.advance(UNANSWERED_CANCEL_MS - 1);
  assert.equal(h.call.cancels, 0);
  h.clock.advance(1);
  assert.equal(h.call.cancels, 1);
});

test('close after the answer cancels at once; close during a retry wait cancels the wait and opens nothing', () => {
  const h = new Harness();
  h.loop.start();
  h.call.answer();
  h.loop.close();
  assert.equal(h.call.cancels, 1);

  const waiting = new Harness();
  waiting.loop.start();
  waiting.call.fail(grpc.status.UNAVAILABLE, 'connection refused');
  waiting.loop.close();
  assert.equal(waiting.waits.waits[0]!.cancelled, true);
  waiting.waits.waits[0]!.retry(); // a wait that fires anyway (its cancel raced it)
  assert.equal(waiting.calls.length, 1, 'a closed loop opens nothing');
});

test('a strategy that leaves gracefully ends the call itself: the loop does not cancel it', () => {
  const h = new Harness();
  h.leaveGracefully = true;
  h.loop.start();
  h.call.answer();
  h.loop.close();
  assert.equal(h.call.ended, true);
  assert.equal(h.call.cancels, 0);
  assert.equal(h.loop.call, undefined);
});

test('silence: no verdict before a heartbeat was seen; after one, a silent stream is given up on and reopened', () => {
  const h = new Harness({ silence: { limitMs: SILENCE_MS, describe: (ms) => `silent for ${ms} ms` } });
  h.loop.start();
  h.call.answer();
  h.call.send({ sequence: 1 }); // a message, but no proof of heartbeats
  h.clock.advance(SILENCE_MS * 10);
  assert.equal(h.disconnects.length, 0, 'a server that sends no heartbeats is not given up on');

  h.call.send({ sequence: 2, heartbeat: true });
  for (let i = 0; i < 10; i++) {
    h.clock.advance(SILENCE_MS - 1);
    h.call.send({ sequence: 3 + i }); // heard in time: alive
  }
  assert.equal(h.disconnects.length, 0);
  const silent = h.call;
  h.clock.advance(SILENCE_MS);
  assert.equal(h.disconnects.length, 1);
  assert.equal(h.disconnects[0]!.reason, 'dead-stream');
  assert.equal(h.disconnects[0]!.error.code, grpc.status.UNAVAILABLE);
  assert.equal(h.disconnects[0]!.error.details, `silent for ${SILENCE_MS} ms`);
  assert.equal(silent.cancels, 1, 'the dead call is cancelled');
  assert.equal(h.ended, 1);
  silent.fail(grpc.status.CANCELLED, 'Cancelled on client'); // the cancel's own error: already counted
  assert.equal(h.disconnects.length, 1);
  h.waits.fire();
  assert.deepEqual(h.call.request, { since: 12 }, 'reopened from the last message heard');
});

test('silence: a dead stream the server never answered is cancelled once it answers; the next stream is watched from its start', () => {
  const h = new Harness({ silence: { limitMs: SILENCE_MS, describe: (ms) => `silent for ${ms} ms` } });
  h.loop.start();
  h.call.answer();
  h.call.send({ sequence: 1, heartbeat: true });
  h.call.fail(grpc.status.UNAVAILABLE, 'connection reset');
  h.waits.fire();
  const unanswered = h.call;
  h.clock.advance(SILENCE_MS);
  assert.equal(h.disconnects.at(-1)!.reason, 'dead-stream', 'the heartbeat proof carries over to the next stream');
  assert.equal(unanswered.cancels, 0);
  unanswered.answer();
  assert.equal(unanswered.cancels, 1);
});

test('silence: a paused loop (the caller reading slowly) is never called dead; resuming restarts the count', () => {
  const h = new Harness({ silence: { limitMs: SILENCE_MS, describe: (ms) => `silent for ${ms} ms` } });
  h.loop.start();
  h.call.answer();
  h.call.send({ sequence: 1, heartbeat: true });
  h.loop.pause();
  assert.equal(h.call.paused, true);
  h.clock.advance(SILENCE_MS * 10);
  assert.equal(h.disconnects.length, 0);
  h.loop.resume();
  assert.equal(h.call.paused, false);
  h.clock.advance(SILENCE_MS - 1);
  assert.equal(h.disconnects.length, 0);
  h.clock.advance(1);
  assert.equal(h.disconnects.length, 1);
});

test('a paused loop opens its next stream paused', () => {
  const h = new Harness();
  h.loop.start();
  h.loop.pause();
  h.call.fail(grpc.status.UNAVAILABLE, 'connection reset');
  h.waits.fire();
  assert.equal(h.call.paused, true);
});

test('a seeded run of random losses and fatal ends: the loop holds at most one live call, and each loss is one disconnect or one failure', (t) => {
  const random = seededRandom(SEED);
  t.diagnostic(`seed ${SEED}`);
  for (let run = 0; run < 50; run++) {
    const maxAttempts = 1 + Math.floor(random() * 5);
    const h = new Harness({ backoff: { ...DEFAULT_BACKOFF, maxAttempts }, silence: { limitMs: SILENCE_MS, describe: () => 'silent' } });
    h.loop.start();
    let losses = 0;
    for (let step = 0; step < 40 && !h.loop.closed; step++) {
      const roll = random();
      if (h.waits.waits.some((w) => !w.fired && !w.cancelled) && roll < 0.3) h.waits.fire();
      else if (roll < 0.45) h.call.answer();
      else if (roll < 0.6) h.call.send({ sequence: step, heartbeat: random() < 0.5 });
      else if (roll < 0.75 && h.loop.call) {
        losses++;
        h.call.fail(grpc.status.UNAVAILABLE, 'reset');
      } else if (roll < 0.8 && h.loop.call) {
        losses++;
        h.call.fail(grpc.status.OUT_OF_RANGE, 'gone');
      } else if (roll < 0.95) {
        const before = h.disconnects.length + h.failures.length;
        h.clock.advance(SILENCE_MS);
        losses += h.disconnects.length + h.failures.length - before;
      } else h.loop.close();
      const live = h.calls.filter((call) => call === h.loop.call);
      assert.ok(live.length <= 1);
    }
    assert.equal(h.disconnects.length + h.failures.length, losses, `run ${run}`);
    assert.ok(h.failures.length <= 1, `run ${run}: at most one failure`);
    assert.equal(h.calls.length, 1 + h.waits.waits.filter((w) => w.fired).length, `run ${run}: one call per start and per fired wait`);
  }
});
