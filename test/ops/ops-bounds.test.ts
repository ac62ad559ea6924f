// The operations endpoint stays small and cheap whatever scrapers and clients do, on a real
// `rig grpc --http-listen 127.0.0.1:0`: with 2,000 durable consumers (created over CreateConsumer)
// /metrics is under 1 MB, has series of its own for the 20 most lagging consumers only and totals
// over all of them; a burst of 100 scrapes (10 scrapers one scrape after the other) is served from one render per second (identical bodies
// within a render, the render counter telling them apart), gzip-compressed for scrapers that ask.
// And the bearer token: /metrics 401 without it or with a wrong one, 200 with it; the probes open.
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import fs from 'node:fs';
import { test } from 'node:test';
import zlib from 'node:zlib';
import { RiggerClient } from '../../src/client/index';
import { rig, startServer, tempProject, waitFor, type ServerProcess } from '../support/processes';

/** As TOP_CONSUMERS in src/ops/server-metrics.ts (docs/operations.md says 20). */
const TOP = 20;
const CONSUMERS = 2_000;
/** Consumers c-0000 .. c-0029 start at sequence i, the rest at the head: lags 30 down to 1, then 0. */
const TASKS = 30;

function opsUrlOf(server: ServerProcess): string {
  const match = /^ {2}operations: +(http:\/\/\S+?)\/metrics, \/healthz, \/readyz$/m.exec(server.stdout());
  assert.ok(match, `no operations line in the banner:\n${server.stdout()}`);
  return match[1]!;
}

interface Raw {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One GET as sent (no automatic Accept-Encoding or decompression, unlike fetch). */
function rawGet(url: string, headers: Record<string, string> = {}): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { headers, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }));
      response.on('error', reject);
    });
    request.on('error', reject);
    request.setTimeout(30_000, () => request.destroy(new Error(`GET ${url}: no answer in 30 s`)));
  });
}

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Every series of `name` (its labelled samples), as `name{labels}` → value. */
function seriesOf(text: string, name: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const space = line.lastIndexOf(' ');
    found.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return found;
}

const renderOf = (text: string): number => sample(text, 'rigger_metrics_renders_total') ?? 0;

const name = (i: number) => `c-${String(i).padStart(4, '0')}`;

test('ops endpoint: 2,000 consumers give a /metrics under 1 MB with the 20 most lagging and totals; a scrape burst is served from one render a second', async () => {
  const dir = tempProject();
  const server = await startServer(dir, ['--http-listen', '127.0.0.1:0', '--max-consumers', '2000']);
  const client = new RiggerClient({ address: server.address, actor: 'ops-bounds-test' });
  try {
    const base = opsUrlOf(server);
    for (let i = 0; i < TASKS; i++) await client.addTask({ title: `task ${i}` });
    // In parallel, as many clients would: the group commit takes them in batches.
    await Promise.all(Array.from({ length: CONSUMERS }, (_, i) => client.createConsumer({ name: name(i), start_sequence: Math.min(i, TASKS) })));

    let text = '';
    await waitFor(
      async () => sample((text = (await rawGet(`${base}/metrics`)).body.toString()), 'rigger_consumers') === CONSUMERS,
      10_000,
      'a render with every consumer',
    );
    const bytes = Buffer.byteLength(text);
    assert.ok(bytes < 1024 * 1024, `/metrics is ${bytes} bytes`);

    const lags = seriesOf(text, 'rigger_consumer_lag_events');
    const expected = new Map(Array.from({ length: TOP }, (_, i) => [`rigger_consumer_lag_events{consumer="${name(i)}"}`, TASKS - i]));
    assert.deepEqual(lags, expected, 'the 20 most lagging, with their lags');
    for (const perConsumer of ['rigger_consumer_in_flight', 'rigger_consumer_members', 'rigger_consumer_dead_letters']) {
      assert.equal(seriesOf(text, perConsumer).size, TOP, perConsumer);
    }
    assert.equal(sample(text, 'rigger_consumers'), CONSUMERS);
    assert.equal(sample(text, 'rigger_consumers_lost'), 0);
    assert.equal(sample(text, 'rigger_consumers_max_lag_events'), TASKS);
    assert.equal(sample(text, 'rigger_consumers_total_lag_events'), (TASKS * (TASKS + 1)) / 2);
    assert.equal(sample(text, 'rigger_consumers_in_flight'), 0);
    assert.equal(sample(text, 'rigger_consumers_members'), 0);
    assert.equal(sample(text, 'rigger_consumers_dead_letters'), 0);
    // Generous: a render reads 2,000 consumers once, nowhere near the seconds one took when it grew with them.
    assert.ok((sample(text, 'rigger_metrics_render_seconds') ?? Infinity) < 2, `render took ${sample(text, 'rigger_metrics_render_seconds')} s`);

    // A burst, 10 scrapers 10 scrapes each one after the other: every scrape gets the text of a
    // render, and renders are a second apart at least.
    const started = Date.now();
    const burst: Raw[] = [];
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        for (let i = 0; i < 10; i++) burst.push(await rawGet(`${base}/metrics`));
      }),
    );
    const elapsedMs = Date.now() - started;
    const byRender = new Map<number, Set<string>>();
    for (const { status, body } of burst) {
      assert.equal(status, 200);
      const body$ = body.toString();
      const render = renderOf(body$);
      byRender.set(render, (byRender.get(render) ?? new Set()).add(body$));
    }
    for (const [render, bodies] of byRender) assert.equal(bodies.size, 1, `render ${render}: one text for every scrape of it`);
    assert.ok(byRender.size <= Math.floor(elapsedMs / 1000) + 2, `${byRender.size} renders for 100 scrapes in ${elapsedMs} ms`);

    // Compressed for a scraper that asks (Prometheus does): the same text of the same render.
    const renderBefore = Math.max(...byRender.keys());
    const zipped = await rawGet(`${base}/metrics`, { 'accept-encoding': 'gzip' });
    assert.equal(zipped.headers['content-encoding'], 'gzip');
    const unzipped = zlib.gunzipSync(zipped.body).toString();
    const plain = (await rawGet(`${base}/metrics`)).body.toString();
    if (renderOf(unzipped) === renderOf(plain)) assert.equal(unzipped, plain);
    assert.ok(renderOf(unzipped) >= renderBefore);
    assert.ok(zipped.body.length < Buffer.byteLength(unzipped) / 3, `gzip: ${zipped.body.length} of ${Buffer.byteLength(unzipped)} bytes`);

    // Not stuck: a later scrape gets a new render, with what changed since.
    await client.addTask({ title: 'one more' });
    await waitFor(
      async () => sample((text = (await rawGet(`${base}/metrics`)).body.toString()), 'rigger_consumers_max_lag_events') === TASKS + 1,
      60_000,
      'a new render (renders are 200 times their event-loop time apart, which a loaded machine stretches)',
    );
    assert.ok(renderOf(text) > renderBefore);
    assert.equal(sample(text, `rigger_consumer_lag_events{consumer="${name(0)}"}`), TASKS + 1);
  } finally {
    await client.close();
    await server.stop('SIGKILL');
  }
});

