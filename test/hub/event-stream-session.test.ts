// EventStreamSession in-process (no server): TaskEventStream's rules. The first subscribe opens the
// subscription; a later one changes filter, bookmarks and position in place and may not ask for a
// snapshot; a resume point is checked before anything changes; a bookmark needs a subscription;
// every message waits for the updates before it; shutdown ends the stream before and after its
// first subscribe; whatever the order of events, the stream is released exactly once and nothing
// takes effect after it ended. A seeded run (RIGGER_TEST_SEED) mixes them all.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventStreamSession } from '../../src/hub/event-stream-session';
import type { SubscribeRequest } from '../../src/hub/subscribe-session';
import { RiggerError } from '../../src/model/errors';
import { TaskEventType } from '../../src/model/task';
import { seededRandom } from '../support/seeded-random';
import { range, turns } from './memory-log';
import { countingHub, FakeEventPort, FakeInbound, SILENT } from './session-fakes';

const LIVE: SubscribeRequest = { spec: {}, sinceSequence: undefined, includeSnapshot: false, bookmarkIntervalMs: undefined };

function stream(count = 0, maxWritesInFlight = 4) {
  const fixture = countingHub(count);
  const port = new FakeEventPort();
  const inbound = new FakeInbound();
  const snapshots: number[] = [];
  const s = new EventStreamSession(fixture.hub, port, inbound, {
    openSnapshot: () => ({ sequence: fixture.hub.lastSequence, next: () => undefined, close: () => void snapshots.push(1) }),
    logger: SILENT,
    maxWritesInFlight,
  });
  s.start(() => 'test/1');
  return { ...fixture, port, inbound, session: s, snapshots };
}

/** Lets the inbox's promise chain and scheduled pumps run. */
const settle = () => turns(3);

test('before its first subscribe the stream is listed, holds no subscription, and a bookmark is refused with FAILED_PRECONDITION', async () => {
  const { hub, port, session: s } = stream(3);
  assert.equal(hub.streams.size, 1);
  assert.equal(hub.streams.list()[0]!.opening.kind, 'task_event_stream');
  assert.equal(hub.subscriberCount, 0);
  s.bookmark();
  await settle();
  assert.equal((port.ends[0] as RiggerError).kind, 'conflict');
  assert.equal(hub.streams.size, 0);
});

test('the first subscribe opens the subscription; a later one moves it in place, without a gap or a repeat', async () => {
  const { hub, port, session: s, commit } = stream(10);
  s.subscribe(() => ({ ...LIVE, sinceSequence: 6 }));
  await settle();
  assert.deepEqual(port.positions, [6]);
  assert.deepEqual(port.received, range(7, 10));
  const subscription = s.subscription!;
  s.subscribe(() => ({ ...LIVE, sinceSequence: 2, bookmarkIntervalMs: 1000 }));
  await settle();
  assert.equal(s.subscription, subscription, 'the same subscription, moved');
  assert.deepEqual(port.positions, [6], 'headers are sent once');
  assert.equal(hub.streams.list()[0]!.bookmarkIntervalMs, 1000);
  commit(1);
  await settle();
  assert.deepEqual(port.received, [...range(7, 10), ...range(3, 11)]);
  assert.deepEqual(port.violations, []);
});

test('a later subscribe changes the filter from the next event on', async () => {
  const { hub, port, session: s, commit } = stream(0);
  s.subscribe(() => LIVE);
  await settle();
  commit(2);
  s.subscribe(() => ({ ...LIVE, spec: { eventTypes: [TaskEventType.CREATED] } }));
  await settle();
  commit(2); // MemoryLog's default events are UPDATED: passed over now
  await settle();
  assert.deepEqual(port.received, [1, 2]);
  assert.deepEqual(hub.streams.list()[0]!.filter, { eventTypes: [TaskEventType.CREATED] });
});

