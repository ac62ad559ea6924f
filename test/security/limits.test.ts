// Limits through the real server: request size, subscribers, concurrent streams per connection,
// and keepalive releasing a connection whose peer went silent.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { connectService } from '../../src/client/connect';
import { call, callError, collectEvents, type EventCollector } from '../support/client';
import { startServer, tempProject, waitFor, type ServerProcess } from '../support/processes';

const clients: grpc.Client[] = [];
const servers: ServerProcess[] = [];
const sockets: net.Socket[] = [];
const proxies: net.Server[] = [];

after(async () => {
  for (const c of clients) c.close();
  for (const s of sockets) s.destroy();
  for (const p of proxies) p.close();
  for (const s of servers) await s.stop();
});

async function serve(args: string[]): Promise<ServerProcess> {
  const server = await startServer(tempProject(), args);
  servers.push(server);
  return server;
}

function client(address: string, options: grpc.ChannelOptions = {}) {
  const c = connectService(address, { channelOptions: { 'grpc.max_send_message_length': -1, ...options } });
  clients.push(c);
  return c;
}

test('a request over --max-request-bytes is RESOURCE_EXHAUSTED and the server keeps serving', async () => {
  const server = await serve(['--max-request-bytes', '2048']);
  const c = client(server.address);
  const error = await callError(c, 'AddTask', { title: 'x'.repeat(4096) });
  assert.equal(error.code, grpc.status.RESOURCE_EXHAUSTED);
  assert.match(error.details, /larger than max/i);
  const { task } = await call(c, 'AddTask', { title: 'small enough' });
  assert.equal(task.title, 'small enough');
  assert.equal((await call(c, 'ListTasks', {})).total_count, 1, 'the oversized request wrote nothing');
});

test('beyond --max-subscribers a new stream is RESOURCE_EXHAUSTED with a clear message; closing one makes room', async () => {
  const server = await serve(['--max-subscribers', '3']);
  const c = client(server.address);
  const open: EventCollector[] = [];
  for (let i = 0; i < 3; i++) {
    const sub = collectEvents(c, {});
    await sub.ready;
    open.push(sub);
  }
  const refused = collectEvents(c, {});
  const error = await refused.ended;
  assert.equal(error?.code, grpc.status.RESOURCE_EXHAUSTED);
  assert.match(error!.details, /already has 3 event subscribers.*--max-subscribers/);
  const duplex = c.TaskEventStream();
  const duplexError = await new Promise<grpc.ServiceError>((resolve) => duplex.on('error', resolve));
  assert.equal(duplexError.code, grpc.status.RESOURCE_EXHAUSTED);

  // Unary calls are not limited by it, and the open subscribers still get events.
  await call(c, 'AddTask', { title: 'still delivered' });
  for (const sub of open) assert.equal((await sub.waitForCount(1))[0]!.task.title, 'still delivered');

  open.pop()!.cancel();
  await waitFor(
    async () => {
      const next = collectEvents(c, {});
      const outcome = await Promise.race([next.ready.then(() => 'ready'), next.ended.then(() => 'ended')]);
      if (outcome === 'ready') {
        open.push(next);
        return true;
      }
      return false;
    },
    10_000,
    'a freed subscriber slot',
  );
  for (const sub of open) sub.cancel();
});

test('--max-concurrent-streams caps the calls one connection has open; another connection is unaffected', async () => {
  const server = await serve(['--max-concurrent-streams', '2']);
  const first = client(server.address, { 'grpc.use_local_subchannel_pool': 1 });
  const subs = [collectEvents(first, {}), collectEvents(first, {})];
  await Promise.all(subs.map((s) => s.ready));
  // A third call on the same connection cannot start while both streams stay open.
  const third = await new Promise<grpc.ServiceError | null>((resolve) =>
    first.ListTasks({}, new grpc.Metadata(), { deadline: Date.now() + 1500 }, (error) => resolve(error)),
  );
  assert.ok(third, 'the third concurrent call on one connection did not complete');
  const second = client(server.address, { 'grpc.use_local_subchannel_pool': 1 });
  assert.equal((await call(second, 'ListTasks', {})).total_count, 0);
  subs[0]!.cancel();
  await waitFor(
    async () => {
      try {
        await call(first, 'ListTasks', {});
        return true;
      } catch {
        return false;
      }
    },
    10_000,
    'a call once a stream closed',
  );
  subs[1]!.cancel();
});

