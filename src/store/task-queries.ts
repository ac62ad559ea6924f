import type { Statement } from 'better-sqlite3';
import { invalidArgument } from '../model/errors';
import { TaskStatus, type Task } from '../model/task';
import type { SqliteDatabase } from './database';
import { decodePageToken, encodePageToken, type ListScope } from './list-page-token';
import { TASK_COLUMNS, taskFromRow, type TaskRow } from './rows';

export interface ListFilter {
  status?: TaskStatus;
  assignee?: string;
  limit: number;
  offset: number;
  includeArchived?: boolean;
  /**
   * The nextPageToken of the previous page, with the same filter: the page starts right after
   * that page's last task (a seek on the index, however deep). Not with a non-zero offset.
   */
  pageToken?: string;
}

export interface TaskPage {
  tasks: Task[];
  /** How many tasks match the filter in all (every page). */
  total: number;
  /** The pageToken of the page after this one; '' when this is the last page. */
  nextPageToken: string;
}

/** Runs a shape's count and page; `page` holds @after (a page token's rowid), @limit and @offset beside the filter's. */
type ListQuery = (filter: ListParams, page: ListParams) => { rows: ListedRow[]; total: number };
type ListParams = Record<string, unknown>;
type ListedRow = TaskRow & { list_rowid: number };

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

  /**
   * One page of the matching tasks, newest first (rowid descending), and how many match in all,
   * read in one read transaction. With a page token the page is one index seek however deep it is
   * (listStatements); an offset walks the tasks it skips, as it always has.
   */
  listTasks(filter: ListFilter): TaskPage {
    const scope: ListScope = {
      includeArchived: filter.includeArchived === true,
      ...(filter.status !== undefined && { status: filter.status }),
      ...(filter.assignee !== undefined && { assignee: filter.assignee }),
    };
    let after: number | undefined;
    if (filter.pageToken !== undefined && filter.pageToken !== '') {
      if (filter.offset !== 0) {
        throw invalidArgument(
          `page_token cannot be combined with offset ${filter.offset}: the token already says where the page starts; send offset 0 (or leave offset out) with page_token`,
        );
      }
      after = decodePageToken(scope, filter.pageToken);
    }
    const statements = listStatements(filter, after !== undefined);
    // One row past the page says whether there is a next one.
    const pageParams = { ...statements.params, ...(after !== undefined && { after }), limit: filter.limit + 1, offset: filter.offset };
    const { rows, total } = this.listQuery(statements)(statements.params, pageParams);
    const page = rows.slice(0, filter.limit);
    const last = page[page.length - 1];
    return {
      tasks: page.map(taskFromRow),
      total,
      nextPageToken: rows.length > filter.limit && last ? encodePageToken(scope, last.list_rowid) : '',
    };
  }

  /** The count and the page of one shape in one read transaction; prepared once per shape (twelve). */
  private listQuery(statements: ListStatements): ListQuery {
    let query = this.listQueries.get(statements.page);
    if (!query) {
      const count = this.db.prepare(statements.count);
      const page = this.db.prepare(statements.page);
      query = this.db.transaction((filter: ListParams, pageParams: ListParams) => {
        const { n } = count.get(filter) as { n: number };
        return { rows: page.all(pageParams) as ListedRow[], total: n };
      }) as ListQuery;
      this.listQueries.set(statements.page, query);
    }
    return query;
  }
}

export type ListShape = Pick<ListFilter, 'status' | 'assignee' | 'includeArchived'>;

/** The SQL of one ListTasks filter shape (exported so that tests can check its query plans). */
export interface ListStatements {
  /** How many tasks match: a sum over the counts the schema's triggers keep (schema.ts), at most one row per status. */
  count: string;
  /** One page, newest first. Named parameters: `params`, then @after (with `seek`: the rowid the page starts below), @limit and @offset. */
  page: string;
  /** The filter's named parameters (@status, @assignee), the same for both statements. */
  params: ListParams;
}

/**
 * "Not archived" as the expression the index tasks_by_archived is built on (schema.ts): SQLite
 * uses an expression index only for the same expression, constant included, so this is written
 * out, not bound.
 */
const NOT_ARCHIVED = `(status = ${TaskStatus.ARCHIVED}) = 0`;

const LISTED = `SELECT rowid AS list_rowid, ${TASK_COLUMNS} FROM tasks`;
const PAGE_TAIL = 'ORDER BY list_rowid DESC LIMIT @limit OFFSET @offset';
/** The statuses a stored task can have: every one but UNSPECIFIED, which writes refuse (model/validate.ts). */
const STATUSES: readonly number[] = Object.values(TaskStatus).filter((status) => status !== TaskStatus.UNSPECIFIED);

/**
 * Every shape pages on an index whose order within equal keys is the rowid, so `rowid < @after` is
 * a seek into it and ORDER BY needs no sort, and archived tasks left out are never walked over:
 * the table itself (include_archived), tasks_by_archived (the default), tasks_by_status, and
 * tasks_by_assignee_status. An assignee without a status reads that index once per status it
 * takes (all but ARCHIVED by default), each run in rowid order, and SQLite merges the runs
 * (MERGE (UNION ALL)): one index for the three assignee shapes, so a write keeps two fewer. The
 * counts tables take the filter's WHERE clause: by (assignee, status) when it names an assignee,
 * else by status.
 */
export function listStatements(filter: ListShape, seek: boolean): ListStatements {
  const where: string[] = [];
  const params: ListParams = {};
  if (filter.status !== undefined) {
    where.push('status = @status');
    params.status = filter.status;
  } else if (!filter.includeArchived) {
    where.push(NOT_ARCHIVED);
  }
  if (filter.assignee !== undefined) {
    where.push('assignee = @assignee');
    params.assignee = filter.assignee;
  }
  const clause = where.length ? `WHERE ${where.join(' AND ')}` : '';
  const counts = filter.assignee !== undefined ? 'task_counts_by_assignee' : 'task_counts_by_status';
  const after = seek ? ['rowid < @after'] : [];
  const select = (terms: string[]) => `${LISTED}${terms.length ? ` WHERE ${terms.join(' AND ')}` : ''}`;
  let page: string;
  if (filter.assignee !== undefined && filter.status === undefined) {
    const statuses = STATUSES.filter((status) => filter.includeArchived || status !== TaskStatus.ARCHIVED);
    page = statuses.map((status) => select(['assignee = @assignee', `status = ${status}`, ...after])).join(' UNION ALL ');
  } else {
    page = select([...where, ...after]);
  }
  return {
    count: `SELECT coalesce(sum(n), 0) AS n FROM ${counts} ${clause}`,
    page: `${page} ${PAGE_TAIL}`,
    params,
  };
}
