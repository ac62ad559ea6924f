// The Subscription cursor alone, against a fake EventSource that records every call: the calls it
// makes (read, joinLive, leaveLive, release) are the thing under test. The hub around it is subscription.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileFilter } from '../../src/hub/event-filter';
import { Subscription, type EventSource } from '../../src/hub/subscription';
import { RiggerError } from '../../src/model/errors';
import type { LoggedEvent } from '../../src/model/logged-event';
import { assertClean, drainUntilLive, FakeSink, MemoryLog, range, turns } from './memory-log';
import { ALL } from './subscription-fixtures';

/** An EventSource over a MemoryLog that records every call made to it. */
class FakeSource implements EventSource {
  readonly log = new MemoryLog();
  readonly calls: string[] = [];
  readonly liveSet = new Set<Subscription>();
  lastSequence = 0;

  read(from: number, limit: number): readonly LoggedEvent[] {
    this.calls.push(`read ${from}`);
    const held = this.log.all().filter((e) => e.sequence >= from && e.sequence <= this.lastSequence);
    if (from <= this.lastSequence && held[0]?.sequence !== from) {
      throw new RiggerError('out_of_range', `${from} is gone`, { oldest_sequence: String(this.log.oldestSequence()) });
    }
    return held.slice(0, limit);
  }
  joinLive(subscription: Subscription): boolean {
    this.calls.push('joinLive');
    this.liveSet.add(subscription);
    return true;
  }
  leaveLive(subscription: Subscription): void {
    this.calls.push('leaveLive');
    this.liveSet.delete(subscription);
  }
  release(subscription: Subscription): void {
    this.calls.push('release');
    this.liveSet.delete(subscription);
  }
  /** Appends and "publishes" `count` events: handed to whoever is live. */
  publish(count: number, deliver = true): LoggedEvent[] {
    const events = this.log.append(count);
    this.lastSequence = this.log.latestSequence();
    if (deliver) for (const event of events) for (const sub of [...this.liveSet]) sub.deliverLive(event);
    return events;
  }
}

test('Subscription alone: starts live at the source position, ignores what is below it, and joins once', () => {
  const source = new FakeSource();
  source.publish(5);
  const sink = new FakeSink();
  const sub = new Subscription(source, compileFilter(ALL), undefined, sink);
  assert.equal(sub.position, 5);
  sub.start();
  assert.deepEqual(source.calls, ['joinLive']);
  assert.equal(sub.live, true);
  source.publish(2);
  sub.deliverLive(source.log.all()[2]!); // 3: below the position, ignored
  assert.deepEqual(sink.received, [6, 7]);

  // A resume point ahead of the source: live at once, 8..10 are skipped as already seen.
  const ahead = new FakeSink();
  const aheadSub = new Subscription(source, compileFilter(ALL), 10, ahead);
  aheadSub.start();
  assert.equal(aheadSub.live, true);
  source.publish(5);
  assert.deepEqual(ahead.received, [11, 12]);
  assert.deepEqual(source.calls, ['joinLive', 'joinLive']);
  assertClean(sink, ahead);
});

test('Subscription alone: catching up holds one page across drains instead of re-reading it', async () => {
  const source = new FakeSource();
  source.publish(1000);
  const sink = new FakeSink(7);
  const sub = new Subscription(source, compileFilter(ALL), 0, sink);
  sub.start();
  assert.deepEqual(sink.received, range(1, 7));
  const drains = await drainUntilLive(sub, sink, 200);
  assert.equal(drains, Math.ceil(1000 / 7) - 1, 'one drain per 7 events');
  assert.deepEqual(sink.received, range(1, 1000));
  assert.deepEqual(source.calls, ['read 1', 'read 513', 'joinLive']);

  // Full on the live path: leaveLive, and after the drain it reads what it missed.
  sink.drain();
  source.publish(10);
  assert.deepEqual(sink.received, range(1, 1007));
  assert.equal(sub.live, false);
  sink.drain();
  assert.deepEqual(sink.received, range(1, 1010));
  assert.equal(sub.live, true);
  assert.deepEqual(source.calls, ['read 1', 'read 513', 'joinLive', 'leaveLive', 'read 1008', 'joinLive']);
  assertClean(sink);
});

test('Subscription alone: a hole on the live path goes to read(), whose out_of_range fails the sink and releases it', async () => {
  const source = new FakeSource();
  source.publish(3);
  const sink = new FakeSink();
  const sub = new Subscription(source, compileFilter(ALL), undefined, sink);
  sub.start();
  source.publish(1); // 4
  const [, , seven] = source.publish(3, false); // 5..7 published, but 5 and 6 compacted before delivery
  source.log.compact(7);
  sub.deliverLive(seven!);
  assert.equal(sub.live, false);
  assert.deepEqual(source.calls, ['joinLive', 'leaveLive']);
  await turns(1);
  assert.deepEqual(source.calls, ['joinLive', 'leaveLive', 'read 5', 'release']);
  assert.deepEqual(sink.received, [4]);
  assert.equal(sink.failures.length, 1);
  assert.deepEqual(sink.failures[0]!.details, { oldest_sequence: '7' });

  // Closed: later calls do nothing.
  sub.fail(new RiggerError('internal', 'again'));
  sub.restartFrom(0);
  await turns(1);
  assert.equal(sink.failures.length, 1);
  assert.deepEqual(source.calls, ['joinLive', 'leaveLive', 'read 5', 'release']);
  assertClean(sink);
});
