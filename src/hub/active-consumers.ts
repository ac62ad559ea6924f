// The consumers that have a group in memory: one ConsumerGroup per consumer with members, kept for
// a while after its last member leaves (so a member restarting rejoins the same in-memory state),
// unless its subscriber slot is wanted first; closing a group waits for its last progress write.
import type { ConsumerFilter, ConsumerRecord, ConsumerRepository } from '../model/consumer';
import { RiggerError } from '../model/errors';
import type { LoggedEvent } from '../model/logged-event';
import { filterSpecOf } from './consumer-creation';
import { ConsumerGroup, type GroupEventSource, type GroupLogger } from './consumer-group';
import type { EventHub } from './event-hub';

/** How long a consumer's in-memory state stays after its last member left, in ms. */
const IDLE_KEEP_MS = 10_000;
/** How often releasing idle groups for subscriber slots is logged, at most, in ms. */
const RELEASE_LOG_EVERY_MS = 60_000;

export type ActiveLogger = GroupLogger & { info(fields: object, message: string): void };

export class ActiveConsumers {
  private readonly groups = new Map<string, ConsumerGroup>();
  private readonly idleTimers = new Map<string, NodeJS.Timeout>();
  private readonly disposing = new Map<string, Promise<void>>();
  private readonly redeliveriesBefore = new Map<string, number>();
  /** Idle groups released for subscriber slots since the last log line about it (at most one a minute). */
  private releasedSinceLog = 0;
  private releaseLoggedAt = 0;

  constructor(
    private readonly repository: ConsumerRepository,
    private readonly hub: EventHub,
    private readonly logger: ActiveLogger,
    /** A group could not start: the log no longer holds the events after its acked position. Returns what to throw. */
    private readonly compacted: (record: ConsumerRecord) => RiggerError,
  ) {}

  /** The consumer's active group, if it has one. */
  get(name: string): ConsumerGroup | undefined {
    return this.groups.get(name);
  }

  /**
   * The consumer's active group for a member to join, started from `recordOf()` (which throws when
   * it may not start) unless one is active; it no longer goes idle. The caller joins in the same
   * turn (ConsumerGroup.join).
   */
  async claim(name: string, recordOf: () => ConsumerRecord): Promise<ConsumerGroup> {
    const group = await this.activeGroup(name, recordOf);
    const timer = this.idleTimers.get(name);
    if (timer) clearTimeout(timer);
    this.idleTimers.delete(name);
    return group;
  }

  /** The member's stream ended; after the last one the group is kept a while, then written and let go. */
  leave(group: ConsumerGroup, memberId: number): void {
    group.leave(memberId);
    const name = group.record.name;
    if (group.memberCount > 0 || group.isClosed || this.groups.get(name) !== group) return;
    const previous = this.idleTimers.get(name);
    if (previous) clearTimeout(previous);
    const timer = setTimeout(() => {
      this.idleTimers.delete(name);
      if (group.memberCount === 0) void this.dispose(name);
    }, IDLE_KEEP_MS);
    timer.unref();
    this.idleTimers.set(name, timer);
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
    if (this.releasedSinceLog > 0 && now - this.releaseLoggedAt >= RELEASE_LOG_EVERY_MS) {
      this.logger.info(
        { released: this.releasedSinceLog },
        `released ${this.releasedSinceLog} idle consumer group(s) for subscriber slots (--max-subscribers); their members start again from what was written when they come back`,
      );
      this.releaseLoggedAt = now;
      this.releasedSinceLog = 0;
    }
    return released;
  }

  /** Redeliveries of the consumer's groups before the active one (its stats count its own). */
  redeliveriesBeforeNow(name: string): number {
    return this.redeliveriesBefore.get(name) ?? 0;
  }

  /** The event at `sequence`, if the log still has it. */
  eventAt(sequence: number): LoggedEvent | undefined {
    try {
      const [event] = this.hub.read(sequence, 1);
      return event?.sequence === sequence ? event : undefined;
    } catch {
      return undefined;
    }
  }

  /** Closes the consumer's group (ending its members with `reason`, if given) and waits for its last write. */
  async dispose(name: string, reason?: RiggerError): Promise<void> {
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

  /** Ends every member with `reason` and waits for every group's last write. */
  async close(reason: RiggerError): Promise<void> {
    for (const timer of this.idleTimers.values()) clearTimeout(timer);
    this.idleTimers.clear();
    await Promise.all([...this.groups.keys()].map((name) => this.dispose(name, reason)));
    await Promise.all([...this.disposing.values()]);
  }

  private async activeGroup(name: string, recordOf: () => ConsumerRecord): Promise<ConsumerGroup> {
    await this.disposing.get(name);
    const existing = this.groups.get(name);
    if (existing && !existing.isClosed) return existing;
    const record = recordOf();
    const group = new ConsumerGroup(record, this.repository, this.sourceFor(record.filter), this.logger);
    try {
      group.start();
    } catch (error) {
      if (error instanceof RiggerError && error.kind === 'out_of_range') throw this.compacted(record);
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
}
