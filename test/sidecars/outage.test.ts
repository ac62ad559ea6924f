// One long server outage, through real processes: `rig grpc` is SIGKILLed, stays down 45 s (long
// enough for grpc-js's own channel backoff to have grown to tens of seconds by default) while
// changes land in its database, and comes back on the same port. The typed client, the logger, the
// metrics sidecar and the NATS bridge must each resume within a few seconds of the server answering
// again, and end up with every event exactly once. Every figure is printed (t.diagnostic).
import assert from 'node:assert/strict';
import type { Readable } from 'node:stream';
import { test } from 'node:test';
import { connect as connectNats } from 'nats';
import { RiggerClient, type TaskEvent } from '../../src/client/index';
import { requireTool, startServer, tempProject, waitFor } from '../support/processes';
import { natsServerAt, readStream } from './nats-support';
import { addTaskByCli, assertExactlyOnceInOrder, restartServer, startSidecar, type SidecarProcess } from './sidecar-support';

const OUTAGE_MS = 45_000;
/** Generous: the aim is under a second; this fails only when a backoff of its own gets in the way. */
const RESUME_BOUND_MS = 5_000;

interface Arrival {
  sequence: number;
  at: number;
}

/** Sequences of the logger's stdout lines, with the moment each line reached this process. */
function watchLines(stream: Readable): Arrival[] {
  const arrivals: Arrival[] = [];
  let partial = '';
  stream.on('data', (chunk: Buffer) => {
    const at = Date.now();
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop()!;
    for (const line of lines) if (line.trim()) arrivals.push({ sequence: (JSON.parse(line) as { sequence: number }).sequence, at });
  });
  return arrivals;
}

/** The pino `time` of the first "event stream connected" line on `stderr` logged at or after `since`. */
function connectedAt(stderr: string, since: number): number | undefined {
  for (const line of stderr.split('\n')) {
    if (!line.includes('"event stream connected"')) continue;
    const { time } = JSON.parse(line) as { time: number };
    if (time >= since) return time;
  }
  return undefined;
}

