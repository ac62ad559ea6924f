// ConsumerGroup on its own (no server): a fake subscription feeds it events, fake members take
// deliveries, a fake repository takes the progress writes. Deterministic cases of the rules the
// process tests (test/consumers/) hit by chance under load.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConsumerGroup, type ConsumerMember } from '../../src/hub/consumer-group';
import type { EventSink, Subscription } from '../../src/hub/subscription';
import { DEFAULT_CONSUMER_SETTINGS, type ConsumerProgress, type ConsumerRecord, type ConsumerRepository } from '../../src/model/consumer';
import type { LoggedEvent } from '../../src/model/logged-event';
import { TaskEventType, TaskStatus } from '../../src/model/task';

const event = (sequence: number, taskId: string): LoggedEvent => ({
  sequence, eventType: TaskEventType.UPDATED, taskId, assignee: undefined, previousAssignee: undefined, status: TaskStatus.TODO, previousStatus: undefined, encoded: Buffer.alloc(0),
});

function harness() {
  let sink: EventSink | undefined;
  let position = 0;
  const writes: ConsumerProgress[] = [];
  const record: ConsumerRecord = { ...DEFAULT_CONSUMER_SETTINGS, name: 'unit', filter: { eventTypes: [], statuses: [], taskIds: [] }, ackedSequence: 0, startSequence: 0, createdAt: '', lostReason: undefined };
  const repository = {
    progressOf: () => ({ acks: [], attempts: new Map(), deadLetters: [] }),
    saveProgress: async (_: string, progress: ConsumerProgress) => void writes.push(progress),
  } as unknown as ConsumerRepository;
  const group = new ConsumerGroup(record, repository, {
    subscribe: (_since, given) => {
      sink = given;
      return { start() {}, get position() { return position; } } as unknown as Subscription;
    },
    unsubscribe: () => {},
    eventAt: () => undefined,
    lastSequence: 0,
  }, { warn: () => {} });
  group.start();
  const publish = (e: LoggedEvent) => {
    position = e.sequence;
    sink!.write(e);
  };
  const member = () => {
    const got: { sequence: number; attempt: number }[] = [];
    const m: ConsumerMember = { deliver: (e, attempt) => (got.push({ sequence: e.sequence, attempt }), true), onDrain: () => {}, committed: () => {}, fail: () => {} };
    return { got, id: group.join(m) };
  };
  return { group, publish, member, writes };
}

test('an event acked while it waits for redelivery frees its task once: the next two of that task never go out together', () => {
  const { group, publish, member } = harness();
  const first = member();
  publish(event(1, 'A'));
  assert.deepEqual(first.got.map((g) => g.sequence), [1]);
  group.leave(first.id); // 1 waits for another member
  group.ack(first.id, [1]); // ... and its ack, sent before the member went, arrives
  publish(event(2, 'A'));
  const second = member();
  assert.deepEqual(second.got.map((g) => g.sequence), [2]);
  publish(event(3, 'A'));
  assert.deepEqual(second.got.map((g) => g.sequence), [2], '3 went out while 2 of the same task was in flight');
  group.ack(second.id, [2]);
  assert.deepEqual(second.got.map((g) => g.sequence), [2, 3]);
  group.close();
});

test('tasks in parallel, each in order; a departed member\'s events go to the others with the next attempt', () => {
  const { group, publish, member } = harness();
  const a = member();
  const b = member();
  for (const [s, t] of [[1, 'A'], [2, 'B'], [3, 'A'], [4, 'B']] as const) publish(event(s, t));
  assert.deepEqual([...a.got, ...b.got].map((g) => g.sequence).sort(), [1, 2], 'one event of each task in flight');
  const heldByA = a.got.map((g) => g.sequence);
  group.leave(a.id);
  assert.deepEqual(b.got.slice(1).map((g) => [g.sequence, g.attempt]), heldByA.map((s) => [s, 2]));
  group.ack(b.id, [1, 2]);
  assert.deepEqual(b.got.slice(2).map((g) => g.sequence).sort(), [3, 4]);
  group.close();
});
