// The task counts the metrics sidecar exports. They start from the stream's snapshot (every task,
// archived included, as it is at one sequence) and follow the changes after it. The snapshot and
// the changes meet at that sequence on the server, so each change arrives once, in order. One change
// can be several events (UPDATED and its STATUS_CHANGED carry the same task version): put() says
// whether the version is new, so what is counted per change is counted once.
import { TaskStatus, type Task } from '../src/model/task';
import { compareText, topN } from '../src/model/top-n';

/** The assignee label that sums the assignees outside the top N (an assignee of that very name is summed there too). */
export const OTHER_ASSIGNEES = '(other)';

interface Known {
  status: number;
  assignee: string | undefined;
  version: number;
}

export class TaskCounts {
  private readonly tasks = new Map<string, Known>();

  /** Forgets every task: a new snapshot is starting. */
  reset(): void {
    this.tasks.clear();
  }

  /** Records a task's state: a snapshot entry, or the task after a change (a deleted task is archived). False when this version was already known. */
  put(task: Task): boolean {
    const version = Number(task.version ?? 0);
    const known = this.tasks.get(task.id);
    if (known && known.version >= version) return false;
    this.tasks.set(task.id, { status: task.status, assignee: task.assignee, version });
    return true;
  }

  byStatus(): Map<number, number> {
    const counts = new Map<number, number>();
    for (const task of this.tasks.values()) counts.set(task.status, (counts.get(task.status) ?? 0) + 1);
    return counts;
  }

  /** Open (not archived) tasks per assignee; "" for unassigned. */
  byAssignee(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const task of this.tasks.values()) {
      if (task.status === TaskStatus.ARCHIVED) continue;
      const key = task.assignee ?? '';
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return counts;
  }

  /** The `n` assignees with the most open tasks (by name among equals), the open tasks of the rest, and how many assignees there are. */
  topAssignees(n: number): { top: [assignee: string, count: number][]; other: number; count: number } {
    const all = this.byAssignee();
    const ranked = [...all].filter(([assignee]) => assignee !== OTHER_ASSIGNEES);
    const top = topN(ranked, n, ([a, x], [b, y]) => y - x || compareText(a, b));
    let other = 0;
    for (const count of all.values()) other += count;
    for (const [, count] of top) other -= count;
    return { top, other, count: all.size };
  }
}
