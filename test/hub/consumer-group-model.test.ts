// ConsumerGroup against a reference model, driven by seeded random steps: publishes, joins,
// leaves, acks, naks, in_progress, forged and stale requests, full streams, the clock moving past
// ack waits and delays, and crashes (the group dropped with its unwritten progress; a new one
// starts from what the fake repository holds, as a restarted server does). After every step the
// group must agree with the model; at every delivery the rules are checked: the delivery's event
// is neither acked nor dead, no other event of its task is in flight, every earlier event of the
// task is done, its wait is over, its attempt rises, and no confirmed ack is delivered again.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConsumerGroup, type ConsumerMember, type Refusal } from '../../src/hub/consumer-group';
import type { EventSink, Subscription } from '../../src/hub/subscription';
import type { ConsumerProgress, ConsumerRepository, DeadLetterRecord } from '../../src/model/consumer';
import type { LoggedEvent } from '../../src/model/logged-event';
import { seededRandom } from '../support/seeded-random';
import { consumerRecord, updatedEvent } from './consumer-fixtures';

const SEEDS = 50;
const STEPS = 1200;
const TASKS = 6;
const ACK_WAIT_MS = 1000;
const MAX_DELIVER = 4;
const MAX_IN_FLIGHT = 5;

const settle = () => new Promise<void>((resolve) => setImmediate(() => setImmediate(resolve)));

/** The log and a subscription over it that honours a full sink, as the hub's does. */
class FakeLog {
  readonly events: LoggedEvent[] = [];
  private subscriptions = new Set<FakeSubscription>();

  publish(taskId: string): LoggedEvent {
    const event = updatedEvent(this.events.length + 1, taskId);
    this.events.push(event);
    for (const subscription of this.subscriptions) subscription.pump();
    return event;
  }

  subscribe(since: number, sink: EventSink): FakeSubscription {
    const subscription = new FakeSubscription(this, since, sink);
    this.subscriptions.add(subscription);
    return subscription;
  }

  unsubscribe(subscription: FakeSubscription): void {
    subscription.closed = true;
    this.subscriptions.delete(subscription);
  }
}

class FakeSubscription {
  closed = false;
  private started = false;
  private waiting = false;
  constructor(
    private readonly log: FakeLog,
    public position: number,
    private readonly sink: EventSink,
  ) {}

  start(): void {
    this.started = true;
    this.pump();
  }

  pump(): void {
    while (this.started && !this.closed && !this.waiting && this.position < this.log.events.length) {
      const event = this.log.events[this.position]!;
      this.position = event.sequence;
      if (!this.sink.write(event)) {
        this.waiting = true;
        this.sink.onDrain(() => {
          this.waiting = false;
          this.pump();
        });
      }
    }
  }
}

/** What ConsumerStore keeps, and a crash that loses writes not yet done. */
class FakeRepository {
  ackedSequence = 0;
  readonly acks = new Set<number>();
  readonly attempts = new Map<number, number>();
  readonly dead = new Map<number, DeadLetterRecord>();
  epoch = 0;

  progressOf() {
    return { acks: [...this.acks], attempts: new Map(this.attempts), deadLetters: [...this.dead.values()] };
  }

  /** The repository as one run of the server sees it: once it has crashed, its writes never land. */
  forRun(): ConsumerRepository {
    const epoch = this.epoch;
    return {
      progressOf: () => this.progressOf(),
      saveProgress: (_name: string, take: () => ConsumerProgress) => this.save(take(), epoch),
    } as unknown as ConsumerRepository;
  }

  private async save(progress: ConsumerProgress, epoch: number): Promise<void> {
    await Promise.resolve();
    if (epoch !== this.epoch) return new Promise<void>(() => {}); // the process died with it
    const floor = progress.ackedSequence;
    this.ackedSequence = floor;
    for (const s of [...this.acks]) if (s <= floor) this.acks.delete(s);
    for (const s of [...this.attempts.keys()]) if (s <= floor) this.attempts.delete(s);
    for (const s of progress.acks) {
      this.attempts.delete(s);
      if (s > floor) this.acks.add(s);
    }
    for (const [s, n] of progress.attempts) if (s > floor) this.attempts.set(s, n);
    for (const d of progress.deadLetters) {
      this.attempts.delete(d.sequence);
      this.dead.set(d.sequence, d);
    }
    for (const s of progress.removedDeadLetters) this.dead.delete(s);
  }

