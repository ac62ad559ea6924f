// Durable consumers' state in the database (schema version 4): their settings and acked position,
// acks above it, delivery counts of redelivered events, dead letters. The consumers themselves and
// their dead-letter counts are read once and kept in memory (the server is their only writer), so
// compaction, /metrics and ListConsumers never parse a stored filter or count rows again; other
// reads are direct (WAL reads never wait for writers). Every write goes through
// TaskStore.writeState, so it shares the group commit, never waits inside SQLite for a lock and
// settles only once it is durable; the copy in memory changes once the write has.
import type { Statement } from 'better-sqlite3';
import type { ConsumerFilter, ConsumerProgress, ConsumerRecord, ConsumerRepository, DeadLetterRecord } from '../model/consumer';
import type { SqliteDatabase } from './database';
import type { TaskStore } from './task-store';

interface ConsumerRow {
  name: string;
  filter: string;
  start_sequence: number | null;
  acked_sequence: number;
  ack_wait_ms: number;
  max_deliver: number;
  backoff_ms: string;
  max_in_flight: number;
  created_at: string;
  lost_reason: string | null;
}

interface DeadLetterRow {
  sequence: number;
  task_id: string;
  attempts: number;
  reason: string | null;
  dead_at: string;
  redrive: number;
}

function recordOf(row: ConsumerRow): ConsumerRecord {
  return {
    name: row.name,
    filter: JSON.parse(row.filter) as ConsumerFilter,
    startSequence: row.start_sequence ?? undefined,
    ackedSequence: row.acked_sequence,
    ackWaitMs: row.ack_wait_ms,
    maxDeliver: row.max_deliver,
    backoffMs: JSON.parse(row.backoff_ms) as number[],
    maxInFlight: row.max_in_flight,
    createdAt: row.created_at,
    lostReason: row.lost_reason ?? undefined,
  };
}

function deadLetterOf(row: DeadLetterRow): DeadLetterRecord {
  return {
    sequence: row.sequence,
    taskId: row.task_id,
    attempts: row.attempts,
    reason: row.reason ?? undefined,
    deadAt: row.dead_at,
    redrive: row.redrive !== 0,
  };
}

export class ConsumerStore implements ConsumerRepository {
  private readonly selectOne: Statement<[string], ConsumerRow>;
  private readonly selectAll: Statement<[], ConsumerRow>;
  private readonly insert: Statement<unknown[]>;
  private readonly setAcked: Statement<[number, string]>;
  private readonly setLost: Statement<[string, string]>;
  private readonly insertAck: Statement<[string, number]>;
  private readonly deleteAcksUpTo: Statement<[string, number]>;
  private readonly upsertAttempts: Statement<[string, number, number]>;
  private readonly deleteAttemptsUpTo: Statement<[string, number]>;
  private readonly deleteAttempt: Statement<[string, number]>;
  private readonly upsertDead: Statement<unknown[]>;
  private readonly deleteDead: Statement<[string, number]>;
  private readonly setRedrive: Statement<[string, number]>;
  private readonly selectAcks: Statement<[string], { sequence: number }>;
  private readonly selectAttempts: Statement<[string], { sequence: number; attempts: number }>;
  private readonly selectDead: Statement<[string], DeadLetterRow>;
  private readonly countDead: Statement<[string], { n: number }>;
  private readonly countAllDead: Statement<[], { consumer: string; n: number }>;
  private readonly deleteAll: (name: string) => number;
  /** A consumer's acks, delivery counts and dead letters above a sequence (a reset back). */
  private readonly deleteAboveStatements: Statement<[string, number]>[];
  /** Every consumer as stored, by name; loaded at the first read. */
  private records: Map<string, ConsumerRecord> | undefined;
  /** The same, ordered by name; rebuilt after a create or a delete. */
  private sorted: ConsumerRecord[] | undefined;
  private readonly deadCounts = new Map<string, number>();

