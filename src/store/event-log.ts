import type { Statement } from 'better-sqlite3';
import { reducedEvent, type EventEncoder, type LoggedEvent } from '../model/logged-event';
import { MAX_EVENT_BYTES } from '../model/validate';
import type { SqliteDatabase } from './database';
import { FilteredLogRead, type IndexedCondition, type IndexedPage } from './filtered-log-read';
import { EVENT_COLUMNS, eventFromRow, LATEST_SEQUENCE_SQL, LOGGED_EVENT_COLUMNS, loggedEventFromRow, type EventRow, type LoggedEventRow } from './rows';
import { translateSqliteError } from './sqlite-errors';

export interface Retention {
  /** Keep at most this many of the newest events (0 = no count limit). */
  events: number;
  /** Drop events older than this many days (0 = no age limit). */
  days: number;
}

/** The read side of the event log, and its compaction. */
export class EventLog {
  private readonly readPage: Statement<[number, number, number], LoggedEventRow>;
  private readonly readWhole: Statement<[number], EventRow>;
  private readonly selectOldest: Statement<[], { s: number | null }>;
  private readonly selectLatest: Statement<[], { seq: number } | undefined>;
  /** The first event at or after a sequence, with its time (retention by age). */
  private readonly selectFrom: Statement<[number], { sequence: number; timestamp: string }>;
  private readonly deleteBelow: Statement<[number, number]>;
  /** Prepared once: the log watcher asks every few ms, and db.pragma() prepares each time. */
  private readonly selectDataVersion: Statement<[], number>;
  /** One read transaction per page, so a row without bytes is read whole from the same snapshot. */
  private readonly readPageSnapshot: (after: number, upTo: number, limit: number) => LoggedEvent[];
  private readonly filtered: FilteredLogRead;

  private lastVersion: number | undefined;
  private holdWhile: () => boolean = () => false;

  constructor(
    db: SqliteDatabase,
    private readonly encoder: EventEncoder,
  ) {
    this.readPage = db
      .prepare<[number, number, number], LoggedEventRow>(
        `SELECT ${LOGGED_EVENT_COLUMNS} FROM events WHERE sequence > ? AND sequence <= ? ORDER BY sequence LIMIT ?`,
      )
      .raw(true);
    this.readWhole = db.prepare(`SELECT ${EVENT_COLUMNS} FROM events WHERE sequence = ?`);
    this.selectOldest = db.prepare(`SELECT min(sequence) AS s FROM events`);
    this.selectLatest = db.prepare(LATEST_SEQUENCE_SQL);
    this.selectFrom = db.prepare(`SELECT sequence, timestamp FROM events WHERE sequence >= ? ORDER BY sequence LIMIT 1`);
    this.deleteBelow = db.prepare(`DELETE FROM events WHERE sequence IN (SELECT sequence FROM events WHERE sequence < ? ORDER BY sequence LIMIT ?)`);
    this.selectDataVersion = db.prepare<[], number>('PRAGMA data_version').pluck();
    this.readPageSnapshot = db.transaction((after: number, upTo: number, limit: number) =>
      this.readPage.all(after, upTo, limit).map((row) => this.eventOf(row)),
    );
    this.filtered = new FilteredLogRead(
      db,
      (row) => this.eventOf(row),
      () => this.latestSequence() + 1,
    );
  }

  /** Events with after < sequence <= upTo, in order, at most `limit` of them. */
  readAfter(after: number, upTo: number, limit: number): LoggedEvent[] {
    return this.readPageSnapshot(after, upTo, limit);
  }

  /**
   * The events `condition` selects with after < sequence <= upTo, in order, at most `limit`, read
   * through the filter indexes (filtered-log-read.ts); `through` says how far the read covered, and
   * `oldest` is what the log held in the same read transaction.
   */
  readMatching(after: number, upTo: number, limit: number, condition: IndexedCondition): IndexedPage {
    return this.filtered.read(after, upTo, limit, condition);
  }

