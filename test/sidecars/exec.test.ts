// The exec sidecar, as a user runs it: a real `rig grpc` and a real `rig sidecar exec -- node
// hook.js` process; the hook (written here) records each run, fails its first try for some tasks,
// sleeps past --timeout-ms for one, and prints a lot for another. Every event is handled, each
// task's runs one after another in sequence order, the timed-out one is killed, retried, then a
// dead letter; the command's output is in the sidecar's log with the sequence, bounded.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { startServer, tempDir, tempProject, waitFor, type ServerProcess } from '../support/processes';
import { addTasks, clientOf, closeClients } from '../consumers/consumer-support';
import { startSidecar, type SidecarProcess } from './sidecar-support';

// One line per run start and end in RUNS_FILE (appends of one short line are atomic).
const HOOK = `
const fs = require('node:fs');
const input = fs.readFileSync(0, 'utf8');
const event = JSON.parse(input);
const env = process.env;
const record = (what, extra) => fs.appendFileSync(env.RUNS_FILE, JSON.stringify({ what, pid: process.pid, at: Date.now(), sequence: event.sequence, task: event.task.id, title: event.task.title, attempt: Number(env.RIGGER_ATTEMPT), ...extra }) + '\\n');
record('start', { env: { sequence: env.RIGGER_SEQUENCE, type: env.RIGGER_EVENT_TYPE, task: env.RIGGER_TASK_ID, status: env.RIGGER_TASK_STATUS, assignee: env.RIGGER_TASK_ASSIGNEE }, newline: input.endsWith('\\n') });
process.on('SIGTERM', () => { record('killed'); process.exit(143); });
console.log('handling ' + event.sequence);
if (event.task.title === 'slow') setTimeout(() => record('end'), 30000);
else if (event.task.title.startsWith('chatty')) {
  process.stdout.write('x'.repeat(5000) + '\\n' + ('y'.repeat(99) + '\\n').repeat(1000));
  record('end');
} else if (event.task.title.startsWith('fail-once') && env.RIGGER_ATTEMPT === '1') {
  console.error('not this time');
  record('end', { failed: true });
  process.exitCode = 3;
} else setTimeout(() => record('end'), 20 + Math.floor(Math.random() * 40));
`;

interface Run {
  what: 'start' | 'end' | 'killed';
  pid: number;
  at: number;
  sequence: number;
  task: string;
  title: string;
  attempt: number;
  failed?: boolean;
  newline?: boolean;
  env?: Record<string, string>;
}

let server: ServerProcess | undefined;
const sidecars: SidecarProcess[] = [];
after(async () => {
  await Promise.all(sidecars.map((s) => s.stop('SIGKILL')));
  await closeClients();
  await server?.stop('SIGKILL');
});

function execSidecar(args: string[]): SidecarProcess {
  const sidecar = startSidecar('exec', args);
  sidecars.push(sidecar);
  return sidecar;
}

const runsIn = (file: string): Run[] =>
  fs.existsSync(file)
    ? fs
        .readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Run)
    : [];

