// The NATS bridge as a real process between the real `rig grpc` and a real `nats-server -js`:
// two bridges racing, SIGKILLs and restarts of the bridge and the server, changes while either is
// down; NATS absent at start, killed and restarted while events flow, down for longer than the
// stream's duplicate window, and without JetStream. The JetStream stream must hold every event
// exactly once, in order, on the right subject.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { connect as connectNats, type NatsConnection } from 'nats';
import { RiggerClient } from '../../src/client/index';
import { streamsAt } from '../support/barriers';
import { connect } from '../support/client';
import { requireTool, startServer, tempDir, tempProject, waitFor } from '../support/processes';
import { natsServerAt, readStream, type NatsProcess } from './nats-support';
import { assertExactlyOnceInOrder, restartServer, startSidecar, type SidecarProcess } from './sidecar-support';
import { addTaskToFile, setStatusInFile } from '../support/project-writes';

async function waitForStored(nc: NatsConnection, n: number, bridges: SidecarProcess[], timeoutMs = 20_000): Promise<void> {
  try {
    await waitFor(async () => (await readStream(nc, 'RIGGER_TASKS')).length >= n, timeoutMs, `${n} messages in RIGGER_TASKS`);
  } catch (error) {
    const have = (await readStream(nc, 'RIGGER_TASKS')).map((s) => s.sequence);
    throw new Error(`${(error as Error).message}; have ${JSON.stringify(have)}; bridge stderr:\n${bridges.map((b) => b.stderr()).join('\n---\n')}`);
  }
}

test('nats-bridge: every event exactly once and in order in JetStream across racing bridges, SIGKILLs and server restarts', async (t) => {
  const natsServer = requireTool(t, 'nats-server', 'apt-get install nats-server');
  if (!natsServer) return;
  const nats = await natsServerAt(natsServer);
  await nats.start();
  const natsUrl = nats.url;
  const nc = await connectNats({ servers: natsUrl });
  const dir = tempProject();
  const first = addTaskToFile(dir, 'before the bridge', 'Alice');
  setStatusInFile(dir, first, 'in_progress'); // events 1..3
  let server = await startServer(dir);
  const args = () => ['--address', server.address, '--nats', natsUrl, '--since', '0', '--project', 'alpha'];
  // Two bridges at once, both replaying from 0: the message ids keep the stream free of repeats.
  let bridge = startSidecar('nats-bridge', args());
  const twin = startSidecar('nats-bridge', args(), 'rig');
  try {
    await waitForStored(nc, 3, [bridge, twin]);
    addTaskToFile(dir, 'seen by both bridges'); // 4
    await waitForStored(nc, 4, [bridge, twin]);
    // Both bridges have had event 4 (their streams' positions), so both have raced to publish it.
    const status = connect(server.address);
    await streamsAt(status, 4, 2);
    status.close();
    assert.equal(await twin.stop('SIGTERM'), 0, twin.stderr());

    // The bridge dies hard; a change; it comes back and resumes from the stream's last message.
    bridge.child.kill('SIGKILL');
    await waitFor(() => bridge.child.signalCode !== null, 5_000, 'bridge death');
    addTaskToFile(dir, 'while the bridge is down'); // 5
    bridge = startSidecar('nats-bridge', args());
    await waitForStored(nc, 5, [bridge]);

    // The server stops, then later dies hard; changes land while it is down.
    assert.equal(await server.stop('SIGTERM'), 0);
    addTaskToFile(dir, 'while the server is down'); // 6
    server = await restartServer(server);
    await waitForStored(nc, 6, [bridge]);
    server.child.kill('SIGKILL');
    await waitFor(() => server.child.signalCode !== null, 5_000, 'server death');
    setStatusInFile(dir, first, 'completed'); // 7, 8
    server = await restartServer(server);
    await waitForStored(nc, 8, [bridge]);
    // A sentinel (9): the bridge publishes in order, so a repeat of 1..8 would be stored before it.
    addTaskToFile(dir, 'sentinel');
    await waitFor(async () => (await readStream(nc, 'RIGGER_TASKS')).some((s) => s.sequence === 9), 20_000, 'the sentinel in RIGGER_TASKS');

    assert.equal(await bridge.stop('SIGTERM'), 0, bridge.stderr());
    const stored = await readStream(nc, 'RIGGER_TASKS');
    assertExactlyOnceInOrder(
      stored.map((s) => s.sequence),
      9,
    );
    assert.deepEqual(
      stored.map((s) => s.msgId),
      stored.map((s) => `alpha:${s.logId}:${s.sequence}`),
      'Nats-Msg-Id is <project>:<log id>:<sequence>',
    );
    for (const s of stored) assert.match(s.logId ?? '', /^[0-9a-f]{16}$/, 'Rigger-Log-Id and the payload name the log');
    for (const s of stored) assert.equal(s.project, 'alpha', 'Rigger-Project names the project');
    assert.equal(stored[0]!.subject, `rigger.alpha.created.${first}`);
    assert.equal(stored[1]!.subject, `rigger.alpha.updated.${first}`);
    assert.equal(stored[2]!.subject, `rigger.alpha.status_changed.${first}`);
    for (const s of stored) assert.match(s.subject, new RegExp(`^rigger\\.alpha\\.[a-z_]+\\.${s.taskId}$`));
    const jsm = await nc.jetstreamManager();
    assert.deepEqual((await jsm.streams.info('RIGGER_TASKS')).config.subjects, ['rigger.*.*.*'], "the bridge created the stream, for every project's events");
  } finally {
    await twin.stop('SIGKILL');
    await bridge.stop('SIGKILL');
    await nc.close();
    await server.stop();
    await nats.stop();
  }
});

