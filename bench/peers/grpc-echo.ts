// The unary ceiling: the same RiggerService definition and serializers as the hub, served by a bare
// grpc-js server whose AddTask and GetTask answer at once with a fixed task (no store).
import * as grpc from '@grpc/grpc-js';
import { loadProto, SERVICE_NAME } from '../../src/protocol/proto';
import { serveCommands } from '../ipc';
import { listenOnLoopback } from './listen';

const now = new Date().toISOString();
const task = {
  id: '00000000-0000-4000-8000-000000000000',
  title: 'bench task 000000000',
  assignee: 'bench',
  status: 1,
  subtask_ids: [],
  created_at: now,
  updated_at: now,
  context_files: [],
  dependencies: [],
  version: 1,
};

const server = new grpc.Server();
server.addService(loadProto().definition[SERVICE_NAME] as grpc.ServiceDefinition, {
  AddTask: (call: grpc.ServerUnaryCall<{ title: string }, unknown>, callback: grpc.sendUnaryData<unknown>) =>
    callback(null, { task: { ...task, title: call.request.title } }),
  GetTask: (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => callback(null, { task }),
});

serveCommands({
  listen: () => listenOnLoopback(server),
});
