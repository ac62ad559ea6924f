// The server's durable consumers: creates and looks them up (consumer-creation.ts), keeps one
// ConsumerGroup per consumer that has members (active-consumers.ts), answers management calls, and
// tells compaction what it must keep (the retention hold, consumer-retention.ts).
import {
  checkMatches,
  lostError,
  validateConsumerName,
  validateSettings,
  type ConsumerRecord,
  type ConsumerRepository,
  type DeadLetterRecord,
} from '../model/consumer';
import { notFound, RiggerError } from '../model/errors';
import { MAX_RESPONSE_BYTES } from '../model/validate';
import { ActiveConsumers, type ActiveLogger } from './active-consumers';
import { ConsumerCreator, type ConsumerRequest, type CreationLimits } from './consumer-creation';
import type { ConsumerGroup } from './consumer-group';
import { ConsumerRetention, type RetentionHold, type RetentionLimits } from './consumer-retention';
import type { EventHub } from './event-hub';

export { DEFAULT_MAX_CONSUMERS, DEFAULT_MAX_FILTER_BYTES, type ConsumerRequest } from './consumer-creation';
export { DEFAULT_MAX_HELD_BYTES, type RetentionHold } from './consumer-retention';

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

export interface RegistryOptions extends CreationLimits, RetentionLimits {}

export class ConsumerRegistry {
  private readonly creator: ConsumerCreator;
  private readonly active: ActiveConsumers;
  private readonly retention: ConsumerRetention;
  private closedWith: RiggerError | undefined;

  constructor(
    private readonly repository: ConsumerRepository,
    private readonly hub: EventHub,
    private readonly logger: ActiveLogger,
    private readonly options: RegistryOptions,
  ) {
    const head = () => hub.lastSequence;
    this.creator = new ConsumerCreator(repository, head, logger, options);
    this.active = new ActiveConsumers(repository, hub, logger, (record) => {
      const lost = { ...record, lostReason: `the events after its acked position ${record.ackedSequence} were compacted away` };
      this.retention.markLost(record, lost.lostReason);
      return lostError(lost, options.oldestSequence());
    });
    this.retention = new ConsumerRetention(repository, this.active, head, logger, options);
  }

