// The task counts the metrics sidecar exports, kept from a ListTasks seed and the event stream.
// The stream is opened before the seed is read, so events racing the seed are not lost; each
// task's version decides whether an event is news for the seed or already part of it, so nothing
// is counted twice.
import { TaskStatus, type Task, type TaskEvent } from '../src/model/task';

interface Known {
  status: number;
  assignee: string | undefined;
  version: number;
}

export class TaskCounts {
  private readonly tasks = new Map<string, Known>();

  seed(tasks: readonly Task[]): void {
    for (const task of tasks) this.put(task);
  }

  /** Applies an event; false when the task was already known at this version or later. */
  apply(event: TaskEvent): boolean {
    const known = this.tasks.get(event.task.id);
    if (known && known.version >= event.task.version) return false;
    this.put(event.task);
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

  private put(task: Task): void {
    this.tasks.set(task.id, { status: task.status, assignee: task.assignee, version: Number(task.version ?? 0) });
  }
}
