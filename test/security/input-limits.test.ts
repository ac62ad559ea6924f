// Everything a client sets is bounded, so no stored event can outgrow what a client with default
// limits (4 MiB a message) accepts. Through the real server: 5 MB in every settable field is
// refused with INVALID_ARGUMENT naming the field (the request limit raised so the value reaches
// validation); maximal updates reach default-limit subscribers in grpc-js and grpcio; an event
// already too large in an old database is served as its reduced stand-in; PRD generation refuses,
// before anything commits, a response no client could take.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import Database from 'better-sqlite3';
import { connectService } from '../../src/client/connect';
import { TaskEventType, type TaskEvent } from '../../src/model/task';
import { MAX_EVENT_BYTES, MAX_GENERATED_TASKS, MAX_NAME_LENGTH, MAX_TITLE_LENGTH } from '../../src/model/validate';
import { taskEventEncoder } from '../../src/protocol/event-codec';
import { loadProto } from '../../src/protocol/proto';
import { call, callError, collectEvents, connect } from '../support/client';
import { pythonGrpcStubs, rig, spawnCollected, startServer, SYSTEM_PYTHON, tempProject } from '../support/processes';

const HUGE = 'x'.repeat(5 * 1024 * 1024);
const BIG_REQUESTS = ['--max-request-bytes', String(16 * 1024 * 1024)];

function bigClient(address: string) {
  return connectService(address, { channelOptions: { 'grpc.max_send_message_length': -1 } });
}

function rssMb(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}

test('5 MB in any settable field is INVALID_ARGUMENT naming the field; nothing is written', { timeout: 120_000 }, async () => {
  const dir = tempProject();
  const server = await startServer(dir, BIG_REQUESTS);
  const client = bigClient(server.address);
  try {
    const { task } = await call(client, 'AddTask', { title: 'kept' });
    const unary: [string, Parameters<typeof call>[1], object][] = [
      ['title', 'AddTask', { title: HUGE }],
      ['assignee', 'AddTask', { title: 't', assignee: HUGE }],
      ['due_date', 'AddTask', { title: 't', due_date: HUGE }],
      ['source_prd_id', 'AddTask', { title: 't', source_prd_id: HUGE }],
      ['parent_task_id', 'AddTask', { title: 't', parent_task_id: HUGE }],
      ['task_id', 'UpdateTask', { task_id: HUGE, status: 2 }],
      ['assignee', 'UpdateTask', { task_id: task.id, assignee: HUGE }],
      ['due_date', 'UpdateTask', { task_id: task.id, due_date: HUGE }],
      ['task_id', 'GetTask', { task_id: HUGE }],
      ['task_id', 'DeleteTask', { task_id: HUGE }],
      ['assignee', 'ListTasks', { assignee: HUGE }],
      ['prd_file_path', 'ParsePRD', { prd_file_path: HUGE }],
      ['prd_id', 'GenerateTasksFromPRD', { prd_id: HUGE }],
      ['model', 'GenerateTasksFromPRD', { prd_id: 'docs/PRD.md', model: HUGE }],
      ['task_id', 'OrchestrateTask', { task_id: HUGE }],
      ['model', 'OrchestrateTask', { task_id: task.id, model: HUGE }],
      ['test_type', 'OrchestrateTask', { task_id: task.id, test_type: HUGE }],
    ];
    for (const [field, method, request] of unary) {
      const error = await callError(client, method, request);
      assert.equal(error.code, grpc.status.INVALID_ARGUMENT, `${method} ${field}: ${error.details}`);
      assert.match(error.details, new RegExp(`^${field}\\b.*(maximum|YYYY-MM-DD)`), `${method} ${field}: ${error.details.slice(0, 200)}`);
      assert.ok(error.details.length < 4000, `${method} ${field}: the message is bounded`);
    }
    for (const [field, request] of [
      ['assignee_filter', { assignee_filter: HUGE }],
      ['task_ids', { task_ids: [HUGE] }],
    ] as [string, object][]) {
      const error = await collectEvents(client, request).ended;
      assert.equal(error?.code, grpc.status.INVALID_ARGUMENT, field);
      assert.match(error!.details, new RegExp(`^${field}`));
    }
    for (const [field, message] of [
      ['assignee', { update: { task_id: task.id, assignee: HUGE } }],
      ['task_id', { update: { task_id: HUGE, status: 2 } }],
      ['assignee_filter', { subscribe: { assignee_filter: HUGE } }],
    ] as const) {
      const stream = client.TaskEventStream();
      const ended = new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
      stream.on('data', () => {});
      stream.write(message);
      const error = await ended;
      assert.equal(error.code, grpc.status.INVALID_ARGUMENT, `TaskEventStream ${field}`);
      assert.match(error.details, new RegExp(`^${field}\\b.*maximum`));
    }
    // One over the limit is refused too, and the limit is the one documented.
    const over = await callError(client, 'AddTask', { title: 't', assignee: 'a'.repeat(MAX_NAME_LENGTH + 1) });
    assert.equal(over.details, `assignee is ${MAX_NAME_LENGTH + 1} characters; the maximum is ${MAX_NAME_LENGTH}`);
    const { total_count } = await call(client, 'ListTasks', {});
    assert.equal(total_count, 1, 'nothing else was written');
    const cli = rig(['task', 'add', 'from the CLI', '--assignee', 'a'.repeat(MAX_NAME_LENGTH + 1), '-C', dir]);
    assert.equal(cli.code, 1);
    assert.equal(cli.stderr, `rig: assignee is ${MAX_NAME_LENGTH + 1} characters; the maximum is ${MAX_NAME_LENGTH}\n`);
  } finally {
    client.close();
    await server.stop();
  }
});

