// The ollama provider against a real HTTP server in this process that speaks Ollama's /api/chat;
// the rig server (a separate process) makes the real requests.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { TaskEventType, TaskStatus } from '../../src/model/task';
import { prdIdOf } from '../../src/prd/parser';
import { call, callError, collectEvents, connect, type RiggerServiceClient } from '../support/client';
import { startServer, tempProject, waitFor, type ServerProcess } from '../support/processes';
import { FIXTURES, placeFixture, startFakeOllama, type FakeOllama } from './prd-support';

const TIMEOUT_MS = 1500;
const GOOD_TASKS = JSON.stringify({
  tasks: [{ title: 'Set up CI', assignee: 'Dana', due_date: '2026-02-01', complexity: 3, reasoning: 'Every change is built' }, { title: 'Write the API docs' }],
});

let ollama: FakeOllama;
let server: ServerProcess;
let client: RiggerServiceClient;

before(async () => {
  ollama = await startFakeOllama();
  const dir = tempProject();
  placeFixture(dir, 'messy.md');
  placeFixture(dir, 'tasks.md', 'docs/tasks.md');
  placeFixture(dir, 'crlf.md', 'docs/crlf.md');
  placeFixture(dir, 'no-sections.md', 'docs/empty.md');
  server = await startServer(dir, [], {
    RIGGER_OLLAMA_URL: ollama.url,
    RIGGER_OLLAMA_MODEL: 'fake-model',
    RIGGER_OLLAMA_TIMEOUT_MS: String(TIMEOUT_MS),
  });
  client = connect(server.address);
});

after(async () => {
  client.close();
  await server.stop();
  await ollama.close();
});

async function taskCount(): Promise<number> {
  return (await call(client, 'ListTasks', { include_archived: true })).total_count;
}

