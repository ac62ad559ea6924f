import type { AddTaskRequest__Output } from '../generated/rigger/v1/AddTaskRequest';
import type { AddTaskResponse } from '../generated/rigger/v1/AddTaskResponse';
import type { DeleteTaskRequest__Output } from '../generated/rigger/v1/DeleteTaskRequest';
import type { DeleteTaskResponse } from '../generated/rigger/v1/DeleteTaskResponse';
import type { GetTaskRequest__Output } from '../generated/rigger/v1/GetTaskRequest';
import type { GetTaskResponse } from '../generated/rigger/v1/GetTaskResponse';
import type { ListTasksRequest__Output } from '../generated/rigger/v1/ListTasksRequest';
import type { ListTasksResponse } from '../generated/rigger/v1/ListTasksResponse';
import type { UpdateTaskRequest__Output } from '../generated/rigger/v1/UpdateTaskRequest';
import type { UpdateTaskResponse } from '../generated/rigger/v1/UpdateTaskResponse';
import { invalidArgument, notFound } from '../model/errors';
import { TaskStatus, type TaskPatch } from '../model/task';
import { validateStatus } from '../model/validate';
import { actorOf, unary, type ServiceContext } from './context';

export const DEFAULT_LIST_LIMIT = 50;
export const MAX_LIST_LIMIT = 1000;

export function taskHandlers(context: ServiceContext) {
  const { tasks } = context.store;
  return {
    ListTasks: unary<ListTasksRequest__Output, ListTasksResponse>(context, (request) => {
      if (request.status !== undefined) validateStatus(request.status);
      const limit = request.limit || DEFAULT_LIST_LIMIT;
      if (limit > MAX_LIST_LIMIT) throw invalidArgument(`limit ${limit} is over the maximum of ${MAX_LIST_LIMIT}; page with offset`);
      const filter = {
        limit,
        offset: request.offset ?? 0,
        includeArchived: request.include_archived === true,
        ...(request.status !== undefined && { status: request.status as TaskStatus }),
        ...(request.assignee !== undefined && { assignee: request.assignee }),
      };
      const { tasks: page, total } = tasks.listTasks(filter);
      return { tasks: page, total_count: total };
    }),

    AddTask: unary<AddTaskRequest__Output, AddTaskResponse>(context, async (request, call) => {
      const input = {
        title: request.title ?? '',
        ...(request.assignee !== undefined && { assignee: request.assignee }),
        ...(request.due_date !== undefined && { due_date: request.due_date }),
        ...(request.source_prd_id !== undefined && { source_prd_id: request.source_prd_id }),
        ...(request.parent_task_id !== undefined && { parent_task_id: request.parent_task_id }),
      };
      return { task: await tasks.mutateGrouped(actorOf(call), (m) => m.createTask(input)) };
    }),

    UpdateTask: unary<UpdateTaskRequest__Output, UpdateTaskResponse>(context, async (request, call) => {
      const patch: TaskPatch = {};
      if (request.status !== undefined) {
        validateStatus(request.status);
        patch.status = request.status as TaskStatus;
      }
      if (request.assignee !== undefined) patch.assignee = request.assignee;
      if (request.due_date !== undefined) patch.due_date = request.due_date;
      const id = requireTaskId(request.task_id);
      const options = request.expected_version !== undefined ? { expectedVersion: request.expected_version } : {};
      return { task: await tasks.mutateGrouped(actorOf(call), (m) => m.updateTask(id, patch, options).task) };
    }),

    GetTask: unary<GetTaskRequest__Output, GetTaskResponse>(context, (request) => {
      const id = requireTaskId(request.task_id);
      const task = tasks.getTask(id);
      if (!task) throw notFound(`task ${JSON.stringify(id)} does not exist`);
      return { task };
    }),

    DeleteTask: unary<DeleteTaskRequest__Output, DeleteTaskResponse>(context, async (request, call) => {
      const id = requireTaskId(request.task_id);
      await tasks.mutateGrouped(actorOf(call), (m) => m.archiveTask(id));
      return { success: true };
    }),
  };
}

export function requireTaskId(id: string | undefined): string {
  if (id === undefined || id.trim() === '') throw invalidArgument('task_id must not be empty');
  return id;
}
