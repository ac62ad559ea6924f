// ParsePRD while a local writer races it: another process flips docs/PRD.md between a regular file,
// a FIFO, a directory and a symlink that leads outside the project, as fast as it can, while the
// real `rig grpc` answers 3,000 calls from a real grpc-js client. The server must keep answering
// (a FIFO opened between a check and a read used to block its only thread for good), every answer
// must be OK, NOT_FOUND, PERMISSION_DENIED or INVALID_ARGUMENT (never INTERNAL), and nothing from
// outside the project is ever read. `rig prd parse` shares the reading code and is checked too.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { call, connect, type RiggerServiceClient } from '../support/client';
import { requireTool, rig, rigAsync, spawnTracked, startServer, tempDir, tempProject, waitFor, type RunResult } from '../support/processes';
import { placeFixture } from './prd-support';

const CALLS = 3000;
const BATCH = 25;
const TIME_LIMIT_MS = 45_000;

// The flipper: renames prepared entries of `stage` (file, fifo, dir, link) in and out of `target`,
// in bursts, until its deadline or SIGTERM; then puts the regular file back and prints its flips.
const FLIPPER = `
const fs = require('fs');
const path = require('path');
const [target, stage, until] = process.argv.slice(1);
const order = ['fifo', 'file', 'dir', 'file', 'fifo', 'file', 'link', 'file'];
let current = 'file';
let flips = 0;
let step = 0;
let stop = false;
process.on('SIGTERM', () => { stop = true; });
function flipTo(next) {
  if (next === current) return;
  fs.renameSync(target, path.join(stage, current));
  fs.renameSync(path.join(stage, next), target);
  current = next;
  flips++;
}
function burst() {
  for (let i = 0; i < 400; i++) flipTo(order[step++ % order.length]);
  if (stop || Date.now() > Number(until)) {
    flipTo('file');
    process.stdout.write(String(flips));
    process.exit(0);
  }
  setImmediate(burst);
}
process.stdout.write('flipping\\n');
burst();
`;

interface Outcome {
  code: grpc.status;
  details: string;
  title?: string;
}

function unaryWithDeadline(client: RiggerServiceClient, method: 'ParsePRD' | 'GetTask', request: object, timeoutMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    (client[method] as (...args: unknown[]) => unknown).call(
      client,
      request,
      new grpc.Metadata(),
      { deadline: Date.now() + timeoutMs },
      (error: grpc.ServiceError | null, response: any) =>
        resolve(error ? { code: error.code, details: error.details } : { code: grpc.status.OK, details: '', title: response?.prd_title }),
    );
  });
}

const ALLOWED = new Set([grpc.status.OK, grpc.status.NOT_FOUND, grpc.status.PERMISSION_DENIED, grpc.status.INVALID_ARGUMENT]);

