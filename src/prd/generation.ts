// GenerateTasksFromPRD: the provider proposes, then one transaction stores the PRD and every new
// task (CREATED events with source=prd_generation). A task whose title the PRD already has is
// not created again, so running it twice changes nothing.
import type { Task } from '../model/task';
import type { TaskStore } from '../store/task-store';
import { prdRecord, type LoadedPrd } from './prd-library';
import type { PlannedTask, Provider } from './providers/provider';

export interface GenerationResult {
  /** The PRD's tasks in the order planned: created now or already there. */
  tasks: Task[];
  /** How many of them this call created. */
  created: number;
}

export async function generateTasks(
  tasks: TaskStore,
  provider: Provider,
  prd: LoadedPrd,
  actor: string | undefined,
  signal?: AbortSignal,
): Promise<GenerationResult> {
  const planned = await provider.planTasks(prd, signal);
  return saveGeneratedTasks(tasks, provider.model, prd, planned, actor);
}

function saveGeneratedTasks(
  tasks: TaskStore,
  model: string,
  prd: LoadedPrd,
  planned: PlannedTask[],
  actor: string | undefined,
): GenerationResult {
  return tasks.write(actor, (m) => {
    m.prds.savePrd(prdRecord(prd, m.now));
    const existing = new Map(m.prds.tasksOfPrd(prd.id).map((task) => [titleKey(task.title), task]));
    const metadata = { source: 'prd_generation', prd_id: prd.id, model };
    let created = 0;
    const result = planned.map((plan) => {
      const found = existing.get(titleKey(plan.title));
      if (found) return found;
      const task = m.createTask({ ...plan, source_prd_id: prd.id }, metadata);
      existing.set(titleKey(task.title), task);
      created++;
      return task;
    });
    return { tasks: result, created };
  });
}

function titleKey(title: string): string {
  return title.trim().toLowerCase();
}
