// The event encoder the store writes with (src/protocol/event-codec.ts) parses only the TaskEvent
// type; its bytes must be the ones proto-loader's serializer of the event streams makes (what the
// server sent before, and what every client decodes), for every kind of event, and be a Buffer
// (the streams' pass-through serializer refuses anything else).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type * as grpc from '@grpc/grpc-js';
import { TaskEventType } from '../../src/model/task';
import { taskEventEncoder } from '../../src/protocol/event-codec';
import { loadDefinition, SERVICE_NAME } from '../../src/protocol/proto';

const task = {
  id: 'b3f1c2d4-0000-4000-8000-000000000001',
  title: 'Implement OAuth2 authentication ✓',
  description: 'multi\nline',
  status: 2,
  assignee: 'Alice',
  due_date: '2025-12-31',
  parent_task_id: 'b3f1c2d4-0000-4000-8000-000000000000',
  subtask_ids: ['a', 'b'],
  created_at: '2026-12-07T10:00:00.000Z',
  updated_at: '2026-12-07T10:00:01.000Z',
  context_files: ['src/a.ts'],
  dependencies: ['c'],
  version: 7,
};

const EVENTS = [
  { sequence: 1, event_id: 'e1', timestamp: '2026-12-07T10:00:00.000Z', event_type: TaskEventType.CREATED, task, actor: 'cli', metadata: {} },
  {
    sequence: 2 ** 40,
    event_id: 'e2',
    timestamp: '2026-12-07T10:00:01.000Z',
    event_type: TaskEventType.UPDATED,
    task,
    previous_task: { ...task, status: 1, version: 6 },
    actor: 'grpc:Alice',
    metadata: { source: 'test', 'x-long': 'v'.repeat(300) },
    changed_fields: ['status'],
  },
  { sequence: 3, event_type: TaskEventType.DELETED, task: { ...task, subtask_ids: [], dependencies: [] } },
  { sequence: 4, timestamp: '2026-12-07T10:00:02.000Z', event_type: TaskEventType.BOOKMARK, log_id: 'log-1' },
  { sequence: 0, event_type: TaskEventType.SNAPSHOT_COMPLETE },
];

test("the store's event encoder makes exactly the bytes of proto-loader's event-stream serializer, as Buffers", () => {
  const method = (loadDefinition()[SERVICE_NAME] as grpc.ServiceDefinition).SubscribeToTaskEvents!;
  for (const event of EVENTS) {
    const bytes = taskEventEncoder.encode(event as never);
    assert.ok(Buffer.isBuffer(bytes), `event ${event.sequence} is encoded to a Buffer`);
    assert.deepEqual(bytes, method.responseSerialize(event), `event ${event.sequence} (type ${event.event_type})`);
    assert.equal((method.responseDeserialize(bytes) as { sequence: number }).sequence, event.sequence);
  }
});