interface LogLine {
  level: number;
  time: number;
  msg: string;
  nats?: string;
  error?: string;
  hint?: string;
  retry_in_ms?: number;
  resume_after?: number | string;
  decided_by?: string;
}

const logLines = (stderr: string): LogLine[] =>
  stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
const retries = (bridge: SidecarProcess) => logLines(bridge.stderr()).filter((l) => l.msg === 'NATS unavailable; retrying');
const sessions = (bridge: SidecarProcess) => logLines(bridge.stderr()).filter((l) => l.msg === 'NATS connected; publishing');

/** Reads the stream over a connection of its own, so the test's reads survive NATS restarts. */
async function storedIn(nats: NatsProcess): Promise<Awaited<ReturnType<typeof readStream>>> {
  const nc = await connectNats({ servers: nats.url, reconnect: false, timeout: 2000 });
  try {
    return await readStream(nc, 'RIGGER_TASKS');
  } finally {
    await nc.close();
  }
}

async function waitForStoredIn(nats: NatsProcess, n: number, bridge: SidecarProcess, timeoutMs = 30_000): Promise<void> {
  let have: number[] = [];
  try {
    await waitFor(async () => (have = (await storedIn(nats)).map((s) => s.sequence)).length >= n, timeoutMs, `${n} messages in RIGGER_TASKS`);
  } catch (error) {
    throw new Error(`${(error as Error).message}; have ${have.length}: ${JSON.stringify(have.slice(-20))}; bridge stderr:\n${bridge.stderr().slice(-4000)}`);
  }
}