  /** Creates the consumer, or checks that the existing one has what `request` gives (FAILED_PRECONDITION if not). */
  create(request: ConsumerRequest): Promise<ConsumerRecord> {
    return this.creator.create(request);
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
        throw new RiggerError(
          'permission_denied',
          `consumer ${JSON.stringify(request.name)} does not exist and this token is read-only; create it with a read-write token (rig consumers create ${request.name})`,
        );
      }
      record = await this.create(request);
    } else {
      validateSettings(request.settings);
      checkMatches(record, request.filter, request.settings);
    }
    const name = record.name;
    return this.active.claim(name, () => this.startable(name));
  }

  /** The member's stream ended (memberId 0: it never joined); after the last one the group is kept a while, then written and let go. */
  leave(group: ConsumerGroup, memberId: number): void {
    this.active.leave(group, memberId);
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
    return this.retention.current();
  }

  /** Lets go of up to `count` groups without members, for subscriber slots (ActiveConsumers.releaseIdle); returns how many. */
  releaseIdle(count: number): number {
    return this.active.releaseIdle(count);
  }

  async delete(name: string): Promise<boolean> {
    validateConsumerName(name);
    await this.active.dispose(name, new RiggerError('not_found', `consumer ${JSON.stringify(name)} was deleted`));
    this.retention.forget(name);
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
      throw new RiggerError(
        'out_of_range',
        `the log no longer holds the events after ${to}; the oldest kept is ${oldest}, so reset to ${oldest - 1} or later`,
        { oldest_sequence: String(oldest) },
      );
    }
    await this.active.dispose(name, new RiggerError('unavailable', `consumer ${JSON.stringify(name)} was reset to ${to}; join again to go on from there`));
    await this.repository.reset(name, to);
    this.retention.forget(name);
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
    if (unknown.length > 0)
      throw notFound(`consumer ${JSON.stringify(name)} has no dead letter at ${unknown.join(', ')}; see rig consumers dead-letters ${name}`);
    const gone = chosen.filter((d) => this.active.eventAt(d.sequence) === undefined).map((d) => d.sequence);
    if (gone.length > 0) {
      throw new RiggerError(
        'out_of_range',
        `the events of dead letters ${gone.join(', ')} are no longer in the log, so they cannot be delivered again; drop them (rig consumers drop ${name} ${gone.join(' ')})`,
      );
    }
    const marked = await this.repository.redrive(
      name,
      chosen.map((d) => d.sequence),
    );
    const group = this.active.get(name);
    if (group && !group.isClosed) for (const d of chosen) if (marked.includes(d.sequence)) group.redrive(d);
    return marked;
  }

  async drop(name: string, sequences: readonly number[]): Promise<number[]> {
    const dead = this.deadLetters(name);
    const unknown = sequences.filter((s) => !dead.some((d) => d.sequence === s));
    if (unknown.length > 0)
      throw notFound(`consumer ${JSON.stringify(name)} has no dead letter at ${unknown.join(', ')}; see rig consumers dead-letters ${name}`);
    return this.repository.drop(name, sequences);
  }

  /** The lowest sequence compaction must keep when retention alone would delete everything below `wanted` (ConsumerRetention.keepFrom). */
  keepFrom(wanted: number): number {
    return this.retention.keepFrom(wanted);
  }

  /** Ends every member with `reason` and writes what is pending; the store may close after it resolves. */
  async close(reason: RiggerError): Promise<void> {
    this.closedWith = reason;
    await this.active.close(reason);
  }

  // ----

  /** The consumer's record, to start a group from; throws when it is gone or lost. */
  private startable(name: string): ConsumerRecord {
    const record = this.repository.get(name);
    if (!record) throw this.missing(name);
    if (record.lostReason !== undefined || this.retention.isLost(name)) {
      throw lostError({ name, lostReason: record.lostReason ?? 'it fell further behind the head than --consumer-max-lag' }, this.options.oldestSequence());
    }
    return record;
  }

  private statusOf(record: ConsumerRecord): ConsumerStatus {
    const stats = this.active.get(record.name)?.stats();
    return {
      record,
      ackedSequence: stats?.ackedSequence ?? record.ackedSequence,
      headSequence: this.hub.lastSequence,
      inFlight: stats?.inFlight ?? 0,
      members: stats?.members ?? 0,
      pending: stats?.pending ?? 0,
      deadLetters: this.repository.deadLetterCount(record.name) + (stats?.unflushedDeadLetters ?? 0),
      redeliveries: this.active.redeliveriesBeforeNow(record.name) + (stats?.redeliveries ?? 0),
    };
  }

  private missing(name: string): RiggerError {
    return notFound(`consumer ${JSON.stringify(name)} does not exist; see rig consumers list, or create it with rig consumers create ${name}`);
  }
}

const wireSizes = new WeakMap<ConsumerRecord, number>();

/** About what a consumer's ConsumerInfo takes on the wire (its strings, and room for the numbers and tags); once per record. */
function wireBytes(record: ConsumerRecord): number {
  let bytes = wireSizes.get(record);
  if (bytes === undefined) {
    const { filter } = record;
    const text = (value: string | undefined) => (value === undefined ? 0 : 3 + Buffer.byteLength(value));
    bytes =
      300 +
      text(record.name) +
      text(filter.assignee) +
      text(record.lostReason) +
      11 * (filter.eventTypes.length + filter.statuses.length + record.backoffMs.length);
    for (const id of filter.taskIds) bytes += text(id);
    wireSizes.set(record, bytes);
  }
  return bytes;
}
