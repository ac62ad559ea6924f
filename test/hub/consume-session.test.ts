// ConsumeSession in-process (no server): a member stream's state machine, waiting -> joining ->
// joined -> ended, over a fake directory whose joins the test answers when it chooses and a fake
// group that records what the member asked. Refusals by state (before, during and after the join),
// the hold-back of a member that does not read, and the one release on every end path (cancel,
// error, half-close, the join failing, the group ending its members, shutdown); a seeded run
// (RIGGER_TEST_SEED) drives random messages and endings against a small model of the machine.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConsumerMember, Refusal } from '../../src/hub/consumer-group';
import type { ConsumerStatus } from '../../src/hub/consumer-registry';
import { ConsumeSession, type ConsumeState, type ConsumerDirectory, type JoinRequest, type MemberGroup } from '../../src/hub/consume-session';
import { StreamRegistry } from '../../src/hub/stream-registry';
import { RiggerError } from '../../src/model/errors';
import type { LoggedEvent } from '../../src/model/logged-event';
import { seededRandom } from '../support/seeded-random';
import { turns } from './memory-log';
import { FakeConsumePort, SILENT, type GroupCall } from './session-fakes';

class FakeGroup implements MemberGroup {
  readonly members = new Map<number, ConsumerMember>();
  readonly calls: GroupCall[] = [];
  /** What the next settle answers: undefined applies it, a refusal refuses it. */
  refusal: Refusal | undefined;
  private nextId = 1;

  join(member: ConsumerMember): number {
    const id = this.nextId++;
    this.members.set(id, member);
    this.calls.push({ call: 'join', memberId: id });
    return id;
  }

  leave(memberId: number): void {
    this.members.delete(memberId);
  }

  ack(memberId: number): Refusal | undefined {
    this.calls.push({ call: 'ack', memberId });
    return this.refusal;
  }

  nak(memberId: number): Refusal | undefined {
    this.calls.push({ call: 'nak', memberId });
    return this.refusal;
  }

  inProgress(memberId: number): Refusal | undefined {
    this.calls.push({ call: 'in_progress', memberId });
    return this.refusal;
  }

  get memberCount(): number {
    return this.members.size;
  }

  /** The group ends its members (deleted, reset, lost, shutdown). */
  failAll(error: RiggerError): void {
    for (const member of this.members.values()) member.fail(error);
    this.members.clear();
  }
}

class FakeDirectory implements ConsumerDirectory {
  readonly group = new FakeGroup();
  readonly pending: { resolve: (group: MemberGroup) => void; reject: (error: unknown) => void }[] = [];
  readonly leaves: number[] = [];

  join(): Promise<MemberGroup> {
    return new Promise((resolve, reject) => this.pending.push({ resolve, reject }));
  }

  leave(group: MemberGroup, memberId: number): void {
    this.leaves.push(memberId);
    (group as FakeGroup).leave(memberId);
  }

  status(name: string): ConsumerStatus {
    return {
      record: { name } as ConsumerStatus['record'],
      ackedSequence: 0,
      headSequence: 0,
      inFlight: 0,
      members: 0,
      pending: 0,
      deadLetters: 0,
      redeliveries: 0,
    };
  }

  /** Answers the oldest join on its way. */
  async answer(error?: RiggerError): Promise<void> {
    const next = this.pending.shift();
    assert.ok(next, 'a join on its way');
    if (error) next.reject(error);
    else next.resolve(this.group);
    await turns(1);
  }
}

const JOIN = (): JoinRequest => ({
  request: { name: 'orders', filter: undefined, settings: {}, startSequence: undefined },
  clientName: 'worker/1',
  mayCreate: true,
});
const SETTLE = () => ({ sequences: [1], deliveryIds: [] as string[] });
const NAK = () => ({ sequence: 1, deliveryId: '', delayMs: undefined, reason: undefined, deadLetter: false });
/** A message's content that must not be read: the state refuses it first. */
const UNREAD = (): never => assert.fail('the content was read although the state refuses the message');

function member(memberStallMs = 60_000) {
  const directory = new FakeDirectory();
  const streams = new StreamRegistry();
  const port = new FakeConsumePort();
  const session = new ConsumeSession(directory, streams, port, { memberStallMs, logger: SILENT });
  return { directory, streams, port, session };
}

async function joined(memberStallMs?: number) {
  const m = member(memberStallMs);
  m.session.join(JOIN);
  await m.directory.answer();
  return m;
}

const event = (sequence: number): LoggedEvent => ({
  sequence,
  eventType: 2,
  taskId: 't',
  assignee: undefined,
  previousAssignee: undefined,
  status: 1,
  previousStatus: undefined,
  encoded: Buffer.alloc(0),
});