const DUPLICATE_WINDOW_MS = 2000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('nats-bridge: outlives NATS (absent at start, killed twice while events flow, then down past the duplicate window) with every event once, in order', async (t) => {
  const natsServer = requireTool(t, 'nats-server', 'apt-get install nats-server');
  if (!natsServer) return;
  const nats = await natsServerAt(natsServer);
  // The test's stream, with a short duplicate window, made before the bridge runs; then NATS goes away.
  await nats.start();
  const setup = await connectNats({ servers: nats.url });
  await (await setup.jetstreamManager()).streams.add({ name: 'RIGGER_TASKS', subjects: ['rigger.tasks.>'], duplicate_window: DUPLICATE_WINDOW_MS * 1_000_000 });
  await setup.close();
  await nats.stop('SIGTERM');

  const dir = tempProject();
  const server = await startServer(dir);
  const writer = new RiggerClient({ address: server.address, actor: 'nats-test-writer' });
  for (let i = 1; i <= 3; i++) await writer.addTask({ title: `before NATS ${i}` });
  const checkpoint = path.join(tempDir(), 'bridge.checkpoint');
  // A stream of the subjects before projects: --project tasks publishes where those bridges did.
  const bridge = startSidecar('nats-bridge', [
    '--address',
    server.address,
    '--nats',
    nats.url,
    '--since',
    '0',
    '--checkpoint',
    checkpoint,
    '--project',
    'tasks',
  ]);
  let writing = true;
  let written = 3;
  let writeFailure: unknown;
  const writes = (async () => {
    // Events flow through every NATS outage below, bounded in count and time.
    const deadline = Date.now() + 60_000;
    while (writing && written < 1000 && Date.now() < deadline) {
      await writer.addTask({ title: `flowing ${written + 1}` });
      written++;
      await sleep(40);
    }
  })().catch((error) => (writeFailure = error));
  try {
    // NATS absent: the bridge names the address and the cause, says what to do, and keeps trying.
    await waitFor(() => retries(bridge).length >= 3, 15_000, `3 retries logged; stderr: ${bridge.stderr()}`);
    const absent = retries(bridge)[0]!;
    assert.equal(absent.nats, nats.url);
    assert.match(absent.error!, new RegExp(`ECONNREFUSED 127\\.0\\.0\\.1:${nats.port}`));
    assert.match(absent.hint!, /nats-server -js/);
    assert.ok(absent.retry_in_ms! > 0 && retries(bridge).every((l) => l.retry_in_ms! <= 5000), 'the client backoff, capped');
    assert.equal(bridge.child.exitCode, null, `the bridge is still running; stderr: ${bridge.stderr()}`);
    await nats.start();
    await waitForStoredIn(nats, written, bridge);

    const outage = async (signal: NodeJS.Signals, downMs: number) => {
      const before = written;
      await nats.stop(signal);
      await sleep(downMs);
      assert.ok(written > before, `events were written while NATS was down (${before} -> ${written})`);
      await nats.start();
      await waitForStoredIn(nats, written, bridge); // events flow into the restarted NATS, those written while it was down first
    };
    await outage('SIGKILL', 500);
    await outage('SIGTERM', 800);
    // Longer than the duplicate window: only the stream's last message can say where to resume.
    await outage('SIGKILL', DUPLICATE_WINDOW_MS * 2);

    writing = false;
    await writes;
    assert.equal(writeFailure, undefined);
    await waitForStoredIn(nats, written, bridge);
    // A sentinel: the bridge publishes in order, so a repeat would be stored before it.
    await writer.addTask({ title: 'sentinel' });
    written++;
    await waitFor(async () => (await storedIn(nats)).some((s) => s.sequence === written), 20_000, 'the sentinel in RIGGER_TASKS');
    assert.equal(await bridge.stop('SIGTERM'), 0, bridge.stderr().slice(-4000));

    const stored = await storedIn(nats);
    t.diagnostic(`${written} events, ${stored.length} messages, ${sessions(bridge).length} NATS sessions, ${retries(bridge).length} retries logged`);
    assertExactlyOnceInOrder(
      stored.map((s) => s.sequence),
      written,
    );
    assert.deepEqual(
      stored.map((s) => s.msgId),
      stored.map((s) => `tasks:${s.logId}:${s.sequence}`),
      'Nats-Msg-Id is <project>:<log id>:<sequence>',
    );
    for (const s of stored) assert.match(s.logId ?? '', /^[0-9a-f]{16}$/, 'Rigger-Log-Id and the payload name the log');
    for (const s of stored) assert.match(s.subject, /^rigger\.tasks\.[a-z_]+\.[^.]+$/);
    const windowWarning = logLines(bridge.stderr()).find((l) => /duplicate window \(2000 ms\) is shorter than the bridge's worst retry/.test(l.msg));
    assert.ok(windowWarning, `the 2 s window is warned about at start: ${bridge.stderr().slice(0, 3000)}`);
    assert.equal(fs.readFileSync(checkpoint, 'utf8').trim().split(' ')[0], String(written), 'the checkpoint holds the last acknowledged sequence');
    const resumed = sessions(bridge);
    assert.ok(resumed.length >= 4, `a session per NATS start: ${JSON.stringify(resumed)}`);
    assert.ok(
      resumed.slice(1).every((l) => l.decided_by === 'last message in the stream'),
      JSON.stringify(resumed),
    );
    const causes = retries(bridge).map((l) => l.error!);
    assert.ok(
      causes.some((c) => /^(connection lost|publish):/.test(c)),
      `NATS dying mid-session is reported: ${JSON.stringify(causes)}`,
    );
    const nc = await connectNats({ servers: nats.url });
    const info = await (await nc.jetstreamManager()).streams.info('RIGGER_TASKS');
    await nc.close();
    assert.equal(info.config.duplicate_window, DUPLICATE_WINDOW_MS * 1_000_000, "the bridge kept the test's stream");
  } finally {
    writing = false;
    await writes;
    await bridge.stop('SIGKILL');
    await writer.close();
    await server.stop();
    await nats.stop();
  }
});

test('nats-bridge: a NATS server without JetStream is reported with the fix, and retried', async (t) => {
  const natsServer = requireTool(t, 'nats-server', 'apt-get install nats-server');
  if (!natsServer) return;
  const nats = await natsServerAt(natsServer, { jetstream: false });
  await nats.start();
  const dir = tempProject();
  const server = await startServer(dir);
  const bridge = startSidecar('nats-bridge', ['--address', server.address, '--nats', nats.url, '--project', 'alpha']);
  try {
    await waitFor(() => retries(bridge).length >= 2, 15_000, `2 retries logged; stderr: ${bridge.stderr()}`);
    const [first] = retries(bridge);
    assert.equal(first!.nats, nats.url);
    assert.match(first!.error!, /^jetstream: /);
    assert.match(first!.hint!, /JetStream disabled.*-js/);
    assert.equal(bridge.child.exitCode, null, 'still running, still trying');
    assert.equal(await bridge.stop('SIGTERM'), 0, bridge.stderr());
  } finally {
    await bridge.stop('SIGKILL');
    await server.stop();
    await nats.stop();
  }
});

test('nats-bridge: a project name that is not one NATS token, or none at all, is refused in one line', async () => {
  const refused = async (args: string[]) => {
    const bridge = startSidecar('nats-bridge', ['--address', '127.0.0.1:1', '--nats', 'nats://127.0.0.1:1', ...args]);
    const code = await new Promise((resolve) => bridge.child.once('exit', resolve));
    return { code, stderr: bridge.stderr() };
  };
  const dotted = await refused(['--project', 'my.project']);
  assert.equal(dotted.code, 1);
  assert.match(dotted.stderr, /^rig: project name "my\.project" is not one NATS subject token: use 1 to 64 letters, digits, - and _\n$/);
  const outside = await refused(['-C', tempDir('rigger-no-project-')]);
  assert.equal(outside.code, 1);
  assert.match(
    outside.stderr,
    /^rig: no project name: not run inside a rigger project.*set it with --project NAME, RIGGER_PROJECT or "project" in \.rigger\/config\.json\n$/,
  );
});

test("nats-bridge: a stream that does not take the project's subjects stops the bridge with the subjects to add", async (t) => {
  const natsServer = requireTool(t, 'nats-server', 'apt-get install nats-server');
  if (!natsServer) return;
  const nats = await natsServerAt(natsServer);
  await nats.start();
  const setup = await connectNats({ servers: nats.url });
  await (await setup.jetstreamManager()).streams.add({ name: 'RIGGER_TASKS', subjects: ['rigger.tasks.>'] });
  await setup.close();
  const server = await startServer(tempProject());
  const bridge = startSidecar('nats-bridge', ['--address', server.address, '--nats', nats.url, '--project', 'alpha']);
  try {
    const code = await new Promise((resolve) => bridge.child.once('exit', resolve));
    assert.equal(code, 1, bridge.stderr());
    assert.match(
      bridge.stderr(),
      /\nrig: stream RIGGER_TASKS takes \["rigger\.tasks\.>"\], not the bridge's subjects rigger\.alpha\.\*\.\*; add them \(nats stream edit RIGGER_TASKS --subjects 'rigger\.\*\.\*\.\*'\)/,
    );
  } finally {
    await bridge.stop('SIGKILL');
    await server.stop();
    await nats.stop();
  }
});
