// One durable consumer while it is active: the events read for it from the hub, shared among its
// members (the connections on its name), acked, redelivered and dead-lettered. The rules it keeps:
//  - at most one event of a task in flight at a time, and a task's events in sequence order: each
//    task has a lane, and only the head of a lane is ever delivered; the next event of the task
//    waits until the head is acked or dead (as SQS FIFO message groups);
//  - tasks in parallel: the heads of idle lanes are handed out lowest sequence first, each to the
//    member with the fewest events in flight that can take one;
//  - at most max_in_flight events in flight over all members, and a bounded number read ahead
//    (MAX_PENDING), so a stalled consumer holds back its own subscription, not the server's memory;
//  - the acked position is the sequence below the oldest event not yet acked or dead (or the
//    subscription's position when nothing is pending: events the filter passes over move it too);
//    acks above it are kept one by one, so an ack is never undone by a restart once written.
// Progress (the acked position, acks above it, delivery counts of redeliveries, dead letters) is
// written in batches, one per turn of the event loop at most, through the store's group commit;
// each member hears which of its acks are durable (acks_committed).
import type { ConsumerRecord, ConsumerRepository, DeadLetterRecord } from '../model/consumer';
import { redeliveryDelay } from '../model/consumer';
import { RiggerError } from '../model/errors';
import type { LoggedEvent } from '../model/logged-event';
import { MinHeap } from './min-heap';
import type { EventSink, Subscription } from './subscription';

/** One connection of a consumer, as the group sees it (the gRPC handler implements it). */
export interface ConsumerMember {
  /** Sends one event with its delivery attempt (1 = first); false when full (wait for onDrain). */
  deliver(event: LoggedEvent, attempt: number): boolean;
  onDrain(callback: () => void): void;
  /** These acks of this member are durable; `ackedSequence` is the consumer's committed position. */
  committed(sequences: number[], ackedSequence: number): void;
  /** Ends the member's stream with `error`. */
  fail(error: RiggerError): void;
}

/** What the group needs of the hub: a subscription for its filter, and single events for redrives. */
export interface GroupEventSource {
  subscribe(sinceSequence: number, sink: EventSink): Subscription;
  unsubscribe(subscription: Subscription): void;
  /** The event at `sequence`, if the log still has it. */
  eventAt(sequence: number): LoggedEvent | undefined;
  readonly lastSequence: number;
}

export interface GroupLogger {
  warn(fields: object, message: string): void;
}

/** Events read ahead of the acked position and not yet acked, at most (then the subscription waits). */
const MAX_PENDING = 10_000;
const RESUME_PENDING = MAX_PENDING / 2;
/** How often ack waits and delayed redeliveries are looked at, in ms. */
const TICK_MS = 50;
/** How often a position moved only by unmatched events (no acks) is written, in ticks. */
const IDLE_FLUSH_TICKS = 20;
/** How long a failed progress write waits before it is tried again, in ms. */
const FLUSH_RETRY_MS = 200;

interface Entry {
  readonly event: LoggedEvent;
  attempts: number;
  reason: string | undefined;
  member: MemberState | undefined;
  /** When the ack wait of the delivery in flight ends (performance.now()-free: Date.now() ms). */
  deadline: number;
  /** Not delivered again before this (a nak's delay, the backoff). */
  notBefore: number;
  /** A dead letter delivered again: below the acked position, outside `outstanding`. */
  readonly redriven: boolean;
}

/** The events of one task not yet acked, in sequence order; only `entries[0]` is ever in flight. */
interface Lane {
  readonly taskId: string;
  readonly entries: Entry[];
  /** In the ready heap (its head can be delivered now). */
  queued: boolean;
}

interface MemberState {
  readonly id: number;
  readonly member: ConsumerMember;
  readonly inFlight: Set<Entry>;
  full: boolean;
  /** Its acks waiting for the write that makes them durable. */
  acked: number[];
}

export interface GroupStats {
  ackedSequence: number;
  inFlight: number;
  members: number;
  pending: number;
  redeliveries: number;
  unflushedDeadLetters: number;
}

