// The latency floor: a bare grpc-js server (no store, no hub) with the hub's AddTask and
// SubscribeToTaskEvents on the same paths and serializers. Each AddTask encodes one TaskEvent
// stamped with the current time and writes those bytes to every open stream, then answers. The
// same producer and subscriber processes drive it as drive the hub, so the difference between the
// two is what storing, sequencing and filtering cost in commit -> receipt latency. It writes either
// through grpc-js's own ServerWritableStream ('grpc-js') or through the hub's EventStreamWriter
// ('packed'), which is the hub's transport path without the hub.
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { AddTaskRequest } from '../../src/generated/rigger/v1/AddTaskRequest';
import { passThroughSerializer, taskEventEncoder } from '../../src/protocol/event-codec';
import { loadProto, SERVICE_NAME } from '../../src/protocol/proto';
import { TaskEventType, TaskStatus, type Task } from '../../src/model/task';
import { eventStreamWriters } from '../../src/grpc/stream-writer';
import { serveCommands } from '../ipc';
import { HUB_SUBSCRIBE_PATH } from '../wire';
import { listenOnLoopback } from './listen';

type Writer = 'grpc-js' | 'packed';

const packedWriters = eventStreamWriters(new Set([HUB_SUBSCRIBE_PATH]));
const open = new Map<grpc.ServerWritableStream<unknown, Buffer>, (message: Buffer) => void>();
let writer: Writer = 'grpc-js';
let sequence = 0;

function addTask(call: grpc.ServerUnaryCall<AddTaskRequest, unknown>, callback: grpc.sendUnaryData<unknown>): void {
  const now = new Date().toISOString();
  const task: Task = {
    id: randomUUID(),
    title: call.request.title ?? '',
    status: TaskStatus.TODO,
    subtask_ids: [],
    created_at: now,
    updated_at: now,
    context_files: [],
    dependencies: [],
    version: 1,
  };
  if (call.request.assignee) task.assignee = call.request.assignee;
  const encoded = taskEventEncoder.encode({
    sequence: ++sequence,
    event_id: randomUUID(),
    timestamp: now,
    event_type: TaskEventType.CREATED,
    task,
    metadata: { mutation_id: randomUUID() },
    changed_fields: [],
  });
  // A full stream buffers (in grpc-js, or past the packed writer's high-water mark): no back-pressure
  // here, so a relay that falls behind shows it as latency.
  for (const write of open.values()) write(encoded);
  callback(null, { task });
}

function subscribe(call: grpc.ServerWritableStream<unknown, Buffer>): void {
  const packed = writer === 'packed' ? packedWriters.writerFor(call.metadata) : undefined;
  open.set(call, packed ? (message) => packed.write(message) : (message) => call.write(message));
  const release = () => open.delete(call);
  call.on('cancelled', release);
  call.on('close', release);
  call.on('error', release);
  call.sendMetadata(new grpc.Metadata());
}

serveCommands({
  listen(args: { writer: Writer }) {
    writer = args.writer;
    const definition = loadProto().definition[SERVICE_NAME] as grpc.ServiceDefinition;
    const server = new grpc.Server(writer === 'packed' ? { interceptors: [packedWriters.interceptor] } : {});
    server.addService(
      { AddTask: definition.AddTask!, SubscribeToTaskEvents: { ...definition.SubscribeToTaskEvents!, responseSerialize: passThroughSerializer } },
      { AddTask: addTask, SubscribeToTaskEvents: subscribe },
    );
    return listenOnLoopback(server);
  },
});
