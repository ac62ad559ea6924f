// The project's files are private to their owner whatever the umask: `rig init` makes .rigger/ 0700
// and config.json and tasks.db 0600, the -wal and -shm the server creates are 0600, and a default
// tasks.db created on first use (a fresh clone) is 0600. An existing project with looser modes is
// served as it is, with one warning at start naming the files and the chmod that fixes them.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { call, connect } from '../support/client';
import { RIG_BIN, runAsync, spawnCollected, startServer, tempDir, tempProject, waitFor } from '../support/processes';

const clients: grpc.Client[] = [];
after(() => clients.forEach((c) => c.close()));

const modeOf = (file: string) => (fs.statSync(file).mode & 0o777).toString(8).padStart(4, '0');

/** Runs `rig args...` through sh with umask 000 (every permission the process asks for is granted). */
function rigUmask000(args: string[]) {
  return runAsync('sh', ['-c', 'umask 000; exec "$0" "$@"', process.execPath, RIG_BIN, ...args], {
    env: { ...process.env, RIGGER_LOG_LEVEL: 'warn' },
  });
}

test('with umask 000, rig init makes .rigger/ 0700 and config.json and tasks.db 0600; the -wal and -shm of the running server are 0600', async () => {
  const dir = path.join(tempDir(), 'project');
  const init = await rigUmask000(['init', '-C', dir]);
  assert.equal(init.code, 0, init.stderr);
  const rigger = path.join(dir, '.rigger');
  assert.equal(modeOf(rigger), '0700', '.rigger/');
  assert.equal(modeOf(path.join(rigger, 'config.json')), '0600', 'config.json');
  assert.equal(modeOf(path.join(rigger, 'tasks.db')), '0600', 'tasks.db');
  assert.equal(modeOf(dir), '0777', 'the project directory itself is left to the umask');

  const server = spawnCollected('sh', ['-c', 'umask 000; exec "$0" "$@"', process.execPath, RIG_BIN, 'grpc', '-C', dir, '--port', '0', '--host', '127.0.0.1'], {
    env: { ...process.env, RIGGER_LOG_LEVEL: 'warn' },
  });
  const { child } = server;
  await waitFor(() => /ready: listening on port \d+/.test(server.stdout()) || child.exitCode !== null, 20_000, 'the server to be ready');
  assert.equal(child.exitCode, null, `the server exited: ${server.stderr()}`);
  const port = Number(/ready: listening on port (\d+)/.exec(server.stdout())![1]);
  const client = connect(`127.0.0.1:${port}`);
  clients.push(client);
  await call(client, 'AddTask', { title: 'private' });
  for (const name of ['tasks.db', 'tasks.db-wal', 'tasks.db-shm']) assert.equal(modeOf(path.join(rigger, name)), '0600', name);
  assert.doesNotMatch(server.stderr(), /other users/, 'a fresh project is warned about');
  child.kill('SIGTERM');
  await server.exited;
});

test('with umask 000, the default tasks.db created on first use (a clone carries only config.json) is 0600', async () => {
  const dir = tempDir();
  fs.mkdirSync(path.join(dir, '.rigger'));
  fs.writeFileSync(path.join(dir, '.rigger', 'config.json'), '{}\n');
  const added = await rigUmask000(['task', 'add', 'first task', '-C', dir]);
  assert.equal(added.code, 0, added.stderr);
  assert.equal(modeOf(path.join(dir, '.rigger', 'tasks.db')), '0600');
});

test('an existing project with files other users can read: rig grpc warns once, naming them and the chmod, and leaves the modes as they are', async () => {
  const dir = tempProject();
  const rigger = path.join(dir, '.rigger');
  fs.chmodSync(rigger, 0o755);
  fs.chmodSync(path.join(rigger, 'config.json'), 0o644);
  fs.chmodSync(path.join(rigger, 'tasks.db'), 0o640);
  const server = await startServer(dir);
  const warnings = server
    .stderr()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { level: number; msg: string; files?: string[] })
    .filter((entry) => entry.level === 40 && /other users/.test(entry.msg));
  assert.equal(warnings.length, 1, server.stderr());
  const [warning] = warnings;
  const db = path.join(rigger, 'tasks.db');
  // SQLite gives the -wal and -shm it creates the database file's mode.
  assert.deepEqual(warning!.files, [
    `${rigger} (mode 0755)`,
    `${path.join(rigger, 'config.json')} (mode 0644)`,
    `${db} (mode 0640)`,
    `${db}-wal (mode 0640)`,
    `${db}-shm (mode 0640)`,
  ]);
  assert.match(warning!.msg, /chmod 700 \S+\.rigger; chmod 600 \S+/);
  assert.equal(await server.stop(), 0);
  assert.equal(modeOf(rigger), '0755');
  assert.equal(modeOf(path.join(rigger, 'config.json')), '0644');
  assert.equal(modeOf(path.join(rigger, 'tasks.db')), '0640');
});
