// Durable consumers' state in the database (schema version 4): their settings and acked position,
// acks above it, delivery counts of redelivered events, dead letters. Reads are direct (WAL reads
// never wait for writers); every write goes through TaskStore.writeState, so it shares the group
// commit, never waits inside SQLite for a lock and settles only once it is durable.
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
  return { sequence: row.sequence, taskId: row.task_id, attempts: row.attempts, reason: row.reason ?? undefined, deadAt: row.dead_at, redrive: row.redrive !== 0 };
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
  private readonly deleteAll: (name: string) => number;

  constructor(
    private readonly db: SqliteDatabase,
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
    this.selectDead = db.prepare(`SELECT sequence, task_id, attempts, reason, dead_at, redrive FROM consumer_dead_letters WHERE consumer = ? ORDER BY sequence`);
    this.countDead = db.prepare(`SELECT count(*) AS n FROM consumer_dead_letters WHERE consumer = ?`);
    const tables = ['consumer_acks', 'consumer_attempts', 'consumer_dead_letters'].map((t) => db.prepare(`DELETE FROM ${t} WHERE consumer = ?`));
    const deleteConsumer = db.prepare(`DELETE FROM consumers WHERE name = ?`);
    this.deleteAll = (name) => {
      for (const statement of tables) statement.run(name);
      return deleteConsumer.run(name).changes;
    };
  }

  get(name: string): ConsumerRecord | undefined {
    const row = this.selectOne.get(name);
    return row && recordOf(row);
  }

  list(): ConsumerRecord[] {
    return this.selectAll.all().map(recordOf);
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
    return this.countDead.get(name)!.n;
  }

  /** Creates `record` unless a consumer of that name exists; resolves with the stored one either way. */
  async create(record: ConsumerRecord): Promise<ConsumerRecord> {
    await this.writer.writeState(() => {
      if (this.selectOne.get(record.name)) return;
      this.insert.run(
        record.name, JSON.stringify(record.filter), record.startSequence ?? null, record.ackedSequence, record.ackWaitMs,
        record.maxDeliver, JSON.stringify(record.backoffMs), record.maxInFlight, record.createdAt,
      );
    });
    return this.get(record.name)!;
  }

  delete(name: string): Promise<boolean> {
    return this.writer.writeState(() => this.deleteAll(name) > 0);
  }

  /** Moves the acked position to `to`: what was recorded above it (acks, counts, dead letters) is forgotten, and it is no longer lost. */
  reset(name: string, to: number): Promise<void> {
    return this.writer.writeState(() => {
      this.setAcked.run(to, name);
      this.setLost.run(null as unknown as string, name);
      this.deleteAbove(name, to);
    });
  }

  /** Marks dead letters for delivery again (all when `sequences` is empty); resolves with those marked. */
  redrive(name: string, sequences: readonly number[]): Promise<number[]> {
    return this.writer.writeState(() => this.chosen(name, sequences).filter((s) => this.setRedrive.run(name, s).changes > 0));
  }

  /** Deletes dead letters (all when `sequences` is empty); resolves with those deleted. */
  drop(name: string, sequences: readonly number[]): Promise<number[]> {
    return this.writer.writeState(() => this.chosen(name, sequences).filter((s) => this.deleteDead.run(name, s).changes > 0));
  }

  private chosen(name: string, sequences: readonly number[]): number[] {
    return sequences.length > 0 ? [...sequences] : this.selectDead.all(name).map((r) => r.sequence);
  }

  markLost(name: string, reason: string): Promise<void> {
    return this.writer.writeState(() => void this.setLost.run(reason, name));
  }

  saveProgress(name: string, progress: ConsumerProgress): Promise<void> {
    return this.writer.writeState(() => {
      const floor = progress.ackedSequence;
      this.setAcked.run(floor, name);
      this.deleteAcksUpTo.run(name, floor);
      this.deleteAttemptsUpTo.run(name, floor);
      for (const sequence of progress.acks) {
        this.deleteAttempt.run(name, sequence);
        if (sequence > floor) this.insertAck.run(name, sequence);
      }
      for (const [sequence, attempts] of progress.attempts) if (sequence > floor) this.upsertAttempts.run(name, sequence, attempts);
      for (const dead of progress.deadLetters) {
        this.deleteAttempt.run(name, dead.sequence);
        this.upsertDead.run(name, dead.sequence, dead.taskId, dead.attempts, dead.reason ?? null, dead.deadAt);
      }
      for (const sequence of progress.removedDeadLetters) this.deleteDead.run(name, sequence);
    });
  }

  private deleteAbove(name: string, to: number): void {
    for (const table of ['consumer_acks', 'consumer_attempts', 'consumer_dead_letters']) {
      this.db.prepare(`DELETE FROM ${table} WHERE consumer = ? AND sequence > ?`).run(name, to);
    }
  }
}
