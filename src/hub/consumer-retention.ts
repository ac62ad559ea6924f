// What durable consumers make compaction keep: the retention hold, bounded by --consumer-max-lag in
// events and --consumer-max-held-bytes in bytes (as PostgreSQL's max_slot_wal_keep_size). A
// consumer past either bound when its events are due is marked lost instead, and holds nothing.
import { lostError, type ConsumerRecord, type ConsumerRepository } from '../model/consumer';
import type { ActiveConsumers } from './active-consumers';
import type { GroupLogger } from './consumer-group';

export interface RetentionLimits {
  /** A consumer further behind the head than this, when compaction would delete its events, is lost (0 = no bound). */
  maxLag: number;
  /** The oldest sequence the log still holds. */
  oldestSequence(): number;
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

export const DEFAULT_MAX_HELD_BYTES = 1024 * 1024 * 1024;

/** How often the same consumer may be warned about for holding the log back, in ms. */
const HOLD_WARN_EVERY_MS = 60_000;

export class ConsumerRetention {
  private readonly warnedAt = new Map<string, number>();
  /** Marked lost, the write of it maybe still on its way: compaction's next batches skip them. */
  private readonly lost = new Set<string>();
  private hold: RetentionHold | undefined;

  constructor(
    private readonly repository: ConsumerRepository,
    private readonly active: ActiveConsumers,
    private readonly head: () => number,
    private readonly logger: GroupLogger,
    private readonly limits: RetentionLimits,
  ) {}

  /** The consumer holding the most of the log back past the retention at the last compaction run, if any. */
  current(): RetentionHold | undefined {
    return this.hold;
  }

  /** Whether the consumer was marked lost (its record may not say so yet). */
  isLost(name: string): boolean {
    return this.lost.has(name);
  }

  /** The consumer was deleted or reset: it is not lost any more. */
  forget(name: string): void {
    this.lost.delete(name);
  }

  /**
   * The retention hold: the lowest sequence compaction must keep, given that retention alone would
   * delete everything below `wanted`. A consumer whose unacked events retention wants gone and that
   * is more than maxLag events behind the head, or holds more than maxHeldBytes of them, is marked
   * lost instead, and holds nothing. The held stretches all end at `wanted`, so the consumer
   * furthest behind holds the most: bytes are counted from it on, and the first under the bound ends the count.
   */
  keepFrom(wanted: number): number {
    const head = this.head();
    const holders: { record: ConsumerRecord; acked: number }[] = [];
    for (const record of this.repository.list()) {
      if (record.lostReason !== undefined || this.lost.has(record.name)) continue;
      const group = this.active.get(record.name);
      const acked = Math.max(record.ackedSequence, group?.committedSequence ?? 0);
      if (acked + 1 >= wanted) continue;
      const lag = head - acked;
      if (this.limits.maxLag > 0 && lag > this.limits.maxLag) {
        this.markLost(
          record,
          `it fell ${lag} events behind the head, more than --consumer-max-lag ${this.limits.maxLag}, and its events were due for compaction`,
        );
        continue;
      }
      holders.push({ record, acked });
    }
    holders.sort((a, b) => a.acked - b.acked);
    const maxBytes = this.limits.maxHeldBytes ?? 0;
    this.hold = undefined;
    for (const [i, { record, acked }] of holders.entries()) {
      const events = wanted - acked - 1;
      const { bytes } = this.limits.heldBytes?.(acked + 1, wanted) ?? { bytes: 0 };
      if (maxBytes > 0 && bytes > maxBytes) {
        this.markLost(
          record,
          `it held ${bytes} bytes of events past the retention (${events} events), more than --consumer-max-held-bytes ${maxBytes}, and they were due for compaction`,
        );
        continue;
      }
      this.hold = { consumer: record.name, events, bytes, holders: holders.length - i };
      this.warnHold(this.hold, acked, head - acked);
      return acked + 1;
    }
    return wanted;
  }

  /** Marks the consumer lost: its members are ended, then the record says why. */
  markLost(record: ConsumerRecord, reason: string): void {
    this.logger.warn(
      { consumer: record.name, acked_sequence: record.ackedSequence },
      `consumer ${record.name} is lost: ${reason}; it no longer holds the event log`,
    );
    this.lost.add(record.name);
    const lost = { ...record, lostReason: reason };
    void this.active
      .dispose(record.name, lostError(lost, this.limits.oldestSequence()))
      .then(() => this.repository.markLost(record.name, reason))
      .catch((error: unknown) => {
        this.lost.delete(record.name); // the next compaction marks it again
        this.logger.warn({ consumer: record.name, err: error }, 'marking the consumer lost failed; will retry at the next compaction');
      });
  }

  /** Says, at most once a minute per consumer, which consumer holds the log back the most. */
  private warnHold(hold: RetentionHold, acked: number, lag: number): void {
    const now = Date.now();
    if (now - (this.warnedAt.get(hold.consumer) ?? 0) < HOLD_WARN_EVERY_MS) return;
    this.warnedAt.set(hold.consumer, now);
    const maxLag = this.limits.maxLag;
    const maxBytes = this.limits.maxHeldBytes ?? 0;
    this.logger.warn(
      {
        consumer: hold.consumer,
        acked_sequence: acked,
        lag,
        held_events: hold.events,
        held_bytes: hold.bytes,
        holders: hold.holders,
        consumer_max_lag: maxLag,
        consumer_max_held_bytes: maxBytes,
      },
      `consumer ${hold.consumer} holds the event log back the most: ${hold.events} events (${hold.bytes} bytes) past the retention are kept until it acks them` +
        `${hold.holders > 1 ? ` (${hold.holders} consumers hold it back)` : ''}; it is lost past --consumer-max-lag ${maxLag || 'unbounded'} events or --consumer-max-held-bytes ${maxBytes || 'unbounded'} bytes`,
    );
  }
}
