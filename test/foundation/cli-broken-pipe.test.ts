// A reader that stops early (`rig task list --all | head -3`, `rig events --since 0 | head -2`)
// closes the pipe under the CLI: the command ends quietly, exit 0 and nothing on stderr, never
// `Error: write EPIPE` with a stack; `rig events` also ends its stream on the server. Each case runs
// several times, since whether the reader closes before, during or after the CLI's writes is a race.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { taskEventEncoder } from '../../src/protocol/event-codec';
import { openStore } from '../../src/store/store';
import { RIG_BIN, rig, spawnTracked, startServer, tempProject, waitFor } from '../support/processes';

/** Tasks enough for listings and replays several times a pipe's 64 KiB. */
const TASKS = 400;

function seed(dir: string): void {
  const store = openStore(path.join(dir, '.rigger', 'tasks.db'), taskEventEncoder);
  try {
    store.tasks.write('seed', (m) => {
      for (let i = 0; i < TASKS; i++) m.createTask({ title: `task ${i} ${'x'.repeat(200)}`, assignee: 'Alice' });
    });
  } finally {
    store.close();
  }
}

interface EarlyClose {
  code: number | null;
  signal: NodeJS.Signals | null;
  firstLine: string;
  stderr: string;
}

/**
 * Runs the real rig with stdout a pipe that this side destroys once the first line has arrived;
 * `afterClose` runs then (e.g. to make a live stream write again). Bounded by `timeoutMs`.
 */
function runClosingEarly(args: string[], afterClose: () => void = () => {}, timeoutMs = 30_000): Promise<EarlyClose> {
  const child = spawnTracked(process.execPath, [RIG_BIN, ...args], { env: { ...process.env, RIGGER_LOG_LEVEL: 'warn' } });
  let out = '';
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  child.stdout!.on('data', (chunk: Buffer) => {
    if (out.includes('\n')) return;
    out += chunk.toString('utf8');
    if (out.includes('\n')) {
      child.stdout!.destroy();
      afterClose();
    }
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`rig ${args.join(' ')} did not end within ${timeoutMs} ms of its reader going away; stderr: ${stderr}`));
    }, timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, firstLine: out.split('\n')[0]!, stderr });
    });
  });
}

function assertQuiet(result: EarlyClose, what: string): void {
  assert.equal(result.stderr, '', `${what}: stderr should be empty`);
  assert.equal(result.signal, null, `${what}: killed by ${result.signal}`);
  assert.equal(result.code, 0, `${what}: exit code`);
}

test('rig task list into a reader that closes after the first line, 24 times: exit 0, nothing on stderr', { timeout: 240_000 }, async () => {
  const dir = tempProject();
  seed(dir);
  const big = ['-C', dir, 'task', 'list', '--all', '--limit', '1000'];
  // The listing is far bigger than the pipe, so the reader always closes mid-write; the small page
  // may fit in the pipe before the reader closes, or not: both must end the same way.
  const cases = [...Array.from({ length: 16 }, () => big), ...Array.from({ length: 8 }, () => ['-C', dir, 'task', 'list', '--limit', '240'])];
  for (const [i, args] of cases.entries()) {
    const result = await runClosingEarly(args);
    assert.match(result.firstLine, /^ID +STATUS +ASSIGNEE/, `run ${i}`);
    assertQuiet(result, `run ${i}: rig ${args.join(' ')}`);
  }
  // The same listing into a reader that reads it all is whole.
  const whole = rig(big);
  assert.equal(whole.code, 0, whole.stderr);
  assert.match(whole.stdout, new RegExp(`\\n${TASKS} of ${TASKS} task\\(s\\)\\n$`));
});

test('rig events into a reader that closes after the first line, 10 times: the stream ends, exit 0, nothing on stderr', { timeout: 240_000 }, async () => {
  const dir = tempProject();
  seed(dir);
  const server = await startServer(dir, ['--http-listen', '127.0.0.1:0']);
  try {
    const metrics = /^ {2}operations: +(http:\/\/\S+?)\/metrics/m.exec(server.stdout())![1]! + '/metrics';
    const subscribers = async () => {
      const text = await (await fetch(metrics)).text();
      return Number(/^rigger_subscribers\{kind="subscribe"\} (\d+)$/m.exec(text)?.[1] ?? NaN);
    };
    for (let i = 0; i < 10; i++) {
      // A task added once the reader has gone makes the stream write again, whether or not the
      // replay fitted in the pipe: that write is the one that meets the closed pipe.
      let added: Promise<unknown> | undefined;
      const result = await runClosingEarly(['-C', dir, 'events', '--since', '0', '--address', server.address], () => {
        added = new Promise((resolve) => resolve(rig(['-C', dir, 'task', 'add', `added ${i}`])));
      });
      await added;
      assert.match(result.firstLine, /^#1 \S+ CREATED /, `run ${i}`);
      assertQuiet(result, `run ${i}: rig events --since 0`);
      await waitFor(async () => (await subscribers()) === 0, 10_000, `the server to count no subscriber after run ${i}`);
    }
  } finally {
    await server.stop();
  }
});