test('a join: reading stops until it is answered; then the answer, the listing, and deliveries', async () => {
  const { directory, streams, port, session } = member();
  session.join(JOIN);
  assert.equal(session.state, 'joining');
  assert.equal(port.reading, false, 'acks sent before the join is done would have no group to go to');
  assert.equal(streams.size, 0);
  await directory.answer();
  assert.equal(session.state, 'joined');
  assert.equal(port.reading, true);
  assert.equal(port.joins.length, 1);
  assert.equal(port.joins[0]!.record.name, 'orders');
  const [listed] = streams.list();
  assert.equal(listed?.opening.kind, 'consume');
  assert.equal(listed?.opening.clientName, 'worker/1');
  assert.equal(listed?.consumer, 'orders');
  assert.equal(directory.group.memberCount, 1);
  assert.equal(directory.group.members.get(1)!.deliver(event(1), 1, 'd1'), true);
  assert.deepEqual(port.delivered, [{ sequence: 1, attempt: 1, deliveryId: 'd1' }]);
});

test('refused by state, before its content is read: a settle before the join, anything while joining, a second join', async () => {
  const before = member();
  before.session.ack(UNREAD);
  assert.match((before.port.ends[0] as Error).message, /first message of ConsumeTaskEvents must be `join`/);
  assert.equal(before.session.state, 'ended');

  for (const send of [
    (s: ConsumeSession) => s.ack(UNREAD),
    (s: ConsumeSession) => s.nak(UNREAD),
    (s: ConsumeSession) => s.join(UNREAD),
    (s: ConsumeSession) => s.skip(),
  ]) {
    const during = member();
    during.session.join(JOIN);
    send(during.session);
    assert.match((during.port.ends[0] as Error).message, /only after the join has been answered/);
    await during.directory.answer(); // the join's answer comes after the stream ended
    assert.equal(during.port.joins.length, 0, 'nothing sent after the end');
    assert.deepEqual(during.directory.leaves, [0], 'the group is handed back so it may go idle');
    assert.equal(during.streams.size, 0);
  }

  const twice = await joined();
  twice.session.join(UNREAD);
  assert.match((twice.port.ends[0] as RiggerError).message, /joined already/);
  assert.equal((twice.port.ends[0] as RiggerError).kind, 'invalid_argument');
  assert.deepEqual(twice.directory.leaves, [1]);
  assert.equal(twice.streams.size, 0);
});

test('a bad message content ends the stream with its error, and the member leaves once', async () => {
  const { directory, port, session } = await joined();
  session.ack(() => {
    throw new RiggerError('invalid_argument', 'ack.sequences has too many entries');
  });
  session.release();
  assert.equal(port.endings, 1);
  assert.deepEqual(directory.leaves, [1]);
});

test('once joined, settles go to the group as this member; a refusal is answered, nothing else', async () => {
  const { directory, port, session } = await joined();
  session.ack(SETTLE);
  session.nak(NAK);
  session.inProgress(SETTLE);
  session.skip();
  assert.deepEqual(
    directory.group.calls.map((c) => `${c.call}:${c.memberId}`),
    ['join:1', 'ack:1', 'nak:1', 'in_progress:1'],
  );
  assert.deepEqual(port.refusals, []);
  directory.group.refusal = { sequences: [7], deliveryIds: [], count: 1, reason: 'not held' };
  session.ack(SETTLE);
  assert.equal(port.refusals.length, 1);
  assert.equal(session.state, 'joined', 'a refusal does not end the stream');
  assert.equal(port.endings, 0);
});

test('every end path releases once: half-close ends OK, cancel ends silently, the group failing and a failed join end with their error', async () => {
  const paths: [string, (m: Awaited<ReturnType<typeof joined>>) => void, { finished: number; ends: number }][] = [
    ['half-close', (m) => m.session.end(), { finished: 1, ends: 0 }],
    ['cancel', (m) => m.session.release(), { finished: 0, ends: 0 }],
    ['call error', (m) => m.session.fail(new RiggerError('internal', 'transport')), { finished: 0, ends: 1 }],
    ['group fails (shutdown)', (m) => m.directory.group.failAll(new RiggerError('unavailable', 'server shutting down')), { finished: 0, ends: 1 }],
  ];
  for (const [name, end, expected] of paths) {
    const m = await joined();
    end(m);
    for (let i = 0; i < 4; i++) m.session.release(); // the call's cancelled, close, finish, error
    m.session.end();
    m.session.ack(UNREAD);
    assert.deepEqual(m.directory.leaves, [1], `${name}: left once`);
    assert.equal(m.streams.size, 0, `${name}: unlisted`);
    assert.equal(m.port.finished, expected.finished, name);
    assert.equal(m.port.ends.length, expected.ends, name);
    assert.deepEqual(m.port.violations, [], name);
  }
  const refused = member();
  refused.session.join(JOIN);
  await refused.directory.answer(new RiggerError('permission_denied', 'read-only token'));
  assert.equal((refused.port.ends[0] as RiggerError).kind, 'permission_denied');
  assert.deepEqual(refused.directory.leaves, [], 'it never held a group');
  assert.equal(refused.streams.size, 0);
});

