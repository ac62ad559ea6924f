// What a new user meets first, through the real `rig` binary: every --help describes every option
// (numbers as numbers, with their defaults) and shows examples; logs can be read by a person;
// a typo in .rigger/config.json is named instead of silently ignored.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { rig, spawnCollected, RIG_BIN, startServer, tempProject, waitFor } from '../support/processes';

/** The subcommands a help text lists ("  rig task add <title>  Add a task" -> "add"). */
function subcommands(help: string, command: string[]): string[] {
  const section = /\nCommands:\n([\s\S]*?)\n\n/.exec(help)?.[1] ?? '';
  const prefix = ['rig', ...command].join(' ');
  return section
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith(`${prefix} `))
    .map((line) => line.slice(prefix.length + 1).split(/\s+/)[0]!)
    .filter((word) => word !== 'completion'); // yargs' own: it prints a script, it has no options
}

/** Each option of a help text with the text beside it (its description, type and default). */
function options(help: string): Map<string, string> {
  const section = /\nOptions:\n([\s\S]*?)(?:\n\n|$)/.exec(help)?.[1] ?? '';
  const found = new Map<string, string>();
  let current: string | undefined;
  for (const line of section.split('\n')) {
    const start = /^\s{2,6}(?:-\w, )?(--?[\w-]+)\s+(.*)$/.exec(line);
    if (start && line.search(/\S/) <= 6) {
      current = start[1]!;
      found.set(current, start[2]!);
    } else if (current) found.set(current, `${found.get(current)} ${line.trim()}`);
  }
  return found;
}

test('every command: each option has a description, numbers show their default, and leaf commands show examples', () => {
  const dir = tempProject();
  const queue: string[][] = [[]];
  const leaves: string[] = [];
  for (let seen = 0; queue.length > 0 && seen < 100; seen++) {
    const command = queue.shift()!;
    const help = rig(['-C', dir, ...command, '--help']);
    assert.equal(help.code, 0, `rig ${command.join(' ')} --help: ${help.stderr}`);
    const children = subcommands(help.stdout, command);
    for (const child of children) queue.push([...command, child]);
    for (const [option, text] of options(help.stdout)) {
      const description = text.replace(/\[(?:string|number|boolean|array|required|default: [^\]]*)\]/g, '').trim();
      assert.ok(description.length > 3, `rig ${command.join(' ')}: ${option} has no description (${JSON.stringify(text)})`);
    }
    if (children.length === 0 && command.length > 0) {
      leaves.push(command.join(' '));
      assert.match(help.stdout, /\nExamples:\n {2}rig /, `rig ${command.join(' ')} --help shows no examples`);
    }
  }
  for (const expected of [
    'init',
    'grpc',
    'task add',
    'task list',
    'events',
    'consumers create',
    'prd parse',
    'orchestrate run',
    'backup',
    'sidecar logger',
    'sidecar exec',
  ]) {
    assert.ok(leaves.includes(expected), `rig ${expected} reached (${leaves.join(', ')})`);
  }

  const grpcHelp = options(rig(['grpc', '--help']).stdout);
  assert.match(grpcHelp.get('--port')!, /whole number 0 to 65535 \[env RIGGER_PORT\]\s+\[default: 50051\]$/);
  assert.doesNotMatch(grpcHelp.get('--port')!, /\[string\]/);
  assert.match(grpcHelp.get('--log-format')!, /auto: pretty when stderr is a terminal, else json; one of auto, json, pretty .*\[default: auto\]$/);
  const listHelp = options(rig(['task', 'list', '--help']).stdout);
  assert.match(listHelp.get('--assignee')!, /only tasks assigned to exactly this name/);
  assert.match(listHelp.get('--limit')!, /\[number\] \[default: 50\]$/);
  for (const client of [['events'], ['consumers', 'list'], ['sidecar', 'logger']]) {
    const port = options(rig([...client, '--help']).stdout).get('--port')!;
    assert.match(port, /^port of the server on localhost, when --address is not given/, `rig ${client.join(' ')} --port`);
  }
});

