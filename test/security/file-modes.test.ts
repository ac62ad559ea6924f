// The project's files are private to their owner whatever the umask: `rig init` makes .rigger/ 0700
// and config.json and tasks.db 0600, the -wal and -shm the server creates are 0600, and a default
// tasks.db created on first use (a fresh clone) is 0600. An existing project with looser modes is
// served as it is, with one rig: warning: line at start naming the files and the chmod that fixes them;
// a .rigger/ as a clone checks it out (0755, a config.json without secrets 0644) is not warned about.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { call, connect } from '../support/client';
import { REPO_ROOT, RIG_BIN, runAsync, spawnCollected, startServer, tempDir, tempProject, waitFor } from '../support/processes';

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

test('an existing project with files other users can get at: rig grpc prints one rig: warning: line naming them and the chmod, and leaves the modes as they are', async () => {
  const dir = tempProject();
  const rigger = path.join(dir, '.rigger');
  const config = path.join(rigger, 'config.json');
  fs.writeFileSync(config, JSON.stringify({ token: 'x'.repeat(32) }));
  fs.chmodSync(rigger, 0o775);
  fs.chmodSync(config, 0o644);
  fs.chmodSync(path.join(rigger, 'tasks.db'), 0o640);
  const server = await startServer(dir);
  const warnings = server
    .stderr()
    .split('\n')
    .filter((line) => /other users/.test(line));
  assert.equal(warnings.length, 1, server.stderr());
  const db = path.join(rigger, 'tasks.db');
  // SQLite gives the -wal and -shm it creates the database file's mode.
  const named = [`${rigger} (mode 0775)`, `${config} (mode 0644)`, `${db} (mode 0640)`, `${db}-wal (mode 0640)`, `${db}-shm (mode 0640)`].join(', ');
  assert.equal(
    warnings[0],
    `rig: warning: other users can get at the project's files ${named} (tasks, tokens in config.json); rig leaves modes as they are: to make them private run chmod 700 ${rigger}; chmod 600 ${config} ${db} ${db}-wal ${db}-shm`,
  );
  assert.equal(await server.stop(), 0);
  assert.equal(modeOf(rigger), '0775');
  assert.equal(modeOf(config), '0644');
  assert.equal(modeOf(path.join(rigger, 'tasks.db')), '0640');
});

test('a project as a clone checks it out (.rigger/ 0755, a config.json without secrets 0644) draws no warning: git keeps no other modes', async () => {
  const dir = tempProject();
  const rigger = path.join(dir, '.rigger');
  fs.copyFileSync(path.join(REPO_ROOT, '.rigger', 'config.json'), path.join(rigger, 'config.json'));
  fs.chmodSync(rigger, 0o755);
  fs.chmodSync(path.join(rigger, 'config.json'), 0o644);
  const server = await startServer(dir);
  assert.equal(await server.stop(), 0);
  assert.doesNotMatch(server.stderr(), /warning|other users|"level":40/, server.stderr());
});
