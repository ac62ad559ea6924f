// A client floods TaskEventStream with `update` messages as fast as it can write them. The server
// reads at most --max-writes-in-flight updates ahead of those applied, so HTTP/2 flow control holds
// the rest on the client: server memory stays bounded and every update is applied exactly once,
// in order. Other callers' GetTask latency is printed, not asserted: timing belongs to the bench.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http2 from 'node:http2';
import { test } from 'node:test';
import path from 'node:path';
import { call, connect } from '../support/client';
import { spawnTracked, startServer, tempProject, waitFor } from '../support/processes';
import { INBOUND_STREAM_WINDOW_BYTES } from '../../src/grpc/inbound-window';

const UPDATES = Number(process.env.RIGGER_FLOOD_UPDATES ?? 100_000);
// Reading every message at once grew RSS by 222 MB over 200,000 updates, about 1.1 KB each: 110 MB
// over these 100,000. Read a bounded number ahead, with a small inbound HTTP/2 window, the replay ring
// in a fixed arena and a 4 MiB page cache, the growth left (40-45 MB, whatever the count) is V8's
// young generation at its full size and garbage waiting for its next full collection
// (docs/reliability.md); the 50 MB target over 200,000 updates is the bench's (`npm run bench`, flood).
const RSS_GROWTH_LIMIT_MB = 75;

function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

function p99(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))]!;
}

async function getTaskLatencies(client: ReturnType<typeof connect>, id: string, until: () => boolean, max: number): Promise<number[]> {
  const samples: number[] = [];
  while (!until() && samples.length < max) {
    const started = process.hrtime.bigint();
    await call(client, 'GetTask', { task_id: id });
    samples.push(Number(process.hrtime.bigint() - started) / 1e6);
    await new Promise((r) => setTimeout(r, 5));
  }
  return samples;
}

test(`${UPDATES} TaskEventStream updates written at once: bounded server RSS, each applied once`, { timeout: 480_000 }, async (t) => {
  const dir = tempProject();
  const server = await startServer(dir);
  const other = connect(server.address);
  try {
    const { task } = await call(other, 'AddTask', { title: 'flooded' });
    const quiet = await getTaskLatencies(other, task.id, () => false, 300);
    const baselineRss = rssMb(server.child.pid!);

    // The flooder is its own process, as another client would be: its CPU is not the sampler's.
    const flooder = spawnTracked(process.execPath, [path.join(__dirname, 'update-flooder.js'), server.address, task.id, String(UPDATES)]);

    let peakRss = baselineRss;
    let done = false;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssMb(server.child.pid!))), 100);
    const version = async () => (await call(other, 'GetTask', { task_id: task.id })).task.version as number;
    const loaded = getTaskLatencies(other, task.id, () => done, 100_000);
    try {
      await waitFor(async () => (await version()) === UPDATES + 1, 420_000, `all ${UPDATES} updates applied`);
    } finally {
      done = true;
      clearInterval(sampler);
    }
    const during = await loaded;
    flooder.kill('SIGKILL');

    const growth = peakRss - baselineRss;
    t.diagnostic(
      `RSS ${baselineRss.toFixed(1)} -> peak ${peakRss.toFixed(1)} MB; GetTask p99 quiet ${p99(quiet).toFixed(2)} ms, during ${p99(during).toFixed(2)} ms over ${during.length}`,
    );
    assert.ok(growth < RSS_GROWTH_LIMIT_MB, `server RSS grew ${growth.toFixed(1)} MB during the flood`);
    assert.equal(await version(), UPDATES + 1, 'each update applied exactly once');
  } finally {
    other.close();
    await server.stop();
  }
});

test('the server grants each inbound stream a small HTTP/2 window, so a flood waits in the client', { timeout: 30_000 }, async () => {
  const server = await startServer(tempProject());
  const session = http2.connect(`http://${server.address}`);
  try {
    const settings = await new Promise<http2.Settings>((resolve, reject) => {
      session.once('remoteSettings', resolve);
      session.once('error', reject);
    });
    assert.equal(settings.initialWindowSize, INBOUND_STREAM_WINDOW_BYTES);
    assert.ok(INBOUND_STREAM_WINDOW_BYTES < 65_535, "smaller than node's default window");
  } finally {
    session.close();
    await server.stop();
  }
});