async function scrapeSample(url: string, series: string): Promise<number | undefined> {
  const text = await (await fetch(url)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function scrapeEventsTotal(url: string): Promise<number> {
  const text = await (await fetch(url)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('rigger_events_total{'))
    .reduce((sum, l) => sum + Number(l.split(' ')[1]), 0);
}

async function waitWithStderr(condition: () => boolean | Promise<boolean>, what: string, sidecars: SidecarProcess[], timeoutMs = 30_000): Promise<void> {
  try {
    await waitFor(condition, timeoutMs, what);
  } catch (error) {
    throw new Error(`${(error as Error).message}; stderr:\n${sidecars.map((s) => s.stderr().slice(-3000)).join('\n---\n')}`);
  }
}

test('server down 45 s: the typed client and every bundled sidecar resume within seconds of it answering, nothing lost or repeated', async (t) => {
  const natsBinary = requireTool(t, 'nats-server', 'apt-get install nats-server');
  if (!natsBinary) return;
  const nats = await natsServerAt(natsBinary);
  await nats.start();
  const nc = await connectNats({ servers: nats.url });
  const dir = tempProject();
  let server = await startServer(dir);

  const client = new RiggerClient({ address: server.address, actor: 'outage-test' });
  const received: (Arrival & { event: TaskEvent })[] = [];
  let failure: unknown;
  const subscription = client.subscribe({ sinceSequence: 0 }).subscribe({
    next: (event) => received.push({ sequence: event.sequence, at: Date.now(), event }),
    error: (error) => (failure = error),
  });
  const logger = startSidecar('logger', ['--address', server.address, '--since', '0']);
  const loggerLines = watchLines(logger.child.stdout!);
  const metrics = startSidecar('metrics', ['--address', server.address, '--listen', '127.0.0.1:0']);
  const bridge = startSidecar('nats-bridge', ['--address', server.address, '--nats', nats.url, '--since', '0']);
  const sidecars = [logger, metrics, bridge];
  try {
    await waitWithStderr(() => /ready: metrics on (\S+)/.test(metrics.stdout()), 'metrics ready', sidecars);
    const metricsUrl = /ready: metrics on (\S+)/.exec(metrics.stdout())![1]!;
    await waitWithStderr(() => sidecars.every((s) => connectedAt(s.stderr(), 0) !== undefined), 'every sidecar connected', sidecars);

    for (let i = 1; i <= 3; i++) await client.addTask({ title: `before ${i}` });
    const allHave = async (n: number) =>
      received.length >= n &&
      loggerLines.length >= n &&
      (await scrapeSample(metricsUrl, 'rigger_last_event_sequence')) === n &&
      (await readStream(nc, 'RIGGER_TASKS')).length >= n;
    await waitWithStderr(() => allHave(3), '3 events everywhere', sidecars);

    server.child.kill('SIGKILL');
    await waitFor(() => server.child.signalCode !== null, 5_000, 'server death');
    const downAt = Date.now();
    await addTaskByCli(dir, 'while down 1'); // 4
    await addTaskByCli(dir, 'while down 2'); // 5
    await new Promise((r) => setTimeout(r, downAt + OUTAGE_MS - Date.now()));
    server = await restartServer(server);
    const backAt = Date.now();
    t.diagnostic(`server down for ${backAt - downAt} ms; ready again at ${new Date(backAt).toISOString()}`);

    // A unary call of the typed client, tried every 50 ms from the moment the server answers.
    let unaryAt: number | undefined;
    for (let tries = 0; unaryAt === undefined && tries < 400; tries++) {
      try {
        await client.listTasks({ limit: 1 });
        unaryAt = Date.now();
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }

    await waitWithStderr(() => allHave(5), 'the 2 events written during the outage everywhere', sidecars);
    const jetstream = await readStream(nc, 'RIGGER_TASKS');
    const figures: Record<string, number | undefined> = {
      'typed client: first event after the outage': received.find((a) => a.sequence === 4)!.at - backAt,
      'typed client: first unary call that succeeded': unaryAt === undefined ? undefined : unaryAt - backAt,
      'logger: stream connected (its log)': (connectedAt(logger.stderr(), backAt) ?? Number.NaN) - backAt,
      'logger: line of the first event after the outage': loggerLines.find((a) => a.sequence === 4)!.at - backAt,
      'metrics: stream connected (its log)': (connectedAt(metrics.stderr(), backAt) ?? Number.NaN) - backAt,
      'nats-bridge: stream connected (its log)': (connectedAt(bridge.stderr(), backAt) ?? Number.NaN) - backAt,
      'nats-bridge: first event after the outage stored in JetStream': jetstream.find((s) => s.sequence === 4)!.time.getTime() - backAt,
    };
    for (const [what, ms] of Object.entries(figures)) t.diagnostic(`${what}: ${ms} ms after the server answered`);
    for (const [what, ms] of Object.entries(figures)) {
      assert.ok(ms !== undefined && Number.isFinite(ms) && ms < RESUME_BOUND_MS, `${what}: ${ms} ms (bound ${RESUME_BOUND_MS} ms)`);
    }

    // After the outage, live again; then every consumer holds 1..7 exactly once, in order.
    await client.addTask({ title: 'after 1' });
    await client.addTask({ title: 'after 2' });
    await waitWithStderr(() => allHave(7), '7 events everywhere', sidecars);
    // A sentinel (8): each consumer takes events in order, so a repeat would have come before it.
    await client.addTask({ title: 'sentinel' });
    await waitWithStderr(() => allHave(8), 'the sentinel everywhere', sidecars);
    assert.equal(failure, undefined);
    assertExactlyOnceInOrder(
      received.map((a) => a.sequence),
      8,
    );
    assert.deepEqual(
      received.slice(3, 5).map((a) => a.event.task.title),
      ['while down 1', 'while down 2'],
    );
    assertExactlyOnceInOrder(
      loggerLines.map((a) => a.sequence),
      8,
    );
    assertExactlyOnceInOrder(
      (await readStream(nc, 'RIGGER_TASKS')).map((s) => s.sequence),
      8,
    );
    assert.equal(await scrapeEventsTotal(metricsUrl), 8, 'the metrics sidecar counted each event once');
    assert.equal(await scrapeSample(metricsUrl, 'rigger_stream_connected'), 1);
    assert.equal(await scrapeSample(metricsUrl, 'rigger_stream_reconnects_total'), 1);
    for (const sidecar of sidecars) assert.equal(await sidecar.stop('SIGTERM'), 0, sidecar.stderr().slice(-3000));
  } finally {
    subscription.unsubscribe();
    await client.close();
    for (const sidecar of sidecars) await sidecar.stop('SIGKILL');
    await nc.close();
    await nats.stop();
    await server.stop();
  }
});
