// SubscribeSession in-process (no server): the stream's one subscribe, its headers, its listing in
// the stream registry, and the one release whichever way the stream ends (the client cancels, the
// call errors, the subscribe is refused, the hub shuts down or fails the subscription).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SubscribeSession, type SubscribeRequest } from '../../src/hub/subscribe-session';
import { RiggerError } from '../../src/model/errors';
import { range, turns } from './memory-log';
import { countingHub, FakeEventPort, SILENT } from './session-fakes';

const LIVE: SubscribeRequest = { spec: {}, sinceSequence: undefined, includeSnapshot: false, bookmarkIntervalMs: undefined };
const noSnapshot = () => assert.fail('no snapshot was asked for');
const options = { openSnapshot: noSnapshot, logger: SILENT };

function session(count = 0) {
  const fixture = countingHub(count);
  const port = new FakeEventPort();
  return { ...fixture, port, session: new SubscribeSession(fixture.hub, port, options) };
}

test('a subscribe lists the stream, sends the position it starts after, then the events after it', async () => {
  const { hub, port, session: s, commit } = session(5);
  s.start(
    () => 'board/1',
    () => ({ ...LIVE, sinceSequence: 2 }),
  );
  assert.deepEqual(port.positions, [2]);
  assert.equal(hub.subscriberCount, 1);
  const [listed] = hub.streams.list();
  assert.equal(listed?.opening.kind, 'subscribe');
  assert.equal(listed?.opening.clientName, 'board/1');
  assert.equal(listed?.subscription, s.subscription);
  await turns(2);
  commit(2);
  assert.deepEqual(port.received, range(3, 7));
  assert.deepEqual(port.violations, []);
});

test('a live start sends the head as its position', () => {
  const { port, session: s } = session(4);
  s.start(
    () => undefined,
    () => LIVE,
  );
  assert.deepEqual(port.positions, [4]);
});

for (const [name, ending] of [
  ['cancelled', (s: SubscribeSession) => s.release()],
  ['errored', (s: SubscribeSession) => s.fail(new RiggerError('internal', 'boom'))],
] as const) {
  test(`a stream that is ${name} is released once, however many of the call's end events follow`, () => {
    const { hub, port, session: s, unsubscribed, registryCloses } = session(3);
    s.start(
      () => undefined,
      () => LIVE,
    );
    const subscription = s.subscription!;
    ending(s);
    for (let i = 0; i < 4; i++) s.release(); // cancelled, close, finish, error
    assert.equal(unsubscribed.get(subscription), 1);
    assert.equal(registryCloses(), 1);
    assert.equal(hub.subscriberCount, 0);
    assert.equal(hub.streams.size, 0);
    assert.equal(port.ends.length, name === 'errored' ? 1 : 0);
    assert.deepEqual(port.violations, []);
  });
}

test('a refused subscribe (bad filter, history gone, bad client name) ends the stream with its error and holds nothing', () => {
  const cases: [string, () => string | undefined, () => SubscribeRequest, string][] = [
    ['bad filter', () => undefined, () => ({ ...LIVE, spec: { statuses: [99 as never] } }), 'invalid_argument'],
    ['since ahead of the log', () => undefined, () => ({ ...LIVE, sinceSequence: 50 }), 'out_of_range'],
    [
      'bad client name',
      () => {
        throw new RiggerError('invalid_argument', 'bad name');
      },
      () => LIVE,
      'invalid_argument',
    ],
  ];
  for (const [name, clientName, read, kind] of cases) {
    const { hub, port, session: s } = session(3);
    s.start(clientName, read);
    assert.equal(port.ends.length, 1, name);
    assert.equal((port.ends[0] as RiggerError).kind, kind, name);
    assert.deepEqual(port.positions, [], `${name}: no headers before the refusal`);
    assert.equal(hub.subscriberCount, 0, name);
    assert.equal(hub.streams.size, 0, name);
    assert.equal(s.isReleased, true, name);
  }
});

test('a snapshot stream starts after the snapshot; a refused one closes the snapshot it opened', () => {
  const fixture = countingHub(3);
  let closed = 0;
  const snapshot = { sequence: 3, next: () => undefined, close: () => void closed++ };
  const port = new FakeEventPort();
  const s = new SubscribeSession(fixture.hub, port, { openSnapshot: () => snapshot, logger: SILENT });
  s.start(
    () => undefined,
    () => ({ ...LIVE, includeSnapshot: true }),
  );
  assert.deepEqual(port.positions, [3]);
  fixture.hub.close(new RiggerError('unavailable', 'shutting down'));
  const port2 = new FakeEventPort();
  const refused = new SubscribeSession(fixture.hub, port2, { openSnapshot: () => snapshot, logger: SILENT });
  const before = closed;
  refused.start(
    () => undefined,
    () => ({ ...LIVE, includeSnapshot: true }),
  );
  assert.equal(closed, before + 1, 'the refused stream closed its snapshot');
  assert.equal((port2.ends[0] as RiggerError).kind, 'unavailable');
});

test('shutdown ends a subscribed stream with UNAVAILABLE through the same single release', () => {
  const { hub, port, session: s, unsubscribed } = session(3);
  s.start(
    () => undefined,
    () => LIVE,
  );
  const subscription = s.subscription!;
  hub.close(new RiggerError('unavailable', 'server shutting down'));
  for (let i = 0; i < 4; i++) s.release();
  assert.equal(port.ends.length, 1);
  assert.equal((port.ends[0] as RiggerError).kind, 'unavailable');
  assert.equal(s.isReleased, true);
  assert.equal(unsubscribed.get(subscription), 1);
  assert.equal(hub.streams.size, 0);
  assert.deepEqual(port.violations, []);
});

test('history compacted under a stream catching up fails it with OUT_OF_RANGE and releases it once', async () => {
  const { hub, log, port, session: s, unsubscribed } = session(1200);
  s.start(
    () => undefined,
    () => LIVE,
  );
  const small = new FakeEventPort(100);
  const slow = new SubscribeSession(hub, small, options);
  slow.start(
    () => undefined,
    () => ({ ...LIVE, sinceSequence: 0 }),
  );
  log.compact(700); // the first page (1-512) is read already; the next is gone
  for (let i = 0; i < 200 && small.ends.length === 0; i++) {
    small.drain();
    await turns(1);
  }
  assert.equal((small.ends[0] as RiggerError | undefined)?.kind, 'out_of_range');
  assert.equal(unsubscribed.get(slow.subscription!), 1);
  assert.equal(slow.isReleased, true);
  assert.equal(port.ends.length, 0, 'the other session is untouched');
  assert.deepEqual(small.violations, []);
  assert.deepEqual(small.received, range(1, 512), 'everything before the hole, nothing after it');
});