test('every event is handled, each task in order, the slow one killed, retried and dead-lettered', { timeout: 120_000 }, async () => {
  server = await startServer(tempProject());
  const client = clientOf(server);
  const work = tempDir();
  const hook = path.join(work, 'hook.js');
  const runsFile = path.join(work, 'runs.jsonl');
  fs.writeFileSync(hook, HOOK);

  const plain = await addTasks(client, 4, 'plain', 1);
  const flaky = await addTasks(client, 3, 'fail-once', 1);
  const slow = (await client.addTask({ title: 'slow' })).task!.id!;
  const chatty = (await client.addTask({ title: 'chatty' })).task!.id!;
  for (const id of [...plain, ...flaky]) await client.updateTask({ task_id: id, status: 2, assignee: 'Alice' });

  process.env.RUNS_FILE = runsFile; // inherited by the sidecar, and by the hook through it
  const sidecar = execSidecar([
    '--address',
    server.address,
    '--consumer',
    'hooks',
    '--since',
    '0',
    '--timeout-ms',
    '1000',
    '--max-attempts',
    '3',
    '--retry-initial-ms',
    '100',
    '--retry-max-ms',
    '300',
    '--concurrency',
    '4',
    '--',
    process.execPath,
    hook,
  ]);
  delete process.env.RUNS_FILE;
  const total = 9 + 7 * 3; // 9 CREATED; each update is UPDATED, STATUS_CHANGED and ASSIGNED
  const slowSequence = 8;
  try {
    await waitFor(async () => (await client.getConsumer('hooks').catch(() => undefined))?.acked_sequence === total, 60_000, 'every event acked or dead');
  } catch (error) {
    throw new Error(`${(error as Error).message}; sidecar stderr ends: ${sidecar.stderr().slice(-3000)}`);
  }
  const runs = runsIn(runsFile);
  const starts = runs.filter((r) => r.what === 'start');

  // Every event handled: each sequence ran to a successful end, except the slow one.
  const succeeded = new Set(runs.filter((r) => r.what === 'end' && !r.failed).map((r) => r.sequence));
  assert.deepEqual(
    [...succeeded].sort((a, b) => a - b),
    Array.from({ length: total }, (_, i) => i + 1).filter((s) => s !== slowSequence),
  );

  // The fail-once tasks: every event failed once, then succeeded on attempt 2.
  for (const id of flaky) {
    const attempts = starts.filter((r) => r.task === id).map((r) => [r.sequence, r.attempt]);
    const sequences = [...new Set(attempts.map(([s]) => s!))];
    assert.deepEqual(
      attempts,
      sequences.flatMap((s) => [
        [s, 1],
        [s, 2],
      ]),
      `task ${id}: each event tried twice, in order`,
    );
  }

  // The slow one: started --max-attempts times, each killed (SIGTERM) at the timeout, then a dead letter.
  const slowRuns = starts.filter((r) => r.task === slow);
  assert.deepEqual(
    slowRuns.map((r) => r.attempt),
    [1, 2, 3],
  );
  assert.equal(runs.filter((r) => r.what === 'killed' && r.task === slow).length, 3, 'each timed-out run got SIGTERM');
  for (const r of slowRuns) assert.throws(() => process.kill(r.pid, 0), /ESRCH/, 'the timed-out process is gone');
  const dead = await client.deadLetters('hooks');
  assert.deepEqual(
    dead.map((d) => [d.sequence, d.attempts]),
    [[slowSequence, 3]],
  );
  assert.match(dead[0]!.reason ?? '', /^timed out after --timeout-ms 1000 \(killed with SIGTERM\)$/);

  // Per task: one run at a time, in sequence order (a run starts after the one before it ended).
  const byTask = new Map<string, Run[]>();
  for (const r of runs) byTask.set(r.task, [...(byTask.get(r.task) ?? []), r]);
  for (const [task, list] of byTask) {
    const sequences = list.filter((r) => r.what === 'start').map((r) => r.sequence);
    assert.deepEqual(
      sequences,
      [...sequences].sort((a, b) => a - b),
      `task ${task} in order`,
    );
    for (let i = 1; i < list.length; i++) if (list[i]!.what === 'start') assert.notEqual(list[i - 1]!.what, 'start', `task ${task}: two runs at once`);
  }
  // Across tasks, up to --concurrency at once.
  let open = 0;
  let most = 0;
  for (const r of runs) {
    open += r.what === 'start' ? 1 : -1;
    most = Math.max(most, open);
  }
  assert.ok(most > 1 && most <= 4, `runs at once: ${most}`);

  // stdin is the event JSON, one line; the environment matches it.
  for (const r of starts) {
    assert.equal(r.newline, true);
    assert.equal(r.env!.sequence, String(r.sequence));
    assert.equal(r.env!.task, r.task);
  }
  const updated = starts.find((r) => r.env!.type === 'STATUS_CHANGED')!;
  assert.deepEqual([updated.env!.status, updated.env!.assignee], ['IN_PROGRESS', 'Alice']);
  assert.deepEqual([starts[0]!.env!.type, starts[0]!.env!.status, starts[0]!.env!.assignee], ['CREATED', 'TODO', '']);

  // Output in the log, with the sequence; bounded per run.
  const log = sidecar
    .stderr()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.ok(log.some((l) => l.msg === 'command output' && l.stream === 'stdout' && l.line === 'handling 5' && l.sequence === 5));
  assert.ok(log.some((l) => l.msg === 'command output' && l.stream === 'stderr' && l.line === 'not this time' && l.level === 40));
  const chattySequence = starts.find((r) => r.task === chatty)!.sequence;
  const chattyLines = log.filter((l) => l.msg === 'command output' && l.sequence === chattySequence);
  assert.ok(
    chattyLines.some((l) => l.truncated === true && (l.line as string).length === 2000),
    'a long line is cut',
  );
  assert.ok(chattyLines.length < 700, `output over 64 KiB is dropped (${chattyLines.length} lines logged)`);
  assert.ok(log.some((l) => l.sequence === chattySequence && /over the limit/.test(String(l.msg))));

  assert.equal(await sidecar.stop('SIGTERM'), 0, sidecar.stderr().slice(-2000));
});

