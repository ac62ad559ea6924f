import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { TaskEventType } from '../../src/model/task';
import { collectEvents, connect } from '../support/client';
import { freePort, rigAsync, startServer, tempProject } from '../support/processes';
import { placeFixture, startFakeOllama } from './prd-support';

async function ok(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) {
  const result = await rigAsync(args, { cwd, env });
  assert.equal(result.code, 0, `rig ${args.join(' ')}: ${result.stderr}`);
  return result;
}

async function fails(args: string[], cwd: string, message: RegExp) {
  const result = await rigAsync(args, { cwd });
  assert.equal(result.code, 1, `rig ${args.join(' ')} should fail: ${result.stdout}`);
  // One line says why; only a progress line of an LLM call may come before it.
  const lines = result.stderr.trim().split('\n');
  assert.ok(
    lines.slice(0, -1).every((line) => / \.\.\.$/.test(line)),
    result.stderr,
  );
  assert.match(lines.at(-1)!, message);
}

test('rig prd parse / generate-tasks / orchestrate run: human output, --json, and a running server broadcasts what they did', async () => {
  const dir = tempProject();
  placeFixture(dir, 'tasks.md');
  const server = await startServer(dir);
  const client = connect(server.address);
  const sub = collectEvents(client, {});
  try {
    await sub.ready;
    const parsed = await ok(['prd', 'parse', 'docs/PRD.md'], dir);
    assert.match(parsed.stdout, /^prd_id {8}prd-[0-9a-f]{16}\ntitle {9}Payments Service\nfile {10}docs\/PRD\.md\n/);
    assert.match(parsed.stdout, /task blocks \(3\)\n {2}1\. Implement OAuth2 authentication \[Alice, due 2025-12-31\]/);
    // A relative path is taken from the current directory, like any command line tool.
    const fromDocs = JSON.parse((await ok(['prd', 'parse', 'PRD.md', '--json'], path.join(dir, 'docs'))).stdout);
    assert.equal(fromDocs.prd_title, 'Payments Service');
    assert.equal(fromDocs.source_path, 'docs/PRD.md');

    const preview = await ok(['prd', 'generate-tasks', 'docs/PRD.md'], dir);
    assert.match(preview.stdout, /^NEW +ASSIGNEE +DUE +TITLE\nyes +Alice +2025-12-31 +Implement OAuth2 authentication\n/);
    assert.match(preview.stdout, /3 new task\(s\) proposed by rules for PRD prd-[0-9a-f]{16}; nothing saved \(add --save\)/);
    assert.equal(JSON.parse((await ok(['task', 'list', '--json'], dir)).stdout).total_count, 0);

    const saved = JSON.parse((await ok(['prd', 'generate-tasks', fromDocs.prd_id, '--save', '--json', '--actor', 'cli-user'], dir)).stdout);
    assert.equal(saved.tasks_generated, 3);
    assert.equal(saved.model, 'rules');
    const created = await sub.waitForCount(3);
    for (const event of created) {
      assert.equal(event.event_type, TaskEventType.CREATED);
      assert.equal(event.actor, 'cli-user');
      assert.deepEqual([event.metadata.source, event.metadata.prd_id, event.metadata.model], ['prd_generation', fromDocs.prd_id, 'rules']);
    }
    const again = await ok(['prd', 'generate-tasks', 'docs/PRD.md', '--save'], dir);
    assert.match(again.stdout, /0 task\(s\) created, 3 already there/);

    const decomposable = saved.tasks.find((t: any) => t.title.startsWith('Build the payment form'));
    const orchestrated = JSON.parse((await ok(['orchestrate', 'run', decomposable.id, '--test-type', 'multiple_choice', '--json'], dir)).stdout);
    assert.equal(orchestrated.task.status, 'DECOMPOSED');
    assert.equal(orchestrated.result.routing_decision, 'decompose');
    assert.deepEqual(
      orchestrated.result.subtasks.map((s: any) => s.title),
      ['Build the payment form', 'Add card validation'],
    );
    assert.equal(orchestrated.result.comprehension_test.options.length, 4);
    await sub.waitForCount(3 + 10);
    const last = sub.events.at(-1)!;
    assert.equal(last.event_type, TaskEventType.ORCHESTRATED);
    assert.deepEqual([last.metadata.model, last.metadata.test_type, last.metadata.routing_decision], ['rules', 'multiple_choice', 'decompose']);

    const passing = saved.tasks.find((t: any) => t.title === 'Implement OAuth2 authentication');
    const human = await ok(['orchestrate', 'run', passing.id], dir);
    assert.match(human.stdout, /^task {9}\S+ "Implement OAuth2 authentication"\nstatus {7}ORCHESTRATION_COMPLETE\nrouting {6}pass\nmodel {8}rules\n/);
    assert.match(human.stdout, /test {9}short_answer: /);
    assert.equal(human.stderr, '', 'the rules provider shows no progress line');
  } finally {
    sub.cancel();
    client.close();
    assert.equal(await server.stop(), 0);
  }
});