test(
  '100 maximal-size updates: RSS growth under 100 MB, and default-limit grpc-js and grpcio subscribers receive every event',
  { timeout: 180_000 },
  async (t) => {
    const dir = tempProject();
    const server = await startServer(dir, ['--buffer-size', '10000']);
    const client = connect(server.address);
    // grpc-js with its own defaults: no channel options of ours (4 MiB messages, 64 KiB window).
    const plain = new (loadProto().grpcObject.rigger.v1.RiggerService)(server.address, grpc.credentials.createInsecure());
    try {
      const plainEvents = collectEvents(plain, {});
      await plainEvents.ready;
      const baseline = rssMb(server.child.pid!);
      const title = 't'.repeat(MAX_TITLE_LENGTH);
      const { task } = await call(client, 'AddTask', { title, assignee: 'A'.repeat(MAX_NAME_LENGTH) });
      let peak = baseline;
      for (let i = 0; i < 100; i++) {
        await call(client, 'UpdateTask', { task_id: task.id, assignee: (i % 2 === 0 ? 'B' : 'A').repeat(MAX_NAME_LENGTH) });
        peak = Math.max(peak, rssMb(server.child.pid!));
      }
      const expected = 1 + 100 * 2; // CREATED, then UPDATED + ASSIGNED each
      await plainEvents.waitForCount(expected, 30_000);
      assert.deepEqual(
        plainEvents.events.map((e: TaskEvent) => e.sequence),
        Array.from({ length: expected }, (_, i) => i + 1),
      );
      plain.close();
      t.diagnostic(`RSS ${baseline.toFixed(1)} -> peak ${peak.toFixed(1)} MB`);
      assert.ok(peak - baseline < 100, `RSS grew ${(peak - baseline).toFixed(1)} MB`);

      const stubs = pythonGrpcStubs(undefined);
      if (!stubs) return;
      const script = [
        'import sys, grpc',
        'from rigger.v1 import rigger_pb2, rigger_pb2_grpc',
        'stub = rigger_pb2_grpc.RiggerServiceStub(grpc.insecure_channel(sys.argv[1]))',
        'n = 0',
        'for event in stub.SubscribeToTaskEvents(rigger_pb2.SubscribeToTaskEventsRequest(since_sequence=0)):',
        '    n += 1',
        '    if n == int(sys.argv[2]):',
        '        print(f"received {n} last {event.sequence}")',
        '        break',
      ].join('\n');
      const grpcio = spawnCollected(SYSTEM_PYTHON, ['-c', script, server.address, String(expected)], { env: { ...process.env, PYTHONPATH: stubs } });
      assert.equal(await grpcio.exited, 0, grpcio.stderr());
      assert.equal(grpcio.stdout().trim(), `received ${expected} last ${expected}`);
    } finally {
      client.close();
      plain.close();
      await server.stop();
    }
  },
);

