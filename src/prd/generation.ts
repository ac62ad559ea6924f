// GenerateTasksFromPRD: the provider proposes, then one transaction stores the PRD and every new
// task (CREATED events with source=prd_generation). A task whose title the PRD already has is
// not created again, so running it twice changes nothing.
import { invalidArgument } from '../model/errors';
import type { Task } from '../model/task';
import { MAX_GENERATED_TASKS, MAX_RESPONSE_BYTES } from '../model/validate';
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
  checkBounds(prd, planned);
  return saveGeneratedTasks(tasks, provider.model, prd, planned, actor);
}

/** What a task adds to the response beyond its planned fields (id, timestamps, status, version). */
const TASK_OVERHEAD_BYTES = 200;

// Refused before anything commits: a caller must never be told "failed" about tasks that were made.
function checkBounds(prd: LoadedPrd, planned: PlannedTask[]): void {
  if (planned.length > MAX_GENERATED_TASKS) {
    throw invalidArgument(`the PRD ${prd.sourcePath} yields ${planned.length} tasks; one call creates at most ${MAX_GENERATED_TASKS}; split the PRD`);
  }
  const bytes = Buffer.byteLength(JSON.stringify(planned)) + planned.length * TASK_OVERHEAD_BYTES;
  if (bytes > MAX_RESPONSE_BYTES) {
    throw invalidArgument(
      `the tasks of the PRD ${prd.sourcePath} would make a response of about ${bytes} bytes; the maximum is ${MAX_RESPONSE_BYTES}; split the PRD`,
    );
  }
}

function saveGeneratedTasks(tasks: TaskStore, model: string, prd: LoadedPrd, planned: PlannedTask[], actor: string | undefined): Promise<GenerationResult> {
  return tasks.writeGrouped(actor, (m) => {
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
