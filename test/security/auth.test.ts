// Bearer-token authentication through the real server: missing/wrong tokens, read-only tokens,
// config tokens, open health/reflection, and the CLI's --token.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { connectService } from '../../src/client/connect';
import { call, callError, collectEvents, type RiggerServiceClient } from '../support/client';
import { RIG_BIN, rig, rigAsync, runAsync, spawnTracked, startServer, tempProject, waitFor, type ServerProcess } from '../support/processes';
import { rawClient, rawUnary } from '../support/raw-client';
import { streamSubscribed } from '../support/barriers';

const WRITE = 'rw-token-0123456789';
const READ = 'ro-token-0123456789';
const CONFIG_WRITE = 'config-rw-token';
const CONFIG_READ = 'config-ro-token';
const HEALTH_CHECK = '/grpc.health.v1.Health/Check';

let dir: string;
let server: ServerProcess;
const clients: grpc.Client[] = [];

function client(token?: string): RiggerServiceClient {
  const c = connectService(server.address, token === undefined ? {} : { token });
  clients.push(c);
  return c;
}

function addConfig(projectDir: string, extra: Record<string, unknown>): void {
  const file = path.join(projectDir, '.rigger', 'config.json');
  fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')), ...extra }, null, 2));
}

before(async () => {
  dir = tempProject();
  addConfig(dir, { tokens: [CONFIG_WRITE, { token: CONFIG_READ, readOnly: true }] });
  server = await startServer(dir, ['--token', WRITE, '--read-only-token', READ]);
});

after(async () => {
  for (const c of clients) c.close();
  await server.stop();
});

test('no token, a wrong token and a malformed header are UNAUTHENTICATED and say how to authenticate', async () => {
  const missing = await callError(client(), 'ListTasks', {});
  assert.equal(missing.code, grpc.status.UNAUTHENTICATED);
  assert.match(missing.details, /authorization: Bearer <token>/);

  const wrong = await callError(client('not-the-token'), 'ListTasks', {});
  assert.equal(wrong.code, grpc.status.UNAUTHENTICATED);
  assert.match(wrong.details, /not valid/);

  // A token that shares a long prefix with the real one is still wrong.
  const prefix = await callError(client(WRITE.slice(0, -1)), 'AddTask', { title: 'sneaky' });
  assert.equal(prefix.code, grpc.status.UNAUTHENTICATED);

  const basic = new grpc.Metadata();
  basic.set('authorization', `Basic ${WRITE}`);
  const malformed = await callError(client(), 'ListTasks', {}, basic);
  assert.equal(malformed.code, grpc.status.UNAUTHENTICATED);
  assert.match(malformed.details, /not of the form "Bearer <token>"/);

  const subscription = collectEvents(client(), {});
  const ended = await subscription.ended;
  assert.equal(ended?.code, grpc.status.UNAUTHENTICATED);

  // Nothing was written by any refused call.
  const listed = await call(client(WRITE), 'ListTasks', {});
  assert.equal(listed.tasks.filter((t: { title: string }) => t.title === 'sneaky').length, 0);
});

test('a read-write token (flag or config) may mutate; a read-only one (flag or config) may read and subscribe but every mutation is PERMISSION_DENIED', async () => {
  const writer = client(WRITE);
  const { task } = await call(writer, 'AddTask', { title: 'written with the flag token', assignee: 'Alice' });
  const { task: fromConfig } = await call(client(CONFIG_WRITE), 'AddTask', { title: 'written with a config token' });
  assert.ok(fromConfig.id);

  for (const readToken of [READ, CONFIG_READ]) {
    const reader = client(readToken);
    const got = await call(reader, 'GetTask', { task_id: task.id });
    assert.equal(got.task.title, 'written with the flag token');
    const listed = await call(reader, 'ListTasks', {});
    assert.ok(listed.total_count >= 2);

    const refused: [Parameters<typeof callError>[1], object][] = [
      ['AddTask', { title: 'not allowed' }],
      ['UpdateTask', { task_id: task.id, status: 2 }],
      ['DeleteTask', { task_id: task.id }],
      ['ParsePRD', { prd_file_path: 'docs/PRD.md' }],
      ['GenerateTasksFromPRD', { prd_id: 'x', model: 'm' }],
      ['OrchestrateTask', { task_id: task.id, model: 'm', test_type: 'short_answer' }],
    ];
    for (const [method, request] of refused) {
      const error = await callError(reader, method, request);
      assert.equal(error.code, grpc.status.PERMISSION_DENIED, `${method} with a read-only token`);
      assert.match(error.details, /read-only/);
    }
  }
  const unchanged = await call(writer, 'GetTask', { task_id: task.id });
  assert.equal(unchanged.task.status, task.status);
  assert.equal(unchanged.task.version, task.version, 'the task is unchanged after the refused mutations');
});

