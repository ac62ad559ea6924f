import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import Database from 'better-sqlite3';
import { TaskEventType, TaskStatus, type TaskEvent } from '../../src/model/task';
import { call, callError, collectEvents, connect } from '../support/client';
import { startServer, tempProject } from '../support/processes';

const { CREATED, UPDATED, STATUS_CHANGED, DECOMPOSED, ORCHESTRATED } = TaskEventType;

function summary(events: TaskEvent[]): string[] {
  return events.map((e) => `${e.event_type}:${e.task.title}:${e.task.status}`);
}

test('OrchestrateTask with rules, multiple_choice, a task that decomposes: statuses, subtasks, events and metadata', async () => {
  const dir = tempProject();
  const server = await startServer(dir);
  const client = connect(server.address);
  const sub = collectEvents(client, {});
  try {
    await sub.ready;
    const title = 'Build the payment form and add card validation';
    const { task } = await call(client, 'AddTask', { title, assignee: 'Bob', due_date: '2026-01-15' });
    const { task: after, result } = await call(client, 'OrchestrateTask', { task_id: task.id, model: 'rules', test_type: 'multiple_choice' });

    assert.equal(result.success, true);
    assert.equal(result.routing_decision, 'decompose');
    assert.equal(after.status, TaskStatus.DECOMPOSED);
    assert.deepEqual(
      result.subtasks.map((s: any) => s.title),
      ['Build the payment form', 'Add card validation'],
    );
    assert.deepEqual(
      after.subtask_ids,
      result.subtasks.map((s: any) => s.id),
    );
    for (const subtask of result.subtasks) {
      assert.equal(subtask.parent_task_id, task.id);
      assert.equal(subtask.assignee, 'Bob');
      assert.equal(subtask.due_date, '2026-01-15');
      assert.equal(subtask.status, TaskStatus.TODO);
      assert.equal((await call(client, 'GetTask', { task_id: subtask.id })).task.parent_task_id, task.id);
    }
    assert.equal(result.enhancement.task_id, task.id);
    assert.match(result.enhancement.content, /^Goal: Build the payment form and add card validation\nOwner: Bob; due: 2026-01-15/);
    const test = result.comprehension_test;
    assert.equal(test.test_type, 'multiple_choice');
    assert.equal(test.options.length, 4);
    assert.ok(test.options.includes(test.correct_answer));
    assert.equal(test.correct_answer, title);

    const events = (await sub.waitForCount(11)).slice(1);
    assert.deepEqual(summary(events), [
      `${UPDATED}:${title}:${TaskStatus.PENDING_ENHANCEMENT}`,
      `${STATUS_CHANGED}:${title}:${TaskStatus.PENDING_ENHANCEMENT}`,
      `${UPDATED}:${title}:${TaskStatus.PENDING_COMPREHENSION_TEST}`,
      `${STATUS_CHANGED}:${title}:${TaskStatus.PENDING_COMPREHENSION_TEST}`,
      `${CREATED}:Build the payment form:${TaskStatus.TODO}`,
      `${CREATED}:Add card validation:${TaskStatus.TODO}`,
      `${UPDATED}:${title}:${TaskStatus.DECOMPOSED}`,
      `${STATUS_CHANGED}:${title}:${TaskStatus.DECOMPOSED}`,
      `${DECOMPOSED}:${title}:${TaskStatus.DECOMPOSED}`,
      `${ORCHESTRATED}:${title}:${TaskStatus.DECOMPOSED}`,
    ]);
    assert.equal(events[1]!.previous_task!.status, TaskStatus.TODO);
    assert.equal(events[4]!.metadata.parent_task_id, task.id);
    assert.equal(events[4]!.metadata.source, 'orchestration');
    assert.deepEqual(events[8]!.task.subtask_ids, after.subtask_ids);
    assert.equal(events[8]!.metadata.subtask_count, '2');
    const orchestrated = events[9]!.metadata;
    assert.equal(orchestrated.model, 'rules');
    assert.equal(orchestrated.test_type, 'multiple_choice');
    assert.equal(orchestrated.routing_decision, 'decompose');
    assert.equal(orchestrated.enhancement_id, result.enhancement.enhancement_id);
    assert.equal(orchestrated.test_id, test.test_id);

    // Stored in the project database.
    const db = new Database(path.join(dir, '.rigger', 'tasks.db'), { readonly: true });
    try {
      const enhancement = db.prepare('SELECT task_id, model, content FROM enhancements WHERE enhancement_id = ?').get(result.enhancement.enhancement_id) as any;
      assert.deepEqual([enhancement.task_id, enhancement.model, enhancement.content], [task.id, 'rules', result.enhancement.content]);
      const stored = db.prepare('SELECT test_type, options, correct_answer FROM comprehension_tests WHERE test_id = ?').get(test.test_id) as any;
      assert.deepEqual([stored.test_type, JSON.parse(stored.options), stored.correct_answer], ['multiple_choice', test.options, title]);
    } finally {
      db.close();
    }

    // A decomposed task is not orchestrated again.
    const again = await callError(client, 'OrchestrateTask', { task_id: task.id, model: 'rules' });
    assert.equal(again.code, grpc.status.FAILED_PRECONDITION);
    assert.match(again.details, /is DECOMPOSED and cannot be orchestrated; orchestrate its subtasks instead/);
  } finally {
    sub.cancel();
    client.close();
    assert.equal(await server.stop(), 0);
  }
});

