// ConsumerGroup on its own (no server): a fake subscription feeds it events, fake members take
// deliveries, a fake repository takes the progress writes. Deterministic cases of the rules the
// process tests (test/consumers/) hit by chance under load.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConsumerGroup, type ConsumerMember } from '../../src/hub/consumer-group';
import type { EventSink, Subscription } from '../../src/hub/subscription';
import { DEFAULT_CONSUMER_SETTINGS, type ConsumerProgress, type ConsumerRepository } from '../../src/model/consumer';
import type { LoggedEvent } from '../../src/model/logged-event';
import { consumerRecord, updatedEvent as event } from './consumer-fixtures';

const DEFAULT_ACK_WAIT = DEFAULT_CONSUMER_SETTINGS.ackWaitMs;

function harness() {
  let now = 1_000_000;
  let sink: EventSink | undefined;
  let position = 0;
  const writes: ConsumerProgress[] = [];
  const record = consumerRecord('unit');
  const repository = {
    progressOf: () => ({ acks: [], attempts: new Map(), deadLetters: [] }),
    saveProgress: async (_: string, take: () => ConsumerProgress) => void writes.push(take()),
  } as unknown as ConsumerRepository;
  const group = new ConsumerGroup(
    record,
    repository,
    {
      subscribe: (_since, given) => {
        sink = given;
        return {
          start() {},
          get position() {
            return position;
          },
        } as unknown as Subscription;
      },
      unsubscribe: () => {},
      eventAt: () => undefined,
      lastSequence: 0,
    },
    { warn: () => {} },
    () => now,
  );
  group.start();
  const publish = (e: LoggedEvent) => {
    position = e.sequence;
    sink!.write(e);
  };
  const member = () => {
    const got: { sequence: number; attempt: number; id: string }[] = [];
    const m: ConsumerMember = {
      deliver: (e, attempt, id) => (got.push({ sequence: e.sequence, attempt, id }), true),
      onDrain: () => {},
      committed: () => {},
      fail: () => {},
    };
    return { got, id: group.join(m) };
  };
  const advance = (ms: number) => {
    now += ms;
    group.runTimers();
  };
  return { group, publish, member, writes, advance };
}

test('an ack from a member that left is refused and changes nothing: the event goes to the next member, one of its task at a time', () => {
  const { group, publish, member } = harness();
  const first = member();
  publish(event(1, 'A'));
  assert.deepEqual(
    first.got.map((g) => g.sequence),
    [1],
  );
  group.leave(first.id); // 1 waits for another member
  const refused = group.ack(first.id, [1], [first.got[0]!.id]); // ... and its ack, sent before the member went, arrives
  assert.equal(refused?.count, 2);
  assert.equal(group.stats().pending, 1);
  publish(event(2, 'A'));
  const second = member();
  assert.deepEqual(
    second.got.map((g) => [g.sequence, g.attempt]),
    [[1, 2]],
  );
  group.ack(second.id, [], [second.got[0]!.id]);
  assert.deepEqual(
    second.got.map((g) => g.sequence),
    [1, 2],
  );
  publish(event(3, 'A'));
  assert.deepEqual(
    second.got.map((g) => g.sequence),
    [1, 2],
    '3 went out while 2 of the same task was in flight',
  );
  group.ack(second.id, [2]);
  assert.deepEqual(
    second.got.map((g) => g.sequence),
    [1, 2, 3],
  );
  group.close();
});

test("only the holder's current delivery id settles it: another member's, an earlier attempt's and a forged id are refused", () => {
  const { group, publish, member, advance } = harness();
  const a = member();
  const b = member();
  publish(event(1, 'A'));
  publish(event(2, 'B'));
  const [ofA] = a.got;
  const [ofB] = b.got;
  assert.ok(ofA && ofB);
  assert.equal(group.ack(b.id, [], [ofA.id])?.count, 1, "b acked a's delivery");
  assert.equal(group.ack(b.id, [ofA.sequence])?.count, 1, "b acked a's sequence");
  assert.equal(group.nak(b.id, { deliveryId: ofA.id }, 0, undefined, true)?.count, 1, "b dead-lettered a's delivery");
  assert.equal(group.inProgress(b.id, [], [ofA.id])?.count, 1);
  assert.equal(group.ack(a.id, [], ['ffff.1.1.1', 'nonsense', `${ofA.id}0`])?.count, 3, 'forged ids');
  assert.equal(group.stats().inFlight, 2);
  // The ack wait runs out: the next attempt goes out, and the first attempt's id no longer works.
  advance(DEFAULT_ACK_WAIT + 1);
  const again = [...a.got, ...b.got].find((g) => g.sequence === ofA.sequence && g.attempt === 2);
  assert.ok(again, 'redelivered after the ack wait');
  const holder = a.got.includes(again) ? a : b;
  assert.equal(group.ack(holder.id, [], [ofA.id])?.count, 1, "the first attempt's id acked the second attempt");
  assert.equal(group.ack(holder.id, [], [again.id]), undefined);
  assert.equal(group.ack(holder.id, [], [again.id])?.count, 1, 'an ack repeated after it was applied');
  group.close();
});