  /** The statements readMatching runs for `field`, for EXPLAIN QUERY PLAN. */
  matchingSql(field: IndexedCondition['field']): string[] {
    return this.filtered.sqlOf(field);
  }

  /** A row as the hub carries it; a row within a read transaction, so a row without bytes is read whole from the same snapshot. */
  private eventOf(row: LoggedEventRow): LoggedEvent {
    const encoded = row[7] ?? this.encodeStored(row[0]);
    return loggedEventFromRow(row, encoded.length > MAX_EVENT_BYTES ? this.encodeReduced(row[0], encoded.length) : encoded);
  }

  /** Encodes a row written before events were stored encoded (schema version 2 and older). */
  private encodeStored(sequence: number): Buffer {
    return this.encoder.encode(eventFromRow(this.readWhole.get(sequence)!));
  }

  /** A stored event too large to deliver (written before writes were bounded), as its reduced stand-in. */
  private encodeReduced(sequence: number, bytes: number): Buffer {
    return this.encoder.encode(reducedEvent(eventFromRow(this.readWhole.get(sequence)!), bytes));
  }

  /** The newest sequence ever assigned (0 before the first event); survives compaction. */
  latestSequence(): number {
    return this.selectLatest.get()?.seq ?? 0;
  }

  /** The oldest sequence still in the log; latestSequence() + 1 when the log is empty. */
  oldestSequence(): number {
    return this.selectOldest.get()?.s ?? this.latestSequence() + 1;
  }

  /**
   * Changes whenever another connection (another process) commits to the database; held at its
   * last value while `holdWhile()` (the writer thread has writes in flight: it publishes their
   * events itself, and a commit of another process before them is filled from the log then).
   */
  dataVersion(): number {
    if (this.lastVersion !== undefined && this.holdWhile()) return this.lastVersion;
    return (this.lastVersion = this.selectDataVersion.get()!);
  }

  /** See dataVersion(). */
  holdVersionWhile(busy: () => boolean): void {
    this.holdWhile = busy;
  }

  /**
   * The newest event written before `cutoff` (an ISO time), found by bisection on the sequence:
   * timestamps grow with it (a write takes its time inside the write lock), so the log keeps no
   * index on timestamp, which every event would pay for. Where the clock stepped back it may find
   * an older event than the newest such one, which only keeps more.
   */
  private newestBefore(cutoff: string): number | undefined {
    const first = this.selectFrom.get(0);
    if (!first || first.timestamp >= cutoff) return undefined;
    let low = first.sequence; // written before the cutoff
    let high = this.latestSequence() + 1; // the first event at or after it was not
    while (high - low > 1) {
      const middle = Math.floor((low + high) / 2);
      const row = this.selectFrom.get(middle);
      if (row && row.timestamp < cutoff) low = row.sequence;
      else high = middle;
    }
    return low;
  }

  /**
   * The first sequence the retention keeps (events below it may go), or 0 when nothing may: a read,
   * so a run with nothing to delete costs no write transaction.
   */
  retainedFrom(retention: Retention, now = Date.now(), keepFrom: (wanted: number) => number = (wanted) => wanted): number {
    let below = 0;
    if (retention.events > 0) below = Math.max(below, this.latestSequence() - retention.events + 1);
    if (retention.days > 0) {
      const newest = this.newestBefore(new Date(now - retention.days * 86_400_000).toISOString());
      if (newest !== undefined) below = Math.max(below, newest + 1);
    }
    if (below <= 0) return 0;
    // Durable consumers hold back what they have not acked (the retention hold, consumer-registry.ts).
    below = Math.min(below, keepFrom(below));
    return below > this.oldestSequence() ? below : 0;
  }

  /** Deletes up to `batch` of the oldest events below `below` (retainedFrom), so writers never wait long; returns how many. */
  deleteBefore(below: number, batch: number): number {
    try {
      return this.deleteBelow.run(below, batch).changes;
    } catch (error) {
      throw translateSqliteError(error);
    }
  }
}
