// The server's durable consumers: creates and looks them up (at most --max-consumers of them, each
// filter at most --consumer-max-filter-bytes), keeps one ConsumerGroup per consumer that has
// members (and for a while after the last one leaves, so a member restarting rejoins the same
// in-memory state, unless its subscriber slot is wanted first), answers management calls, and
// tells compaction what it must keep (the retention hold, bounded by --consumer-max-lag in events
// and --consumer-max-held-bytes in bytes, as PostgreSQL's max_slot_wal_keep_size).
import {
  canonicalFilter,
  checkMatches,
  DEFAULT_CONSUMER_SETTINGS,
  lostError,
  validateConsumerName,
  validateSettings,
  type ConsumerFilter,
  type ConsumerRecord,
  type ConsumerRepository,
  type ConsumerSettings,
  type DeadLetterRecord,
} from '../model/consumer';
import { notFound, RiggerError } from '../model/errors';
import type { LoggedEvent } from '../model/logged-event';
import { MAX_RESPONSE_BYTES } from '../model/validate';
import { ConsumerGroup, type GroupEventSource, type GroupLogger } from './consumer-group';
import { compileFilter, type FilterSpec } from './event-filter';
import type { EventHub } from './event-hub';

export interface ConsumerRequest {
  name: string;
  /** Undefined: not given (a join may name an existing consumer by name alone). */
  filter: ConsumerFilter | undefined;
  settings: Partial<ConsumerSettings>;
  /** Where a new consumer starts: after this sequence (0 = all retained history); undefined = new events only. */
  startSequence: number | undefined;
}

/** A consumer and where it stands now. */
export interface ConsumerStatus {
  record: ConsumerRecord;
  ackedSequence: number;
  headSequence: number;
  inFlight: number;
  members: number;
  pending: number;
  deadLetters: number;
  redeliveries: number;
}

export interface RegistryOptions {
  /** A consumer further behind the head than this, when compaction would delete its events, is lost (0 = no bound). */
  maxLag: number;
  /** The oldest sequence the log still holds. */
  oldestSequence(): number;
  /** Consumers that may exist at once; a create past it gets RESOURCE_EXHAUSTED. */
  maxConsumers?: number;
  /** The largest filter a new consumer may have, in bytes of its stored JSON. */
  maxFilterBytes?: number;
  /** A consumer holding more bytes of events past the retention than this is lost (0 = no bound). */
  maxHeldBytes?: number;
  /** The bytes of the events with from <= sequence < to; `complete` false: a lower bound, more is counted on the next call. */
  heldBytes?(from: number, to: number): { bytes: number; complete: boolean };
}

/** The consumer holding the most of the log back past the retention, at the last compaction. */
export interface RetentionHold {
  consumer: string;
  /** Events past the retention it keeps. */
  events: number;
  /** Their bytes as stored (a lower bound for a few runs after the hold first grows large). */
  bytes: number;
  /** Consumers holding the log back, it included. */
  holders: number;
}

export const DEFAULT_MAX_CONSUMERS = 1000;
export const DEFAULT_MAX_FILTER_BYTES = 64 * 1024;
export const DEFAULT_MAX_HELD_BYTES = 1024 * 1024 * 1024;

/** How long a consumer's in-memory state stays after its last member left, in ms. */
const IDLE_KEEP_MS = 10_000;
/** How often the same consumer may be warned about for holding the log back (and idle groups released logged), in ms. */
const HOLD_WARN_EVERY_MS = 60_000;