  isDone(sequence: number): boolean {
    return sequence <= this.ackedSequence || this.acks.has(sequence) || this.dead.has(sequence);
  }
}

interface Held {
  member: ModelMember;
  id: string;
  attempt: number;
  deadline: number;
}

interface ModelMember {
  id: number;
  full: boolean;
  drain: (() => void) | undefined;
  left: boolean;
}

async function run(seed: number): Promise<{ deliveries: number; crashes: number; refusals: number; end: number }> {
  const rand = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T | undefined => (items.length === 0 ? undefined : items[Math.floor(rand() * items.length)]);
  let now = 1_000_000;
  const log = new FakeLog();
  const repository = new FakeRepository();
  const record = consumerRecord(`model-${seed}`, { ackWaitMs: ACK_WAIT_MS, maxDeliver: MAX_DELIVER, maxInFlight: MAX_IN_FLIGHT });

  // The model: what is done (acked or dead, in this run), what is held, by whom, with which id.
  const done = new Set<number>();
  const held = new Map<number, Held>();
  const attempts = new Map<number, number>();
  const notBefore = new Map<number, number>();
  const confirmed = new Set<number>();
  const finishedIds: string[] = [];
  /** Joined members by the id the group gave them. */
  let members = new Map<number, ModelMember>();
  let deliveries = 0;
  let crashes = 0;
  let refusals = 0;
  let group!: ConsumerGroup;
  const fail = (message: string) => assert.fail(`seed ${seed}: ${message}`);

  const memberOf = (m: ModelMember): ConsumerMember => ({
    deliver: (event, attempt, deliveryId) => {
      deliveries++;
      const s = event.sequence;
      if (m.left) fail(`delivery ${deliveryId} to member ${m.id}, which left`);
      if (done.has(s)) fail(`${s} delivered (attempt ${attempt}) after it was acked or dead`);
      if (confirmed.has(s)) fail(`${s} delivered after its ack was confirmed`);
      if (held.has(s)) fail(`${s} delivered while already in flight`);
      for (const [other, h] of held)
        if (log.events[other - 1]!.taskId === event.taskId)
          fail(`${s} of task ${event.taskId} delivered while ${other} of it is in flight to member ${h.member.id}`);
      for (let earlier = 1; earlier < s; earlier++) {
        if (log.events[earlier - 1]!.taskId === event.taskId && !done.has(earlier)) fail(`${s} of task ${event.taskId} delivered before ${earlier} is done`);
      }
      if ((notBefore.get(s) ?? 0) > now) fail(`${s} delivered before its delay was over`);
      if (attempt <= (attempts.get(s) ?? 0)) fail(`${s} delivered with attempt ${attempt} after attempt ${attempts.get(s)}`);
      if (held.size >= MAX_IN_FLIGHT) fail(`more than ${MAX_IN_FLIGHT} in flight`);
      attempts.set(s, attempt);
      held.set(s, { member: m, id: deliveryId, attempt, deadline: now + ACK_WAIT_MS });
      const full = rand() < 0.1;
      if (full) m.full = true;
      return !full;
    },
    onDrain: (callback) => {
      m.drain = callback;
    },
    committed: (sequences) => {
      for (const s of sequences) confirmed.add(s);
    },
    fail: () => {},
  });

  const release = (s: number, dead: boolean) => {
    finishedIds.push(held.get(s)!.id);
    held.delete(s);
    if (dead || (attempts.get(s) ?? 0) >= MAX_DELIVER) done.add(s);
  };

  const startGroup = () => {
    record.ackedSequence = repository.ackedSequence;
    group = new ConsumerGroup(
      { ...record },
      repository.forRun(),
      {
        subscribe: (since, sink) => log.subscribe(since, sink) as unknown as Subscription,
        unsubscribe: (subscription) => log.unsubscribe(subscription as unknown as FakeSubscription),
        eventAt: (s) => log.events[s - 1],
        get lastSequence() {
          return log.events.length;
        },
      },
      { warn: () => {} },
      () => now,
    );
    group.start();
  };
  startGroup();

  const join = () => {
    // The group may deliver inside join(), before it returns the id.
    const m: ModelMember = { id: 0, full: false, drain: undefined, left: false };
    m.id = group.join(memberOf(m));
    members.set(m.id, m);
  };

  /** The clock moves: deliveries past their ack wait go back (the model first, as the group redelivers at once). */
  const advance = (ms: number) => {
    now += ms;
    for (const [s, h] of [...held]) {
      if (h.deadline > now) continue;
      notBefore.delete(s);
      release(s, false);
    }
    group.runTimers();
  };

  const heldBy = (m: ModelMember) => [...held].filter(([, h]) => h.member === m);
  /** `request` must be refused whole and change nothing the group reports, nor deliver anything. */
  const expectRefused = (request: () => Refusal | undefined, count: number, what: string) => {
    const before = group.stats();
    const deliveriesBefore = deliveries;
    const result = request();
    if (!result) fail(`${what} was accepted`);
    assert.equal(result!.count, count, `seed ${seed}: ${what}: refusal count`);
    refusals++;
    assert.deepEqual(group.stats(), before, `seed ${seed}: ${what} changed the group`);
    assert.equal(deliveries, deliveriesBefore, `seed ${seed}: ${what} made a delivery`);
  };

  const check = (step: number) => {
    const stats = group.stats();
    if (stats.inFlight !== held.size) fail(`step ${step}: the group has ${stats.inFlight} in flight, the model ${held.size}`);
    if (stats.members !== members.size) fail(`step ${step}: the group has ${stats.members} members, the model ${members.size}`);
  };

  for (let step = 0; step < STEPS; step++) {
    const r = rand();
    const member = pick([...members.values()]);
    if (r < 0.25) {
      log.publish(`t${Math.floor(rand() * TASKS)}`);
    } else if (r < 0.3) {
      if (members.size < 4) join();
    } else if (r < 0.33) {
      if (member) {
        members.delete(member.id);
        member.left = true;
        // The model moves first: the group hands the events to others inside leave().
        for (const [s] of heldBy(member)) release(s, false);
        group.leave(member.id);
      }
    } else if (r < 0.53) {
      const [s, h] = (member && pick(heldBy(member))) ?? [];
      if (s !== undefined && h) {
        held.delete(s);
        done.add(s);
        finishedIds.push(h.id);
        const result = rand() < 0.7 ? group.ack(member!.id, [], [h.id]) : group.ack(member!.id, [s]);
        if (result) fail(`the ack of ${h.id} by its holder was refused: ${result.reason}`);
      }
    } else if (r < 0.61) {
      if (member) {
        // Not this member's now: another's delivery, a finished one, a forged id, an acked sequence.
        const others = [...held].filter(([, h]) => h.member !== member);
        const other = pick(others);
        const kind = Math.floor(rand() * 4);
        if (kind === 0 && other) expectRefused(() => group.ack(member.id, [], [other[1].id]), 1, `member ${member.id} acking ${other[1].id}`);
        else if (kind === 1 && other) expectRefused(() => group.ack(member.id, [other[0]]), 1, `member ${member.id} acking sequence ${other[0]} of another`);
        else if (kind === 2) {
          const stale = pick(finishedIds);
          if (stale) expectRefused(() => group.ack(member.id, [], [stale]), 1, `member ${member.id} acking finished ${stale}`);
        } else {
          const forged = `${Math.floor(rand() * 1e6)}.${member.id}.1.${1 + Math.floor(rand() * (log.events.length + 5))}`;
          expectRefused(() => group.ack(member.id, [], [forged, 'x']), 2, `member ${member.id} acking forged ${forged}`);
        }
      }
    } else if (r < 0.67) {
      const [s, h] = (member && pick(heldBy(member))) ?? [];
      if (s !== undefined && h) {
        const dead = rand() < 0.2;
        const delay = rand() < 0.5 ? 0 : Math.floor(rand() * 500);
        notBefore.set(s, now + delay);
        release(s, dead);
        const result = group.nak(member!.id, { deliveryId: h.id }, delay, 'model nak', dead);
        if (result) fail(`the nak of ${h.id} was refused`);
      }
    } else if (r < 0.7) {
      const [s, h] = (member && pick(heldBy(member))) ?? [];
      if (s !== undefined && h) {
        if (group.inProgress(member!.id, [], [h.id])) fail(`in_progress of ${h.id} was refused`);
        h.deadline = now + ACK_WAIT_MS;
      }
    } else if (r < 0.72) {
      const other = pick([...held].filter(([, h]) => h.member !== member));
      if (member && other) {
        expectRefused(() => group.nak(member.id, { deliveryId: other[1].id }, 0, undefined, true), 1, `member ${member.id} nak-ing ${other[1].id}`);
        expectRefused(() => group.inProgress(member.id, [other[0]]), 1, `member ${member.id} in_progress of ${other[0]}`);
      }
    } else if (r < 0.82) {
      advance(Math.floor(rand() * ACK_WAIT_MS * 1.5));
    } else if (r < 0.9) {
      for (const m of members.values()) {
        if (m.full && m.drain && rand() < 0.7) {
          const drain = m.drain;
          m.full = false;
          m.drain = undefined;
          drain();
        }
      }
    } else if (r < 0.91) {
      // A crash: unwritten progress is lost; the next run starts from the repository.
      crashes++;
      repository.epoch++;
      group.close();
      for (const m of members.values()) m.left = true;
      members = new Map();
      held.clear();
      done.clear();
      notBefore.clear();
      for (const event of log.events) if (repository.isDone(event.sequence)) done.add(event.sequence);
      for (const s of [...attempts.keys()]) attempts.set(s, repository.attempts.get(s) ?? 0);
      startGroup();
    }
    check(step);
    // Let progress writes finish, mostly (a crash may still catch some in flight).
    if (rand() < 0.8) await settle();
  }

  // The end: members drain and ack everything; every event ends acked or dead.
  if (members.size === 0) join();
  for (let round = 0; round < 10_000 && !(done.size === log.events.length && held.size === 0); round++) {
    for (const m of members.values()) {
      if (m.drain) {
        const drain = m.drain;
        m.full = false;
        m.drain = undefined;
        drain();
      }
    }
    for (const [s, h] of [...held]) {
      held.delete(s);
      done.add(s);
      if (group.ack(h.member.id, [], [h.id])) fail(`the final ack of ${h.id} was refused`);
    }
    advance(ACK_WAIT_MS);
    await settle();
  }
  if (done.size !== log.events.length) fail(`${log.events.length - done.size} events never ended acked or dead`);
  await settle();
  const stats = group.stats();
  assert.equal(stats.pending, 0, `seed ${seed}: events still pending at the end`);
  assert.equal(stats.ackedSequence, log.events.length, `seed ${seed}: the acked position is not at the head`);
  group.close();
  await group.flushed();
  assert.equal(repository.ackedSequence, log.events.length, `seed ${seed}: the written position is not at the head`);
  return { deliveries, crashes, refusals, end: log.events.length };
}

test(`the consumer group agrees with its model: ${SEEDS} seeds x ${STEPS} steps`, async () => {
  let deliveries = 0;
  let crashes = 0;
  let refusals = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    const result = await run(seed);
    deliveries += result.deliveries;
    crashes += result.crashes;
    refusals += result.refusals;
    assert.ok(result.deliveries > 50, `seed ${seed}: only ${result.deliveries} deliveries`);
  }
  assert.ok(crashes > SEEDS / 2, `only ${crashes} crashes over ${SEEDS} seeds`);
  assert.ok(refusals > SEEDS * 10, `only ${refusals} refusals over ${SEEDS} seeds`);
  process.stderr.write(`consumer group model: ${deliveries} deliveries, ${crashes} crashes, ${refusals} refused requests\n`);
});
