// One durable consumer while it is active: the events read for it from the hub, shared among its
// members (the streams joined to it), acked, redelivered and dead-lettered. The rules it keeps:
//  - a delivery is settled (ack, nak, in_progress) only by the member holding it, and by id only
//    for the attempt now current (delivery-token.ts); anything else changes nothing and is refused;
//  - so at most one event of a task is in flight at a time, and a task's events go in sequence
//    order (task-lanes.ts); the heads of idle lanes go lowest sequence first, each to the member
//    with the fewest in flight (consumer-members.ts);
//  - at most max_in_flight events in flight over all members, and a bounded number read ahead
//    (MAX_PENDING), so a stalled consumer holds back its own subscription, not the server's memory;
//  - the acked position is the sequence below the oldest event not yet acked or dead (or the
//    subscription's position when nothing is pending: events the filter passes over move it too);
//    acks above it are kept one by one, so an ack is never undone by a restart once written
//    (consumer-progress.ts writes them).
import type { ConsumerRecord, ConsumerRepository, DeadLetterRecord } from '../model/consumer';
import { redeliveryDelay } from '../model/consumer';
import { RiggerError } from '../model/errors';
import type { LoggedEvent } from '../model/logged-event';
import { ConsumerMembers, type ConsumerMember, type MemberState } from './consumer-members';
import { ConsumerProgressWriter } from './consumer-progress';
import { NOT_HELD, Refused, type Refusal } from './consumer-refusal';
import { deliveryId, sequenceOfDeliveryId } from './delivery-token';
import type { EventSink, Subscription } from './subscription';
import { newEntry, TaskLanes, type Entry } from './task-lanes';

export type { ConsumerMember } from './consumer-members';
export type { Refusal } from './consumer-refusal';

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

export interface GroupStats {
  ackedSequence: number;
  inFlight: number;
  members: number;
  pending: number;
  redeliveries: number;
  unflushedDeadLetters: number;
}

export class ConsumerGroup {
  private readonly lanes = new TaskLanes();
  private readonly members = new ConsumerMembers();
  private readonly progress: ConsumerProgressWriter;
  /** Read from the log and not yet acked or dead, in sequence order (Map keeps insertion order). */
  private readonly outstanding = new Map<number, Entry>();
  private readonly redriven = new Map<number, Entry>();
  /** Acked or dead above the committed position: skipped when the subscription reads them again. */
  private readonly done = new Set<number>();
  /** Delivery counts written by an earlier run, taken over as their events arrive. */
  private storedAttempts = new Map<number, number>();
  private inFlight = 0;
  private redeliveries = 0;
  private subscription: Subscription | undefined;
  private resumeSubscription: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ticks = 0;
  private dispatching = false;
  private closed = false;