export class ConsumerRegistry {
  private readonly groups = new Map<string, ConsumerGroup>();
  private readonly idleTimers = new Map<string, NodeJS.Timeout>();
  private readonly disposing = new Map<string, Promise<void>>();
  private readonly redeliveriesBefore = new Map<string, number>();
  private readonly warnedAt = new Map<string, number>();
  /** Marked lost, the write of it maybe still on its way: compaction's next batches skip them. */
  private readonly lost = new Set<string>();
  /** Creations on their way to the store: they count against --max-consumers already. */
  private readonly creating = new Map<string, Promise<ConsumerRecord>>();
  private hold: RetentionHold | undefined;
  /** Idle groups released for subscriber slots since the last log line about it (at most one a minute). */
  private releasedSinceLog = 0;
  private releaseLoggedAt = 0;
  private closedWith: RiggerError | undefined;

  constructor(
    private readonly repository: ConsumerRepository,
    private readonly hub: EventHub,
    private readonly logger: GroupLogger & { info(fields: object, message: string): void },
    private readonly options: RegistryOptions,
  ) {}

  /** Creates the consumer, or checks that the existing one has what `request` gives (FAILED_PRECONDITION if not). */
  async create(request: ConsumerRequest): Promise<ConsumerRecord> {
    validateConsumerName(request.name);
    validateSettings(request.settings);
    const filter = canonicalFilter(request.filter ?? { eventTypes: [], statuses: [], taskIds: [] });
    compileFilter(filterSpecOf(filter)); // refuses a bad filter before anything is written
    // No await unless a creation is on its way: the count below and the reservation after it happen in one turn.
    const pending = this.creating.get(request.name);
    const existing = this.repository.get(request.name) ?? (pending && (await pending));
    if (existing) {
      checkMatches(existing, request.filter, request.settings);
      return existing;
    }
    this.checkFilterSize(filter);
    const max = this.options.maxConsumers ?? DEFAULT_MAX_CONSUMERS;
    if (this.repository.count() + this.creating.size >= max) {
      throw new RiggerError(
        'resource_exhausted',
        `this server already has ${max} consumers (its --max-consumers limit); delete unused ones (rig consumers list, then rig consumers delete NAME) or raise --max-consumers`,
      );
    }
    const creation = this.repository.create({
      ...DEFAULT_CONSUMER_SETTINGS,
      ...definedOnly(request.settings),
      name: request.name,
      filter,
      startSequence: request.startSequence,
      ackedSequence: this.startPosition(request.startSequence),
      createdAt: new Date().toISOString(),
      lostReason: undefined,
    });
    this.creating.set(request.name, creation);
    let stored: ConsumerRecord;
    try {
      stored = await creation;
    } finally {
      this.creating.delete(request.name);
    }
    checkMatches(stored, request.filter, request.settings); // another caller created it meanwhile
    this.logger.info({ consumer: stored.name, acked_sequence: stored.ackedSequence }, 'consumer created');
    return stored;
  }

  /**
   * The consumer's active group, for a member to join (created first when `mayCreate` and it does
   * not exist). Throws not_found, permission_denied, failed_precondition or out_of_range (lost).
   * The caller joins in the same turn (ConsumerGroup.join), before the group can go idle.
   */
  async join(request: ConsumerRequest, mayCreate: boolean): Promise<ConsumerGroup> {
    if (this.closedWith) throw this.closedWith;
    validateConsumerName(request.name);
    let record = this.repository.get(request.name);
    if (!record) {
      if (!mayCreate) {
        throw new RiggerError('permission_denied', `consumer ${JSON.stringify(request.name)} does not exist and this token is read-only; create it with a read-write token (rig consumers create ${request.name})`);
      }
      record = await this.create(request);
    } else {
      validateSettings(request.settings);
      checkMatches(record, request.filter, request.settings);
    }
    const group = await this.activeGroup(record.name);
    const timer = this.idleTimers.get(record.name);
    if (timer) clearTimeout(timer);
    this.idleTimers.delete(record.name);
    return group;
  }

  /** The member's stream ended; after the last one the group is kept a while, then written and let go. */
  leave(group: ConsumerGroup, memberId: number): void {
    group.leave(memberId);
    const name = group.record.name;
    if (group.memberCount > 0 || group.isClosed || this.groups.get(name) !== group) return;
    const timer = setTimeout(() => {
      this.idleTimers.delete(name);
      if (group.memberCount === 0) void this.dispose(name);
    }, IDLE_KEEP_MS);
    timer.unref();
    this.idleTimers.set(name, timer);
  }

