import type { Statement } from 'better-sqlite3';
import { TaskStatus, type Task } from '../model/task';
import type { SqliteDatabase } from './database';
import { TASK_COLUMNS, taskFromRow, type TaskRow } from './rows';

export interface ListFilter {
  status?: TaskStatus;
  assignee?: string;
  limit: number;
  offset: number;
  includeArchived?: boolean;
}

type ListQuery = (params: unknown[], limit: number, offset: number) => { tasks: Task[]; total: number };

/** The reads of the tasks table. */
export class TaskQueries {
  private readonly selectTask: Statement<[string], TaskRow>;
  private readonly selectIdRange: Statement<[string, string, number], { id: string }>;
  private readonly listQueries = new Map<string, ListQuery>();

  constructor(private readonly db: SqliteDatabase) {
    this.selectTask = db.prepare(`SELECT ${TASK_COLUMNS} FROM tasks WHERE id = ?`);
    // `id >= prefix AND id < prefix + U+FFFF` is a prefix's range in SQLite's binary collation.
    this.selectIdRange = db.prepare('SELECT id FROM tasks WHERE id >= ? AND id < ? ORDER BY id LIMIT ?');
  }

  getTask(id: string): Task | undefined {
    const row = this.selectTask.get(id);
    return row ? taskFromRow(row) : undefined;
  }

  /** Ids that start with `prefix`, at most `limit`, in order (the primary key's range: no scan). */
  idsStartingWith(prefix: string, limit: number): string[] {
    return this.selectIdRange.all(prefix, `${prefix}\uffff`, limit).map((row) => row.id);
  }

  /** One page of the matching tasks, newest first, and how many match in all. */
  listTasks(filter: ListFilter): { tasks: Task[]; total: number } {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.status !== undefined) {
      where.push('status = ?');
      params.push(filter.status);
    } else if (!filter.includeArchived) {
      where.push('status != ?');
      params.push(TaskStatus.ARCHIVED);
    }
    if (filter.assignee !== undefined) {
      where.push('assignee = ?');
      params.push(filter.assignee);
    }
    return this.listQuery(where.length ? `WHERE ${where.join(' AND ')}` : '')(params, filter.limit, filter.offset);
  }

  /** The count and the page for one WHERE clause, in one read transaction; prepared once per clause (there are six). */
  private listQuery(clause: string): ListQuery {
    let query = this.listQueries.get(clause);
    if (!query) {
      const count = this.db.prepare(`SELECT count(*) AS n FROM tasks ${clause}`);
      const page = this.db.prepare(`SELECT ${TASK_COLUMNS} FROM tasks ${clause} ORDER BY rowid DESC LIMIT ? OFFSET ?`);
      query = this.db.transaction((params: unknown[], limit: number, offset: number) => {
        const { n } = count.get(...params) as { n: number };
        const rows = page.all(...params, limit, offset) as TaskRow[];
        return { tasks: rows.map(taskFromRow), total: n };
      }) as ListQuery;
      this.listQueries.set(clause, query);
    }
    return query;
  }
}
