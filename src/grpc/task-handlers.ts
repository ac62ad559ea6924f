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
import { notFound } from '../model/errors';
import { actorOf, unary, type ServiceContext } from './context';
import { listFilterOf, newTaskOf, patchOf, requireTaskId } from './requests';

export function taskHandlers(context: ServiceContext) {
  const { tasks } = context.store;
  return {
    ListTasks: unary<ListTasksRequest__Output, ListTasksResponse>(context, (request) => {
      const { tasks: page, total, nextPageToken } = tasks.listTasks(listFilterOf(request));
      return { tasks: page, total_count: total, next_page_token: nextPageToken };
    }),

    AddTask: unary<AddTaskRequest__Output, AddTaskResponse>(context, async (request, call) => {
      const input = newTaskOf(request);
      return { task: await tasks.writeGrouped(actorOf(call), (m) => m.createTask(input)) };
    }),

    UpdateTask: unary<UpdateTaskRequest__Output, UpdateTaskResponse>(context, async (request, call) => {
      const patch = patchOf(request);
      const id = requireTaskId(request.task_id);
      const options = request.expected_version !== undefined ? { expectedVersion: request.expected_version } : {};
      return { task: await tasks.writeGrouped(actorOf(call), (m) => m.updateTask(id, patch, options).task) };
    }),

    GetTask: unary<GetTaskRequest__Output, GetTaskResponse>(context, (request) => {
      const id = requireTaskId(request.task_id);
      const task = tasks.getTask(id);
      if (!task) throw notFound(`task ${JSON.stringify(id)} does not exist`);
      return { task };
    }),

    DeleteTask: unary<DeleteTaskRequest__Output, DeleteTaskResponse>(context, async (request, call) => {
      const id = requireTaskId(request.task_id);
      await tasks.writeGrouped(actorOf(call), (m) => m.archiveTask(id));
      return { success: true };
    }),
  };
}