test('a member that does not read is held back: reading stops while its stream is full, resumes on drain, and it is ended after the stall limit', async () => {
  const { directory, port, session } = await joined(50);
  port.full = true;
  session.ack(SETTLE);
  assert.equal(port.reading, false);
  port.drain();
  await turns(1);
  assert.equal(port.reading, true);
  assert.equal(session.state, 'joined');
  port.full = true;
  session.ack(SETTLE);
  for (let i = 0; i < 100 && port.ends.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal((port.ends[0] as RiggerError | undefined)?.kind, 'resource_exhausted');
  assert.match((port.ends[0] as Error).message, /did not read its stream for 50 ms/);
  assert.deepEqual(directory.leaves, [1]);
  port.drain();
  await turns(1);
  assert.equal(port.reading, false, 'an ended stream is not read again');
});

// The model: the state each message or ending leads to, and whether it ends the stream.
type Action = 'join' | 'ack' | 'nak' | 'in_progress' | 'skip' | 'answer' | 'reject' | 'end' | 'cancel' | 'fail' | 'group_fail' | 'refusing';
const ACTIONS: Action[] = ['join', 'ack', 'nak', 'in_progress', 'skip', 'answer', 'reject', 'end', 'cancel', 'fail', 'group_fail', 'refusing'];

test('seeded runs against a model of the state machine: the state, what was sent, and one release', async () => {
  const seed = Number(process.env.RIGGER_TEST_SEED ?? 29);
  for (let run = 0; run < 200; run++) {
    const random = seededRandom(seed + run);
    const m = member();
    let state: ConsumeState = 'waiting';
    let joinedEver = false;
    let refusing = false;
    let expectedRefusals = 0;
    let expected = { finished: 0, ends: 0 };
    let answeredAfterEnd = false;
    const steps: Action[] = [];
    for (let step = 0; step < 12; step++) {
      const action = ACTIONS[Math.floor(random() * ACTIONS.length)]!;
      steps.push(action);
      const where = `seed ${seed + run}: ${steps.join(' ')}`;
      const endWithError = () => {
        if (state !== 'ended') expected = { ...expected, ends: expected.ends + 1 };
        state = 'ended';
      };
      switch (action) {
        case 'join':
          m.session.join(JOIN);
          if (state === 'waiting') state = 'joining';
          else endWithError();
          break;
        case 'ack':
        case 'nak':
        case 'in_progress':
        case 'skip': {
          const before = m.port.refusals.length;
          if (action === 'ack') m.session.ack(SETTLE);
          else if (action === 'nak') m.session.nak(NAK);
          else if (action === 'in_progress') m.session.inProgress(SETTLE);
          else m.session.skip();
          if (state === 'waiting' || state === 'joining') endWithError();
          else if (state === 'joined' && refusing && action !== 'skip') expectedRefusals++;
          assert.ok(m.port.refusals.length - before <= 1, where);
          break;
        }
        case 'answer':
        case 'reject':
          if (m.directory.pending.length === 0) continue;
          if (state === 'ended' && action === 'answer') answeredAfterEnd = true;
          await m.directory.answer(action === 'reject' ? new RiggerError('not_found', 'no such consumer') : undefined);
          if (state === 'joining') {
            if (action === 'answer') {
              state = 'joined';
              joinedEver = true;
            } else endWithError();
          }
          break;
        case 'end':
          m.session.end();
          if (state !== 'ended') expected = { ...expected, finished: expected.finished + 1 };
          state = 'ended';
          break;
        case 'cancel':
          m.session.release();
          state = 'ended';
          break;
        case 'fail':
          m.session.fail(new RiggerError('internal', 'transport'));
          endWithError();
          break;
        case 'group_fail':
          m.directory.group.failAll(new RiggerError('unavailable', 'server shutting down'));
          if (state === 'joined') endWithError();
          break;
        case 'refusing':
          refusing = !refusing;
          m.directory.group.refusal = refusing ? { sequences: [1], deliveryIds: [], count: 1, reason: 'not held' } : undefined;
          break;
      }
      assert.equal(m.session.state, state, where);
      assert.equal(m.port.finished, expected.finished, where);
      assert.equal(m.port.ends.length, expected.ends, where);
      assert.equal(m.port.refusals.length, expectedRefusals, where);
      if (state === 'joining') assert.equal(m.port.reading, false, `${where}: nothing is read while joining`);
      if (state === 'joined') assert.equal(m.port.reading, true, `${where}: read once joined`);
      assert.deepEqual(m.port.violations, [], where);
      assert.equal(m.streams.size, state === 'joined' ? 1 : 0, `${where}: listed while joined only`);
    }
    const where = `seed ${seed + run}: ${steps.join(' ')}`;
    m.session.release();
    assert.ok(m.port.endings <= 1, `${where}: one end at most`);
    const memberLeaves = m.directory.leaves.filter((id) => id !== 0);
    assert.equal(memberLeaves.length, joinedEver ? 1 : 0, `${where}: the member left its group once if it joined`);
    if (answeredAfterEnd) assert.ok(m.directory.leaves.includes(0), `${where}: a join answered after the end is handed back`);
    assert.equal(m.directory.group.memberCount, 0, `${where}: no member left behind`);
  }
});
