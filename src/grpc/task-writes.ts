import type { AddTaskRequest__Output } from '../generated/rigger/v1/AddTaskRequest';
import type { DeleteTaskRequest__Output } from '../generated/rigger/v1/DeleteTaskRequest';
import type { UpdateTaskRequest__Output } from '../generated/rigger/v1/UpdateTaskRequest';
import type { Task } from '../model/task';
import type { ServiceContext } from './context';
import { newTaskOf, patchOf, requireTaskId } from './requests';

/**
 * The three task writes, as AddTask, UpdateTask, DeleteTask and each write of a WriteTasks stream
 * make them: one mapping and validation for both paths. Each resolves once its commit is durable;
 * a bad request throws (or rejects) with the error the call answers with.
 */
export interface TaskWrites {
  add(request: AddTaskRequest__Output, actor: string): Promise<Task>;
  update(request: UpdateTaskRequest__Output, actor: string): Promise<Task>;
  delete(request: DeleteTaskRequest__Output, actor: string): Promise<void>;
}

export function taskWrites(context: ServiceContext): TaskWrites {
  const { tasks } = context.store;
  return {
    add(request, actor) {
      const input = newTaskOf(request);
      return tasks.writeTask({ kind: 'create', actor, input });
    },
    update(request, actor) {
      const patch = patchOf(request);
      const id = requireTaskId(request.task_id);
      const options = request.expected_version !== undefined ? { expectedVersion: request.expected_version } : {};
      return tasks.writeTask({ kind: 'update', actor, id, patch, options });
    },
    async delete(request, actor) {
      const id = requireTaskId(request.task_id);
      await tasks.writeTask({ kind: 'archive', actor, id });
    },
  };
}
