// A thousand clients that go away mid-stream (half cancel the call, half drop the TCP connection
// with no goodbye) while a writer keeps events flowing: no subscription leaks (every slot of a
// small --max-subscribers is free afterwards) and the server's RSS stays within a stated bound.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { connectService } from '../../src/client/connect';
import { call, collectEvents, connect, type EventCollector } from '../support/client';
import { startServer, tempProject, waitFor } from '../support/processes';

const DISCONNECTS = 1000;
const PARALLEL = 4;
const MAX_SUBSCRIBERS = 8;
/** Allowed RSS growth from after warm-up to the end. */
const RSS_BOUND_MB = 40;

export function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]);
  return kb / 1024;
}

/** A TCP relay to `port` whose connections the test can cut abruptly. */
async function relayTo(port: number) {
  const open = new Set<net.Socket>();
  const server = net.createServer((inbound) => {
    const outbound = net.connect(port, '127.0.0.1');
    open.add(inbound).add(outbound);
    inbound.pipe(outbound).pipe(inbound);
    const drop = () => {
      inbound.destroy();
      outbound.destroy();
      open.delete(inbound);
      open.delete(outbound);
    };
    inbound.on('error', drop).on('close', drop);
    outbound.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    /** Resets every relayed connection (RST, as when a sidecar's host dies). */
    cutAll: () => {
      for (const socket of open) socket.resetAndDestroy();
      open.clear();
    },
    close: () => server.close(),
  };
}

/** Subscribes, retrying while the server has not yet released slots freed an instant ago. */
async function subscribe(client: grpc.Client, retries = { count: 0 }): Promise<EventCollector> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const sub = collectEvents(client as never, { since_sequence: 0 });
    const outcome = await Promise.race([sub.ready.then(() => 'ready' as const), sub.ended]);
    if (outcome === 'ready') return sub;
    if (outcome?.code !== grpc.status.RESOURCE_EXHAUSTED) throw new Error(`subscribe failed: ${outcome?.code} ${outcome?.details}`);
    retries.count++;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('every subscriber slot stayed taken for 5 s: subscriptions are leaking');
}

test(`${DISCONNECTS} clients disconnecting mid-stream: no leaked subscriptions, RSS flat within ${RSS_BOUND_MB} MB`, async (t) => {
  const server = await startServer(tempProject(), ['--max-subscribers', String(MAX_SUBSCRIBERS)]);
  const pid = server.child.pid!;
  const writerClient = connect(server.address);
  const shared = connect(server.address);
  const relay = await relayTo(server.port);
  for (let i = 0; i < 200; i++) await call(writerClient, 'AddTask', { title: `history ${i}`, assignee: i % 2 ? 'Alice' : 'Bob' });

  let writing = true;
  const writer = (async () => {
    for (let i = 0; writing && i < 100_000; i++) {
      await call(writerClient, 'AddTask', { title: `live ${i}` });
      await new Promise((r) => setTimeout(r, 5));
    }
  })();

  const retries = { count: 0 };
  let done = 0;
  let rssAfterWarmup = 0;
  let rssPeak = 0;
  const one = async (n: number) => {
    if (n % 2 === 0) {
      // Cancel mid-stream (RST_STREAM) while history is still being replayed.
      const sub = await subscribe(shared, retries);
      await sub.waitForCount(1);
      sub.cancel();
    } else {
      // Drop the whole connection with no goodbye.
      const client = connectService(relay.address, { channelOptions: { 'grpc.use_local_subchannel_pool': 1 } });
      const sub = await subscribe(client, retries);
      await sub.waitForCount(1);
      relay.cutAll();
      await sub.ended;
      client.close();
    }
    done++;
    if (done === 100) rssAfterWarmup = rssMb(pid);
    if (done % 100 === 0) rssPeak = Math.max(rssPeak, rssMb(pid));
  };
  // Connection drops must not cut each other's relayed connections: run them one at a time,
  // with the cancels interleaved in parallel.
  for (let n = 0; n < DISCONNECTS; n += PARALLEL) {
    const batch = Array.from({ length: Math.min(PARALLEL, DISCONNECTS - n) }, (_, i) => n + i);
    const drop = batch.find((k) => k % 2 === 1);
    await Promise.all([...batch.filter((k) => k % 2 === 0).map(one), ...(drop !== undefined ? [one(drop)] : [])]);
    for (const k of batch.filter((k) => k % 2 === 1 && k !== drop)) await one(k);
  }
  writing = false;
  await writer;
  assert.equal(done, DISCONNECTS);

  // Every slot is free again: open MAX_SUBSCRIBERS streams at once, all accepted.
  const held: EventCollector[] = [];
  await waitFor(
    async () => {
      const sub = collectEvents(shared, {});
      const outcome = await Promise.race([sub.ready.then(() => 'ready' as const), sub.ended]);
      if (outcome === 'ready') held.push(sub);
      return held.length === MAX_SUBSCRIBERS;
    },
    10_000,
    `${MAX_SUBSCRIBERS} free subscriber slots`,
  );
  const extra = collectEvents(shared, {});
  assert.equal((await extra.ended)?.code, grpc.status.RESOURCE_EXHAUSTED, 'the limit still holds, so the count is right');
  for (const sub of held) sub.cancel();

  // Measured once the server has released every one of them (GetHubStatus lists no stream).
  await waitFor(async () => Number((await call(shared, 'GetHubStatus', {})).stream_count) === 0, 20_000, 'every stream released');
  const rssEnd = rssMb(pid);
  t.diagnostic(
    `RSS after 100 disconnects ${rssAfterWarmup.toFixed(1)} MB, peak ${Math.max(rssPeak, rssEnd).toFixed(1)} MB, end ${rssEnd.toFixed(1)} MB; ${retries.count} subscribe retries while slots were being released`,
  );
  assert.ok(rssEnd - rssAfterWarmup < RSS_BOUND_MB, `RSS grew ${(rssEnd - rssAfterWarmup).toFixed(1)} MB (bound ${RSS_BOUND_MB} MB)`);

  relay.close();
  writerClient.close();
  shared.close();
  assert.equal(await server.stop(), 0);
});