test('--log-format pretty: the server logs lines for a person; a bad format or level is one line naming what works', async () => {
  const dir = tempProject();
  const server = spawnCollected(process.execPath, [RIG_BIN, '-C', dir, 'grpc', '--port', '0', '--log-format', 'pretty']);
  try {
    await waitFor(() => /INFO \(rigger\): server listening/.test(server.stderr()), 20_000, 'a pretty "server listening" line');
    assert.doesNotMatch(server.stderr(), /^\{"level"/m, 'no JSON lines');
  } finally {
    server.child.kill('SIGINT');
    await new Promise((resolve) => server.child.once('exit', resolve));
  }
  assert.match(server.stderr(), /INFO \(rigger\): stopped/);

  const hub = await startServer(dir);
  const sidecar = spawnCollected(process.execPath, [
    RIG_BIN,
    '-C',
    dir,
    'sidecar',
    'logger',
    '--address',
    hub.address,
    '--log-format',
    'pretty',
    '--file',
    path.join(dir, 'events.jsonl'),
  ]);
  try {
    await waitFor(() => /INFO \(rigger-logger\): event stream connected/.test(sidecar.stderr()), 20_000, 'the sidecar\'s pretty "connected" line');
    assert.doesNotMatch(sidecar.stderr(), /^\{"level"/m, 'no JSON lines from the sidecar');
  } finally {
    sidecar.child.kill('SIGTERM');
    await new Promise((resolve) => sidecar.child.once('exit', resolve));
    await hub.stop();
  }

  const bad = rig(['-C', dir, 'grpc', '--port', '0', '--log-format', 'fancy']);
  assert.equal(bad.code, 1);
  assert.equal(bad.stderr, 'rig: --log-format must be one of auto, json, pretty, got "fancy"\n');
  const badEnv = rig(['-C', dir, 'grpc', '--port', '0'], { env: { RIGGER_LOG_FORMAT: 'xml' } });
  assert.equal(badEnv.code, 1);
  assert.equal(badEnv.stderr, 'rig: RIGGER_LOG_FORMAT must be one of auto, json, pretty, got "xml"\n');
  const badLevel = rig(['-C', dir, 'grpc', '--port', '0', '--log-level', 'loud']);
  assert.equal(badLevel.code, 1);
  assert.equal(badLevel.stderr, 'rig: --log-level must be one of trace, debug, info, warn, error, fatal, silent, got "loud"\n');
});

test('an unknown key in .rigger/config.json is named, with the nearest key, in one rig: warning: line by the CLI, the server and a sidecar', async () => {
  const dir = tempProject();
  const configFile = path.join(dir, '.rigger', 'config.json');
  fs.writeFileSync(configFile, JSON.stringify({ prot: 50099, bufferSize: 100, 'retain-events': 5, colour: 'blue' }));
  const listed = rig(['-C', dir, 'task', 'list', '--json']);
  assert.equal(listed.code, 0, listed.stderr);
  assert.deepEqual(JSON.parse(listed.stdout), { tasks: [], total_count: 0, next_page_token: '' });
  assert.equal(
    listed.stderr,
    [
      'rig: warning: .rigger/config.json: unknown key "prot" is ignored (did you mean "port"?)',
      'rig: warning: .rigger/config.json: unknown key "retain-events" is ignored (did you mean "retainEvents"?)',
      'rig: warning: .rigger/config.json: unknown key "colour" is ignored (docs/configuration.md lists the keys)',
      '',
    ].join('\n'),
  );

  const server = spawnCollected(process.execPath, [RIG_BIN, '-C', dir, 'grpc', '--port', '0']);
  try {
    await waitFor(() => server.stderr().includes('"msg":"server listening"'), 20_000, 'the server to listen');
    const warnings = server
      .stderr()
      .split('\n')
      .filter((line) => line.includes('unknown key'));
    assert.deepEqual(warnings, listed.stderr.trimEnd().split('\n'), 'the same lines as under a client command');
  } finally {
    server.child.kill('SIGINT');
    await new Promise((resolve) => server.child.once('exit', resolve));
  }

  // The sidecar logs the warning at start, before it connects (here to nothing: it would retry for ever).
  const sidecar = spawnCollected(process.execPath, [
    RIG_BIN,
    '-C',
    dir,
    'sidecar',
    'logger',
    '--address',
    '127.0.0.1:1',
    '--file',
    path.join(dir, 'events.jsonl'),
  ]);
  let sidecarWarning: string | undefined;
  try {
    await waitFor(
      () =>
        (sidecarWarning = sidecar
          .stderr()
          .split('\n')
          .find((line) => line.includes('"prot"'))) !== undefined,
      20_000,
      "the sidecar's warning",
    );
    await waitFor(() => sidecar.stderr().includes('"msg":'), 20_000, "the sidecar's first log record (JSON: stderr is not a terminal)");
  } finally {
    sidecar.child.kill('SIGTERM');
    await new Promise((resolve) => sidecar.child.once('exit', resolve));
  }
  assert.equal(sidecarWarning, 'rig: warning: .rigger/config.json: unknown key "prot" is ignored (did you mean "port"?)');

  fs.writeFileSync(configFile, JSON.stringify({ port: 50099, tokens: ['tok-a'] }));
  const clean = rig(['-C', dir, 'task', 'list']);
  assert.equal(clean.code, 0, clean.stderr);
  assert.equal(clean.stderr, '', 'known keys, tokens included, draw no warning');
});
