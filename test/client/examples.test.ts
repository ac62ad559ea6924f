// The examples run as a user would run them, against a live `rig grpc`: the ten-line TypeScript
// sidecar (dist/examples/sidecar-client.js), the Python client on stubs generated from our proto,
// and examples/grpcurl.sh.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { addTaskByCli } from '../sidecars/sidecar-support';
import { pythonGrpcStubs, REPO_ROOT, rig, spawnCollected, spawnTracked, startServer, SYSTEM_PYTHON, tempDir, tempProject, waitFor } from '../support/processes';

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
    assert.match(fs.readFileSync(path.join(cwd, 'sidecar-client.checkpoint'), 'utf8'), /^1 [0-9a-f]{16}\n$/);

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

// grpcurl is not installed here: a stand-in that takes grpcurl's arguments and makes each call with
// buf curl (a Go client that, like grpcurl, knows the schema only from reflection), logging them.
const GRPCURL_ON_BUF_CURL = `#!/bin/sh
printf '%s\\n' "$*" >> "$GRPCURL_LOG"
data=''
while [ $# -gt 0 ]; do
  case $1 in
    -plaintext) shift ;;
    -d) data=$2; shift 2 ;;
    *) break ;;
  esac
done
if [ "$2" = list ]; then exec "$BUF" curl --protocol grpc --http2-prior-knowledge --list-services "http://$1"; fi
if [ -n "$data" ]; then exec "$BUF" curl --protocol grpc --http2-prior-knowledge -d "$data" "http://$1/$2"; fi
exec "$BUF" curl --protocol grpc --http2-prior-knowledge "http://$1/$2"
`;

test('examples/grpcurl.sh runs the contract calls at RIGGER_ADDRESS with the grpcurl GRPCURL names', async () => {
  const dir = tempProject();
  const server = await startServer(dir);
  const bin = tempDir('rigger-grpcurl-');
  const shim = path.join(bin, 'grpcurl-on-buf-curl');
  fs.writeFileSync(shim, GRPCURL_ON_BUF_CURL, { mode: 0o755 });
  const log = path.join(bin, 'calls.log');
  const script = spawnCollected('bash', [path.join(REPO_ROOT, 'examples', 'grpcurl.sh')], {
    env: {
      ...process.env,
      GRPCURL: shim,
      GRPCURL_LOG: log,
      BUF: path.join(REPO_ROOT, 'node_modules', '.bin', 'buf'),
      RIGGER_ADDRESS: server.address,
      RIGGER_TOKEN: '',
      GRPCURL_FLAGS: '',
    },
  });
  try {
    const calls = () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n') : []);
    await waitFor(() => calls().length === 7 || script.child.exitCode !== null, 60_000, 'the subscription, the last call');
    assert.equal(script.child.exitCode, null, script.stderr());
    const [, addCall, , update] = calls();
    assert.match(addCall!, new RegExp(`^-plaintext -d .*"Implement OAuth2 authentication".* ${server.address} rigger\\.v1\\.RiggerService/AddTask$`));
    const id = /"task_id": "([0-9a-f-]{36})"/.exec(update!)?.[1];
    assert.ok(id, `UpdateTask got the id AddTask returned: ${update}`);
    assert.match(script.stdout(), /^rigger\.v1\.RiggerService$/m, 'list through reflection');
    await waitFor(() => /"status": "TASK_STATUS_IN_PROGRESS"/.test(script.stdout()), 20_000, 'UpdateTask to status 2');
    const shown = rig(['task', 'get', id!, '-C', dir, '--json']);
    assert.equal(JSON.parse(shown.stdout).status, 'IN_PROGRESS', shown.stderr);
  } finally {
    script.child.kill('SIGTERM');
    await script.exited;
    await server.stop();
  }
});

test('examples/grpcurl.sh without grpcurl: one line naming buf curl, exit 1', () => {
  const result = spawnSync('bash', [path.join(REPO_ROOT, 'examples', 'grpcurl.sh')], {
    env: { ...process.env, GRPCURL: 'no-such-grpcurl', RIGGER_ADDRESS: '127.0.0.1:50999' },
    encoding: 'utf8',
  });
  assert.equal(result.status, 1);
  assert.equal(
    result.stderr,
    "grpcurl.sh: no-such-grpcurl is not installed (set GRPCURL to its path); without it, buf curl makes the same calls: node_modules/.bin/buf curl --protocol grpc --http2-prior-knowledge -d '{}' http://127.0.0.1:50999/rigger.v1.RiggerService/ListTasks\n",
  );
  assert.equal(result.stdout, '');
});
