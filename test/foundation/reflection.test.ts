// Server reflection checked with an independent, Go-based client: `buf curl` from @bufbuild/buf.
// It gets every schema from the server's reflection service; no .proto is passed, and it runs in
// an empty directory so that no buf module can be found either.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { call, connect, type RiggerServiceClient } from '../support/client';
import { REPO_ROOT, startServer, tempDir, tempProject, type ServerProcess } from '../support/processes';

const BUF = path.join(REPO_ROOT, 'node_modules', '.bin', 'buf');

let server: ServerProcess;
let client: RiggerServiceClient;
let emptyDir: string;

interface BufResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function bufCurl(args: string[]): BufResult {
  const result = spawnSync(BUF, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', ...args], {
    cwd: emptyDir,
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Calls `service/method` with `body` (JSON text) through reflection; returns the parsed response. */
function invoke(method: string, body?: string): any {
  const result = bufCurl([...(body === undefined ? [] : ['-d', body]), `http://${server.address}/${method}`]);
  assert.equal(result.code, 0, `buf curl ${method} ${body ?? ''} failed: ${result.stderr}${result.stdout}`);
  return JSON.parse(result.stdout);
}

describe('reflection through buf curl', () => {
  before(async () => {
    assert.ok(fs.existsSync(BUF), `${BUF} is missing; run npm install (@bufbuild/buf is a devDependency)`);
    emptyDir = tempDir('rigger-buf-');
    server = await startServer(tempProject());
    client = connect(server.address);
  });

  after(async () => {
    client.close();
    assert.equal(await server.stop(), 0);
  });

  test('--list-services names RiggerService and Health', () => {
    const result = bufCurl(['--list-services', `http://${server.address}`]);
    assert.equal(result.code, 0, result.stderr);
    const services = result.stdout.trim().split('\n');
    assert.ok(services.includes('rigger.v1.RiggerService'), result.stdout);
    assert.ok(services.includes('grpc.health.v1.Health'), result.stdout);
  });

  test('--list-methods names every RPC of the contract', () => {
    const result = bufCurl(['--list-methods', `http://${server.address}`]);
    assert.equal(result.code, 0, result.stderr);
    for (const rpc of [
      'ListTasks',
      'AddTask',
      'UpdateTask',
      'GetTask',
      'DeleteTask',
      'ParsePRD',
      'GenerateTasksFromPRD',
      'OrchestrateTask',
      'SubscribeToTaskEvents',
      'TaskEventStream',
    ]) {
      assert.ok(result.stdout.includes(`rigger.v1.RiggerService/${rpc}\n`), `${rpc} missing from:\n${result.stdout}`);
    }
  });

  // buf curl asks v1; grpcurl and older tools ask v1alpha. The server builds reflection on the first of either.
  for (const version of ['v1', 'v1alpha']) {
    test(`reflection ${version} lists the services, twice on one stream`, async () => {
      const proto = path.join(
        path.dirname(require.resolve('@grpc/reflection/package.json')),
        'build',
        'proto',
        'grpc',
        'reflection',
        version,
        'reflection.proto',
      );
      const loaded = grpc.loadPackageDefinition(protoLoader.loadSync(proto, { keepCase: true })) as any;
      const Reflection = loaded.grpc.reflection[version].ServerReflection as typeof grpc.Client;
      const reflection = new Reflection(server.address, grpc.credentials.createInsecure());
      try {
        const stream = (reflection as any).ServerReflectionInfo() as grpc.ClientDuplexStream<object, any>;
        const answers: string[][] = [];
        const done = new Promise<void>((resolve, reject) => {
          stream.on('data', (response) => {
            answers.push(response.list_services_response.service.map((s: { name: string }) => s.name).sort());
            if (answers.length === 2) stream.end();
          });
          stream.on('error', reject);
          stream.on('end', resolve);
        });
        stream.write({ list_services: '' });
        stream.write({ list_services: '' });
        await done;
        for (const names of answers) assert.deepEqual(names, ['grpc.health.v1.Health', 'rigger.v1.RiggerService']);
      } finally {
        reflection.close();
      }
    });
  }

  test("AddTask with the contract's snake_case JSON", async () => {
    const response = invoke('rigger.v1.RiggerService/AddTask', '{"title": "Implement OAuth2 authentication", "assignee": "Alice", "due_date": "2025-12-31"}');
    assert.equal(response.task.title, 'Implement OAuth2 authentication');
    assert.equal(response.task.assignee, 'Alice');
    assert.equal(response.task.dueDate, '2025-12-31');
    assert.equal(response.task.status, 'TASK_STATUS_TODO');
    const { task } = await call(client, 'GetTask', { task_id: response.task.id });
    assert.equal(task.due_date, '2025-12-31');
  });

  test('AddTask with camelCase JSON (dueDate)', async () => {
    const response = invoke('rigger.v1.RiggerService/AddTask', '{"title": "camel", "assignee": "Alice", "dueDate": "2026-06-30"}');
    const { task } = await call(client, 'GetTask', { task_id: response.task.id });
    assert.equal(task.due_date, '2026-06-30');
  });

  test("ListTasks with the contract's filter JSON, and with no body", async () => {
    await call(client, 'AddTask', { title: 'not Alice', assignee: 'Bob' });
    const { task: busy } = await call(client, 'AddTask', { title: 'Alice busy', assignee: 'Alice' });
    await call(client, 'UpdateTask', { task_id: busy.id, status: 2 });
    const expected = await call(client, 'ListTasks', { status: 1, assignee: 'Alice' });
    assert.ok(expected.total_count >= 2);

    const response = invoke('rigger.v1.RiggerService/ListTasks', '{"status": 1, "assignee": "Alice", "limit": 10, "offset": 0}');
    assert.equal(response.totalCount, expected.total_count);
    assert.deepEqual(
      response.tasks.map((t: { id: string }) => t.id),
      expected.tasks.map((t: { id: string }) => t.id),
    );
    for (const task of response.tasks) {
      assert.equal(task.assignee, 'Alice');
      assert.equal(task.status, 'TASK_STATUS_TODO');
    }

    const all = invoke('rigger.v1.RiggerService/ListTasks');
    assert.equal(all.totalCount, (await call(client, 'ListTasks', {})).total_count);
  });

  test('UpdateTask {"task_id": "<id>", "status": 2}', async () => {
    const { task } = await call(client, 'AddTask', { title: 'to start' });
    const response = invoke('rigger.v1.RiggerService/UpdateTask', JSON.stringify({ task_id: task.id, status: 2 }));
    assert.equal(response.task.status, 'TASK_STATUS_IN_PROGRESS');
    const { task: read } = await call(client, 'GetTask', { task_id: task.id });
    assert.equal(read.status, 2);
    assert.equal(read.version, 2);
  });

  test('a bad request comes back as invalid_argument with the message', () => {
    const result = bufCurl(['-d', '{"title": "   "}', `http://${server.address}/rigger.v1.RiggerService/AddTask`]);
    assert.notEqual(result.code, 0);
    const error = JSON.parse(result.stdout || result.stderr);
    assert.equal(error.code, 'invalid_argument');
    assert.match(error.message, /title/);
  });

  test('grpc.health.v1.Health/Check answers SERVING, for the server and for RiggerService', () => {
    assert.deepEqual(invoke('grpc.health.v1.Health/Check'), { status: 'SERVING' });
    assert.deepEqual(invoke('grpc.health.v1.Health/Check', '{"service": "rigger.v1.RiggerService"}'), { status: 'SERVING' });
  });
});