test('a later subscribe is refused, before anything changes, for a snapshot, a bad filter or a resume point the log does not have', async () => {
  const cases: [string, SubscribeRequest, string][] = [
    ['snapshot', { ...LIVE, includeSnapshot: true }, 'invalid_argument'],
    ['bad filter', { ...LIVE, spec: { statuses: [99 as never] } }, 'invalid_argument'],
    ['since ahead of the head', { ...LIVE, sinceSequence: 99 }, 'out_of_range'],
  ];
  for (const [name, asked, kind] of cases) {
    const { hub, port, session: s, unsubscribed, snapshots } = stream(5);
    s.subscribe(() => LIVE);
    await settle();
    const subscription = s.subscription!;
    s.subscribe(() => asked);
    await settle();
    assert.equal((port.ends[0] as RiggerError | undefined)?.kind, kind, name);
    assert.equal(unsubscribed.get(subscription), 1, name);
    assert.deepEqual(hub.streams.list(), [], name);
    assert.deepEqual(snapshots, [], `${name}: no snapshot opened`);
  }
});

test('a bookmark is answered at the position, after what was sent', async () => {
  const { port, session: s } = stream(4);
  s.subscribe(() => ({ ...LIVE, sinceSequence: 1 }));
  s.bookmark();
  await settle();
  assert.deepEqual(port.sent, [2, 3, 4, 'b4']);
});

test('a subscribe waits for the updates sent before it; reading stops meanwhile', async () => {
  const { port, inbound, session: s } = stream(2);
  let commit: () => void = () => {};
  s.update(() => new Promise<void>((resolve) => (commit = resolve)));
  s.subscribe(() => LIVE);
  await settle();
  assert.deepEqual(port.positions, [], 'not subscribed while the update is on its way');
  assert.equal(inbound.reading, false);
  commit();
  await settle();
  assert.deepEqual(port.positions, [2]);
  assert.equal(inbound.reading, true);
});

test('a failed update ends the stream with its error; nothing sent after it takes effect', async () => {
  const { hub, port, session: s } = stream(2);
  s.subscribe(() => LIVE);
  await settle();
  s.update(() => Promise.reject(new RiggerError('not_found', 'no such task')));
  const applied: number[] = [];
  s.update((guard) => Promise.resolve().then(() => guard(() => applied.push(1))));
  s.subscribe(() => ({ ...LIVE, sinceSequence: 0 }));
  await settle();
  assert.equal((port.ends[0] as RiggerError).kind, 'not_found');
  assert.equal(port.ends.length, 1);
  assert.deepEqual(applied, []);
  assert.equal(hub.subscriberCount, 0);
  assert.equal(hub.streams.size, 0);
});

test('shutdown before the first subscribe ends the stream with UNAVAILABLE; after it, through the subscription, once', async () => {
  for (const subscribed of [false, true]) {
    const { hub, port, session: s, unsubscribed } = stream(2);
    if (subscribed) {
      s.subscribe(() => LIVE);
      await settle();
    }
    const subscription = s.subscription;
    hub.close(new RiggerError('unavailable', 'server shutting down'));
    for (let i = 0; i < 4; i++) s.release();
    assert.equal(port.ends.length, 1, `subscribed: ${subscribed}`);
    assert.equal((port.ends[0] as RiggerError).kind, 'unavailable');
    if (subscription) assert.equal(unsubscribed.get(subscription), 1);
    assert.equal(hub.streams.size, 0);
    assert.deepEqual(port.violations, []);
  }
});

test('a stream opened after shutdown is ended at once', () => {
  const fixture = countingHub(1);
  fixture.hub.close(new RiggerError('unavailable', 'server shutting down'));
  const port = new FakeEventPort();
  const s = new EventStreamSession(fixture.hub, port, new FakeInbound(), { openSnapshot: () => assert.fail(), logger: SILENT, maxWritesInFlight: 1 });
  s.start(() => undefined);
  assert.equal(port.ends.length, 1);
  assert.equal(s.isReleased, true);
  assert.equal(fixture.hub.streams.size, 0);
});

