// OrchestrateTask. The provider runs first, with nothing written; then ONE transaction records the
// whole flow, each step as its own event in order:
//   PENDING_ENHANCEMENT (+ enhancement row) -> PENDING_COMPREHENSION_TEST (+ test row)
//   -> DECOMPOSED (+ subtasks, DECOMPOSED event) | ORCHESTRATION_COMPLETE | back to PENDING_ENHANCEMENT
//   -> ORCHESTRATED (metadata: model, test_type, routing_decision, ...).
// A provider failure (timeout, invalid answer) therefore leaves the task exactly as it was, and a
// task changed by someone else while the model was thinking fails the call with nothing saved.
import { randomUUID } from 'node:crypto';
import { RiggerError } from '../model/errors';
import { statusName, TaskEventType, TaskStatus, type Task } from '../model/task';
import type { ComprehensionTestRecord, EnhancementRecord } from '../store/prd-records';
import type { TaskStore } from '../store/task-store';
import type { Provider, RoutingDecision, TestType } from './providers/provider';

export interface OrchestrationOutcome {
  task: Task;
  routing_decision: RoutingDecision;
  enhancement: EnhancementRecord;
  comprehension_test: ComprehensionTestRecord;
  subtasks: Task[];
}

const NOT_ORCHESTRATABLE = new Set<TaskStatus>([TaskStatus.ARCHIVED, TaskStatus.COMPLETED, TaskStatus.DECOMPOSED]);

export async function orchestrateTask(
  tasks: TaskStore,
  provider: Provider,
  taskId: string,
  testType: TestType,
  actor: string | undefined,
  signal?: AbortSignal,
): Promise<OrchestrationOutcome> {
  const before = tasks.getTask(taskId);
  if (!before) throw new RiggerError('not_found', `task ${JSON.stringify(taskId)} does not exist`);
  checkOrchestratable(before);
  const plan = await provider.orchestrate(before, testType, signal);

  return tasks.writeGrouped(actor, (m) => {
    const current = m.requireTask(taskId);
    if (current.version !== before.version) {
      throw new RiggerError(
        'conflict',
        `task ${taskId} changed (version ${before.version} -> ${current.version}) while ${provider.model} was working on it; nothing was saved, run it again`,
      );
    }
    const meta = { source: 'orchestration', model: provider.model, test_type: testType };
    m.updateTask(taskId, { status: TaskStatus.PENDING_ENHANCEMENT }, { metadata: { ...meta, step: 'enhance' } });
    const enhancement: EnhancementRecord = {
      enhancement_id: randomUUID(),
      task_id: taskId,
      timestamp: m.now,
      enhancement_type: plan.enhancement.type,
      content: plan.enhancement.content,
      model: provider.model,
    };
    m.prds.saveEnhancement(enhancement);

    m.updateTask(taskId, { status: TaskStatus.PENDING_COMPREHENSION_TEST }, { metadata: { ...meta, step: 'comprehension_test' } });
    const test: ComprehensionTestRecord = {
      test_id: randomUUID(),
      task_id: taskId,
      timestamp: m.now,
      test_type: testType,
      question: plan.test.question,
      options: plan.test.options,
      correct_answer: plan.test.correct_answer,
      model: provider.model,
    };
    m.prds.saveComprehensionTest(test);

    const routeMeta = { ...meta, step: 'route', routing_decision: plan.routing_decision };
    let subtasks: Task[] = [];
    let task: Task;
    if (plan.routing_decision === 'decompose') {
      const parent = m.requireTask(taskId);
      subtasks = plan.subtasks.map((sub) =>
        m.createTask(
          {
            ...sub,
            parent_task_id: taskId,
            ...(sub.assignee === undefined && parent.assignee !== undefined && { assignee: parent.assignee }),
            ...(sub.due_date === undefined && parent.due_date !== undefined && { due_date: parent.due_date }),
            ...(parent.source_prd_id !== undefined && { source_prd_id: parent.source_prd_id }),
          },
          { source: 'orchestration', model: provider.model, parent_task_id: taskId },
        ),
      );
      const subtaskIds = subtasks.map((s) => s.id);
      task = m.updateTask(taskId, { status: TaskStatus.DECOMPOSED, subtask_ids: [...parent.subtask_ids, ...subtaskIds] }, { metadata: routeMeta }).task;
      m.emit(TaskEventType.DECOMPOSED, task, parent, ['subtask_ids'], {
        ...meta,
        subtask_count: String(subtasks.length),
        subtask_ids: subtaskIds.join(','),
      });
    } else {
      const status = plan.routing_decision === 'pass' ? TaskStatus.ORCHESTRATION_COMPLETE : TaskStatus.PENDING_ENHANCEMENT;
      task = m.updateTask(taskId, { status }, { metadata: routeMeta }).task;
    }
    m.emit(TaskEventType.ORCHESTRATED, task, undefined, [], {
      ...meta,
      routing_decision: plan.routing_decision,
      enhancement_id: enhancement.enhancement_id,
      test_id: test.test_id,
      subtask_count: String(subtasks.length),
    });
    return { task, routing_decision: plan.routing_decision, enhancement, comprehension_test: test, subtasks };
  });
}

function checkOrchestratable(task: Task): void {
  if (NOT_ORCHESTRATABLE.has(task.status)) {
    const hint = task.status === TaskStatus.DECOMPOSED ? '; orchestrate its subtasks instead' : '';
    throw new RiggerError('conflict', `task ${task.id} is ${statusName(task.status)} and cannot be orchestrated${hint}`);
  }
}