test('a good answer: the request is a non-streaming chat with a JSON schema, the tasks are saved and broadcast', async () => {
  const sub = collectEvents(client, {});
  await sub.ready;
  const sent = ollama.requests.length;
  ollama.reply({ content: GOOD_TASKS });
  const generated = await call(client, 'GenerateTasksFromPRD', { prd_id: 'docs/PRD.md', model: 'ollama' });
  assert.equal(generated.tasks_generated, 2);
  assert.deepEqual(
    generated.tasks.map((t: any) => [t.title, t.assignee ?? null, t.due_date ?? null, t.complexity ?? null]),
    [
      ['Set up CI', 'Dana', '2026-02-01', 3],
      ['Write the API docs', null, null, null],
    ],
  );
  const request = ollama.requests[sent]!;
  assert.equal(ollama.requests.length, sent + 1);
  assert.equal(request.model, 'fake-model');
  assert.equal(request.stream, false);
  assert.equal(request.format.type, 'object');
  assert.deepEqual(request.format.required, ['tasks']);
  assert.equal(request.messages[0].role, 'system');
  assert.match(request.messages[1].content, /# Team Calendar/);
  const events = await sub.waitForCount(2);
  for (const event of events) {
    assert.equal(event.event_type, TaskEventType.CREATED);
    assert.equal(event.metadata.model, 'ollama:fake-model');
    assert.equal(event.metadata.source, 'prd_generation');
  }
  sub.cancel();
});

test('model "ollama:<name>" asks Ollama for that model', async () => {
  const sent = ollama.requests.length;
  ollama.reply({ content: JSON.stringify({ tasks: [{ title: 'Port the form to C#' }] }) });
  const generated = await call(client, 'GenerateTasksFromPRD', { prd_id: 'docs/crlf.md', model: 'ollama:other-model' });
  assert.equal(generated.tasks_generated, 1);
  assert.equal(ollama.requests[sent]!.model, 'other-model');
});

test('a bare model name, as the original guide sends it ("model": "llama3.1"), asks Ollama for that model', async () => {
  const sent = ollama.requests.length;
  ollama.reply({ content: JSON.stringify({ tasks: [{ title: 'Port the form to Rust' }] }) });
  const generated = await call(client, 'GenerateTasksFromPRD', { prd_id: 'docs/crlf.md', model: 'llama3.1' });
  assert.equal(generated.tasks_generated, 1);
  assert.equal(ollama.requests[sent]!.model, 'llama3.1');
});

test('a malformed answer, then a good one: one retry that tells the model what was wrong, then success', async () => {
  const sent = ollama.requests.length;
  ollama.reply({ content: 'Sure! Here are your tasks: 1. Set up payments' }, { content: JSON.stringify({ tasks: [{ title: 'Accept cards' }] }) });
  const generated = await call(client, 'GenerateTasksFromPRD', { prd_id: 'docs/tasks.md', model: 'ollama' });
  assert.equal(generated.tasks_generated, 1);
  assert.equal(generated.tasks[0].title, 'Accept cards');
  assert.equal(ollama.requests.length, sent + 2);
  const retry = ollama.requests[sent + 1]!.messages;
  assert.equal(retry.at(-2).role, 'assistant');
  assert.equal(retry.at(-2).content, 'Sure! Here are your tasks: 1. Set up payments');
  assert.match(retry.at(-1).content, /That answer is invalid: the answer is not JSON/);
});

test('malformed twice: INTERNAL with the reason, nothing saved (no tasks, no PRD, no events)', async () => {
  const sub = collectEvents(client, {});
  await sub.ready;
  const before = await taskCount();
  ollama.reply({ content: '{"tasks": []}' }, { content: '{"tasks": [{"title": "Fine", "due_date": "soon"}]}' });
  const error = await callError(client, 'GenerateTasksFromPRD', { prd_id: 'docs/empty.md', model: 'ollama' });
  assert.equal(error.code, grpc.status.INTERNAL);
  assert.match(
    error.details,
    /ollama:fake-model gave an invalid answer 2 times \(last: tasks\[0\]\.due_date "soon" is not a date in the form YYYY-MM-DD\); nothing was saved/,
  );
  assert.equal(await taskCount(), before);
  // The PRD was not stored either: its id is unknown until ParsePRD stores it.
  const prdId = prdIdOf(fs.readFileSync(path.join(FIXTURES, 'no-sections.md'), 'utf8'));
  const unknown = await callError(client, 'GenerateTasksFromPRD', { prd_id: prdId, model: 'rules' });
  assert.equal(unknown.code, grpc.status.NOT_FOUND);
  assert.equal((await call(client, 'ParsePRD', { prd_file_path: 'docs/empty.md' })).prd_id, prdId);
  // The next event is this marker: the failed call broadcast nothing.
  await call(client, 'AddTask', { title: 'marker after failure' });
  const events = await sub.waitForCount(1);
  assert.equal(events[0]!.task.title, 'marker after failure');
  sub.cancel();
});

test('a timeout: UNAVAILABLE saying how long it waited, nothing saved', async () => {
  const before = await taskCount();
  ollama.reply({ delayMs: TIMEOUT_MS * 4, content: GOOD_TASKS });
  const error = await callError(client, 'GenerateTasksFromPRD', { prd_id: 'docs/tasks.md', model: 'ollama:slow-model' });
  assert.equal(error.code, grpc.status.UNAVAILABLE);
  assert.match(error.details, new RegExp(`did not answer within ${TIMEOUT_MS} ms; nothing was saved`));
  assert.equal(await taskCount(), before);
});

test('a call that is cancelled (deadline passed, server shutting down) abandons its Ollama request and saves nothing', async () => {
  // A server whose own timeout is far away: only the cancellation can end the request early.
  const dir = tempProject();
  placeFixture(dir, 'tasks.md');
  const patient = await startServer(dir, [], { RIGGER_OLLAMA_URL: ollama.url, RIGGER_OLLAMA_TIMEOUT_MS: '600000' });
  const patientClient = connect(patient.address);
  try {
    const abortedBefore = ollama.aborted();
    ollama.reply({ delayMs: 120_000, content: GOOD_TASKS });
    const metadata = new grpc.Metadata();
    const error = await new Promise<grpc.ServiceError>((resolve) =>
      patientClient.GenerateTasksFromPRD({ prd_id: 'docs/PRD.md', model: 'ollama' }, metadata, { deadline: Date.now() + 1000 }, (e) => resolve(e!)),
    );
    assert.equal(error.code, grpc.status.DEADLINE_EXCEEDED);
    await waitFor(() => ollama.aborted() > abortedBefore, 20_000, 'the server to abandon the Ollama request');
    assert.equal((await call(patientClient, 'ListTasks', {})).total_count, 0);

    // Shutting down ends a call still waiting for Ollama: the server exits cleanly, not after the model.
    ollama.reply({ delayMs: 120_000, content: GOOD_TASKS });
    const pending = callError(patientClient, 'GenerateTasksFromPRD', { prd_id: 'docs/PRD.md', model: 'ollama' });
    await waitFor(() => ollama.waiting() === 1, 20_000, 'the second request to reach Ollama');
    assert.equal(await patient.stop(), 0);
    await pending;
    assert.equal(ollama.aborted(), abortedBefore + 2);
  } finally {
    patientClient.close();
    await patient.stop();
  }
});

test("an unknown Ollama model: INVALID_ARGUMENT with Ollama's reason", async () => {
  ollama.reply({ status: 404, body: JSON.stringify({ error: "model 'nope' not found" }) });
  const error = await callError(client, 'GenerateTasksFromPRD', { prd_id: 'docs/tasks.md', model: 'ollama:nope' });
  assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
  assert.match(error.details, /Ollama has no model "nope" \(model 'nope' not found\); pull it with `ollama pull nope`/);
});

test('orchestration with ollama: the model decides, the flow is saved and broadcast; an invalid plan twice changes nothing', async () => {
  const { task } = await call(client, 'AddTask', { title: 'Payments', assignee: 'Eve' });
  ollama.reply(
    {
      content: JSON.stringify({
        enhancement: 'Take card payments',
        question: 'Q?',
        options: ['a'],
        correct_answer: 'b',
        routing_decision: 'pass',
        subtasks: [],
      }),
    },
    {
      content: JSON.stringify({
        enhancement: 'Accept card payments through the provider, with refunds.',
        question: 'Which provider is used?',
        options: ['Stripe', 'Cash', 'Barter'],
        correct_answer: 'Stripe',
        routing_decision: 'decompose',
        subtasks: ['Integrate the payment provider', 'Support refunds'],
      }),
    },
  );
  const sub = collectEvents(client, { event_types: [TaskEventType.ORCHESTRATED] });
  await sub.ready;
  const sent = ollama.requests.length;
  const { task: after, result } = await call(client, 'OrchestrateTask', { task_id: task.id, model: 'ollama', test_type: 'multiple_choice' });
  assert.equal(ollama.requests.length, sent + 2, 'the first plan was invalid (correct_answer not among 2+ options): one retry');
  assert.match(ollama.requests[sent + 1]!.messages.at(-1).content, /a multiple_choice test needs 2 to 6 "options", got 1/);
  assert.equal(ollama.requests[sent]!.format.properties.routing_decision.enum.join(','), 'pass,enhance,decompose');
  assert.equal(after.status, TaskStatus.DECOMPOSED);
  assert.equal(result.routing_decision, 'decompose');
  assert.deepEqual(
    result.subtasks.map((s: any) => [s.title, s.assignee, s.parent_task_id]),
    [
      ['Integrate the payment provider', 'Eve', task.id],
      ['Support refunds', 'Eve', task.id],
    ],
  );
  assert.equal(result.enhancement.content, 'Accept card payments through the provider, with refunds.');
  assert.deepEqual(result.comprehension_test.options, ['Stripe', 'Cash', 'Barter']);
  const [orchestrated] = await sub.waitForCount(1);
  assert.equal(orchestrated!.metadata.model, 'ollama:fake-model');
  assert.equal(orchestrated!.metadata.test_type, 'multiple_choice');
  assert.equal(orchestrated!.metadata.routing_decision, 'decompose');
  sub.cancel();

  const { task: other } = await call(client, 'AddTask', { title: 'Write the release notes' });
  ollama.reply(
    { content: '{}' },
    { content: JSON.stringify({ enhancement: 'x', question: 'y', options: [], correct_answer: 'z', routing_decision: 'maybe', subtasks: [] }) },
  );
  const error = await callError(client, 'OrchestrateTask', { task_id: other.id, model: 'ollama' });
  assert.equal(error.code, grpc.status.INTERNAL);
  assert.match(error.details, /invalid answer 2 times \(last: "routing_decision" must be one of pass, enhance, decompose, got "maybe"\); nothing was saved/);
  const unchanged = (await call(client, 'GetTask', { task_id: other.id })).task;
  assert.equal(unchanged.status, TaskStatus.TODO);
  assert.equal(unchanged.version, 1);
});