test('cancelled mid-update: the updates not yet run are refused, nothing more is read or sent', async () => {
  const { hub, port, session: s } = stream(2);
  let commit: () => void = () => {};
  const applied: string[] = [];
  s.update(() => new Promise<void>((resolve) => (commit = resolve)));
  s.update((guard) =>
    Promise.resolve()
      .then(() => guard(() => applied.push('second')))
      .catch(() => {}),
  );
  s.subscribe(() => LIVE);
  s.release(); // the client cancelled
  commit();
  await settle();
  s.subscribe(() => LIVE);
  s.bookmark();
  await settle();
  assert.deepEqual(applied, []);
  assert.deepEqual(port.positions, []);
  assert.equal(port.ends.length, 0, 'a cancelled stream gets no status');
  assert.equal(hub.subscriberCount, 0);
  assert.equal(hub.streams.size, 0);
});

// Seeded: random messages, commits, drains and endings over many streams on one hub. After each
// run every stream that ended is released exactly once, got at most one status, and got nothing
// after it; every stream still open got every event after its position exactly once, in order.
test('seeded runs: every end path releases exactly once and nothing takes effect after it', async () => {
  const seed = Number(process.env.RIGGER_TEST_SEED ?? 29);
  for (let run = 0; run < 20; run++) {
    const random = seededRandom(seed + run);
    const { hub, commit, unsubscribed } = countingHub(0, 32);
    const streams = Array.from({ length: 6 }, () => {
      const port = new FakeEventPort(1 + Math.floor(random() * 40));
      const s = new EventStreamSession(hub, port, new FakeInbound(), { openSnapshot: () => assert.fail(), logger: SILENT, maxWritesInFlight: 2 });
      s.start(() => undefined);
      return { port, session: s, from: undefined as number | undefined, mark: 0, cancelled: false };
    });
    for (let step = 0; step < 60; step++) {
      const pick = streams[Math.floor(random() * streams.length)]!;
      const r = random();
      if (r < 0.25) commit(1 + Math.floor(random() * 20));
      else if (r < 0.45) {
        const since = Math.floor(random() * (hub.lastSequence + 1));
        // Read when the subscribe takes effect: what was received before it is the old position's.
        pick.session.subscribe(() => {
          pick.from = since;
          pick.mark = pick.port.received.length;
          return { ...LIVE, sinceSequence: since };
        });
      } else if (r < 0.6) pick.port.drain();
      else if (r < 0.65) pick.session.bookmark();
      else if (r < 0.7) {
        if (!pick.session.isReleased) pick.cancelled = true;
        pick.session.release();
      } else if (r < 0.73) pick.session.fail(new RiggerError('internal', 'transport error'));
      else await turns(1);
    }
    const shutdown = random() < 0.3;
    if (shutdown) hub.close(new RiggerError('unavailable', 'server shutting down'));
    for (let i = 0; i < 200 && streams.some((x) => !x.session.isReleased && x.port.full); i++) {
      for (const x of streams) x.port.drain();
      await turns(1);
    }
    await settle();
    for (const [i, { port, session: s, from, mark, cancelled }] of streams.entries()) {
      const where = `seed ${seed + run}, stream ${i}`;
      assert.deepEqual(port.violations, [], where);
      assert.ok(port.ends.length <= 1, `${where}: one status at most`);
      if (s.subscription) assert.equal(unsubscribed.get(s.subscription) ?? 0, s.isReleased ? 1 : 0, `${where}: released ${s.isReleased}`);
      if (cancelled) assert.equal(port.ends.length, 0, `${where}: a cancelled stream gets no status`);
      if (shutdown) assert.ok(s.isReleased, `${where}: shutdown ends every stream`);
      if (!s.isReleased && from !== undefined) {
        assert.deepEqual(port.received.slice(mark), range(from + 1, hub.lastSequence), `${where}: every event after the last resume point, once, in order`);
      }
    }
    assert.equal(hub.streams.size, streams.filter((x) => !x.session.isReleased).length, `seed ${seed + run}: the registry lists the open streams only`);
  }
});
