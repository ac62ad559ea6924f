// A subscriber process, forked by the bench: opens S streams on one connection (to the hub, the
// bare grpc-js ceiling, or NATS) and counts what arrives; in latency mode it also records, per
// message, receipt wall-clock time minus the event's commit timestamp.
import * as grpc from '@grpc/grpc-js';
import { connect, type NatsConnection } from 'nats';
import { DEFAULT_CHANNEL_OPTIONS } from '../src/client/connect';
import { serveCommands } from './ipc';
import { percentiles, wallClockMs } from './stats';
import { CEILING_STREAM_PATH, encodeSubscribeRequest, eventTimestamp, HUB_SUBSCRIBE_PATH, openRawStream } from './wire';

interface SubscribeArgs {
  kind: 'hub' | 'ceiling';
  address: string;
  streams: number;
  sinceSequence?: number;
  /** Record commit -> receipt latency for every message (hub only). */
  latency?: boolean;
  maxSamples?: number;
  /** Stop reading right after the stream is registered (a stalled subscriber). */
  paused?: boolean;
  /** Receive with grpc-js's default 64 KiB flow-control window instead of the typed client's. */
  defaultWindow?: boolean;
}

let received = 0;
let bytes = 0;
let startedAt = 0;
let samples = new Float64Array(0);
let sampleCount = 0;
let recordLatency = false;
let target = Infinity;
let reachedTarget: (() => void) | undefined;
let channel: grpc.Client | undefined;
let streams: grpc.ClientReadableStream<Buffer>[] = [];
let nats: NatsConnection | undefined;
const failures: string[] = [];

let lastTimestamp: string | undefined;
let lastCommittedAt = NaN;
/** The event's commit time in ms; every stream carries the same event, so the parse is reused. */
function commitTime(message: Buffer): number {
  const timestamp = eventTimestamp(message);
  if (timestamp !== lastTimestamp) {
    lastTimestamp = timestamp;
    lastCommittedAt = timestamp === undefined ? NaN : Date.parse(timestamp);
  }
  return lastCommittedAt;
}

function onMessage(message: Buffer | Uint8Array): void {
  if (recordLatency) {
    const committedAt = commitTime(message as Buffer);
    // Events committed before the last reset (a warm-up's backlog) are neither counted nor sampled.
    if (!(committedAt >= Math.floor(startedAt))) return;
    if (sampleCount < samples.length) samples[sampleCount++] = wallClockMs() - committedAt;
  }
  received++;
  bytes += message.length;
  if (received >= target) {
    target = Infinity;
    reachedTarget?.();
  }
}

function reset(): void {
  received = 0;
  bytes = 0;
  sampleCount = 0;
  startedAt = wallClockMs();
}

async function subscribe(args: SubscribeArgs): Promise<{ streams: number }> {
  // The typed client's channel options (its flow-control window), as a sidecar built on it has.
  channel ??= new grpc.Client(args.address, grpc.credentials.createInsecure(), {
    ...(args.defaultWindow ? {} : DEFAULT_CHANNEL_OPTIONS),
    'grpc.max_receive_message_length': -1,
  });
  recordLatency = args.latency === true;
  samples = new Float64Array(recordLatency ? (args.maxSamples ?? 1_000_000) : 0);
  reset();
  const request =
    args.kind === 'hub' ? encodeSubscribeRequest(args.sinceSequence === undefined ? {} : { since_sequence: args.sinceSequence }) : Buffer.alloc(0);
  const path = args.kind === 'hub' ? HUB_SUBSCRIBE_PATH : CEILING_STREAM_PATH;
  const ready: Promise<void>[] = [];
  for (let i = 0; i < args.streams; i++) {
    const stream = openRawStream(channel, path, request);
    streams.push(stream);
    stream.on('data', onMessage);
    stream.on('error', (error: grpc.ServiceError) => {
      if (error.code !== grpc.status.CANCELLED) failures.push(error.message);
    });
    ready.push(
      new Promise<void>((resolve, reject) => {
        stream.once('metadata', () => {
          if (args.paused) stream.pause();
          resolve();
        });
        stream.once('error', reject);
      }),
    );
  }
  await Promise.all(ready);
  return { streams: streams.length };
}

async function subscribeNats(args: { url: string; subject: string; subscriptions: number }): Promise<{ subscriptions: number }> {
  nats = await connect({ servers: args.url });
  reset();
  for (let i = 0; i < args.subscriptions; i++) {
    nats.subscribe(args.subject, { callback: (error, message) => (error ? failures.push(error.message) : onMessage(message.data)) });
  }
  await nats.flush(); // the server has registered every subscription
  return { subscriptions: args.subscriptions };
}

serveCommands({
  subscribe,
  subscribeNats,
  /** Messages received during the next `ms` milliseconds. */
  async window({ ms }: { ms: number }) {
    const count0 = received;
    const bytes0 = bytes;
    const t0 = wallClockMs();
    await new Promise((r) => setTimeout(r, ms));
    const elapsedMs = wallClockMs() - t0;
    return { count: received - count0, bytes: bytes - bytes0, elapsedMs, failures };
  },
  /**
   * Resolves when `total` messages have arrived since the subscribe; elapsed is from the subscribe.
   * After `timeoutMs` it fails, or with `partial` answers with what arrived (complete: false).
   */
  async waitForCount({ total, timeoutMs, partial = false }: { total: number; timeoutMs: number; partial?: boolean }) {
    if (received < total) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          target = Infinity;
          if (partial) resolve();
          else reject(new Error(`only ${received} of ${total} messages after ${timeoutMs} ms; failures: ${failures.join('; ')}`));
        }, timeoutMs);
        target = total;
        reachedTarget = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return { count: received, bytes, elapsedMs: wallClockMs() - startedAt, failures, complete: received >= total };
  },
  /** Starts counting (and sampling latency) afresh from now. */
  reset: () => void reset(),
  counts: () => ({ count: received, bytes, failures }),
  latency: () => percentiles(samples, sampleCount),
  async close() {
    for (const stream of streams) stream.cancel();
    streams = [];
    channel?.close();
    channel = undefined;
    if (nats) await nats.close();
    nats = undefined;
    return { count: received };
  },
});