export class ConsumerGroup {
  private readonly lanes = new Map<string, Lane>();
  private readonly ready = new MinHeap<Lane>((lane) => lane.entries[0]?.event.sequence ?? Number.MAX_SAFE_INTEGER);
  /** Lanes whose head waits for its redelivery time. */
  private readonly delayed = new Set<Lane>();
  /** Read from the log and not yet acked or dead, in sequence order (Map keeps insertion order). */
  private readonly outstanding = new Map<number, Entry>();
  private readonly redriven = new Map<number, Entry>();
  /** Acked or dead above the committed position: skipped when the subscription reads them again. */
  private readonly done = new Set<number>();
  private readonly members = new Map<number, MemberState>();
  private nextMemberId = 1;
  private inFlight = 0;
  private redeliveries = 0;
  private subscription: Subscription | undefined;
  private resumeSubscription: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ticks = 0;
  private dispatching = false;
  private closed = false;

  // The next progress write.
  private acks: number[] = [];
  private attempts = new Map<number, number>();
  private dead: DeadLetterRecord[] = [];
  private removedDead: number[] = [];
  private committedFloor: number;
  private flushScheduled = false;
  private flushing: Promise<void> | undefined;
  private flushAgain = false;

  constructor(
    readonly record: ConsumerRecord,
    private readonly repository: ConsumerRepository,
    private readonly source: GroupEventSource,
    private readonly logger: GroupLogger,
  ) {
    this.committedFloor = record.ackedSequence;
  }

  /** Loads the stored progress and starts reading; throws out_of_range when the log no longer holds its position. */
  start(): void {
    const progress = this.repository.progressOf(this.record.name);
    for (const sequence of progress.acks) this.done.add(sequence);
    for (const dead of progress.deadLetters) if (dead.sequence > this.record.ackedSequence) this.done.add(dead.sequence);
    this.storedAttempts = progress.attempts;
    const sink: EventSink = {
      write: (event) => this.accept(event),
      writeBookmark: () => true,
      onDrain: (callback) => {
        this.resumeSubscription = callback;
      },
      fail: (error) => this.fail(error),
    };
    this.subscription = this.source.subscribe(this.record.ackedSequence, sink);
    for (const dead of progress.deadLetters) if (dead.redrive) this.redrive(dead);
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
    this.subscription.start();
  }

  /** Delivery counts written by an earlier run, taken over as their events arrive. */
  private storedAttempts = new Map<number, number>();

