// The examples run as a user would run them, against a live `rig grpc`: the ten-line TypeScript
// sidecar (dist/examples/sidecar-client.js) and the Python client on stubs generated from our proto.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { addTaskByCli } from '../sidecars/sidecar-support';
import { pythonGrpcStubs, REPO_ROOT, spawnCollected, spawnTracked, startServer, SYSTEM_PYTHON, tempDir, tempProject, waitFor } from '../support/processes';


test('examples/sidecar-client.ts prints each event once and resumes from its checkpoint after a restart', async () => {
  const dir = tempProject();
  const server = await startServer(dir);
  const cwd = tempDir();
  const run = () => {
    const child = spawnTracked(process.execPath, [path.join(REPO_ROOT, 'dist', 'examples', 'sidecar-client.js'), server.address], { cwd });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    return { child, out: () => out, exited };
  };
  try {
    let client = run();
    await waitFor(() => fs.existsSync(path.join(cwd, 'sidecar-client.checkpoint')), 15_000, 'the live start checkpoint');
    await addTaskByCli(dir, 'first', 'Alice');
    await waitFor(() => client.out().includes('#1 CREATED first (Alice)'), 15_000, 'the first event printed');
    client.child.kill('SIGINT');
    assert.equal(await client.exited, 0);
    assert.equal(fs.readFileSync(path.join(cwd, 'sidecar-client.checkpoint'), 'utf8'), '1\n');

    await addTaskByCli(dir, 'second'); // while the example is not running
    client = run();
    await waitFor(() => client.out().includes('#2 CREATED second (unassigned)'), 15_000, 'the missed event after the restart');
    client.child.kill('SIGINT');
    assert.equal(await client.exited, 0);
    assert.doesNotMatch(client.out(), /#1 /, 'nothing handled before is printed again');
  } finally {
    await server.stop();
  }
});

test('examples/python/rigger_client.py works against a live server with stubs generated from proto/', async (t) => {
  const stubs = pythonGrpcStubs(t);
  if (!stubs) return;
  assert.ok(fs.existsSync(path.join(stubs, 'rigger', 'v1', 'rigger_pb2_grpc.py')));

  const dir = tempProject();
  const server = await startServer(dir);
  try {
    await addTaskByCli(dir, 'made by the CLI');
    const python = spawnCollected(SYSTEM_PYTHON, [path.join(REPO_ROOT, 'examples', 'python', 'rigger_client.py'), server.address, '--events', '4'], {
      env: { ...process.env, PYTHONPATH: stubs },
    });
    assert.equal(await python.exited, 0, python.stderr());
    const out = python.stdout();
    assert.match(out, /^added [0-9a-f-]{36} version 1$/m);
    assert.match(out, /^now TASK_STATUS_IN_PROGRESS$/m);
    assert.match(out, /^Alice has 1 task\(s\)$/m);
    const events = out.split('\n').filter((l) => l.startsWith('#'));
    assert.deepEqual(events, [
      '#1 TASK_EVENT_TYPE_CREATED made by the CLI TASK_STATUS_TODO',
      '#2 TASK_EVENT_TYPE_CREATED Written from Python TASK_STATUS_TODO',
      '#3 TASK_EVENT_TYPE_UPDATED Written from Python TASK_STATUS_IN_PROGRESS',
      '#4 TASK_EVENT_TYPE_STATUS_CHANGED Written from Python TASK_STATUS_IN_PROGRESS',
    ]);
  } finally {
    await server.stop();
  }
});
