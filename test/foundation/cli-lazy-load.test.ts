// Each `rig` command loads only what it uses (issue 27): the real binary, run with a --require hook
// that records every package it loaded, shows that --help, init and the task commands load no gRPC,
// RxJS, NATS, metrics or logging code, and that a read (task list, get) loads no wire contract.
// Speed itself is the `cli` bench row's; this is the shape that keeps it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { RIG_BIN, REPO_ROOT, tempDir, tempProject } from '../support/processes';

/** Never loaded by a command that only reads or writes the project's file. */
const SERVER_PACKAGES = ['@grpc/grpc-js', 'rxjs', 'nats', 'prom-client', 'pino', 'pino-pretty', 'grpc-health-check', '@grpc/reflection'];
/** The wire contract: only a write (which stores the event's encoding) loads it. */
const CONTRACT_PACKAGES = ['@grpc/proto-loader', 'protobufjs'];

const HOOK = `'use strict';
process.on('exit', () => {
  const names = new Set();
  for (const file of Object.keys(require.cache)) {
    const at = file.lastIndexOf('/node_modules/');
    if (at < 0) continue;
    const parts = file.slice(at + '/node_modules/'.length).split('/');
    names.add(parts[0].startsWith('@') ? parts[0] + '/' + parts[1] : parts[0]);
  }
  require('node:fs').writeFileSync(process.env.RIG_TEST_LOADED, JSON.stringify([...names].sort()));
});
`;

/** The packages `rig ...args` loaded, and its result. */
function packagesLoaded(args: string[]): { packages: string[]; code: number | null; stderr: string } {
  const dir = tempDir('rigger-loaded-');
  const hook = path.join(dir, 'hook.js');
  const out = path.join(dir, 'loaded.json');
  fs.writeFileSync(hook, HOOK);
  const result = spawnSync(process.execPath, ['--require', hook, RIG_BIN, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, RIG_TEST_LOADED: out },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { packages: JSON.parse(fs.readFileSync(out, 'utf8')) as string[], code: result.status, stderr: result.stderr };
}

function assertLoadsNone(args: string[], forbidden: string[]): string[] {
  const { packages, code, stderr } = packagesLoaded(args);
  assert.equal(code, 0, `rig ${args.join(' ')}: ${stderr}`);
  const loaded = forbidden.filter((name) => packages.includes(name));
  assert.deepEqual(loaded, [], `rig ${args.join(' ')} loaded ${loaded.join(', ')} (all it loaded: ${packages.join(', ')})`);
  return packages;
}

test('rig --help, rig init and reading tasks load no gRPC, RxJS, NATS, metrics, logging or wire contract', () => {
  const help = assertLoadsNone(['--help'], [...SERVER_PACKAGES, ...CONTRACT_PACKAGES, 'better-sqlite3']);
  assert.ok(help.includes('yargs'), `the hook records packages: ${help.join(', ')}`);
  const dir = tempDir('rigger-init-');
  assertLoadsNone(['init', '-C', dir], [...SERVER_PACKAGES, ...CONTRACT_PACKAGES]);
  const list = assertLoadsNone(['-C', dir, 'task', 'list'], [...SERVER_PACKAGES, ...CONTRACT_PACKAGES]);
  assert.ok(list.includes('better-sqlite3'), `task list reads the file: ${list.join(', ')}`);
  assertLoadsNone(['-C', dir, 'task', '--help'], [...SERVER_PACKAGES, ...CONTRACT_PACKAGES]);
});

test('rig task add, update and get load the wire contract to encode events, and still no gRPC or RxJS', () => {
  const dir = tempProject();
  const { packages, code, stderr } = packagesLoaded(['-C', dir, 'task', 'add', 'Fix login bug', '--json']);
  assert.equal(code, 0, stderr);
  assert.ok(packages.includes('protobufjs'), `a write encodes its event: ${packages.join(', ')}`);
  // Only the event's type is parsed: proto-loader's definition of every method is the server's and the clients'.
  assert.ok(!packages.includes('@grpc/proto-loader'), `rig task add loaded @grpc/proto-loader: ${packages.join(', ')}`);
  assert.deepEqual(
    SERVER_PACKAGES.filter((name) => packages.includes(name)),
    [],
    `rig task add loaded: ${packages.join(', ')}`,
  );
  const listed = spawnSync(process.execPath, [RIG_BIN, '-C', dir, 'task', 'list', '--json'], { encoding: 'utf8' });
  const id = (JSON.parse(listed.stdout) as { tasks: { id: string }[] }).tasks[0]!.id;
  assertLoadsNone(['-C', dir, 'task', 'update', id, '--status', 'in_progress'], SERVER_PACKAGES);
  assertLoadsNone(['-C', dir, 'task', 'get', id], [...SERVER_PACKAGES, ...CONTRACT_PACKAGES]);
});