test('OrchestrateTask with rules, short_answer (the default), a task that passes; a vague one is routed back to enhancement', async () => {
  const dir = tempProject();
  const server = await startServer(dir);
  const client = connect(server.address);
  const sub = collectEvents(client, { event_types: [STATUS_CHANGED, ORCHESTRATED, DECOMPOSED] });
  try {
    await sub.ready;
    const title = 'Implement OAuth2 authentication';
    const { task } = await call(client, 'AddTask', { title, assignee: 'Alice' });
    const { task: after, result } = await call(client, 'OrchestrateTask', { task_id: task.id });
    assert.equal(result.routing_decision, 'pass');
    assert.equal(after.status, TaskStatus.ORCHESTRATION_COMPLETE);
    assert.deepEqual(result.subtasks, []);
    assert.deepEqual(after.subtask_ids, []);
    assert.equal(result.comprehension_test.test_type, 'short_answer');
    assert.deepEqual(result.comprehension_test.options, []);
    assert.equal(result.comprehension_test.correct_answer, title);

    const events = await sub.waitForCount(4);
    assert.deepEqual(summary(events), [
      `${STATUS_CHANGED}:${title}:${TaskStatus.PENDING_ENHANCEMENT}`,
      `${STATUS_CHANGED}:${title}:${TaskStatus.PENDING_COMPREHENSION_TEST}`,
      `${STATUS_CHANGED}:${title}:${TaskStatus.ORCHESTRATION_COMPLETE}`,
      `${ORCHESTRATED}:${title}:${TaskStatus.ORCHESTRATION_COMPLETE}`,
    ]);
    assert.deepEqual([events[3]!.metadata.model, events[3]!.metadata.test_type, events[3]!.metadata.routing_decision], ['rules', 'short_answer', 'pass']);
    assert.equal(events[0]!.metadata.step, 'enhance');

    // Orchestrating a completed orchestration again is allowed and starts from its current state.
    const rerun = await call(client, 'OrchestrateTask', { task_id: task.id, model: 'rules', test_type: 'short_answer' });
    assert.equal(rerun.task.status, TaskStatus.ORCHESTRATION_COMPLETE);

    const { task: vague } = await call(client, 'AddTask', { title: 'Fix bugs' });
    const routedBack = await call(client, 'OrchestrateTask', { task_id: vague.id, model: 'rules' });
    assert.equal(routedBack.result.routing_decision, 'enhance');
    assert.equal(routedBack.task.status, TaskStatus.PENDING_ENHANCEMENT);
    assert.match(routedBack.result.enhancement.content, /too short to act on/);
  } finally {
    sub.cancel();
    client.close();
    assert.equal(await server.stop(), 0);
  }
});

test('OrchestrateTask refuses bad requests with the reason and changes nothing', async () => {
  const dir = tempProject();
  const server = await startServer(dir);
  const client = connect(server.address);
  try {
    const { task } = await call(client, 'AddTask', { title: 'Implement OAuth2 authentication' });
    const testType = await callError(client, 'OrchestrateTask', { task_id: task.id, model: 'rules', test_type: 'essay' });
    assert.equal(testType.code, grpc.status.INVALID_ARGUMENT);
    assert.match(testType.details, /test_type "essay" .*use "short_answer" or "multiple_choice"/);
    const model = await callError(client, 'OrchestrateTask', { task_id: task.id, model: 'claude 3' });
    assert.equal(model.code, grpc.status.INVALID_ARGUMENT);
    assert.match(model.details, /model "claude 3" is not a model name; use one of: "rules"/);
    const unknown = await callError(client, 'OrchestrateTask', { task_id: 'no-such-task', model: 'rules' });
    assert.equal(unknown.code, grpc.status.NOT_FOUND);
    assert.match(unknown.details, /task "no-such-task" does not exist/);
    const empty = await callError(client, 'OrchestrateTask', { task_id: '' });
    assert.equal(empty.code, grpc.status.INVALID_ARGUMENT);
    await call(client, 'DeleteTask', { task_id: task.id });
    const archived = await callError(client, 'OrchestrateTask', { task_id: task.id, model: 'rules' });
    assert.equal(archived.code, grpc.status.FAILED_PRECONDITION);
    const current = (await call(client, 'GetTask', { task_id: task.id })).task;
    assert.equal(current.status, TaskStatus.ARCHIVED);
    assert.equal(current.version, 2);
  } finally {
    client.close();
    assert.equal(await server.stop(), 0);
  }
});