  status(name: string): ConsumerStatus {
    const record = this.repository.get(validateConsumerName(name));
    if (!record) throw this.missing(name);
    return this.statusOf(record);
  }

  list(): ConsumerStatus[] {
    return this.repository.list().map((record) => this.statusOf(record));
  }

  /**
   * At most `limit` consumers named after `after` (from the first when undefined), by name, and no
   * more than about MAX_RESPONSE_BYTES of them (fewer when their filters are large; always one);
   * `more`: others follow.
   */
  page(after: string | undefined, limit: number): { statuses: ConsumerStatus[]; total: number; more: boolean } {
    const records = this.repository.page(after, limit + 1);
    let taken = 0;
    for (let bytes = 0; taken < Math.min(limit, records.length); taken++) {
      bytes += wireBytes(records[taken]!);
      if (taken > 0 && bytes > MAX_RESPONSE_BYTES) break;
    }
    return { statuses: records.slice(0, taken).map((record) => this.statusOf(record)), total: this.repository.count(), more: taken < records.length };
  }

  /** The consumer holding the most of the log back past the retention at the last compaction run, if any. */
  retentionHold(): RetentionHold | undefined {
    return this.hold;
  }

  /**
   * Lets go of up to `count` groups without members (written, then closed), those idle longest
   * first, so their hub subscriptions free subscriber slots at once; returns how many. A member
   * coming back later starts a new group from what was written.
   */
  releaseIdle(count: number): number {
    let released = 0;
    for (const [name] of this.idleTimers) {
      if (released >= count) break;
      if ((this.groups.get(name)?.memberCount ?? 1) > 0) continue;
      void this.dispose(name);
      released++;
    }
    this.releasedSinceLog += released;
    const now = Date.now();
    if (this.releasedSinceLog > 0 && now - this.releaseLoggedAt >= HOLD_WARN_EVERY_MS) {
      this.logger.info({ released: this.releasedSinceLog }, `released ${this.releasedSinceLog} idle consumer group(s) for subscriber slots (--max-subscribers); their members start again from what was written when they come back`);
      this.releaseLoggedAt = now;
      this.releasedSinceLog = 0;
    }
    return released;
  }

  async delete(name: string): Promise<boolean> {
    validateConsumerName(name);
    await this.dispose(name, new RiggerError('not_found', `consumer ${JSON.stringify(name)} was deleted`));
    this.lost.delete(name);
    return this.repository.delete(name);
  }

  /** Moves the acked position to `to`; members are ended with UNAVAILABLE and rejoin from there. */
  async reset(name: string, to: number): Promise<ConsumerStatus> {
    const record = this.repository.get(validateConsumerName(name));
    if (!record) throw this.missing(name);
    const head = this.hub.lastSequence;
    if (to > head) throw new RiggerError('out_of_range', `--to ${to} is ahead of the newest event (${head}); use 0-${head}`);
    const oldest = this.options.oldestSequence();
    if (to + 1 < oldest) {
      throw new RiggerError('out_of_range', `the log no longer holds the events after ${to}; the oldest kept is ${oldest}, so reset to ${oldest - 1} or later`, { oldest_sequence: String(oldest) });
    }
    await this.dispose(name, new RiggerError('unavailable', `consumer ${JSON.stringify(name)} was reset to ${to}; join again to go on from there`));
    await this.repository.reset(name, to);
    this.lost.delete(name);
    this.logger.info({ consumer: name, acked_sequence: to }, 'consumer reset');
    return this.status(name);
  }

  deadLetters(name: string): DeadLetterRecord[] {
    if (!this.repository.get(validateConsumerName(name))) throw this.missing(name);
    return this.repository.deadLetters(name);
  }

