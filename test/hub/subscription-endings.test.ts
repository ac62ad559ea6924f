// How the hub's subscriptions end or are kept whole in-process (the harness of subscription.test.ts):
// history that is gone is an OUT_OF_RANGE error and never a silent skip, a gap another process
// committed is filled from the log, and close() ends every stream whatever its state.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RiggerError } from '../../src/model/errors';
import { assertClean, FakeSink, range, turns } from './memory-log';
import { ALL, commit, hubWith, isOutOfRange } from './subscription-fixtures';

// ---------------------------------------------------------------------------------------------
// OUT_OF_RANGE

test('subscribe: since older than the log is out_of_range with oldest_sequence; the oldest resumable since works', () => {
  const { log, hub } = hubWith(100, 16);
  log.compact(51); // the log keeps 51..100
  assert.throws(() => hub.subscribe(ALL, 49, new FakeSink()), isOutOfRange({ oldest_sequence: '51' }));
  assert.throws(() => hub.subscribe(ALL, 0, new FakeSink()), isOutOfRange({ oldest_sequence: '51' }));
  assert.equal(hub.subscriberCount, 0);

  const sink = new FakeSink();
  const sub = hub.subscribe(ALL, 50, sink);
  sub.start();
  assert.deepEqual(sink.received, range(51, 100));
  assert.equal(sub.live, true);
  assertClean(sink);
});

test('subscribe: since ahead of the newest event is out_of_range with latest_sequence', () => {
  const { log, hub } = hubWith(100, 16);
  log.compact(51);
  assert.throws(() => hub.subscribe(ALL, 101, new FakeSink()), isOutOfRange({ oldest_sequence: '51', latest_sequence: '100' }));
  assert.throws(() => hub.subscribe(ALL, 1e9, new FakeSink()), isOutOfRange({ oldest_sequence: '51', latest_sequence: '100' }));
  assert.equal(hub.subscriberCount, 0);
  const sink = new FakeSink();
  hub.subscribe(ALL, 100, sink).start(); // the newest itself is fine: live from there
  assert.equal(hub.liveCount, 1);
});

test('a subscription catching up whose next event was compacted away meanwhile fails with out_of_range and is released', () => {
  const { log, hub } = hubWith(2000, 16);
  const other = new FakeSink();
  hub.subscribe(ALL, undefined, other).start();
  const sink = new FakeSink(10);
  const sub = hub.subscribe(ALL, 0, sink);
  sub.start();
  assert.deepEqual(sink.received, range(1, 10));
  assert.equal(hub.subscriberCount, 2);

  log.compact(1000); // retention runs while it waits for its sink
  for (let i = 0; i < 1000 && sink.failures.length === 0; i++) sink.drain();
  // It finishes the page it already held (read before the compaction), then finds 513 gone.
  assert.deepEqual(sink.received, range(1, 512));
  assert.equal(sink.failures.length, 1);
  assert.equal(sink.failures[0]!.kind, 'out_of_range');
  assert.deepEqual(sink.failures[0]!.details, { oldest_sequence: '1000' });
  assert.equal(hub.subscriberCount, 1, 'released');
  assert.equal(hub.liveCount, 1);
  assert.equal(sub.live, false);
  assert.equal(sink.waiters, 0);

  commit(log, hub, 1);
  assert.deepEqual(sink.received, range(1, 512), 'nothing after the failure');
  assert.deepEqual(other.received, [2001]);
  assertClean(sink, other);
});

test('a hole on the live path (history compacted before it was published) fails with out_of_range, never a skip', async () => {
  const { log, hub } = hubWith(10, 16);
  const sink = new FakeSink();
  const sub = hub.subscribe(ALL, undefined, sink);
  sub.start();
  log.append(10); // 11..20 by another process, not yet published here
  log.compact(16); // ... and 11..15 compacted before this process saw them
  commit(log, hub, 1); // 21: the hub fills 16..20 from the log first
  assert.equal(hub.lastSequence, 21);
  assert.equal(sub.live, false, 'off the live path at the hole');
  await turns(2);
  assert.deepEqual(sink.received, []);
  assert.equal(sink.failures.length, 1);
  assert.equal(sink.failures[0]!.kind, 'out_of_range');
  assert.deepEqual(sink.failures[0]!.details, { oldest_sequence: '16' });
  assert.equal(hub.subscriberCount, 0);
  assert.equal(hub.liveCount, 0);

  // Resuming from the oldest retained point works.
  const again = new FakeSink();
  hub.subscribe(ALL, 15, again).start();
  assert.deepEqual(again.received, range(16, 21));
  assertClean(sink, again);
});