  constructor(
    db: SqliteDatabase,
    private readonly writer: TaskStore,
  ) {
    this.selectOne = db.prepare(`SELECT * FROM consumers WHERE name = ?`);
    this.selectAll = db.prepare(`SELECT * FROM consumers ORDER BY name`);
    this.insert = db.prepare(
      `INSERT INTO consumers (name, filter, start_sequence, acked_sequence, ack_wait_ms, max_deliver, backoff_ms, max_in_flight, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.setAcked = db.prepare(`UPDATE consumers SET acked_sequence = ? WHERE name = ?`);
    this.setLost = db.prepare(`UPDATE consumers SET lost_reason = ? WHERE name = ?`);
    this.insertAck = db.prepare(`INSERT OR IGNORE INTO consumer_acks (consumer, sequence) VALUES (?, ?)`);
    this.deleteAcksUpTo = db.prepare(`DELETE FROM consumer_acks WHERE consumer = ? AND sequence <= ?`);
    this.upsertAttempts = db.prepare(`INSERT OR REPLACE INTO consumer_attempts (consumer, sequence, attempts) VALUES (?, ?, ?)`);
    this.deleteAttemptsUpTo = db.prepare(`DELETE FROM consumer_attempts WHERE consumer = ? AND sequence <= ?`);
    this.deleteAttempt = db.prepare(`DELETE FROM consumer_attempts WHERE consumer = ? AND sequence = ?`);
    this.upsertDead = db.prepare(
      `INSERT OR REPLACE INTO consumer_dead_letters (consumer, sequence, task_id, attempts, reason, dead_at) VALUES (?, ?, ?, ?, ?, ?)`,
    );
    this.deleteDead = db.prepare(`DELETE FROM consumer_dead_letters WHERE consumer = ? AND sequence = ?`);
    this.setRedrive = db.prepare(`UPDATE consumer_dead_letters SET redrive = 1 WHERE consumer = ? AND sequence = ?`);
    this.selectAcks = db.prepare(`SELECT sequence FROM consumer_acks WHERE consumer = ? ORDER BY sequence`);
    this.selectAttempts = db.prepare(`SELECT sequence, attempts FROM consumer_attempts WHERE consumer = ?`);
    this.selectDead = db.prepare(
      `SELECT sequence, task_id, attempts, reason, dead_at, redrive FROM consumer_dead_letters WHERE consumer = ? ORDER BY sequence`,
    );
    this.countDead = db.prepare(`SELECT count(*) AS n FROM consumer_dead_letters WHERE consumer = ?`);
    this.countAllDead = db.prepare(`SELECT consumer, count(*) AS n FROM consumer_dead_letters GROUP BY consumer`);
    const progressTables = ['consumer_acks', 'consumer_attempts', 'consumer_dead_letters'];
    const tables = progressTables.map((t) => db.prepare(`DELETE FROM ${t} WHERE consumer = ?`));
    this.deleteAboveStatements = progressTables.map((t) => db.prepare<[string, number]>(`DELETE FROM ${t} WHERE consumer = ? AND sequence > ?`));
    const deleteConsumer = db.prepare(`DELETE FROM consumers WHERE name = ?`);
    this.deleteAll = (name) => {
      for (const statement of tables) statement.run(name);
      return deleteConsumer.run(name).changes;
    };
  }

  get(name: string): ConsumerRecord | undefined {
    return this.loaded().get(name);
  }

  /** Every consumer, ordered by name; the records are shared: do not change them. */
  list(): readonly ConsumerRecord[] {
    this.sorted ??= [...this.loaded().values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return this.sorted;
  }

  count(): number {
    return this.loaded().size;
  }

  /** At most `limit` consumers named after `after` (all from the first when undefined), ordered by name. */
  page(after: string | undefined, limit: number): ConsumerRecord[] {
    const all = this.list();
    const from = after === undefined ? 0 : this.after(all, after);
    return all.slice(from, from + limit);
  }

  /** Acks above the acked position, delivery counts of redelivered events, and dead letters. */
  progressOf(name: string): { acks: number[]; attempts: Map<number, number>; deadLetters: DeadLetterRecord[] } {
    return {
      acks: this.selectAcks.all(name).map((r) => r.sequence),
      attempts: new Map(this.selectAttempts.all(name).map((r) => [r.sequence, r.attempts])),
      deadLetters: this.deadLetters(name),
    };
  }

  deadLetters(name: string): DeadLetterRecord[] {
    return this.selectDead.all(name).map(deadLetterOf);
  }

  deadLetterCount(name: string): number {
    this.loaded();
    return this.deadCounts.get(name) ?? 0;
  }

  /** Creates `record` unless a consumer of that name exists; resolves with the stored one either way. */
  async create(record: ConsumerRecord): Promise<ConsumerRecord> {
    const row = await this.writer.writeState(() => {
      const existing = this.selectOne.get(record.name);
      if (existing) return existing;
      this.insert.run(
        record.name,
        JSON.stringify(record.filter),
        record.startSequence ?? null,
        record.ackedSequence,
        record.ackWaitMs,
        record.maxDeliver,
        JSON.stringify(record.backoffMs),
        record.maxInFlight,
        record.createdAt,
      );
      return this.selectOne.get(record.name)!;
    });
    const records = this.loaded();
    const stored = records.get(record.name);
    if (stored) return stored;
    const created = recordOf(row);
    records.set(created.name, created);
    this.sorted = undefined;
    return created;
  }

  async delete(name: string): Promise<boolean> {
    const deleted = await this.writer.writeState(() => this.deleteAll(name) > 0);
    if (this.loaded().delete(name)) this.sorted = undefined;
    this.deadCounts.delete(name);
    return deleted;
  }

  /** Moves the acked position to `to`: what was recorded above it (acks, counts, dead letters) is forgotten, and it is no longer lost. */
  async reset(name: string, to: number): Promise<void> {
    const dead = await this.writer.writeState(() => {
      this.setAcked.run(to, name);
      this.setLost.run(null as unknown as string, name);
      this.deleteAbove(name, to);
      return this.countDead.get(name)!.n;
    });
    this.change(name, { ackedSequence: to, lostReason: undefined });
    this.setDeadCount(name, dead);
  }

  /** Marks dead letters for delivery again (all when `sequences` is empty); resolves with those marked. */
  redrive(name: string, sequences: readonly number[]): Promise<number[]> {
    return this.writer.writeState(() => this.chosen(name, sequences).filter((s) => this.setRedrive.run(name, s).changes > 0));
  }

  /** Deletes dead letters (all when `sequences` is empty); resolves with those deleted. */
  async drop(name: string, sequences: readonly number[]): Promise<number[]> {
    const { dropped, dead } = await this.writer.writeState(() => ({
      dropped: this.chosen(name, sequences).filter((s) => this.deleteDead.run(name, s).changes > 0),
      dead: this.countDead.get(name)!.n,
    }));
    this.setDeadCount(name, dead);
    return dropped;
  }

  private chosen(name: string, sequences: readonly number[]): number[] {
    return sequences.length > 0 ? [...sequences] : this.selectDead.all(name).map((r) => r.sequence);
  }

  async markLost(name: string, reason: string): Promise<void> {
    await this.writer.writeState(() => void this.setLost.run(reason, name));
    this.change(name, { lostReason: reason });
  }

  async saveProgress(name: string, take: () => ConsumerProgress): Promise<void> {
    const { floor, dead } = await this.writer.writeState(() => {
      const progress = take();
      const floor = progress.ackedSequence;
      this.setAcked.run(floor, name);
      this.deleteAcksUpTo.run(name, floor);
      this.deleteAttemptsUpTo.run(name, floor);
      // Acks at or below the floor need no statement: the two deletes above cover them.
      for (const sequence of progress.acks) {
        if (sequence <= floor) continue;
        this.deleteAttempt.run(name, sequence);
        this.insertAck.run(name, sequence);
      }
      for (const [sequence, attempts] of progress.attempts) if (sequence > floor) this.upsertAttempts.run(name, sequence, attempts);
      for (const dead of progress.deadLetters) {
        this.deleteAttempt.run(name, dead.sequence);
        this.upsertDead.run(name, dead.sequence, dead.taskId, dead.attempts, dead.reason ?? null, dead.deadAt);
      }
      for (const sequence of progress.removedDeadLetters) this.deleteDead.run(name, sequence);
      // Counted again only when dead letters changed: most writes are acks alone.
      return { floor, dead: progress.deadLetters.length + progress.removedDeadLetters.length > 0 ? this.countDead.get(name)!.n : undefined };
    });
    this.change(name, { ackedSequence: floor });
    if (dead !== undefined) this.setDeadCount(name, dead);
  }

  private loaded(): Map<string, ConsumerRecord> {
    if (this.records) return this.records;
    const records = new Map<string, ConsumerRecord>();
    for (const row of this.selectAll.all()) records.set(row.name, recordOf(row));
    for (const { consumer, n } of this.countAllDead.all()) this.deadCounts.set(consumer, n);
    this.records = records;
    return records;
  }

  /** The record in memory after a durable write; a new object, as the one before may be held by a group. */
  private change(name: string, fields: Partial<Pick<ConsumerRecord, 'ackedSequence' | 'lostReason'>>): void {
    const records = this.loaded();
    const record = records.get(name);
    if (!record) return; // deleted meanwhile
    const changed = { ...record, ...fields };
    records.set(name, changed);
    if (this.sorted) this.sorted[this.after(this.sorted, name) - 1] = changed;
  }

  /** The index of the first record named after `name` in `sorted` (binary search). */
  private after(sorted: readonly ConsumerRecord[], name: string): number {
    let low = 0;
    let high = sorted.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (sorted[middle]!.name <= name) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  private setDeadCount(name: string, n: number): void {
    if (!this.loaded().has(name)) return;
    if (n === 0) this.deadCounts.delete(name);
    else this.deadCounts.set(name, n);
  }

  private deleteAbove(name: string, to: number): void {
    for (const statement of this.deleteAboveStatements) statement.run(name, to);
  }
}