  /** Delivers dead letters again (all when `sequences` is empty); resolves with those redriven. */
  async redrive(name: string, sequences: readonly number[]): Promise<number[]> {
    const dead = this.deadLetters(name);
    const chosen = sequences.length === 0 ? dead : dead.filter((d) => sequences.includes(d.sequence));
    const unknown = sequences.filter((s) => !dead.some((d) => d.sequence === s));
    if (unknown.length > 0) throw notFound(`consumer ${JSON.stringify(name)} has no dead letter at ${unknown.join(', ')}; see rig consumers dead-letters ${name}`);
    const gone = chosen.filter((d) => this.eventAt(d.sequence) === undefined).map((d) => d.sequence);
    if (gone.length > 0) {
      throw new RiggerError('out_of_range', `the events of dead letters ${gone.join(', ')} are no longer in the log, so they cannot be delivered again; drop them (rig consumers drop ${name} ${gone.join(' ')})`);
    }
    const marked = await this.repository.redrive(name, chosen.map((d) => d.sequence));
    const group = this.groups.get(name);
    if (group && !group.isClosed) for (const d of chosen) if (marked.includes(d.sequence)) group.redrive(d);
    return marked;
  }

  async drop(name: string, sequences: readonly number[]): Promise<number[]> {
    const dead = this.deadLetters(name);
    const unknown = sequences.filter((s) => !dead.some((d) => d.sequence === s));
    if (unknown.length > 0) throw notFound(`consumer ${JSON.stringify(name)} has no dead letter at ${unknown.join(', ')}; see rig consumers dead-letters ${name}`);
    return this.repository.drop(name, sequences);
  }

  /**
   * The retention hold: the lowest sequence compaction must keep, given that retention alone would
   * delete everything below `wanted`. A consumer whose unacked events retention wants gone and that
   * is more than maxLag events behind the head, or holds more than maxHeldBytes of them, is marked
   * lost instead, and holds nothing. The held stretches all end at `wanted`, so the consumer
   * furthest behind holds the most: bytes are counted from it on, and the first under the bound ends the count.
   */
  keepFrom(wanted: number): number {
    const head = this.hub.lastSequence;
    const holders: { record: ConsumerRecord; acked: number }[] = [];
    for (const record of this.repository.list()) {
      if (record.lostReason !== undefined || this.lost.has(record.name)) continue;
      const group = this.groups.get(record.name);
      const acked = Math.max(record.ackedSequence, group?.committedSequence ?? 0);
      if (acked + 1 >= wanted) continue;
      const lag = head - acked;
      if (this.options.maxLag > 0 && lag > this.options.maxLag) {
        this.markLost(record, `it fell ${lag} events behind the head, more than --consumer-max-lag ${this.options.maxLag}, and its events were due for compaction`);
        continue;
      }
      holders.push({ record, acked });
    }
    holders.sort((a, b) => a.acked - b.acked);
    const maxBytes = this.options.maxHeldBytes ?? 0;
    this.hold = undefined;
    for (const [i, { record, acked }] of holders.entries()) {
      const events = wanted - acked - 1;
      const { bytes } = this.options.heldBytes?.(acked + 1, wanted) ?? { bytes: 0 };
      if (maxBytes > 0 && bytes > maxBytes) {
        this.markLost(record, `it held ${bytes} bytes of events past the retention (${events} events), more than --consumer-max-held-bytes ${maxBytes}, and they were due for compaction`);
        continue;
      }
      this.hold = { consumer: record.name, events, bytes, holders: holders.length - i };
      this.warnHold(this.hold, acked, head - acked);
      return acked + 1;
    }
    return wanted;
  }

  /** Ends every member with `reason` and writes what is pending; the store may close after it resolves. */
  async close(reason: RiggerError): Promise<void> {
    this.closedWith = reason;
    for (const timer of this.idleTimers.values()) clearTimeout(timer);
    this.idleTimers.clear();
    await Promise.all([...this.groups.keys()].map((name) => this.dispose(name, reason)));
    await Promise.all([...this.disposing.values()]);
  }

