// The prds, enhancements and comprehension_tests tables. Reads are open to all; the writes are
// reached only through a TaskStore mutation (Mutation.prds), so they commit with the tasks and
// events of the same change.
import type { Statement } from 'better-sqlite3';
import type { Task } from '../model/task';
import type { SqliteDatabase } from './database';
import { TASK_COLUMNS, taskFromRow, type TaskRow } from './rows';

export interface PrdRecord {
  id: string;
  title: string;
  /** Where it was last read from, relative to the project directory. */
  source_path: string;
  /** The text as read (line endings normalized). */
  content: string;
  /** The parser's output, as JSON. */
  parsed: string;
  created_at: string;
  updated_at: string;
}

export interface EnhancementRecord {
  enhancement_id: string;
  task_id: string;
  timestamp: string;
  enhancement_type: string;
  content: string;
  model: string;
}

export interface ComprehensionTestRecord {
  test_id: string;
  task_id: string;
  timestamp: string;
  test_type: string;
  question: string;
  options: string[];
  correct_answer: string;
  model: string;
}

/** Read access for everyone. */
export interface PrdReader {
  getPrd(id: string): PrdRecord | undefined;
  /** Every task generated from (or added with) this PRD id, archived ones included, oldest first. */
  tasksOfPrd(prdId: string): Task[];
  enhancementsOf(taskId: string): EnhancementRecord[];
  comprehensionTestsOf(taskId: string): ComprehensionTestRecord[];
}

interface TestRow extends Omit<ComprehensionTestRecord, 'options'> {
  options: string;
}

export class PrdRecords implements PrdReader {
  private readonly selectPrd: Statement<[string], PrdRecord>;
  private readonly upsertPrd: Statement<PrdRecord>;
  private readonly selectPrdTasks: Statement<[string], TaskRow>;
  private readonly insertEnhancement: Statement<EnhancementRecord>;
  private readonly insertTest: Statement<TestRow>;
  private readonly selectEnhancements: Statement<[string], EnhancementRecord>;
  private readonly selectTests: Statement<[string], TestRow>;

  constructor(db: SqliteDatabase) {
    this.selectPrd = db.prepare('SELECT id, title, source_path, content, parsed, created_at, updated_at FROM prds WHERE id = ?');
    this.upsertPrd = db.prepare(
      `INSERT INTO prds (id, title, source_path, content, parsed, created_at, updated_at)
       VALUES (@id, @title, @source_path, @content, @parsed, @created_at, @updated_at)
       ON CONFLICT (id) DO UPDATE SET source_path = excluded.source_path, parsed = excluded.parsed, updated_at = excluded.updated_at`,
    );
    this.selectPrdTasks = db.prepare(`SELECT ${TASK_COLUMNS} FROM tasks WHERE source_prd_id = ? ORDER BY rowid`);
    this.insertEnhancement = db.prepare(
      `INSERT INTO enhancements (enhancement_id, task_id, timestamp, enhancement_type, content, model)
       VALUES (@enhancement_id, @task_id, @timestamp, @enhancement_type, @content, @model)`,
    );
    this.insertTest = db.prepare(
      `INSERT INTO comprehension_tests (test_id, task_id, timestamp, test_type, question, options, correct_answer, model)
       VALUES (@test_id, @task_id, @timestamp, @test_type, @question, @options, @correct_answer, @model)`,
    );
    this.selectEnhancements = db.prepare(
      'SELECT enhancement_id, task_id, timestamp, enhancement_type, content, model FROM enhancements WHERE task_id = ? ORDER BY rowid',
    );
    this.selectTests = db.prepare(
      'SELECT test_id, task_id, timestamp, test_type, question, options, correct_answer, model FROM comprehension_tests WHERE task_id = ? ORDER BY rowid',
    );
  }

  getPrd(id: string): PrdRecord | undefined {
    return this.selectPrd.get(id);
  }

  tasksOfPrd(prdId: string): Task[] {
    return this.selectPrdTasks.all(prdId).map(taskFromRow);
  }

  enhancementsOf(taskId: string): EnhancementRecord[] {
    return this.selectEnhancements.all(taskId);
  }

  comprehensionTestsOf(taskId: string): ComprehensionTestRecord[] {
    return this.selectTests.all(taskId).map((row) => ({ ...row, options: JSON.parse(row.options) as string[] }));
  }

  /** Stores a parsed PRD; the same id again keeps created_at and records the latest path. */
  savePrd(record: PrdRecord): void {
    this.upsertPrd.run(record);
  }

  saveEnhancement(record: EnhancementRecord): void {
    this.insertEnhancement.run(record);
  }

  saveComprehensionTest(record: ComprehensionTestRecord): void {
    this.insertTest.run({ ...record, options: JSON.stringify(record.options) });
  }
}