test('an event already too large in an old database is served as its reduced stand-in, never as poison', { timeout: 60_000 }, async () => {
  const dir = tempProject();
  const added = rig(['task', 'add', 'before', '--json', '-C', dir]);
  assert.equal(added.code, 0, added.stderr);
  // As a build without write bounds would have stored it: a 2 MB assignee, task and previous task.
  const dbFile = path.join(dir, '.rigger', 'tasks.db');
  const db = new Database(dbFile);
  const before = JSON.parse((db.prepare('SELECT task FROM events WHERE sequence = 1').get() as { task: string }).task);
  const huge = { ...before, assignee: 'Z'.repeat(2 * 1024 * 1024), version: 2 };
  const event = {
    sequence: 2,
    event_id: 'old-oversized',
    timestamp: before.updated_at,
    event_type: TaskEventType.ASSIGNED,
    task: huge,
    previous_task: before,
    actor: 'old',
    metadata: { mutation_id: 'm' },
    changed_fields: ['assignee'],
  };
  const encoded = taskEventEncoder.encode(event);
  assert.ok(encoded.length > MAX_EVENT_BYTES);
  db.prepare(
    `INSERT INTO events (sequence, event_id, event_type, timestamp, actor, task_id, task, previous_task, changed_fields, metadata, encoded, assignee, previous_assignee, status, previous_status)
     VALUES (2, 'old-oversized', 5, ?, 'old', ?, ?, ?, '["assignee"]', '{"mutation_id":"m"}', ?, ?, NULL, 1, 1)`,
  ).run(before.updated_at, before.id, JSON.stringify(huge), JSON.stringify(before), encoded, huge.assignee);
  db.close();
  assert.equal(rig(['task', 'add', 'after', '-C', dir]).code, 0);

  const server = await startServer(dir);
  const plain = new (loadProto().grpcObject.rigger.v1.RiggerService)(server.address, grpc.credentials.createInsecure());
  try {
    const events = collectEvents(plain, { since_sequence: 0 });
    const received = await events.waitForCount(3, 20_000);
    assert.deepEqual(
      received.map((e: TaskEvent) => e.sequence),
      [1, 2, 3],
    );
    const stand = received[1]!;
    assert.equal(stand.event_id, 'old-oversized');
    assert.equal(stand.metadata.oversized_bytes, String(encoded.length));
    assert.equal(stand.task.assignee, 'Z'.repeat(MAX_NAME_LENGTH));
    assert.equal(stand.previous_task, undefined);
    events.cancel();
  } finally {
    plain.close();
    await server.stop();
  }
});

test(`GenerateTasksFromPRD refuses a PRD of more than ${MAX_GENERATED_TASKS} tasks before anything commits`, { timeout: 60_000 }, async () => {
  const dir = tempProject();
  const bullets = Array.from({ length: MAX_GENERATED_TASKS + 1 }, (_, i) => `- Requirement number ${i} must hold`).join('\n');
  fs.mkdirSync(path.join(dir, 'docs'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'docs', 'PRD.md'), `# Too big\n\n## Functional Requirements\n${bullets}\n`);
  const server = await startServer(dir);
  const client = connect(server.address);
  try {
    const error = await callError(client, 'GenerateTasksFromPRD', { prd_id: 'docs/PRD.md' });
    assert.equal(error.code, grpc.status.INVALID_ARGUMENT, error.details);
    assert.match(error.details, new RegExp(`yields ${MAX_GENERATED_TASKS + 1} tasks; one call creates at most ${MAX_GENERATED_TASKS}`));
    assert.equal((await call(client, 'ListTasks', {})).total_count, 0, 'nothing was committed');
  } finally {
    client.close();
    await server.stop();
  }
});