  // ----

  private async activeGroup(name: string): Promise<ConsumerGroup> {
    await this.disposing.get(name);
    const existing = this.groups.get(name);
    if (existing && !existing.isClosed) return existing;
    const record = this.repository.get(name);
    if (!record) throw this.missing(name);
    if (record.lostReason !== undefined || this.lost.has(name)) {
      throw lostError({ name, lostReason: record.lostReason ?? 'it fell further behind the head than --consumer-max-lag' }, this.options.oldestSequence());
    }
    const group = new ConsumerGroup(record, this.repository, this.sourceFor(record.filter), this.logger);
    try {
      group.start();
    } catch (error) {
      if (error instanceof RiggerError && error.kind === 'out_of_range') {
        const lost = { ...record, lostReason: `the events after its acked position ${record.ackedSequence} were compacted away` };
        this.markLost(record, lost.lostReason);
        throw lostError(lost, this.options.oldestSequence());
      }
      throw error;
    }
    this.groups.set(name, group);
    return group;
  }

  private sourceFor(filter: ConsumerFilter): GroupEventSource {
    const spec = filterSpecOf(filter);
    const hub = this.hub;
    return {
      subscribe: (since, sink) => hub.subscribe(spec, since, sink),
      unsubscribe: (subscription) => hub.unsubscribe(subscription),
      eventAt: (sequence) => this.eventAt(sequence),
      get lastSequence() {
        return hub.lastSequence;
      },
    };
  }

  private eventAt(sequence: number): LoggedEvent | undefined {
    try {
      const [event] = this.hub.read(sequence, 1);
      return event?.sequence === sequence ? event : undefined;
    } catch {
      return undefined;
    }
  }

  /** Closes the consumer's group (ending its members with `reason`, if given) and waits for its last write. */
  private async dispose(name: string, reason?: RiggerError): Promise<void> {
    const group = this.groups.get(name);
    if (!group) return this.disposing.get(name);
    this.groups.delete(name);
    const timer = this.idleTimers.get(name);
    if (timer) clearTimeout(timer);
    this.idleTimers.delete(name);
    this.redeliveriesBefore.set(name, (this.redeliveriesBefore.get(name) ?? 0) + group.stats().redeliveries);
    if (reason) group.fail(reason);
    else group.close();
    const done = group.flushed().finally(() => {
      if (this.disposing.get(name) === done) this.disposing.delete(name);
    });
    this.disposing.set(name, done);
    return done;
  }

  /** Says, at most once a minute per consumer, which consumer holds the log back the most. */
  private warnHold(hold: RetentionHold, acked: number, lag: number): void {
    const now = Date.now();
    if (now - (this.warnedAt.get(hold.consumer) ?? 0) < HOLD_WARN_EVERY_MS) return;
    this.warnedAt.set(hold.consumer, now);
    const maxLag = this.options.maxLag;
    const maxBytes = this.options.maxHeldBytes ?? 0;
    this.logger.warn(
      { consumer: hold.consumer, acked_sequence: acked, lag, held_events: hold.events, held_bytes: hold.bytes, holders: hold.holders, consumer_max_lag: maxLag, consumer_max_held_bytes: maxBytes },
      `consumer ${hold.consumer} holds the event log back the most: ${hold.events} events (${hold.bytes} bytes) past the retention are kept until it acks them` +
        `${hold.holders > 1 ? ` (${hold.holders} consumers hold it back)` : ''}; it is lost past --consumer-max-lag ${maxLag || 'unbounded'} events or --consumer-max-held-bytes ${maxBytes || 'unbounded'} bytes`,
    );
  }

