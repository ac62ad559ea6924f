// The operations endpoint of a real `rig grpc --http-listen 127.0.0.1:0`: its URL in the banner and
// the log; /metrics moving with real gRPC calls and a real subscriber (events published, a
// subscriber counted live, requests by method and code incl. NOT_FOUND, group commits, a durable
// consumer's lag) and accepted by the real `promtool check metrics`; /healthz 200; /readyz 200,
// then 503 with a reason once tasks.db is moved away under the server (file-watch fences the
// store); closed at SIGTERM, which still exits 0. Bad --http-listen values: one line, exit 1.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { call, callError, collectEvents, connect } from '../support/client';
import { requireTool, rig, rigAsync, startServer, tempProject, waitFor, type ServerProcess } from '../support/processes';

const clients: grpc.Client[] = [];
after(() => clients.forEach((c) => c.close()));

const SERVICE = 'rigger.v1.RiggerService';

/** The operations URL from the banner line `  operations:        http://HOST:PORT/metrics, /healthz, /readyz`. */
function opsUrlOf(server: ServerProcess): string {
  const match = /^ {2}operations: +(http:\/\/\S+?)\/metrics, \/healthz, \/readyz$/m.exec(server.stdout());
  assert.ok(match, `no operations line in the banner:\n${server.stdout()}`);
  return match[1]!;
}

async function get(url: string): Promise<{ status: number; body: string; type: string }> {
  const response = await fetch(url);
  return { status: response.status, body: await response.text(), type: response.headers.get('content-type') ?? '' };
}

async function scrape(base: string): Promise<string> {
  const { status, body, type } = await get(`${base}/metrics`);
  assert.equal(status, 200, body);
  assert.match(type, /^text\/plain; version=0\.0\.4/);
  return body;
}

/** The value of one series (name with its labels, exactly as exposed), or undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Which render of the server's /metrics text this is (the text is rendered at most once a second). */
const renderOf = (text: string): number => sample(text, 'rigger_metrics_renders_total') ?? 0;

/** A scrape of a render newer than `before`'s: what the server shows now, not the last second's text. */
async function scrapeAfter(base: string, before: string): Promise<string> {
  let text = before;
  await waitFor(async () => renderOf((text = await scrape(base))) > renderOf(before), 30_000, 'a new render of /metrics');
  return text;
}

const requests = (method: string, code: string) => `rigger_grpc_requests_total{service="${SERVICE}",method="${method}",code="${code}"}`;