test('ops endpoint: --http-token: /metrics 401 without the token or with a wrong one, 200 with it; /healthz and /readyz stay open; env and config key; a bad token is one line', async () => {
  const dir = tempProject();
  const token = 'ops-Token_123';
  const server = await startServer(dir, ['--http-listen', '127.0.0.1:0', '--http-token', token]);
  try {
    const base = opsUrlOf(server);
    const without = await rawGet(`${base}/metrics`);
    assert.equal(without.status, 401);
    assert.equal(without.headers['www-authenticate'], 'Bearer realm="rigger"');
    assert.equal(
      without.body.toString(),
      '/metrics requires a token; send the header "Authorization: Bearer <token>" with the server\'s --http-token (RIGGER_HTTP_TOKEN)\n',
    );
    const wrong = await rawGet(`${base}/metrics`, { authorization: `Bearer ${token}x` });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.toString(), 'the bearer token is not valid for this endpoint; check --http-token / RIGGER_HTTP_TOKEN\n');
    assert.doesNotMatch(wrong.body.toString(), /rigger_/, 'no metrics in a refusal');
    const basic = await rawGet(`${base}/metrics`, { authorization: `Basic ${Buffer.from(`x:${token}`).toString('base64')}` });
    assert.equal(basic.status, 401);
    assert.match(basic.body.toString(), /^the Authorization header is not of the form "Bearer <token>"/);
    const right = await rawGet(`${base}/metrics`, { authorization: `Bearer ${token}` });
    assert.equal(right.status, 200);
    assert.equal(sample(right.body.toString(), 'rigger_ready'), 1);
    assert.equal((await rawGet(`${base}/healthz`)).status, 200, 'liveness probes need no token');
    assert.equal((await rawGet(`${base}/readyz`)).status, 200, 'readiness probes need no token');
  } finally {
    assert.equal(await server.stop(), 0, server.stderr());
  }

  // From the environment, then from config.json.
  const fromEnv = await startServer(dir, ['--http-listen', '127.0.0.1:0'], { RIGGER_HTTP_TOKEN: 'from-env' });
  try {
    const base = opsUrlOf(fromEnv);
    assert.equal((await rawGet(`${base}/metrics`)).status, 401);
    assert.equal((await rawGet(`${base}/metrics`, { authorization: 'Bearer from-env' })).status, 200);
  } finally {
    assert.equal(await fromEnv.stop(), 0);
  }
  const configFile = path.join(dir, '.rigger', 'config.json');
  fs.writeFileSync(configFile, JSON.stringify({ ...JSON.parse(fs.readFileSync(configFile, 'utf8')), httpListen: '127.0.0.1:0', httpToken: 'from-config' }));
  const fromConfig = await startServer(dir);
  try {
    const base = opsUrlOf(fromConfig);
    assert.equal((await rawGet(`${base}/metrics`)).status, 401);
    assert.equal((await rawGet(`${base}/metrics`, { authorization: 'bearer  from-config' })).status, 200, 'the scheme in any case, as for gRPC');
  } finally {
    assert.equal(await fromConfig.stop(), 0);
  }

  const bad = rig(['grpc', '-C', dir, '--port', '0', '--http-token', 'two words']);
  assert.equal(bad.code, 1, bad.stdout + bad.stderr);
  assert.equal(bad.stderr, 'rig: --http-token: a token must be visible ASCII characters without spaces\n');
});

test('ops endpoint: binding every interface without --http-token is warned about at start', async () => {
  const dir = tempProject();
  const server = await startServer(dir, ['--http-listen', '0.0.0.0:0']);
  try {
    await waitFor(
      () => /^rig: warning: the operations endpoint binds 0\.0\.0\.0, reachable from other machines, without --http-token/m.test(server.stderr()),
      5_000,
      'the warning',
    );
  } finally {
    assert.equal(await server.stop(), 0);
  }
});