test('SIGTERM abandons a running command without acking it; the next start runs it again', { timeout: 60_000 }, async () => {
  server ??= await startServer(tempProject());
  const client = clientOf(server);
  const work = tempDir();
  const hook = path.join(work, 'hook.js');
  const runsFile = path.join(work, 'runs.jsonl');
  fs.writeFileSync(hook, HOOK);
  // No --since: a new consumer starts at the head, so only the task added below is run.
  const args = ['--address', server.address, '--consumer', 'abandon', '--timeout-ms', '60000', '--', process.execPath, hook];
  process.env.RUNS_FILE = runsFile;
  const first = execSidecar(args);
  await waitFor(async () => ((await client.getConsumer('abandon').catch(() => undefined))?.members ?? 0) === 1, 20_000, 'the sidecar to join');
  const head = (await client.getConsumer('abandon')).acked_sequence;
  await client.addTask({ title: 'slow' });
  await waitFor(() => runsIn(runsFile).some((r) => r.what === 'start'), 20_000, 'the run to start');
  assert.equal(await first.stop('SIGTERM'), 0, first.stderr());
  assert.equal(runsIn(runsFile).filter((r) => r.what === 'killed').length, 1, 'the running command was stopped');
  assert.equal((await client.getConsumer('abandon')).acked_sequence, head, 'and not acked');

  const second = execSidecar(args);
  delete process.env.RUNS_FILE;
  await waitFor(() => runsIn(runsFile).filter((r) => r.what === 'start').length === 2, 20_000, 'the run to start again');
  assert.deepEqual(
    runsIn(runsFile)
      .filter((r) => r.what === 'start')
      .map((r) => r.attempt),
    [1, 2],
  );
  assert.equal(await second.stop('SIGINT'), 0);
});

test('bad flags: one line on stderr, exit 1', { timeout: 60_000 }, async () => {
  const cases: [string[], RegExp][] = [
    [[], /^rig: name the command to run after --, e\.g\. rig sidecar exec -- \.\/on-event\.sh$/],
    [['--', 'no-such-command-here'], /^rig: cannot run "no-such-command-here": not found on PATH$/],
    [['--', './no/such/file'], /^rig: cannot run "\.\/no\/such\/file": no such executable file$/],
    [['--timeout-ms', '0', '--', 'true'], /^rig: --timeout-ms must be a whole number from 1 to 3600000, got 0$/],
    [['--retry-initial-ms', '500', '--retry-max-ms', '100', '--', 'true'], /^rig: --retry-max-ms \(100\) must not be below --retry-initial-ms \(500\)$/],
    [['--types', 'nope', '--', 'true'], /^rig: --types: "nope" is not an event type/],
  ];
  for (const [args, expected] of cases) {
    const sidecar = execSidecar(['--address', '127.0.0.1:1', ...args]);
    const code = await new Promise<number | null>((resolve) => sidecar.child.once('exit', resolve));
    assert.equal(code, 1, `${args.join(' ')}: ${sidecar.stderr()}`);
    assert.equal(sidecar.stderr().trimEnd().split('\n').length, 1, `${args.join(' ')}: one line: ${sidecar.stderr()}`);
    assert.match(sidecar.stderr().trimEnd(), expected);
  }
});