function promtoolCheck(promtool: string, text: string): void {
  const result = spawnSync(promtool, ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(result.status, 0, `promtool check metrics: ${result.stdout}${result.stderr}`);
}

test('ops endpoint: /metrics follows calls, a subscriber and a consumer, promtool-valid; /healthz; /readyz 503 once tasks.db is moved; closed at SIGTERM', async (t) => {
  const promtool = requireTool(t, 'promtool', 'apt-get install prometheus');
  if (!promtool) return;
  const dir = tempProject();
  const dbFile = path.join(dir, '.rigger', 'tasks.db');
  const server = await startServer(dir, ['--http-listen', '127.0.0.1:0'], { RIGGER_LOG_LEVEL: 'info' });
  try {
    const base = opsUrlOf(server);
    assert.match(base, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(base, `http://127.0.0.1:${server.port}`, 'its own port, not the gRPC one');
    const logged = server
      .stderr()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { msg: string; url?: string })
      .find((entry) => entry.msg === 'operations endpoint listening');
    assert.equal(logged?.url, base, 'the URL is logged at start');

    assert.deepEqual(await get(`${base}/healthz`).then((r) => [r.status, r.body]), [200, 'ok\n']);
    assert.deepEqual(await get(`${base}/readyz`).then((r) => [r.status, r.body]), [200, 'ready\n']);
    assert.equal((await get(`${base}/nothing`)).status, 404);

    let text = await scrape(base);
    promtoolCheck(promtool, text);
    assert.equal(sample(text, 'rigger_ready'), 1);
    assert.equal(sample(text, 'rigger_events_published_total'), 0);
    assert.equal(sample(text, 'rigger_subscribers{kind="subscribe"}'), 0);
    assert.equal(sample(text, 'rigger_hub_subscriptions{state="live"}'), 0);
    assert.ok((sample(text, 'process_resident_memory_bytes') ?? 0) > 0, 'the process defaults are there');
    assert.ok(sample(text, 'nodejs_heap_size_used_bytes') !== undefined, 'the Node defaults are there');
    assert.ok((sample(text, 'rigger_database_bytes') ?? 0) > 0);
    assert.ok((sample(text, 'rigger_compaction_runs_total') ?? 0) >= 1, 'compaction ran at start-up');

    // A real subscriber, real writes, a call that fails NOT_FOUND.
    const client = connect(server.address);
    clients.push(client);
    const subscriber = collectEvents(client);
    await subscriber.ready;
    for (let i = 0; i < 3; i++) await call(client, 'AddTask', { title: `task ${i}` });
    await subscriber.waitForCount(3);
    const missing = await callError(client, 'GetTask', { task_id: 'no-such-task' });
    assert.equal(missing.code, grpc.status.NOT_FOUND);
    text = await scrapeAfter(base, text);
    assert.equal(sample(text, 'rigger_group_commit_writes_sum'), 3, 'three AddTasks, one write each (a compaction run with nothing to delete writes nothing)');
    const transactions = sample(text, 'rigger_group_commit_writes_count') ?? 0;
    assert.ok(transactions >= 1 && transactions <= 3, `transactions: ${transactions}`);
    const rigCreate = await rigAsync(['consumers', 'create', 'audit', '--start', '0', '--address', server.address]);
    assert.equal(rigCreate.code, 0, rigCreate.stderr);

    text = await scrapeAfter(base, text);
    promtoolCheck(promtool, text);
    assert.equal(sample(text, 'rigger_events_published_total'), 3);
    assert.equal(sample(text, 'rigger_last_event_sequence'), 3);
    assert.equal(sample(text, 'rigger_subscribers{kind="subscribe"}'), 1);
    assert.equal(sample(text, 'rigger_subscribers{kind="task_event_stream"}'), 0);
    assert.equal(sample(text, 'rigger_hub_subscriptions{state="live"}'), 1, 'the subscriber is on the live path');
    assert.equal(sample(text, 'rigger_hub_subscriptions{state="catching_up"}'), 0);
    assert.equal(sample(text, 'rigger_hub_subscription_max_lag_events'), 0);
    assert.equal(sample(text, requests('AddTask', 'OK')), 3);
    assert.equal(sample(text, requests('GetTask', 'NOT_FOUND')), 1);
    assert.equal(sample(text, requests('GetTask', 'OK')), undefined);
    assert.equal(sample(text, requests('CreateConsumer', 'OK')), 1);
    assert.equal(sample(text, `rigger_grpc_request_duration_seconds_count{service="${SERVICE}",method="AddTask"}`), 3);
    assert.equal(sample(text, `rigger_grpc_requests_in_flight{service="${SERVICE}",method="SubscribeToTaskEvents"}`), 1);
    assert.equal(sample(text, 'rigger_group_commit_writes_sum'), 4, "and the consumer's creation");
    assert.equal(sample(text, 'rigger_consumer_lag_events{consumer="audit"}'), 3, 'a consumer from 0 has every event to go');
    assert.equal(sample(text, 'rigger_consumer_in_flight{consumer="audit"}'), 0);
    assert.equal(sample(text, 'rigger_consumer_members{consumer="audit"}'), 0);
    assert.equal(sample(text, 'rigger_consumers'), 1);
    assert.equal(sample(text, 'rigger_consumers_total_lag_events'), 3);

    // The subscriber leaves: its stream is counted CANCELLED, the gauges go back to 0.
    subscriber.cancel();
    await waitFor(async () => sample(await scrape(base), requests('SubscribeToTaskEvents', 'CANCELLED')) === 1, 10_000, 'the cancelled stream counted');
    text = await scrape(base);
    assert.equal(sample(text, 'rigger_subscribers{kind="subscribe"}'), 0);
    assert.equal(sample(text, 'rigger_hub_subscriptions{state="live"}'), 0);

    // The database moved away under the server: not writable, so not ready; still alive.
    fs.renameSync(dbFile, path.join(dir, '.rigger', 'moved.db'));
    await waitFor(async () => (await get(`${base}/readyz`)).status === 503, 5_000, '/readyz 503');
    const notReady = await get(`${base}/readyz`);
    assert.match(notReady.body, /^not ready: the database is not writable: .*tasks\.db was deleted or moved while the server had it open.*\n$/);
    assert.equal(notReady.body.split('\n').length, 2, 'one line');
    assert.equal((await get(`${base}/healthz`)).status, 200, 'alive all the same');
    text = await scrapeAfter(base, text);
    assert.equal(sample(text, 'rigger_ready'), 0);
    promtoolCheck(promtool, text);

    assert.equal(await server.stop('SIGTERM'), 0, server.stderr());
    await assert.rejects(fetch(`${base}/healthz`), 'the endpoint is closed after shutdown');
  } finally {
    await server.stop('SIGKILL');
  }
});

test('ops endpoint: off by default; a bare port binds 127.0.0.1; the config key works', async () => {
  const dir = tempProject();
  const plain = await startServer(dir);
  try {
    assert.doesNotMatch(plain.stdout(), /operations:/, 'opt-in: no endpoint without --http-listen');
  } finally {
    assert.equal(await plain.stop(), 0);
  }
  const configFile = path.join(dir, '.rigger', 'config.json');
  fs.writeFileSync(configFile, JSON.stringify({ ...JSON.parse(fs.readFileSync(configFile, 'utf8')), httpListen: '0' }));
  const server = await startServer(dir);
  try {
    const base = opsUrlOf(server);
    assert.match(base, /^http:\/\/127\.0\.0\.1:\d+$/, 'a bare port is loopback');
    assert.equal((await get(`${base}/readyz`)).status, 200);
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

test('ops endpoint: a bad --http-listen, or its port taken, is one line and exit 1', async () => {
  const dir = tempProject();
  for (const bad of ['nonsense', '127.0.0.1:70000', '127.0.0.1:', '::1:9465', 'host:port']) {
    const result = rig(['grpc', '-C', dir, '--port', '0', '--http-listen', bad]);
    assert.equal(result.code, 1, `${bad}: ${result.stdout}${result.stderr}`);
    assert.equal(
      result.stderr,
      `rig: --http-listen must be HOST:PORT, [IPv6]:PORT or PORT (e.g. 127.0.0.1:9465; port 0 = any free port), got ${JSON.stringify(bad)}\n`,
    );
    assert.doesNotMatch(result.stdout, /ready:/);
  }
  const fromEnv = rig(['grpc', '-C', dir, '--port', '0'], { env: { RIGGER_HTTP_LISTEN: 'nope' } });
  assert.equal(fromEnv.code, 1);
  assert.match(fromEnv.stderr, /^rig: RIGGER_HTTP_LISTEN must be HOST:PORT/);

  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  try {
    const port = (taken.address() as net.AddressInfo).port;
    const result = await rigAsync(['grpc', '-C', dir, '--port', '0', '--http-listen', `127.0.0.1:${port}`]);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.equal(result.stderr, `rig: --http-listen 127.0.0.1:${port}: the port is already in use; stop the other server or choose another port\n`);
    assert.doesNotMatch(result.stdout, /ready:/);
  } finally {
    taken.close();
  }
});