  get memberCount(): number {
    return this.members.size;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  stats(): GroupStats {
    return {
      ackedSequence: this.floor(),
      inFlight: this.inFlight,
      members: this.members.size,
      pending: this.outstanding.size + this.redriven.size,
      redeliveries: this.redeliveries,
      unflushedDeadLetters: this.dead.length,
    };
  }

  /** The committed position, as written last (what retention must keep above). */
  get committedSequence(): number {
    return this.committedFloor;
  }

  join(member: ConsumerMember): number {
    if (this.closed) throw new RiggerError('unavailable', `consumer ${JSON.stringify(this.record.name)} is closing; join again`);
    const id = this.nextMemberId++;
    this.members.set(id, { id, member, inFlight: new Set(), full: false, acked: [] });
    this.dispatch();
    return id;
  }

  /** A member left: its events in flight go to the others at once. */
  leave(memberId: number): void {
    const state = this.members.get(memberId);
    if (!state) return;
    this.members.delete(memberId);
    for (const entry of state.inFlight) {
      this.inFlight--;
      this.returned(entry, 'the member it was delivered to disconnected', 0);
    }
    state.inFlight.clear();
    this.dispatch();
    if (state.acked.length > 0) this.scheduleFlush();
  }

  ack(memberId: number, sequences: readonly number[]): void {
    const state = this.members.get(memberId);
    for (const sequence of sequences) {
      const entry = this.outstanding.get(sequence) ?? this.redriven.get(sequence);
      if (!entry) {
        // Already acked (a repeat, or an ack resent after a reconnect): confirmed with the next write.
        if (sequence <= this.floor() || this.done.has(sequence)) state?.acked.push(sequence);
        continue;
      }
      if (entry.attempts === 0) continue; // never delivered: an ack cannot skip an event
      this.finish(entry);
      if (entry.redriven) this.removedDead.push(sequence);
      else this.done.add(sequence);
      this.acks.push(sequence);
      state?.acked.push(sequence);
    }
    this.afterProgress();
  }

  nak(memberId: number, sequence: number, delayMs: number | undefined, reason: string | undefined, deadLetter = false): void {
    const entry = this.outstanding.get(sequence) ?? this.redriven.get(sequence);
    const state = this.members.get(memberId);
    if (!entry || !entry.member || entry.member !== state) return;
    state.inFlight.delete(entry);
    entry.member = undefined;
    this.inFlight--;
    this.returned(entry, reason, delayMs, deadLetter);
    this.afterProgress();
  }

  inProgress(memberId: number, sequences: readonly number[]): void {
    const state = this.members.get(memberId);
    const deadline = Date.now() + this.record.ackWaitMs;
    for (const sequence of sequences) {
      const entry = this.outstanding.get(sequence) ?? this.redriven.get(sequence);
      if (entry && entry.member === state) entry.deadline = deadline;
    }
  }

  /** Delivers a dead letter again (redrive), in its task's lane; false when the log no longer has its event. */
  redrive(dead: DeadLetterRecord): boolean {
    if (this.redriven.has(dead.sequence)) return true;
    const event = this.source.eventAt(dead.sequence);
    if (!event) return false;
    const entry: Entry = { event, attempts: 0, reason: undefined, member: undefined, deadline: 0, notBefore: 0, redriven: true };
    this.redriven.set(dead.sequence, entry);
    this.enqueue(entry, true);
    this.dispatch();
    return true;
  }

  /** Ends every member's stream with `error` and stops; the progress made is written (await flushed()). */
  fail(error: RiggerError): void {
    if (this.closed) return;
    this.close();
    for (const state of this.members.values()) state.member.fail(error);
    this.members.clear();
  }

  /** Stops reading and delivering (members are left to the caller); progress still pending is written. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    if (this.subscription) this.source.unsubscribe(this.subscription);
    this.subscription = undefined;
    this.scheduleFlush();
  }

  /** Resolves once every progress write asked for so far is done. */
  async flushed(): Promise<void> {
    for (let i = 0; i < 100 && (this.flushing || this.flushScheduled); i++) {
      if (this.flushing) await this.flushing;
      else await new Promise((resolve) => setImmediate(resolve));
    }
  }

  // ---- delivery

  /** One matching event from the subscription; false asks it to wait (too much read ahead). */
  private accept(event: LoggedEvent): boolean {
    if (this.closed) return false;
    if (!this.done.has(event.sequence)) {
      const entry: Entry = {
        event,
        attempts: this.storedAttempts.get(event.sequence) ?? 0,
        reason: undefined,
        member: undefined,
        deadline: 0,
        notBefore: 0,
        redriven: false,
      };
      this.storedAttempts.delete(event.sequence);
      this.outstanding.set(event.sequence, entry);
      this.enqueue(entry, false);
      this.dispatch();
    }
    return this.outstanding.size < MAX_PENDING;
  }

  /** Puts `entry` in its task's lane (in sequence order when `sorted`; new events always come last). */
  private enqueue(entry: Entry, sorted: boolean): void {
    const taskId = entry.event.taskId;
    let lane = this.lanes.get(taskId);
    if (!lane) {
      lane = { taskId, entries: [], queued: false };
      this.lanes.set(taskId, lane);
    }
    const { entries } = lane;
    if (sorted) {
      let at = entries.length;
      // The head may be in flight: never put anything before it.
      while (at > 1 && entries[at - 1]!.event.sequence > entry.event.sequence) at--;
      entries.splice(at, 0, entry);
    } else {
      entries.push(entry);
    }
    if (entries.length === 1) this.laneReady(lane);
  }

  /** The lane's head can go out now, later, or the lane is empty. */
  private laneReady(lane: Lane): void {
    const head = lane.entries[0];
    if (!head) {
      // It may still sit in the ready heap (its head was acked while waiting there): dispatch
      // skips it then, and a newer lane of the same task must not be dropped for it.
      if (this.lanes.get(lane.taskId) === lane) this.lanes.delete(lane.taskId);
      this.delayed.delete(lane);
      return;
    }
    if (head.member) return;
    if (head.notBefore > Date.now()) {
      this.delayed.add(lane);
      return;
    }
    this.delayed.delete(lane);
    if (!lane.queued) {
      lane.queued = true;
      this.ready.push(lane);
    }
  }

  private dispatch(): void {
    if (this.dispatching || this.closed) return;
    this.resumeIfRoom();
    this.dispatching = true;
    try {
      while (this.inFlight < this.record.maxInFlight && this.ready.size > 0) {
        const member = this.pickMember();
        if (!member) break;
        const lane = this.ready.pop()!;
        lane.queued = false;
        if (this.lanes.get(lane.taskId) !== lane) continue; // emptied while it waited
        const head = lane.entries[0];
        if (!head || head.member || head.notBefore > Date.now()) {
          this.laneReady(lane);
          continue;
        }
        this.send(head, member);
      }
    } finally {
      this.dispatching = false;
    }
  }

  private pickMember(): MemberState | undefined {
    let best: MemberState | undefined;
    for (const state of this.members.values()) {
      if (!state.full && (!best || state.inFlight.size < best.inFlight.size)) best = state;
    }
    return best;
  }

  private send(entry: Entry, state: MemberState): void {
    entry.attempts++;
    entry.member = state;
    entry.deadline = Date.now() + this.record.ackWaitMs;
    state.inFlight.add(entry);
    this.inFlight++;
    if (entry.attempts > 1) {
      this.redeliveries++;
      if (!entry.redriven) this.attempts.set(entry.event.sequence, entry.attempts);
    }
    if (!state.member.deliver(entry.event, entry.attempts)) {
      state.full = true;
      state.member.onDrain(() => {
        state.full = false;
        this.dispatch();
      });
    }
  }

  /** An event back from a member (nak, ack wait over, disconnect): delivered again later, or dead. */
  private returned(entry: Entry, reason: string | undefined, delayMs: number | undefined, deadLetter = false): void {
    entry.member = undefined;
    if (reason !== undefined) entry.reason = reason;
    if (deadLetter || (this.record.maxDeliver > 0 && entry.attempts >= this.record.maxDeliver)) {
      this.kill(entry, deadLetter ? 'event dead-lettered by its member (a permanent failure)' : undefined);
      return;
    }
    entry.notBefore = Date.now() + (delayMs ?? redeliveryDelay(this.record, entry.attempts));
    const lane = this.lanes.get(entry.event.taskId);
    if (lane) this.laneReady(lane);
  }

  /** Delivered max_deliver times without an ack: a dead letter, and the task moves on. */
  private kill(entry: Entry, message = 'event dead-lettered after max_deliver attempts'): void {
    this.finish(entry);
    const sequence = entry.event.sequence;
    if (entry.redriven) this.removedDead = this.removedDead.filter((s) => s !== sequence);
    else this.done.add(sequence);
    this.attempts.delete(sequence);
    this.dead.push({ sequence, taskId: entry.event.taskId, attempts: entry.attempts, reason: entry.reason, deadAt: new Date().toISOString() });
    this.logger.warn({ consumer: this.record.name, sequence, task_id: entry.event.taskId, attempts: entry.attempts, reason: entry.reason }, message);
    this.scheduleFlush();
  }

  /** Takes a finished (acked or dead) entry out of its lane and the pending sets; the lane's next event may go. */
  private finish(entry: Entry): void {
    if (entry.member) {
      entry.member.inFlight.delete(entry);
      entry.member = undefined;
      this.inFlight--;
    }
    const sequence = entry.event.sequence;
    if (entry.redriven) this.redriven.delete(sequence);
    else this.outstanding.delete(sequence);
    const lane = this.lanes.get(entry.event.taskId);
    if (lane) {
      const at = lane.entries.indexOf(entry);
      if (at >= 0) lane.entries.splice(at, 1);
      if (at === 0) this.laneReady(lane);
    }
  }

  private afterProgress(): void {
    this.dispatch();
    this.scheduleFlush();
  }

  /** The subscription waits while too much is read ahead; it reads on once half of that is acked. */
  private resumeIfRoom(): void {
    if (!this.resumeSubscription || this.outstanding.size > RESUME_PENDING) return;
    const resume = this.resumeSubscription;
    this.resumeSubscription = undefined;
    resume();
  }

  private tick(): void {
    const now = Date.now();
    for (const state of this.members.values()) {
      for (const entry of state.inFlight) {
        if (entry.deadline > now) continue;
        state.inFlight.delete(entry);
        this.inFlight--;
        this.returned(entry, `not acked within the ack wait of ${this.record.ackWaitMs} ms`, undefined);
      }
    }
    for (const lane of [...this.delayed]) if ((lane.entries[0]?.notBefore ?? 0) <= now) this.laneReady(lane);
    this.dispatch();
    if (++this.ticks % IDLE_FLUSH_TICKS === 0 && this.floor() !== this.committedFloor) this.scheduleFlush();
  }

  // ---- progress

  /** Every matching event up to here is acked or dead. */
  private floor(): number {
    for (const sequence of this.outstanding.keys()) return sequence - 1;
    return this.subscription?.position ?? this.committedFloor;
  }

  private scheduleFlush(): void {
    if (this.flushing) {
      this.flushAgain = true;
      return;
    }
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // Acks sent in the same turn (and other consumers' in the same group commit) share one write.
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    const floor = Math.max(this.floor(), this.committedFloor);
    const confirmations = [...this.members.values()].filter((s) => s.acked.length > 0).map((s) => ({ state: s, acked: s.acked.splice(0) }));
    if (floor === this.committedFloor && this.acks.length === 0 && this.attempts.size === 0 && this.dead.length === 0 && this.removedDead.length === 0) {
      for (const { state, acked } of confirmations) state.member.committed(acked, floor);
      return;
    }
    const batch = { ackedSequence: floor, acks: this.acks, attempts: this.attempts, deadLetters: this.dead, removedDeadLetters: this.removedDead };
    this.acks = [];
    this.attempts = new Map();
    this.dead = [];
    this.removedDead = [];
    this.flushing = this.repository.saveProgress(this.record.name, batch).then(
      () => {
        this.committedFloor = floor;
        for (const sequence of this.done) if (sequence <= floor) this.done.delete(sequence);
        for (const { state, acked } of confirmations) if (this.members.get(state.id) === state) state.member.committed(acked, floor);
      },
      (error: unknown) => {
        // Nothing of it was written: it goes into the next write, which is tried again shortly.
        this.acks = batch.acks.concat(this.acks);
        for (const [sequence, attempts] of batch.attempts) if (!this.attempts.has(sequence)) this.attempts.set(sequence, attempts);
        this.dead = batch.deadLetters.concat(this.dead);
        this.removedDead = batch.removedDeadLetters.concat(this.removedDead);
        for (const { state, acked } of confirmations) state.acked.unshift(...acked);
        this.logger.warn({ consumer: this.record.name, err: error }, 'writing consumer progress failed; will retry');
        this.flushAgain = false;
        setTimeout(() => this.scheduleFlush(), FLUSH_RETRY_MS).unref();
      },
    ).finally(() => {
      this.flushing = undefined;
      if (this.flushAgain) {
        this.flushAgain = false;
        this.scheduleFlush();
      }
    });
  }
}
