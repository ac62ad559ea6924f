// The exec sidecar's hold on what a command starts, as a user runs it: a real `rig grpc` and a real
// `rig sidecar exec` process. The hook (a shell script written here) starts two children, one in its
// process group and one that leaves it with setsid, optionally both ignoring SIGTERM, and then waits
// (for the timeout or a stop) or exits 0 (a daemonising command). Nothing of a run is left after its
// timeout, after the sidecar's stop, or after it exits, unless --keep-children. And task data the
// server accepts (NUL and other control characters in an assignee) reaches the command intact.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { startServer, tempDir, tempProject, waitFor, type ServerProcess } from '../support/processes';
import { clientOf, closeClients } from '../consumers/consumer-support';
import { startSidecar, type SidecarProcess } from './sidecar-support';

// $1: the directory of the run's files; $2: wait | exit; $3: stubborn (children ignore SIGTERM) or
// plain, and stubborn whatever $3 for a task assigned to "stubborn".
// Each child writes its own pid (a file made whole by mv); the command writes its own last.
const HOOK = `
out="$1/$RIGGER_SEQUENCE-$RIGGER_ATTEMPT"
mkdir -p "$out"
printf '%s' "$RIGGER_EXEC_RUN" > "$out/cookie"
t=''
if [ "$3" = stubborn ] || [ "$RIGGER_TASK_ASSIGNEE" = stubborn ]; then t='trap "" TERM;'; fi
sh -c "$t"' echo $$ > "$1.tmp"; mv "$1.tmp" "$1"; exec sleep 1000' sh "$out/in-group" &
setsid sh -c "$t"' echo $$ > "$1.tmp"; mv "$1.tmp" "$1"; exec sleep 1000' sh "$out/escaped" &
i=0
while [ ! -s "$out/in-group" ] || [ ! -s "$out/escaped" ]; do
  i=$((i + 1)); [ $i -gt 400 ] && exit 9
  sleep 0.05
done
echo $$ > "$out/command.tmp"; mv "$out/command.tmp" "$out/command"
[ "$2" = wait ] && wait
exit 0
`;

interface RunFiles {
  cookie: string;
  command: number;
  inGroup: number;
  escaped: number;
}

const servers: ServerProcess[] = [];
const sidecars: SidecarProcess[] = [];
// Inherited by the sidecars and so by everything the hooks start: what is left at the end is killed.
const TEST_MARK = `EXEC_TEST_MARK=${randomBytes(8).toString('hex')}`;
process.env.EXEC_TEST_MARK = TEST_MARK.split('=')[1];
after(async () => {
  for (const pid of withEnv(TEST_MARK)) if (pid !== process.pid) process.kill(pid, 'SIGKILL');
  await Promise.all(sidecars.map((s) => s.stop('SIGKILL')));
  await closeClients();
  await Promise.all(servers.map((s) => s.stop('SIGKILL')));
});

/** Running or sleeping: a zombie is dead (this machine's init may never reap it). */
function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
}