test("tasks in parallel, each in order; a departed member's events go to the others with the next attempt", () => {
  const { group, publish, member } = harness();
  const a = member();
  const b = member();
  for (const [s, t] of [
    [1, 'A'],
    [2, 'B'],
    [3, 'A'],
    [4, 'B'],
  ] as const)
    publish(event(s, t));
  assert.deepEqual([...a.got, ...b.got].map((g) => g.sequence).sort(), [1, 2], 'one event of each task in flight');
  const heldByA = a.got.map((g) => g.sequence);
  group.leave(a.id);
  assert.deepEqual(
    b.got.slice(1).map((g) => [g.sequence, g.attempt]),
    heldByA.map((s) => [s, 2]),
  );
  group.ack(b.id, [1, 2]);
  assert.deepEqual(
    b.got
      .slice(2)
      .map((g) => g.sequence)
      .sort(),
    [3, 4],
  );
  group.close();
});

test('acks of every member made before a commit ride that one write; each member is told of its own once the write is durable, later acks go in the next', async () => {
  let now = 1_000_000;
  let sink: EventSink | undefined;
  // As the store's group commit: the write joins the next commit, whose transaction calls take().
  const commits: { take: () => ConsumerProgress; durable: () => void; taken?: ConsumerProgress }[] = [];
  const repository = {
    progressOf: () => ({ acks: [], attempts: new Map(), deadLetters: [] }),
    saveProgress: (_: string, take: () => ConsumerProgress) => new Promise<void>((resolve) => void commits.push({ take, durable: resolve })),
  } as unknown as ConsumerRepository;
  const record = consumerRecord('unit');
  const group = new ConsumerGroup(
    record,
    repository,
    {
      subscribe: (_since, given) => ((sink = given), { start() {}, position: 0 } as unknown as Subscription),
      unsubscribe: () => {},
      eventAt: () => undefined,
      lastSequence: 0,
    },
    { warn: () => {} },
    () => now,
  );
  group.start();
  const member = () => {
    const got: number[] = [];
    const confirmed: number[][] = [];
    const m: ConsumerMember = {
      deliver: (e) => (got.push(e.sequence), true),
      onDrain: () => {},
      committed: (sequences) => void confirmed.push([...sequences]),
      fail: () => {},
    };
    return { got, confirmed, id: group.join(m) };
  };
  const a = member();
  const b = member();
  for (let s = 1; s <= 6; s++) sink!.write(event(s, `T${s}`));
  assert.equal(a.got.length + b.got.length, 6);
  group.ack(a.id, [a.got[0]!]);
  group.ack(b.id, [b.got[0]!]);
  group.ack(a.id, [a.got[1]!]);
  assert.equal(commits.length, 1, 'one write asked for by the acks of both members');
  const first = commits[0]!;
  first.taken = first.take();
  assert.deepEqual([...first.taken.acks].sort(), [a.got[0], b.got[0], a.got[1]].sort());
  group.ack(b.id, [b.got[1]!]); // while the first write waits for its sync
  assert.equal(commits.length, 2, 'an ack after the commit took its batch asks for the next write');
  assert.deepEqual(a.confirmed, [], 'nothing confirmed before the write is durable');
  first.durable();
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(a.confirmed, [[a.got[0], a.got[1]]]);
  assert.deepEqual(b.confirmed, [[b.got[0]]]);
  const second = commits[1]!;
  assert.deepEqual(second.take().acks, [b.got[1]]);
  second.durable();
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(b.confirmed, [[b.got[0]], [b.got[1]]]);
  now += 1;
  group.close();
  commits.at(-1)?.take();
  commits.at(-1)?.durable();
  await group.flushed();
});
