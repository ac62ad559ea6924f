// The peers' client process, forked by the bench (like producer-worker.ts and consumer-worker.ts for
// the hub): durable writes at a fixed concurrency, consumer groups and ack round trips, and
// JetStream's latency publisher and ordered-consumer subscribers, against JetStream, Redis and etcd.
import { AckPolicy, connect, consumerOpts, DeliverPolicy, StorageType, type JetStreamSubscription, type NatsConnection } from 'nats';
import { EtcdClient } from './peers/etcd-client';
import type { PeerName } from './peers/peer-servers';
import { RedisClient, type Reply } from './peers/redis-client';
import { serveCommands } from './ipc';
import { steadyCalls, type LoadResult } from './steady-load';
import { percentiles, sleep, wallClockMs } from './stats';

/** The prefilled events of the consumer rows: a JetStream stream and a Redis stream of that name. */
const EVENTS = { stream: 'BENCH_EVENTS', subject: 'bench.events', key: 'bench:events' };
const WRITES = { stream: 'BENCH_WRITES', subject: 'bench.writes', key: 'bench:writes' };

const payloadOf = (bytes: number) => Buffer.alloc(bytes, 120);

/** `concurrency` loops, each with one `op` in flight, for `durationMs`. */
async function concurrentLoad(op: (n: number) => Promise<unknown>, concurrency: number, durationMs: number): Promise<LoadResult> {
  const result: LoadResult = { calls: 0, errors: 0, elapsedMs: 0 };
  let stopped = false;
  let n = 0;
  const startedAt = wallClockMs();
  const loop = async () => {
    while (!stopped) {
      try {
        await op(n++);
        result.calls++;
      } catch (error) {
        result.errors++;
        result.firstError ??= (error as Error).message;
        await sleep(10);
      }
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  await sleep(durationMs);
  stopped = true;
  await Promise.all(loops);
  return { ...result, elapsedMs: wallClockMs() - startedAt };
}

async function ensureStream(nc: NatsConnection, name: string, subject: string): Promise<void> {
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name, subjects: [subject], storage: StorageType.File });
}

/** A write op for `peer` and how to close its client. */
async function writer(peer: PeerName, address: string, payload: Buffer): Promise<{ op: (n: number) => Promise<unknown>; close(): Promise<void> }> {
  if (peer === 'jetstream') {
    const nc = await connect({ servers: address });
    await ensureStream(nc, WRITES.stream, WRITES.subject);
    const js = nc.jetstream();
    return { op: () => js.publish(WRITES.subject, payload), close: () => nc.close() };
  }
  if (peer === 'redis') {
    const redis = await RedisClient.connect(address);
    return { op: () => redis.command('XADD', WRITES.key, '*', 'event', payload), close: async () => redis.close() };
  }
  const etcd = new EtcdClient(address);
  return { op: (n) => etcd.put(Buffer.from(`bench/${n}`), payload), close: async () => etcd.close() };
}

/** XREADGROUP's reply as [id, ...] of its one stream (null: nothing new). */
function entryIds(reply: Reply): string[] {
  if (!Array.isArray(reply) || reply.length === 0) return [];
  const entries = (reply[0] as Reply[])[1] as Reply[];
  return entries.map((entry) => String((entry as Reply[])[0]));
}

let latencyConnection: NatsConnection | undefined;
let latencySubscriptions: JetStreamSubscription[] = [];
let received = 0;
let startedAt = 0;
let samples = new Float64Array(0);
let sampleCount = 0;
let target = Infinity;
let reachedTarget: (() => void) | undefined;

function resetLatency(): void {
  received = 0;
  sampleCount = 0;
  startedAt = wallClockMs();
}