// ---------------------------------------------------------------------------------------------
// Gaps from other processes

test('publish after a gap (another process committed) fills it from the log, so subscribers see every sequence', () => {
  const { log, hub } = hubWith(10, 16);
  const sink = new FakeSink();
  const sub = hub.subscribe(ALL, undefined, sink);
  sub.start();

  log.append(5); // 11..15 from another process
  commit(log, hub, 3); // 16..18 from this one
  assert.deepEqual(sink.received, range(11, 18));
  hub.publish(log.all().slice(-2)); // 17, 18 again: ignored
  assert.deepEqual(sink.received, range(11, 18));

  log.append(2500); // more than one sync page (1000)
  hub.syncFromLog(); // what the log watcher calls
  assert.equal(hub.lastSequence, 2518);
  assert.deepEqual(sink.received, range(11, 2518));

  // A resume point the hub has not published yet but the log has (another process's commit).
  log.append(10); // 2519..2528
  const ahead = new FakeSink();
  const aheadSub = hub.subscribe(ALL, 2525, ahead);
  aheadSub.start();
  assert.equal(aheadSub.live, true);
  hub.syncFromLog();
  commit(log, hub, 1);
  assert.deepEqual(ahead.received, [2526, 2527, 2528, 2529]);
  assert.deepEqual(sink.received, range(11, 2529));
  assert.equal(sub.live, true);
  assertClean(sink, ahead);
});

// ---------------------------------------------------------------------------------------------
// close()

test('close(err) fails every subscription with err, whatever its state, refuses new ones and tells onClose listeners', async () => {
  const { log, hub } = hubWith(100, 16);
  const live = new FakeSink();
  const liveSub = hub.subscribe(ALL, undefined, live);
  liveSub.start();
  const full = new FakeSink(2);
  hub.subscribe(ALL, undefined, full).start();
  commit(log, hub, 2); // fills `full`: waiting for a drain
  const restarting = new FakeSink();
  const restartingSub = hub.subscribe(ALL, undefined, restarting);
  restartingSub.start();
  restartingSub.restartFrom(0); // a pump scheduled, not yet run
  const notStarted = new FakeSink();
  hub.subscribe(ALL, 50, notStarted);
  const gone = new FakeSink();
  const goneSub = hub.subscribe(ALL, undefined, gone);
  goneSub.start();
  hub.unsubscribe(goneSub);
  assert.equal(hub.subscriberCount, 4);

  const heard: RiggerError[] = [];
  hub.onClose((reason) => heard.push(reason));
  const removed: RiggerError[] = [];
  hub.onClose((reason) => removed.push(reason))();

  const err = new RiggerError('unavailable', 'server shutting down');
  hub.close(err);
  for (const sink of [live, full, restarting, notStarted]) {
    assert.equal(sink.failures.length, 1);
    assert.equal(sink.failures[0], err);
  }
  assert.deepEqual(gone.failures, [], 'an unsubscribed stream is not failed');
  assert.equal(hub.subscriberCount, 0);
  assert.equal(hub.liveCount, 0);
  assert.deepEqual(heard, [err]);
  assert.deepEqual(removed, []);
  assert.throws(
    () => hub.subscribe(ALL, undefined, new FakeSink()),
    (e: unknown) => e === err,
  );
  assert.throws(
    () => hub.subscribe(ALL, 10, new FakeSink()),
    (e: unknown) => e === err,
  );
  const late: RiggerError[] = [];
  hub.onClose((reason) => late.push(reason));
  assert.deepEqual(late, [err], 'a listener added after close hears at once');

  // Nothing more reaches any of them.
  const counts = [live, full, restarting, notStarted].map((s) => s.received.length);
  full.drain();
  await turns(2);
  commit(log, hub, 3);
  assert.deepEqual(
    [live, full, restarting, notStarted].map((s) => s.received.length),
    counts,
  );
  assert.deepEqual(live.received, [101, 102]);
  assertClean(live, full, restarting, notStarted, gone);
});