test('ParsePRD refuses a FIFO at once, on the server and in `rig prd parse`', async (t) => {
  if (!requireTool(t, 'mkfifo', 'coreutils')) return;
  const dir = tempProject();
  fs.mkdirSync(path.join(dir, 'docs'));
  const made = spawnSync('mkfifo', [path.join(dir, 'docs', 'fifo.md')]);
  assert.equal(made.status, 0, String(made.stderr));
  const server = await startServer(dir);
  const client = connect(server.address);
  try {
    const answer = await unaryWithDeadline(client, 'ParsePRD', { prd_file_path: 'docs/fifo.md' }, 3000);
    assert.equal(answer.code, grpc.status.INVALID_ARGUMENT, answer.details);
    assert.match(answer.details, /not a regular file \(it is a FIFO/);
    const cli = rig(['prd', 'parse', 'docs/fifo.md', '-C', dir], { cwd: dir, timeoutMs: 15_000 });
    assert.equal(cli.code, 1, `rig prd parse on a FIFO: exit ${cli.code}, stderr ${cli.stderr}`);
    assert.match(cli.stderr, /^rig: PRD path "docs\/fifo\.md" is not a regular file \(it is a FIFO[^\n]*\n$/);
  } finally {
    client.close();
    assert.equal(await server.stop('SIGTERM', 5000), 0);
  }
});

test('ParsePRD while another process flips the path between a file, a FIFO, a directory and a symlink out: 3,000 calls, always answered, never INTERNAL', async (t) => {
  if (!requireTool(t, 'mkfifo', 'coreutils')) return;
  const dir = tempProject();
  const outside = tempDir('rigger-outside-');
  fs.writeFileSync(path.join(outside, 'secret.md'), '# Secret\n\n## Objectives\n- leak\n');
  const target = placeFixture(dir, 'tasks.md');
  const stage = path.join(dir, 'stage');
  fs.mkdirSync(path.join(stage, 'dir'), { recursive: true });
  fs.writeFileSync(path.join(stage, 'dir', 'inner.md'), '# Inner\n');
  const made = spawnSync('mkfifo', [path.join(stage, 'fifo')]);
  assert.equal(made.status, 0, String(made.stderr));
  fs.symlinkSync(path.join(outside, 'secret.md'), path.join(stage, 'link'));

  const server = await startServer(dir);
  const client = connect(server.address);
  const flipper = spawnTracked(process.execPath, ['-e', FLIPPER, target, stage, String(Date.now() + TIME_LIMIT_MS + 10_000)]);
  let flipperOut = '';
  flipper.stdout!.on('data', (d) => (flipperOut += d));
  const flipperDone = new Promise<number | null>((resolve) => flipper.on('exit', (code) => resolve(code)));
  const counts = new Map<string, number>();
  const unexpected: Outcome[] = [];
  let slowestProbeMs = 0;
  let calls = 0;
  let serverExit: number | null = null;
  try {
    const { task: probe } = await call(client, 'AddTask', { title: 'probe' });
    await waitFor(() => flipperOut.includes('flipping'), 10_000, 'the flipper to start');
    // A few `rig prd parse` runs race the flipper too: each ends, exit 0 or 1, never internal.
    const cliRuns: Promise<RunResult>[] = Array.from({ length: 4 }, (_, i) =>
      new Promise<void>((r) => setTimeout(r, i * 2000))
        .then(() => rigAsync(['prd', 'parse', 'docs/PRD.md', '-C', dir], { cwd: dir, timeoutMs: 20_000 }))
        .catch((error: Error): RunResult => ({ code: null, stdout: '', stderr: error.message })),
    );
    const deadline = Date.now() + TIME_LIMIT_MS;
    let wedged = false; // a call or the probe timed out: the server stopped answering
    while (calls < CALLS && Date.now() < deadline && !wedged) {
      const batch = await Promise.all(Array.from({ length: BATCH }, () => unaryWithDeadline(client, 'ParsePRD', { prd_file_path: 'docs/PRD.md' }, 3000)));
      calls += batch.length;
      for (const outcome of batch) {
        const name = grpc.status[outcome.code]!;
        counts.set(name, (counts.get(name) ?? 0) + 1);
        const leaked = outcome.code === grpc.status.OK ? outcome.title !== 'Payments Service' : /leak/.test(outcome.details);
        if (!ALLOWED.has(outcome.code) || leaked) unexpected.push(outcome);
        if (outcome.code === grpc.status.DEADLINE_EXCEEDED) wedged = true;
      }
      const started = Date.now();
      const probed = await unaryWithDeadline(client, 'GetTask', { task_id: probe.id }, 1000);
      slowestProbeMs = Math.max(slowestProbeMs, Date.now() - started);
      if (probed.code !== grpc.status.OK) {
        unexpected.push({ ...probed, details: `GetTask after a batch: ${probed.details}` });
        wedged = true;
      }
    }
    const summary = `${calls} ParsePRD calls: ${JSON.stringify(Object.fromEntries(counts))}; slowest GetTask after a batch ${slowestProbeMs} ms${wedged ? '; THE SERVER STOPPED ANSWERING' : ''}`;
    t.diagnostic(summary);
    assert.deepEqual(unexpected.slice(0, 5), [], `${unexpected.length} unexpected answers; ${summary}`);
    assert.ok(calls >= 1000, `only ${calls} calls in ${TIME_LIMIT_MS} ms`);
    assert.ok(
      (counts.get('OK') ?? 0) > 0 && (counts.get('INVALID_ARGUMENT') ?? 0) > 0,
      `the race did not visit both a file and a FIFO/directory: ${JSON.stringify(Object.fromEntries(counts))}`,
    );
    for (const run of await Promise.all(cliRuns)) {
      assert.ok(run.code === 0 || run.code === 1, `rig prd parse: exit ${run.code}, stderr ${run.stderr}`);
      if (run.code === 1) assert.match(run.stderr, /^rig: [^\n]+\n$/);
      assert.doesNotMatch(run.stderr + run.stdout, /internal|leak|Secret/);
    }

    flipper.kill('SIGTERM');
    assert.equal(await flipperDone, 0);
    t.diagnostic(`the flipper made ${flipperOut.replace('flipping\n', '')} flips`);
    const after = await unaryWithDeadline(client, 'ParsePRD', { prd_file_path: 'docs/PRD.md' }, 3000);
    assert.equal(after.code, grpc.status.OK, after.details);
    assert.equal(after.title, 'Payments Service');
  } finally {
    if (flipper.exitCode === null) flipper.kill('SIGKILL');
    client.close();
    serverExit = await server.stop('SIGTERM', 5000);
  }
  assert.equal(serverExit, 0, 'the server exits 0 on SIGTERM after the race');
});