serveCommands({
  /** `concurrency` writes in flight for `durationMs`, after `warmupMs` of the same load that is not counted. */
  async writeLoad(args: { peer: PeerName; address: string; concurrency: number; durationMs: number; warmupMs: number; payloadBytes: number }) {
    const { op, close } = await writer(args.peer, args.address, payloadOf(args.payloadBytes));
    try {
      await concurrentLoad(op, args.concurrency, args.warmupMs);
      return await concurrentLoad(op, args.concurrency, args.durationMs);
    } finally {
      await close();
    }
  },

  /** Writes `count` events of `payloadBytes` into the consumer rows' stream (JetStream or Redis). */
  async prefill(args: { peer: 'jetstream' | 'redis'; address: string; count: number; payloadBytes: number }) {
    const payload = payloadOf(args.payloadBytes);
    const batch = 500;
    if (args.peer === 'jetstream') {
      const nc = await connect({ servers: args.address });
      await ensureStream(nc, EVENTS.stream, EVENTS.subject);
      const js = nc.jetstream();
      for (let i = 0; i < args.count; i += batch) {
        await Promise.all(Array.from({ length: Math.min(batch, args.count - i) }, () => js.publish(EVENTS.subject, payload)));
      }
      await nc.close();
    } else {
      const redis = await RedisClient.connect(args.address);
      for (let i = 0; i < args.count; i += batch) {
        await Promise.all(Array.from({ length: Math.min(batch, args.count - i) }, () => redis.command('XADD', EVENTS.key, '*', 'event', payload)));
      }
      redis.close();
    }
    return {};
  },

  /**
   * A new durable consumer (JetStream pull, explicit ack) or consumer group (Redis) named `name` over
   * the prefilled events, `members` members with a connection each, every delivery acked at once;
   * resolves when `total` deliveries have arrived.
   */
  async group(args: { peer: 'jetstream' | 'redis'; address: string; name: string; members: number; total: number; timeoutMs: number }) {
    let got = 0;
    let finish: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (finish = resolve));
    const timer = setTimeout(finish, args.timeoutMs);
    const closers: (() => Promise<unknown> | void)[] = [];
    const startedAt = wallClockMs();
    try {
      if (args.peer === 'jetstream') {
        const admin = await connect({ servers: args.address });
        closers.push(() => admin.close());
        await (
          await admin.jetstreamManager()
        ).consumers.add(EVENTS.stream, {
          durable_name: args.name,
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.All,
          max_ack_pending: 2000 * args.members,
        });
        const members = await Promise.all(Array.from({ length: args.members }, () => connect({ servers: args.address })));
        for (const nc of members) closers.push(() => nc.close());
        for (const nc of members) {
          const messages = await (await nc.jetstream().consumers.get(EVENTS.stream, args.name)).consume({ max_messages: 1000 });
          closers.unshift(() => messages.close());
          void (async () => {
            for await (const message of messages) {
              message.ack();
              if (++got >= args.total) finish();
            }
          })();
        }
      } else {
        const admin = await RedisClient.connect(args.address);
        closers.push(() => admin.close());
        await admin.command('XGROUP', 'CREATE', EVENTS.key, args.name, '0');
        const members = await Promise.all(Array.from({ length: args.members }, () => RedisClient.connect(args.address)));
        for (const redis of members) closers.push(() => redis.close());
        let stopped = false;
        closers.unshift(() => void (stopped = true));
        members.forEach((redis, i) => {
          void (async () => {
            while (!stopped && got < args.total) {
              const reply = await redis.command('XREADGROUP', 'GROUP', args.name, `member-${i}`, 'COUNT', '1000', 'BLOCK', '100', 'STREAMS', EVENTS.key, '>');
              for (const id of entryIds(reply)) {
                void redis.command('XACK', EVENTS.key, args.name, id).catch(() => undefined);
                if (++got >= args.total) finish();
              }
            }
          })().catch(() => undefined);
        });
      }
      await done;
      return { received: got, elapsedMs: wallClockMs() - startedAt };
    } finally {
      clearTimeout(timer);
      for (const close of closers) await close();
    }
  },

  /** A new durable consumer / group `name`: one delivery at a time, timing its ack until the server's reply. */
  async ackRoundTrip(args: { peer: 'jetstream' | 'redis'; address: string; name: string; count: number }) {
    const times = new Float64Array(args.count);
    let n = 0;
    if (args.peer === 'jetstream') {
      const nc = await connect({ servers: args.address });
      await (
        await nc.jetstreamManager()
      ).consumers.add(EVENTS.stream, { durable_name: args.name, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All });
      const consumer = await nc.jetstream().consumers.get(EVENTS.stream, args.name);
      while (n < args.count) {
        const message = await consumer.next({ expires: 5000 });
        if (!message) throw new Error(`no message for the ack round trip after ${n}`);
        const t0 = wallClockMs();
        await message.ackAck();
        times[n++] = wallClockMs() - t0;
      }
      await nc.close();
    } else {
      const redis = await RedisClient.connect(args.address);
      await redis.command('XGROUP', 'CREATE', EVENTS.key, args.name, '0');
      while (n < args.count) {
        const [id] = entryIds(await redis.command('XREADGROUP', 'GROUP', args.name, 'member', 'COUNT', '1', 'STREAMS', EVENTS.key, '>'));
        if (!id) throw new Error(`no entry for the ack round trip after ${n}`);
        const t0 = wallClockMs();
        await redis.command('XACK', EVENTS.key, args.name, id);
        times[n++] = wallClockMs() - t0;
      }
      redis.close();
    }
    return percentiles(times, n);
  },

  /** Creates the JetStream file-storage stream `name` on `subject` (the latency row's). */
  async createStream(args: { address: string; name: string; subject: string }) {
    const nc = await connect({ servers: args.address });
    await ensureStream(nc, args.name, args.subject);
    await nc.close();
    return {};
  },

  /** `subscribers` ordered push consumers (new messages only) on one connection, each receipt's latency sampled. */
  async subscribeOrdered(args: { address: string; subject: string; subscribers: number; maxSamples: number }) {
    latencyConnection = await connect({ servers: args.address });
    const js = latencyConnection.jetstream();
    samples = new Float64Array(args.maxSamples);
    resetLatency();
    for (let i = 0; i < args.subscribers; i++) {
      const opts = consumerOpts();
      opts.orderedConsumer();
      opts.deliverNew();
      opts.callback((error, message) => {
        if (error || !message) return;
        // The server's store time (ns) of the message: the peer's commit time.
        const committedAt = message.info.timestampNanos / 1e6;
        if (committedAt < startedAt) return; // a warm-up's backlog, neither counted nor sampled
        if (sampleCount < samples.length) samples[sampleCount++] = wallClockMs() - committedAt;
        if (++received >= target) {
          target = Infinity;
          reachedTarget?.();
        }
      });
      latencySubscriptions.push(await js.subscribe(args.subject, opts));
    }
    await latencyConnection.flush();
    return { subscribers: latencySubscriptions.length };
  },

  /** Resolves when `total` receipts have arrived since the last reset, or after `timeoutMs` with what arrived. */
  async waitForCount({ total, timeoutMs }: { total: number; timeoutMs: number }) {
    if (received < total) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          target = Infinity;
          resolve();
        }, timeoutMs);
        target = total;
        reachedTarget = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return { count: received, complete: received >= total };
  },
  reset: () => void resetLatency(),
  latency: () => percentiles(samples, sampleCount),
  async closeSubscribers() {
    for (const subscription of latencySubscriptions) subscription.unsubscribe();
    latencySubscriptions = [];
    await latencyConnection?.close();
    latencyConnection = undefined;
    return {};
  },

  /** js.publish at a steady `rate` per second for `durationMs`, each issued on schedule without waiting for earlier ones. */
  async steadyPublish(args: { address: string; subject: string; rate: number; durationMs: number; payloadBytes: number }) {
    const nc = await connect({ servers: args.address });
    const js = nc.jetstream();
    const payload = payloadOf(args.payloadBytes);
    const result = await steadyCalls(args.rate, args.durationMs, () => js.publish(args.subject, payload));
    await nc.close();
    return result;
  },
});