  constructor(
    readonly record: ConsumerRecord,
    private readonly repository: ConsumerRepository,
    private readonly source: GroupEventSource,
    private readonly logger: GroupLogger,
    /** The clock of ack waits and delays (tests drive their own). */
    private readonly now: () => number = Date.now,
  ) {
    this.progress = new ConsumerProgressWriter(record.name, repository, (fields, message) => logger.warn(fields, message), record.ackedSequence, {
      floor: () => this.floor(),
      takeConfirmations: () => this.members.takeConfirmations(),
      isJoined: (state) => this.members.get(state.id) === state,
      committed: (floor) => {
        for (const sequence of this.done) if (sequence <= floor) this.done.delete(sequence);
      },
    });
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
    this.timer = setInterval(() => this.runTimers(), TICK_MS);
    this.timer.unref();
    this.subscription.start();
  }

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
      unflushedDeadLetters: this.progress.unwrittenDeadLetters,
    };
  }

  /** The committed position, as written last (what retention must keep above). */
  get committedSequence(): number {
    return this.progress.committed;
  }

  join(member: ConsumerMember): number {
    if (this.closed) throw new RiggerError('unavailable', `consumer ${JSON.stringify(this.record.name)} is closing; join again`);
    const state = this.members.add(member);
    this.dispatch();
    return state.id;
  }

  /** A member left: its events in flight go to the others at once. */
  leave(memberId: number): void {
    const state = this.members.remove(memberId);
    if (!state) return;
    for (const entry of state.inFlight) this.release(state, entry, 'the member it was delivered to disconnected', 0);
    this.dispatch();
    if (state.acked.length > 0) this.progress.schedule();
  }

  /** Acks the deliveries named (by id, or by bare sequence for this member's current delivery of it). */
  ack(memberId: number, sequences: readonly number[], deliveryIds: readonly string[] = []): Refusal | undefined {
    const state = this.members.get(memberId);
    const refused = new Refused();
    const settle = (entry: Entry | undefined, refuse: () => void) => {
      if (!state || !entry) return refuse();
      this.finish(entry);
      if (entry.redriven) this.progress.removeDeadLetter(entry.event.sequence);
      else this.done.add(entry.event.sequence);
      this.progress.ack(entry.event.sequence);
      state.acked.push(entry.event.sequence);
    };
    for (const sequence of sequences) settle(state && this.held(state, sequence), () => refused.sequence(sequence));
    for (const id of deliveryIds) settle(state && this.heldById(state, id), () => refused.id(id));
    this.afterProgress();
    return refused.result(NOT_HELD);
  }

  /** Gives a delivery back: delivered again after `delayMs` (or the backoff), or dead now when `deadLetter`. */
  nak(
    memberId: number,
    target: { sequence?: number; deliveryId?: string },
    delayMs: number | undefined,
    reason: string | undefined,
    deadLetter = false,
  ): Refusal | undefined {
    const state = this.members.get(memberId);
    const entry = state && (target.deliveryId ? this.heldById(state, target.deliveryId) : this.held(state, target.sequence ?? 0));
    if (!state || !entry) {
      const refused = new Refused();
      if (target.deliveryId) refused.id(target.deliveryId);
      else refused.sequence(target.sequence ?? 0);
      return refused.result(NOT_HELD);
    }
    this.release(state, entry, reason, delayMs, deadLetter);
    this.afterProgress();
    return undefined;
  }

  /** Restarts the ack wait of the deliveries named. */
  inProgress(memberId: number, sequences: readonly number[], deliveryIds: readonly string[] = []): Refusal | undefined {
    const state = this.members.get(memberId);
    const deadline = this.now() + this.record.ackWaitMs;
    const refused = new Refused();
    for (const sequence of sequences) {
      const entry = state && this.held(state, sequence);
      if (entry) entry.deadline = deadline;
      else refused.sequence(sequence);
    }
    for (const id of deliveryIds) {
      const entry = state && this.heldById(state, id);
      if (entry) entry.deadline = deadline;
      else refused.id(id);
    }
    return refused.result(NOT_HELD);
  }

  /** Delivers a dead letter again (redrive), in its task's lane; false when the log no longer has its event. */
  redrive(dead: DeadLetterRecord): boolean {
    if (this.redriven.has(dead.sequence)) return true;
    const event = this.source.eventAt(dead.sequence);
    if (!event) return false;
    const entry = newEntry(event, 0, true);
    this.redriven.set(dead.sequence, entry);
    this.lanes.add(entry, true, this.now());
    this.dispatch();
    return true;
  }

  /** Ends every member's stream with `error` and stops; the progress made is written (await flushed()). */
  fail(error: RiggerError): void {
    if (this.closed) return;
    this.close();
    for (const state of this.members.all()) state.member.fail(error);
    this.members.clear();
  }

  /** Stops reading and delivering (members are left to the caller); progress still pending is written. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    if (this.subscription) this.source.unsubscribe(this.subscription);
    this.subscription = undefined;
    this.progress.schedule();
  }

  /** Resolves once every progress write asked for so far is done. */
  flushed(): Promise<void> {
    return this.progress.flushed();
  }

  // ---- delivery

  /** The entry of `sequence` if `state` holds its delivery now. */
  private held(state: MemberState, sequence: number): Entry | undefined {
    const entry = this.outstanding.get(sequence) ?? this.redriven.get(sequence);
    return entry && entry.holder === state.id ? entry : undefined;
  }

  /** The entry a delivery id names if that delivery is `state`'s and still current. */
  private heldById(state: MemberState, id: string): Entry | undefined {
    const sequence = sequenceOfDeliveryId(id);
    const entry = sequence === undefined ? undefined : this.held(state, sequence);
    return entry && entry.deliveryId === id ? entry : undefined;
  }

  /** One matching event from the subscription; false asks it to wait (too much read ahead). */
  private accept(event: LoggedEvent): boolean {
    if (this.closed) return false;
    if (!this.done.has(event.sequence)) {
      const entry = newEntry(event, this.storedAttempts.get(event.sequence) ?? 0, false);
      this.storedAttempts.delete(event.sequence);
      this.outstanding.set(event.sequence, entry);
      this.lanes.add(entry, false, this.now());
      this.dispatch();
    }
    return this.outstanding.size < MAX_PENDING;
  }

  private dispatch(): void {
    if (this.dispatching || this.closed) return;
    this.resumeIfRoom();
    this.dispatching = true;
    try {
      const now = this.now();
      while (this.inFlight < this.record.maxInFlight && this.lanes.readyCount > 0) {
        const state = this.members.pick();
        if (!state) break;
        const entry = this.lanes.takeReady(now);
        if (!entry) break;
        this.send(entry, state, now);
      }
    } finally {
      this.dispatching = false;
    }
  }

  private send(entry: Entry, state: MemberState, now: number): void {
    entry.attempts++;
    entry.holder = state.id;
    entry.deliveryId = deliveryId(state.idPrefix, entry.attempts, entry.event.sequence);
    entry.deadline = now + this.record.ackWaitMs;
    state.inFlight.add(entry);
    this.inFlight++;
    if (entry.attempts > 1) {
      this.redeliveries++;
      if (!entry.redriven) this.progress.attempted(entry.event.sequence, entry.attempts);
    }
    if (!state.member.deliver(entry.event, entry.attempts, entry.deliveryId)) {
      state.full = true;
      state.member.onDrain(() => {
        state.full = false;
        this.dispatch();
      });
    }
  }

  /** Takes the delivery from its holder (nak, ack wait over, member gone): delivered again later, or dead. */
  private release(state: MemberState, entry: Entry, reason: string | undefined, delayMs: number | undefined, deadLetter = false): void {
    state.inFlight.delete(entry);
    entry.holder = undefined;
    entry.deliveryId = '';
    this.inFlight--;
    if (reason !== undefined) entry.reason = reason;
    if (deadLetter || (this.record.maxDeliver > 0 && entry.attempts >= this.record.maxDeliver)) {
      this.kill(entry, deadLetter ? 'event dead-lettered by its member (a permanent failure)' : undefined);
      return;
    }
    const now = this.now();
    entry.notBefore = now + (delayMs ?? redeliveryDelay(this.record, entry.attempts));
    this.lanes.released(entry, now);
  }

  /** Delivered max_deliver times without an ack (or dead-lettered by its member): a dead letter, and the task moves on. */
  private kill(entry: Entry, message = 'event dead-lettered after max_deliver attempts'): void {
    this.finish(entry);
    const sequence = entry.event.sequence;
    if (entry.redriven) this.progress.keepDeadLetter(sequence);
    else this.done.add(sequence);
    this.progress.deadLetter({ sequence, taskId: entry.event.taskId, attempts: entry.attempts, reason: entry.reason, deadAt: new Date().toISOString() });
    this.logger.warn({ consumer: this.record.name, sequence, task_id: entry.event.taskId, attempts: entry.attempts, reason: entry.reason }, message);
    this.progress.schedule();
  }

  /** Takes a finished (acked or dead) entry out of its holder, its lane and the pending sets. */
  private finish(entry: Entry): void {
    if (entry.holder !== undefined) {
      this.members.get(entry.holder)?.inFlight.delete(entry);
      entry.holder = undefined;
      entry.deliveryId = '';
      this.inFlight--;
    }
    const sequence = entry.event.sequence;
    if (entry.redriven) this.redriven.delete(sequence);
    else this.outstanding.delete(sequence);
    this.lanes.remove(entry, this.now());
  }

  private afterProgress(): void {
    this.dispatch();
    this.progress.schedule();
  }

  /** The subscription waits while too much is read ahead; it reads on once half of that is acked. */
  private resumeIfRoom(): void {
    if (!this.resumeSubscription || this.outstanding.size > RESUME_PENDING) return;
    const resume = this.resumeSubscription;
    this.resumeSubscription = undefined;
    resume();
  }

  /** Ack waits over and delayed redeliveries due (the group's own timer runs it every TICK_MS). */
  runTimers(): void {
    const now = this.now();
    for (const state of this.members.all()) {
      for (const entry of state.inFlight) {
        if (entry.deadline <= now) this.release(state, entry, `not acked within the ack wait of ${this.record.ackWaitMs} ms`, undefined);
      }
    }
    this.lanes.wake(now);
    this.dispatch();
    if (++this.ticks % IDLE_FLUSH_TICKS === 0 && this.floor() !== this.progress.committed) this.progress.schedule();
  }

  /** Every matching event up to here is acked or dead. */
  private floor(): number {
    for (const sequence of this.outstanding.keys()) return sequence - 1;
    return this.subscription?.position ?? this.progress.committed;
  }
}