test('a read-only token subscribes on both streams, but an `update` on TaskEventStream is PERMISSION_DENIED and changes nothing', async () => {
  const writer = client(WRITE);
  const reader = client(READ);
  const subscription = collectEvents(reader, { assignee_filter: 'Bob' });
  await subscription.ready;
  const { task } = await call(writer, 'AddTask', { title: 'for Bob', assignee: 'Bob' });
  const [created] = await subscription.waitForCount(1);
  assert.equal(created!.task.id, task.id);
  subscription.cancel();

  const duplex = reader.TaskEventStream();
  const received: unknown[] = [];
  duplex.on('data', (event) => received.push(event));
  const ended = new Promise<grpc.ServiceError>((resolve) => duplex.on('error', resolve));
  const headers = new Promise((resolve) => duplex.once('metadata', resolve));
  duplex.write({ subscribe: { task_ids: [task.id] } });
  await headers;
  await call(writer, 'UpdateTask', { task_id: task.id, assignee: 'Bob2' });
  await waitFor(() => received.length >= 1, 10_000, 'the read-only duplex subscriber to get the update');
  duplex.write({ update: { task_id: task.id, status: 9 } });
  const error = await ended;
  assert.equal(error.code, grpc.status.PERMISSION_DENIED);
  assert.match(error.details, /read-only/);
  const now = await call(writer, 'GetTask', { task_id: task.id });
  assert.notEqual(now.task.status, 9);

  // The same update with a read-write token goes through.
  const writerStream = writer.TaskEventStream();
  writerStream.on('data', () => {});
  writerStream.on('error', () => {});
  writerStream.write({ update: { task_id: task.id, status: 9 } });
  await waitFor(async () => (await call(writer, 'GetTask', { task_id: task.id })).task.status === 9, 10_000, 'the read-write update');
  writerStream.cancel();
});

test('health and reflection stay open without a token by default', async () => {
  const raw = rawClient(server.address);
  clients.push(raw);
  const health = await rawUnary(raw, HEALTH_CHECK, Buffer.alloc(0));
  assert.equal(health.code, grpc.status.OK);
  assert.deepEqual([...health.response!], [0x08, 0x01], 'SERVING');
  // Reflection through a Go client (buf), which also proves it needs no token.
  const buf = path.join(__dirname, '../../../node_modules/.bin/buf');
  const listing = await runAsync(buf, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', '--list-methods', `http://${server.address}`]);
  assert.equal(listing.code, 0, listing.stderr);
  const listed = listing.stdout;
  assert.match(listed, /rigger\.v1\.RiggerService\/AddTask/);
});

test('--public-services none puts health behind the token too', async () => {
  const closed = await startServer(tempProject(), ['--token', WRITE, '--public-services', 'none']);
  try {
    const raw = rawClient(closed.address);
    clients.push(raw);
    assert.equal((await rawUnary(raw, HEALTH_CHECK, Buffer.alloc(0))).code, grpc.status.UNAUTHENTICATED);
    const withToken = new grpc.Metadata();
    withToken.set('authorization', `Bearer ${WRITE}`);
    assert.equal((await rawUnary(raw, HEALTH_CHECK, Buffer.alloc(0), withToken)).code, grpc.status.OK);
  } finally {
    await closed.stop();
  }
});

test('rig events sends --token / RIGGER_TOKEN; without it the command fails with one line and exit 1', async () => {
  const refused = await rigAsync(['events', '-C', dir, '--address', server.address], { timeoutMs: 20_000 });
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^rig: .*requires a token/m);

  for (const [how, args, env] of [
    ['RIGGER_TOKEN', [], { RIGGER_TOKEN: READ }],
    ['--token', ['--token', READ], {}],
  ] as const) {
    const events = spawnTracked(process.execPath, [RIG_BIN, 'events', '-C', dir, '--address', server.address, '--types', 'created', ...args], {
      env: { ...process.env, RIGGER_LOG_LEVEL: 'warn', ...env },
    });
    let printed = '';
    events.stdout!.on('data', (d) => (printed += d));
    const writer = client(WRITE);
    const title = `seen by rig events via ${how}`;
    // Live once the server lists its stream (by the client name rig events sends): a task added then reaches it.
    await streamSubscribed(client(READ), `rig-events/${events.pid}`);
    await call(writer, 'AddTask', { title });
    await waitFor(() => printed.includes(title) || events.exitCode !== null, 20_000, `rig events via ${how} printing the task`);
    events.kill('SIGTERM');
    assert.match(printed, new RegExp(title));
  }
});

test('bad token configuration stops `rig grpc` with one line and exit 1', () => {
  const project = tempProject();
  addConfig(project, { tokens: [{ token: 42 }] });
  const result = rig(['grpc', '-C', project, '--port', '0', '--host', '127.0.0.1']);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /^rig: "tokens" in \.rigger\/config\.json must be a list of tokens/m);
});

test('a non-loopback --host without a token or TLS prints a warning', () => {
  // 192.0.2.1 (TEST-NET-1) is never a local address: the bind fails after the warning, so nothing
  // is ever exposed by this test.
  const result = rig(['grpc', '-C', tempProject(), '--port', '0', '--host', '192.0.2.1']);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /^rig: warning: binding 192\.0\.2\.1, reachable from other machines, without a token/m);
});
