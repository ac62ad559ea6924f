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
import type { WriteTaskRequest__Output } from '../generated/rigger/v1/WriteTaskRequest';
import type { WriteTaskResponse } from '../generated/rigger/v1/WriteTaskResponse';
import type * as grpc from '@grpc/grpc-js';
import { notFound } from '../model/errors';
import { actorOf, unary, type ServiceContext } from './context';
import { writeTasks } from './write-stream';
import { listFilterOf, requireTaskId } from './requests';
import { taskWrites } from './task-writes';

export function taskHandlers(context: ServiceContext) {
  const { tasks } = context.store;
  const writes = taskWrites(context);
  return {
    ListTasks: unary<ListTasksRequest__Output, ListTasksResponse>(context, (request) => {
      const { tasks: page, total, nextPageToken } = tasks.listTasks(listFilterOf(request));
      return { tasks: page, total_count: total, next_page_token: nextPageToken };
    }),

    AddTask: unary<AddTaskRequest__Output, AddTaskResponse>(context, async (request, call) => ({ task: await writes.add(request, actorOf(call)) })),

    UpdateTask: unary<UpdateTaskRequest__Output, UpdateTaskResponse>(context, async (request, call) => ({ task: await writes.update(request, actorOf(call)) })),

    GetTask: unary<GetTaskRequest__Output, GetTaskResponse>(context, (request) => {
      const id = requireTaskId(request.task_id);
      const task = tasks.getTask(id);
      if (!task) throw notFound(`task ${JSON.stringify(id)} does not exist`);
      return { task };
    }),

    DeleteTask: unary<DeleteTaskRequest__Output, DeleteTaskResponse>(context, async (request, call) => {
      await writes.delete(request, actorOf(call));
      return { success: true };
    }),

    WriteTasks: (call: grpc.ServerDuplexStream<WriteTaskRequest__Output, WriteTaskResponse>) =>
      writeTasks(call, { writes, hub: context.hub, logger: context.logger, maxInFlight: context.maxWritesInFlight }),
  };
}
