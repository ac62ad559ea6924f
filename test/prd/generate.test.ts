import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { TaskEventType } from '../../src/model/task';
import { call, callError, collectEvents, connect } from '../support/client';
import { startServer, tempProject } from '../support/processes';
import { placeFixture } from './prd-support';

test('GenerateTasksFromPRD with rules: Task blocks become tasks, broadcast as CREATED with their metadata; twice creates nothing more', async () => {
  const dir = tempProject();
  placeFixture(dir, 'tasks.md');
  const server = await startServer(dir);
  const client = connect(server.address);
  const sub = collectEvents(client, {});
  try {
    await sub.ready;
    const { prd_id } = await call(client, 'ParsePRD', { prd_file_path: './docs/PRD.md' });
    const generated = await call(client, 'GenerateTasksFromPRD', { prd_id, model: 'rules' });
    assert.equal(generated.tasks_generated, 3);
    assert.deepEqual(
      generated.tasks.map((t: any) => [t.title, t.assignee ?? null, t.due_date ?? null, t.source_prd_id, t.status]),
      [
        ['Implement OAuth2 authentication', 'Alice', '2025-12-31', prd_id, 1],
        ['Build the payment form and add card validation', 'Bob', '2026-01-15', prd_id, 1],
        ['Write the runbook', null, null, prd_id, 1],
      ],
    );
    assert.equal(generated.tasks[0].reasoning, 'Use the company identity provider\nSupport refresh tokens');

    const events = await sub.waitForCount(3);
    assert.deepEqual(
      events.map((e) => e.event_type),
      [TaskEventType.CREATED, TaskEventType.CREATED, TaskEventType.CREATED],
    );
    assert.deepEqual(
      events.map((e) => e.task.id),
      generated.tasks.map((t: any) => t.id),
    );
    for (const event of events) {
      assert.equal(event.metadata.source, 'prd_generation');
      assert.equal(event.metadata.prd_id, prd_id);
      assert.equal(event.metadata.model, 'rules');
      assert.equal(event.task.source_prd_id, prd_id);
    }
    // One transaction: all three events carry the same mutation id.
    assert.equal(new Set(events.map((e) => e.metadata.mutation_id)).size, 1);

    const again = await call(client, 'GenerateTasksFromPRD', { prd_id, model: 'rules' });
    assert.equal(again.tasks_generated, 0);
    assert.deepEqual(
      again.tasks.map((t: any) => t.id),
      generated.tasks.map((t: any) => t.id),
    );
    const byPath = await call(client, 'GenerateTasksFromPRD', { prd_id: 'docs/PRD.md' });
    assert.equal(byPath.tasks_generated, 0, 'a path to the same content is the same PRD');
    // The next event after the repeats is this marker: the repeats broadcast nothing.
    await call(client, 'AddTask', { title: 'marker' });
    const after = await sub.waitForCount(4);
    assert.equal(after.length, 4);
    assert.equal(after[3]!.task.title, 'marker');
    assert.equal((await call(client, 'ListTasks', {})).total_count, 4);
  } finally {
    sub.cancel();
    client.close();
    assert.equal(await server.stop(), 0);
  }
});

test('GenerateTasksFromPRD from a path with the default model: one task per objective and requirement', async () => {
  const dir = tempProject();
  placeFixture(dir, 'messy.md');
  const server = await startServer(dir);
  const client = connect(server.address);
  try {
    const generated = await call(client, 'GenerateTasksFromPRD', { prd_id: './docs/PRD.md' });
    assert.deepEqual(
      generated.tasks.map((t: any) => t.title),
      [
        "Show every team member's availability in one view",
        'Let people book a meeting room from the same screen',
        'Send reminders by email',
        'Export a week as iCal',
        'Import holidays from a CSV file',
        'Dark mode',
      ],
    );
    assert.equal(generated.tasks_generated, 6);
    assert.match(generated.tasks[0].reasoning, /Objectives section\.\nincluding time zones\nand public holidays/);
    // The PRD was stored with the tasks: its id now works.
    const prdId = generated.tasks[0].source_prd_id;
    assert.equal((await call(client, 'GenerateTasksFromPRD', { prd_id: prdId, model: 'rules' })).tasks_generated, 0);
  } finally {
    client.close();
    assert.equal(await server.stop(), 0);
  }
});

test('GenerateTasksFromPRD refuses bad requests with the reason and writes nothing', async () => {
  const dir = tempProject();
  placeFixture(dir, 'tasks.md');
  placeFixture(dir, 'no-sections.md', 'docs/empty.md');
  const server = await startServer(dir);
  const client = connect(server.address);
  try {
    const model = await callError(client, 'GenerateTasksFromPRD', { prd_id: 'docs/PRD.md', model: 'gpt 4' });
    assert.equal(model.code, grpc.status.INVALID_ARGUMENT);
    assert.match(model.details, /model "gpt 4" is not a model name; use one of: "rules" .*"ollama" .*"llama3\.1" or "ollama:<name>"/);
    const unknownId = await callError(client, 'GenerateTasksFromPRD', { prd_id: 'prd-0123456789abcdef' });
    assert.equal(unknownId.code, grpc.status.NOT_FOUND);
    assert.match(unknownId.details, /no PRD with id prd-0123456789abcdef is stored/);
    const missing = await callError(client, 'GenerateTasksFromPRD', { prd_id: 'docs/missing.md' });
    assert.equal(missing.code, grpc.status.NOT_FOUND);
    const empty = await callError(client, 'GenerateTasksFromPRD', { prd_id: '' });
    assert.equal(empty.code, grpc.status.INVALID_ARGUMENT);
    const nothing = await callError(client, 'GenerateTasksFromPRD', { prd_id: 'docs/empty.md' });
    assert.equal(nothing.code, grpc.status.INVALID_ARGUMENT);
    assert.match(nothing.details, /has nothing to turn into tasks/);
    assert.equal((await call(client, 'ListTasks', {})).total_count, 0);
  } finally {
    client.close();
    assert.equal(await server.stop(), 0);
  }
});