/** The live processes whose environment holds `entry` (NAME=value). */
function withEnv(entry: string): number[] {
  const needle = Buffer.from(`${entry}\0`);
  return fs
    .readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name) && alive(Number(name)))
    .filter((name) => {
      try {
        return fs.readFileSync(`/proc/${name}/environ`).includes(needle);
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** A server of its own (so the test's first event is sequence 1) and the hook in a new directory. */
async function setUp(): Promise<{ server: ServerProcess; work: string; hook: string }> {
  const server = await startServer(tempProject());
  servers.push(server);
  const work = tempDir();
  const hook = path.join(work, 'hook.sh');
  fs.writeFileSync(hook, HOOK);
  return { server, work, hook };
}

function execSidecar(address: string, consumer: string, extra: string[], command: string[]): SidecarProcess {
  const sidecar = startSidecar('exec', ['--address', address, '--consumer', consumer, ...extra, '--', ...command]);
  sidecars.push(sidecar);
  return sidecar;
}

/** The files of run `sequence` (attempt 1), once the command has written its pid (its children have theirs). */
async function runStarted(work: string, sequence: number, sidecar: SidecarProcess): Promise<RunFiles> {
  const dir = path.join(work, `${sequence}-1`);
  await waitFor(() => fs.existsSync(path.join(dir, 'command')), 30_000, `run ${sequence} to start; sidecar stderr: ${sidecar.stderr().slice(-2000)}`);
  const pid = (name: string) => Number(fs.readFileSync(path.join(dir, name), 'utf8').trim());
  const files = { cookie: fs.readFileSync(path.join(dir, 'cookie'), 'utf8'), command: pid('command'), inGroup: pid('in-group'), escaped: pid('escaped') };
  assert.match(files.cookie, /^[0-9a-f]{32}$/);
  return files;
}

async function ackedAt(server: ServerProcess, consumer: string, sequence: number, sidecar: SidecarProcess): Promise<void> {
  const client = clientOf(server);
  await waitFor(
    async () => ((await client.getConsumer(consumer).catch(() => undefined))?.acked_sequence ?? 0) >= sequence,
    30_000,
    `${consumer} acked at ${sequence}; sidecar stderr: ${sidecar.stderr().slice(-2000)}`,
  );
}

const logOf = (sidecar: SidecarProcess) =>
  sidecar
    .stderr()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

function assertAllGone(run: RunFiles, what: string): void {
  for (const [name, pid] of Object.entries({ command: run.command, 'child in the group': run.inGroup, 'child out of the group (setsid)': run.escaped })) {
    assert.equal(alive(pid), false, `${what}: the ${name} (pid ${pid}) is gone`);
  }
  assert.deepEqual(withEnv(`RIGGER_EXEC_RUN=${run.cookie}`), [], `${what}: no process carries the run's cookie`);
}

test('a timeout ends every process of the run, children that ignore SIGTERM and one out of the group included', { timeout: 90_000 }, async () => {
  const { server, work, hook } = await setUp();
  const client = clientOf(server);
  await client.addTask({ title: 'stubborn' });
  const sidecar = execSidecar(
    server.address,
    'timeout',
    ['--since', '0', '--timeout-ms', '8000', '--max-attempts', '1'],
    ['/bin/sh', hook, work, 'wait', 'stubborn'],
  );
  const run = await runStarted(work, 1, sidecar);
  assert.ok(alive(run.inGroup) && alive(run.escaped), 'the children are running');
  // --max-attempts 1: the timed-out run is a dead letter, which moves the acked position past it.
  await ackedAt(server, 'timeout', 1, sidecar);
  assertAllGone(run, 'after the timeout');
  const ended = logOf(sidecar).find((l) => l.msg === 'ended processes of the run' && l.sequence === 1);
  assert.ok(ended, 'the sidecar says what it ended');
  assert.equal(ended.when, 'timeout');
  assert.deepEqual([...(ended.sigkill as number[])].sort(), [run.inGroup, run.escaped].sort(), 'the children needed SIGKILL, the command did not');
  const dead = await client.deadLetters('timeout');
  assert.match(dead[0]?.reason ?? '', /^timed out after --timeout-ms 8000 \(killed with SIGTERM\)$/);
  assert.equal(await sidecar.stop('SIGTERM'), 0, sidecar.stderr().slice(-2000));
});

test("the sidecar's stop ends every process of a running command, and does not ack it", { timeout: 90_000 }, async () => {
  const { server, work, hook } = await setUp();
  const client = clientOf(server);
  await client.addTask({ title: 'stubborn' });
  const sidecar = execSidecar(server.address, 'stop', ['--since', '0', '--timeout-ms', '600000'], ['/bin/sh', hook, work, 'wait', 'stubborn']);
  const run = await runStarted(work, 1, sidecar);
  assert.equal(await sidecar.stop('SIGTERM'), 0, sidecar.stderr().slice(-2000));
  assertAllGone(run, 'after the stop');
  const ended = logOf(sidecar).find((l) => l.msg === 'ended processes of the run' && l.sequence === 1);
  assert.equal(ended?.when, 'stop');
  assert.deepEqual([...(ended.sigkill as number[])].sort(), [run.inGroup, run.escaped].sort());
  assert.equal((await client.getConsumer('stop')).acked_sequence, 0, 'the abandoned run is not acked');
});

test('what a command that exits 0 leaves running is ended: in its group or not, heeding SIGTERM or not', { timeout: 90_000 }, async () => {
  const { server, work, hook } = await setUp();
  const client = clientOf(server);
  await client.addTask({ title: 'daemon' });
  await client.addTask({ title: 'stubborn daemon', assignee: 'stubborn' });
  const sidecar = execSidecar(server.address, 'daemons', ['--since', '0'], ['/bin/sh', hook, work, 'exit', 'plain']);
  const plain = await runStarted(work, 1, sidecar);
  const stubborn = await runStarted(work, 2, sidecar);
  await ackedAt(server, 'daemons', 2, sidecar);
  assertAllGone(plain, 'after the run');
  assertAllGone(stubborn, 'after the stubborn run');
  const ended = new Map(
    logOf(sidecar)
      .filter((l) => l.msg === 'ended processes of the run')
      .map((l) => [l.sequence, l]),
  );
  assert.equal(ended.get(1)?.when, 'exit');
  assert.deepEqual([...(ended.get(1)!.pids as number[])].sort(), [plain.inGroup, plain.escaped].sort());
  assert.deepEqual(ended.get(1)!.sigkill, [], 'SIGTERM was enough');
  assert.deepEqual([...(ended.get(2)!.sigkill as number[])].sort(), [stubborn.inGroup, stubborn.escaped].sort());
  assert.equal(logOf(sidecar).filter((l) => l.msg === 'command succeeded').length, 2, 'both runs succeeded');
  assert.equal(await sidecar.stop('SIGTERM'), 0, sidecar.stderr().slice(-2000));
});

test("--keep-children leaves them running, through the sidecar's stop", { timeout: 90_000 }, async () => {
  const { server, work, hook } = await setUp();
  const client = clientOf(server);
  await client.addTask({ title: 'daemon' });
  const sidecar = execSidecar(server.address, 'keep', ['--since', '0', '--keep-children'], ['/bin/sh', hook, work, 'exit', 'plain']);
  const run = await runStarted(work, 1, sidecar);
  await ackedAt(server, 'keep', 1, sidecar);
  assert.equal(await sidecar.stop('SIGTERM'), 0, sidecar.stderr().slice(-2000));
  assert.ok(alive(run.inGroup) && alive(run.escaped), 'both children still run');
  assert.deepEqual(withEnv(`RIGGER_EXEC_RUN=${run.cookie}`).sort(), [run.inGroup, run.escaped].sort());
  assert.equal(
    logOf(sidecar).some((l) => l.msg === 'ended processes of the run'),
    false,
  );
  for (const pid of [run.inGroup, run.escaped]) process.kill(pid, 'SIGKILL');
  await waitFor(() => !alive(run.inGroup) && !alive(run.escaped), 10_000, 'the kept children to die');
});

// Records what it got: stdin, the event file and its mode, the RIGGER_* variables.
const RECORDER = `
const fs = require('node:fs');
const stdin = fs.readFileSync(0, 'utf8');
const file = process.env.RIGGER_EVENT_FILE;
const vars = Object.fromEntries(Object.entries(process.env).filter(([name]) => name.startsWith('RIGGER_')));
fs.writeFileSync(process.argv[2] + '/' + process.env.RIGGER_SEQUENCE + '.json', JSON.stringify({ stdin, file, fileText: fs.readFileSync(file, 'utf8'), mode: fs.statSync(file).mode & 0o777, vars }));
`;

test('an assignee with NUL and other control characters: the command runs, stdin and the event file have it exactly', { timeout: 90_000 }, async () => {
  const { server, work } = await setUp();
  const client = clientOf(server);
  const recorder = path.join(work, 'recorder.js');
  fs.writeFileSync(recorder, RECORDER);
  const assignee = 'Ann\u0000Lee\u0001\u0007\t\n\r\u001b[31m\u007f\u0085\u2028 \u0000end';
  const added = (await client.addTask({ title: 'odd', assignee })).task!;
  assert.equal(added.assignee, assignee, 'the server accepts it as it is');
  await client.addTask({ title: 'plain', assignee: 'Bob' });

  process.env.RIGGER_NUL_REMOVED = 'FROM_OUTSIDE'; // in the sidecar's own environment: not passed on
  const sidecar = execSidecar(server.address, 'odd', ['--since', '0'], [process.execPath, recorder, work]);
  delete process.env.RIGGER_NUL_REMOVED;
  await ackedAt(server, 'odd', 2, sidecar);
  const got = (sequence: number) =>
    JSON.parse(fs.readFileSync(path.join(work, `${sequence}.json`), 'utf8')) as {
      stdin: string;
      file: string;
      fileText: string;
      mode: number;
      vars: Record<string, string>;
    };
  const odd = got(1);
  assert.ok(odd.stdin.endsWith('\n') && !odd.stdin.slice(0, -1).includes('\n'), 'one line on stdin');
  const event = JSON.parse(odd.stdin) as { sequence: number; task: { id: string; assignee: string } };
  assert.deepEqual([event.sequence, event.task.id, event.task.assignee], [1, added.id, assignee]);
  assert.equal(odd.fileText, odd.stdin, '$RIGGER_EVENT_FILE holds the same line');
  assert.equal(odd.mode, 0o600);
  assert.equal(fs.existsSync(odd.file), false, 'the event file is removed after the run');
  assert.equal(odd.vars.RIGGER_TASK_ASSIGNEE, assignee.replaceAll('\0', ''), 'the variable has the NULs removed, the rest as it is');
  assert.equal(odd.vars.RIGGER_NUL_REMOVED, 'RIGGER_TASK_ASSIGNEE');
  assert.equal(odd.vars.RIGGER_TASK_ID, added.id);
  const plain = got(2);
  assert.equal(plain.vars.RIGGER_TASK_ASSIGNEE, 'Bob');
  assert.equal(plain.vars.RIGGER_NUL_REMOVED, undefined);
  assert.match(plain.vars.RIGGER_EXEC_RUN ?? '', /^[0-9a-f]{32}$/);
  assert.notEqual(plain.vars.RIGGER_EXEC_RUN, odd.vars.RIGGER_EXEC_RUN, 'a cookie per run');
  assert.equal(await sidecar.stop('SIGTERM'), 0, sidecar.stderr().slice(-2000));
});

test('no writable TMPDIR for the event file: the sidecar stops with one line, the event not acked', { timeout: 60_000 }, async () => {
  const { server, work } = await setUp();
  const client = clientOf(server);
  await client.addTask({ title: 'any' });
  const missing = path.join(work, 'no-such-dir');
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = missing;
  const sidecar = execSidecar(server.address, 'no-tmp', ['--since', '0'], ['true']);
  if (saved === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = saved;
  const code = await new Promise<number | null>((resolve) => sidecar.child.once('exit', resolve));
  assert.equal(code, 1, sidecar.stderr().slice(-2000));
  const last = sidecar.stderr().trimEnd().split('\n').pop();
  assert.equal(last, `rig: cannot write the event file under ${missing} (ENOENT); set TMPDIR to a writable directory`);
  assert.equal((await client.getConsumer('no-tmp')).acked_sequence, 0);
});
