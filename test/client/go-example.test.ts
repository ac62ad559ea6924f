// The Go example as a user builds and runs it: examples/go/build.sh generates the Go code from
// proto/ with protoc --go_out --go-grpc_out and builds against Debian's grpc-go, offline; the binary
// adds a task, lists, and prints events from the start of the log and then live ones.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { addTaskByCli } from '../sidecars/sidecar-support';
import { REPO_ROOT, requireTool, runAsync, spawnCollected, startServer, tempDir, tempProject, waitFor } from '../support/processes';

const DEBIAN_PACKAGES =
  'apt-get install golang-go golang-google-grpc-dev golang-google-protobuf-dev golang-github-golang-protobuf-1-5-dev protoc-gen-go protoc-gen-go-grpc protobuf-compiler';

test('examples/go builds with build.sh and adds, lists and follows events against a live server', { timeout: 240_000 }, async (t) => {
  for (const tool of ['go', 'protoc', 'protoc-gen-go', 'protoc-gen-go-grpc']) if (!requireTool(t, tool, DEBIAN_PACKAGES)) return;
  const out = tempDir('rigger-go-build-');
  const built = await runAsync('sh', [path.join(REPO_ROOT, 'examples', 'go', 'build.sh'), out], { timeoutMs: 180_000 });
  assert.equal(built.code, 0, built.stderr);
  assert.equal(built.stdout.trim(), `built ${out}/rigger-go-client`);

  const dir = tempProject();
  const server = await startServer(dir);
  try {
    await addTaskByCli(dir, 'made by the CLI');
    const client = spawnCollected(path.join(out, 'rigger-go-client'), ['-address', server.address, '-events', '3', '-timeout', '30s'], {
      env: { ...process.env, RIGGER_TOKEN: '' },
    });
    const lines = () =>
      client
        .stdout()
        .split('\n')
        .filter((line) => line !== '');
    await waitFor(() => lines().length >= 4 || client.child.exitCode !== null, 30_000, 'the history printed by the Go client');
    await addTaskByCli(dir, 'added while the Go client follows');
    assert.equal(await client.exited, 0, client.stderr());
    const printed = lines();
    assert.match(printed[0]!, /^added [0-9a-f-]{36} version 1$/);
    assert.deepEqual(printed.slice(1), [
      'Gopher has 1 task(s)',
      '#1 TASK_EVENT_TYPE_CREATED made by the CLI TASK_STATUS_TODO',
      '#2 TASK_EVENT_TYPE_CREATED Written from Go TASK_STATUS_TODO',
      '#3 TASK_EVENT_TYPE_CREATED added while the Go client follows TASK_STATUS_TODO',
    ]);
    assert.equal(client.stderr(), '');
  } finally {
    await server.stop();
  }
});