  /** Refuses a new consumer's filter over the byte limit (its stored JSON); entries are bounded per list already (MAX_LIST_ENTRIES). */
  private checkFilterSize(filter: ConsumerFilter): void {
    const max = this.options.maxFilterBytes ?? DEFAULT_MAX_FILTER_BYTES;
    const bytes = Buffer.byteLength(JSON.stringify(filter));
    if (bytes > max) {
      throw new RiggerError(
        'invalid_argument',
        `the consumer's filter is ${bytes} bytes stored (as JSON), over the ${max}-byte limit (the server's --consumer-max-filter-bytes); name fewer or shorter task_ids, or select by assignee_filter or statuses instead`,
      );
    }
  }

  private markLost(record: ConsumerRecord, reason: string): void {
    this.logger.warn({ consumer: record.name, acked_sequence: record.ackedSequence }, `consumer ${record.name} is lost: ${reason}; it no longer holds the event log`);
    this.lost.add(record.name);
    const lost = { ...record, lostReason: reason };
    void this.dispose(record.name, lostError(lost, this.options.oldestSequence()))
      .then(() => this.repository.markLost(record.name, reason))
      .catch((error: unknown) => {
        this.lost.delete(record.name); // the next compaction marks it again
        this.logger.warn({ consumer: record.name, err: error }, 'marking the consumer lost failed; will retry at the next compaction');
      });
  }

  private statusOf(record: ConsumerRecord): ConsumerStatus {
    const group = this.groups.get(record.name);
    const stats = group?.stats();
    const headSequence = this.hub.lastSequence;
    return {
      record,
      ackedSequence: stats?.ackedSequence ?? record.ackedSequence,
      headSequence,
      inFlight: stats?.inFlight ?? 0,
      members: stats?.members ?? 0,
      pending: stats?.pending ?? 0,
      deadLetters: this.repository.deadLetterCount(record.name) + (stats?.unflushedDeadLetters ?? 0),
      redeliveries: (this.redeliveriesBefore.get(record.name) ?? 0) + (stats?.redeliveries ?? 0),
    };
  }

  private startPosition(start: number | undefined): number {
    const head = this.hub.lastSequence;
    if (start === undefined) return head;
    if (start > head) throw new RiggerError('out_of_range', `start_sequence ${start} is ahead of the newest event (${head}); use 0-${head}, or leave it unset for new events only`);
    const oldest = this.options.oldestSequence();
    if (start === 0) return Math.max(0, oldest - 1);
    if (start + 1 < oldest) {
      throw new RiggerError('out_of_range', `start_sequence ${start} is older than the retained history; the oldest event kept is ${oldest}, so start at ${oldest - 1} or later (0 = all that is kept)`, { oldest_sequence: String(oldest) });
    }
    return start;
  }

  private missing(name: string): RiggerError {
    return notFound(`consumer ${JSON.stringify(name)} does not exist; see rig consumers list, or create it with rig consumers create ${name}`);
  }
}

export function filterSpecOf(filter: ConsumerFilter): FilterSpec {
  return {
    eventTypes: filter.eventTypes,
    statuses: filter.statuses,
    taskIds: filter.taskIds,
    ...(filter.assignee !== undefined && { assignee: filter.assignee }),
  };
}

const wireSizes = new WeakMap<ConsumerRecord, number>();

/** About what a consumer's ConsumerInfo takes on the wire (its strings, and room for the numbers and tags); once per record. */
function wireBytes(record: ConsumerRecord): number {
  let bytes = wireSizes.get(record);
  if (bytes === undefined) {
    const { filter } = record;
    const text = (value: string | undefined) => (value === undefined ? 0 : 3 + Buffer.byteLength(value));
    bytes = 300 + text(record.name) + text(filter.assignee) + text(record.lostReason) + 11 * (filter.eventTypes.length + filter.statuses.length + record.backoffMs.length);
    for (const id of filter.taskIds) bytes += text(id);
    wireSizes.set(record, bytes);
  }
  return bytes;
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
