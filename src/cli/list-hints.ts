// Hints for a task filter that matched nothing although tasks almost match: assignees are matched
// exactly, so `--assignee Alice` finds none of alice's tasks. Asked only after an empty result.
import { TaskStatus } from '../model/task';
import type { Store } from '../store/store';

/** Assignees equal to `assignee` but for case, at most a few (a scan, paid only when the list came back empty). */
export function assigneesDifferingInCase(store: Store, assignee: string, includeArchived: boolean): string[] {
  const rows = store.db
    .prepare(
      `SELECT DISTINCT assignee FROM tasks WHERE assignee = ? COLLATE NOCASE AND assignee != ?${includeArchived ? '' : ` AND status != ${TaskStatus.ARCHIVED}`} LIMIT 5`,
    )
    .all(assignee, assignee) as { assignee: string }[];
  return rows.map((row) => row.assignee);
}