test('rig prd / rig orchestrate: bad input fails with exit code 1 and one line saying why', async () => {
  const dir = tempProject();
  placeFixture(dir, 'tasks.md');
  const task = JSON.parse((await ok(['task', 'add', 'Implement OAuth2 authentication', '--json'], dir)).stdout);
  await fails(
    ['orchestrate', 'run', task.id, '--test-type', 'essay'],
    dir,
    /^rig: test_type "essay" is not a comprehension test type; use "short_answer" or "multiple_choice"$/m,
  );
  await fails(['orchestrate', 'run', task.id, '--model', 'gpt 4'], dir, /^rig: model "gpt 4" is not a model name; use one of: "rules"/);
  await fails(['orchestrate', 'run', 'no-such-task'], dir, /^rig: task "no-such-task" does not exist$/m);
  await fails(['prd', 'parse', '/etc/passwd'], dir, /^rig: refusing to read "\/etc\/passwd": .*outside the project directory/);
  await fails(['prd', 'parse', 'docs/missing.md'], dir, /^rig: PRD file "docs\/missing\.md" does not exist/);
  const closedPort = await freePort();
  await fails(
    ['prd', 'generate-tasks', 'docs/PRD.md', '--model', 'ollama', '--ollama-url', `http://127.0.0.1:${closedPort}`],
    dir,
    new RegExp(`^rig: cannot reach Ollama at http://127\\.0\\.0\\.1:${closedPort} \\(ECONNREFUSED\\); start it with \`ollama serve\``),
  );
  // A bare model name means that Ollama model: with Ollama away, the same one line.
  await fails(
    ['prd', 'generate-tasks', 'docs/PRD.md', '--model', 'llama3.1', '--ollama-url', `http://127.0.0.1:${closedPort}`],
    dir,
    new RegExp(`^rig: cannot reach Ollama at http://127\\.0\\.0\\.1:${closedPort} \\(ECONNREFUSED\\); start it with \`ollama serve\``),
  );
  await fails(['prd', 'generate-tasks', 'docs/PRD.md', '--ollama-url', 'localhost:11434'], dir, /^rig: --ollama-url must be an http:\/\/ or https:\/\/ URL/);
});

test('with Ollama configured (env or .rigger/config.json) the same commands use the model, with a progress line on stderr', async () => {
  const ollama = await startFakeOllama();
  try {
    const dir = tempProject();
    placeFixture(dir, 'messy.md');
    const tasks = JSON.stringify({ tasks: [{ title: 'Build the calendar view' }, { title: 'Book rooms and send reminders' }] });
    ollama.reply({ delayMs: 300, content: tasks });
    const viaEnv = await ok(['prd', 'generate-tasks', 'docs/PRD.md', '--model', 'ollama:tiny', '--save'], dir, { RIGGER_OLLAMA_URL: ollama.url });
    assert.match(viaEnv.stderr, new RegExp(`^rig: generating tasks with ollama:tiny at ${ollama.url} \\.\\.\\.$`, 'm'));
    assert.match(viaEnv.stdout, /2 task\(s\) created, 0 already there \(PRD prd-[0-9a-f]{16}, model ollama:tiny\)/);
    assert.equal(ollama.requests.at(-1)!.model, 'tiny');

    const configFile = path.join(dir, '.rigger', 'config.json');
    const config = JSON.parse(fs.readFileSync(configFile, 'utf8'));
    fs.writeFileSync(configFile, JSON.stringify({ ...config, model: 'ollama', ollamaUrl: ollama.url, ollamaModel: 'from-config' }));
    const list = JSON.parse((await ok(['task', 'list', '--json'], dir)).stdout);
    const target = list.tasks.find((t: any) => t.title === 'Book rooms and send reminders');
    ollama.reply({
      content: JSON.stringify({
        enhancement: 'Let people book rooms; remind them by email.',
        question: 'What two things does this deliver?',
        options: [],
        correct_answer: 'Room booking and reminders',
        routing_decision: 'decompose',
        subtasks: ['Book rooms', 'Send reminders'],
      }),
    });
    const run = await ok(['orchestrate', 'run', target.id], dir);
    assert.match(run.stderr, /^rig: orchestrating a task with ollama:from-config at http:\/\/127\.0\.0\.1:\d+ \.\.\.$/m);
    assert.match(run.stdout, /routing {6}decompose\nmodel {8}ollama:from-config\n/);
    assert.equal(ollama.requests.at(-1)!.model, 'from-config');
  } finally {
    await ollama.close();
  }
});