test('keepalive: a connection whose peer stops answering is closed and its subscription released', async () => {
  const server = await serve(['--max-subscribers', '1', '--keepalive-time-ms', '1000', '--keepalive-timeout-ms', '500']);
  // The client reaches the server through a TCP relay the test can freeze, like a peer whose
  // machine vanished: the socket stays open, nothing comes back.
  let frozen = false;
  const relay = net.createServer((inbound) => {
    const outbound = net.connect(server.port, '127.0.0.1');
    sockets.push(inbound, outbound);
    inbound.on('data', (d) => !frozen && outbound.write(d));
    outbound.on('data', (d) => !frozen && inbound.write(d));
    inbound.on('error', () => outbound.destroy());
    outbound.on('error', () => inbound.destroy());
    outbound.on('close', () => inbound.destroy());
  });
  proxies.push(relay);
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  const viaRelay = client(`127.0.0.1:${(relay.address() as net.AddressInfo).port}`, { 'grpc.use_local_subchannel_pool': 1 });
  const sidecar = collectEvents(viaRelay, {});
  await sidecar.ready;

  const direct = client(server.address, { 'grpc.use_local_subchannel_pool': 1 });
  const refused = collectEvents(direct, {});
  assert.equal((await refused.ended)?.code, grpc.status.RESOURCE_EXHAUSTED, 'the one slot is taken by the relayed sidecar');

  frozen = true;
  // Within keepalive time + timeout (+ slack) the server drops the silent connection.
  await waitFor(
    async () => {
      const next = collectEvents(direct, {});
      const outcome = await Promise.race([next.ready.then(() => 'ready'), next.ended.then(() => 'ended')]);
      if (outcome === 'ready') next.cancel();
      return outcome === 'ready';
    },
    15_000,
    "the server to release the frozen connection's subscription",
  );
});

/** A client on its own connection: grpc-js would otherwise share one between clients of the same address. */
function ownConnection(address: string) {
  return client(address, { 'grpc.use_local_subchannel_pool': 1 });
}

test('--max-subscribers-per-connection: one connection cannot take every slot; another connection still subscribes', async () => {
  const server = await serve(['--max-subscribers-per-connection', '3', '--max-subscribers', '10']);
  const first = ownConnection(server.address);
  const held: EventCollector[] = [];
  for (let i = 0; i < 3; i++) {
    const subscriber = collectEvents(first, {});
    await subscriber.ready;
    held.push(subscriber);
  }
  const fourth = collectEvents(first, {});
  const refused = await Promise.race([fourth.ended, fourth.ready.then(() => undefined)]);
  fourth.cancel();
  assert.equal(refused?.code, grpc.status.RESOURCE_EXHAUSTED, 'a fourth stream on the connection is refused, not opened');
  assert.match(refused!.details, /this connection already holds 3 event streams .*--max-subscribers-per-connection/);
  const second = ownConnection(server.address);
  const other = collectEvents(second, {});
  await other.ready;
  await call(second, 'AddTask', { title: 'seen by both connections' });
  await other.waitForCount(1);
  await held[0]!.waitForCount(1);
  // A slot freed on the first connection can be taken again.
  held[0]!.cancel();
  await waitFor(
    async () => {
      const again = collectEvents(first, {});
      const outcome = await Promise.race([again.ready.then(() => 'ready'), again.ended.then(() => 'ended')]);
      if (outcome === 'ready') held.push(again);
      return outcome === 'ready';
    },
    10_000,
    'the freed slot',
  );
  for (const s of [...held, other]) s.cancel();
});

test('--max-health-watchers caps grpc.health.v1 Watch streams (open to all when tokens are set)', async () => {
  const server = await serve(['--max-health-watchers', '2', '--token', 'secret-token-1']);
  const raw = ownConnection(server.address);
  const watch = () => {
    const stream = raw.makeServerStreamRequest(
      '/grpc.health.v1.Health/Watch',
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.alloc(0),
    );
    const first = new Promise<Buffer | grpc.ServiceError>((resolve) => {
      stream.once('data', resolve);
      stream.once('error', resolve);
    });
    return { stream, first };
  };
  const a = watch();
  const b = watch();
  assert.ok(Buffer.isBuffer(await a.first), 'the first watch streams its status');
  assert.ok(Buffer.isBuffer(await b.first));
  const c = watch();
  const refused = (await c.first) as grpc.ServiceError;
  assert.equal(refused.code, grpc.status.RESOURCE_EXHAUSTED);
  assert.match(refused.details, /already has 2 health Watch streams .*--max-health-watchers/);
  a.stream.cancel();
  await waitFor(
    async () => {
      const d = watch();
      const got = await d.first;
      d.stream.cancel();
      return Buffer.isBuffer(got);
    },
    10_000,
    'a watch slot freed by the cancel',
  );
  b.stream.cancel();
});
