// A client process of the scale run, forked by the bench: ListTasks latency and page walks, a
// subscriber's time to reach live from sequence 0, many idle streams over several connections and
// the fan-out of one event to all of them, and AddTask at a steady rate with each call's latency.
import * as grpc from '@grpc/grpc-js';
import { DEFAULT_CHANNEL_OPTIONS } from '../../src/client/connect';
import { loadProto, SERVICE_NAME } from '../../src/protocol/proto';
import { serveCommands } from '../ipc';
import { serviceFor, unaryCall } from '../service';
import { benchTitle } from '../prefill';
import { percentiles, sleep, wallClockMs } from '../stats';
import { encodeSubscribeRequest, HUB_SUBSCRIBE_PATH, identity, openRawStream, walkFields } from '../wire';

const TASK_EVENT_STREAM_PATH = `/${SERVICE_NAME}/TaskEventStream`;
const BOOKMARK = 8;

interface ListResponse {
  tasks: unknown[];
  total_count: number;
  /** Present once the server has keyset pages; absent (undefined) from a server without them. */
  next_page_token?: string;
}

/** The event type (field 3) and sequence (field 7) of an encoded TaskEvent, without decoding the rest. */
function typeAndSequence(bytes: Buffer): { type: number; sequence: number } {
  let type = 0;
  let sequence = 0;
  walkFields(bytes, (field, value, end) => {
    if (end >= 0) return;
    if (field === 3) type = value;
    else if (field === 7) sequence = value;
  });
  return { type, sequence };
}

/** Whether ListTasksResponse has next_page_token in the contract (the server runs from the same checkout). */
function serverHasPageTokens(): boolean {
  const response = loadProto().definition['rigger.v1.ListTasksResponse'] as { type?: { field?: { name: string }[] } } | undefined;
  return response?.type?.field?.some((f) => f.name === 'next_page_token') ?? false;
}

// Idle streams: several connections, each a channel of its own (no shared subchannel).
let channels: grpc.Client[] = [];
let idleStreams: grpc.ClientReadableStream<Buffer>[] = [];
let received: Int32Array = new Int32Array(0);
/** The wall-clock time each idle stream last received a message. */
let receivedAt: Float64Array = new Float64Array(0);
let fanOutTarget = 0;
let fanOutReached = 0;
let onFanOut: (() => void) | undefined;
const failures: string[] = [];
/** The steadyWrites in progress, for stopWrites. */
let writer: { stopped: boolean; sentAt: number[]; latency: number[]; errors: number; done: Promise<void> } | undefined;

serveCommands({
  /** `calls` ListTasks one at a time (at most `maxMs`), after `warmup` uncounted; latency percentiles in ms. */
  async listLatency({ address, request, calls, maxMs, warmup }: { address: string; request: object; calls: number; maxMs: number; warmup: number }) {
    const client = serviceFor(address);
    let total = 0;
    let tasks = 0;
    for (let i = 0; i < warmup; i++) await unaryCall<ListResponse>(client, 'ListTasks', request);
    const samples = new Float64Array(calls);
    const endAt = wallClockMs() + maxMs;
    let n = 0;
    while (n < calls && (n < 5 || wallClockMs() < endAt)) {
      const startedAt = wallClockMs();
      const response = await unaryCall<ListResponse>(client, 'ListTasks', request);
      samples[n++] = wallClockMs() - startedAt;
      total = response.total_count;
      tasks = response.tasks.length;
    }
    return { ...percentiles(samples, n), total, tasks };
  },

  /**
   * Pages through the list with page tokens, `pageLimit` tasks a page, until `depth` tasks lie
   * before the next page; returns that page's token. supported: false when the contract this
   * checkout serves has no next_page_token (a server without keyset pages).
   */
  async walkToDepth({
    address,
    request,
    depth,
    pageLimit,
    timeoutMs,
  }: {
    address: string;
    request: object;
    depth: number;
    pageLimit: number;
    timeoutMs: number;
  }) {
    if (!serverHasPageTokens()) return { supported: false, token: undefined, skipped: 0, elapsedMs: 0 };
    const client = serviceFor(address);
    const startedAt = wallClockMs();
    let token: string | undefined;
    let skipped = 0;
    while (skipped < depth) {
      const limit = Math.min(pageLimit, depth - skipped);
      const response = await unaryCall<ListResponse>(client, 'ListTasks', { ...request, limit, ...(token !== undefined && { page_token: token }) });
      skipped += response.tasks.length;
      token = response.next_page_token || undefined;
      if (token === undefined) break; // the last page: the list is shorter than `depth`
      if (wallClockMs() - startedAt > timeoutMs) throw new Error(`walking ${depth} tasks with page tokens took over ${timeoutMs} ms (${skipped} so far)`);
    }
    return { supported: true, token, skipped, elapsedMs: wallClockMs() - startedAt };
  },

  /**
   * Opens a TaskEventStream with `filter` from sequence 0 and asks for a bookmark, again each time
   * one arrives, until it has received `expected` matching events and a bookmark at or after
   * `head`: from then on it is live. Elapsed from opening the stream.
   */
  async reachLive({ address, filter, head, expected, timeoutMs }: { address: string; filter: object; head: number; expected: number; timeoutMs: number }) {
    const definition = loadProto().definition[SERVICE_NAME] as grpc.ServiceDefinition;
    const serialize = definition.TaskEventStream!.requestSerialize;
    const channel = new grpc.Client(address, grpc.credentials.createInsecure(), { ...DEFAULT_CHANNEL_OPTIONS, 'grpc.use_local_subchannel_pool': 1 });
    // Connected first: the time counted is the stream's, not the TCP and HTTP/2 handshakes'.
    await new Promise<void>((resolve, reject) => channel.waitForReady(Date.now() + 10_000, (error) => (error ? reject(error) : resolve())));
    return new Promise((resolve, reject) => {
      const startedAt = wallClockMs();
      const call = channel.makeBidiStreamRequest<Buffer, Buffer>(TASK_EVENT_STREAM_PATH, identity, identity);
      let matched = 0;
      let bookmarks = 0;
      let lastSequence = 0;
      let done = false;
      const finish = (error?: Error, result?: object) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        call.cancel();
        channel.close();
        if (error) reject(error);
        else resolve(result);
      };
      const timer = setTimeout(() => finish(undefined, { elapsedMs: NaN, timedOut: true, matched, bookmarks, lastSequence }), timeoutMs);
      call.on('data', (bytes: Buffer) => {
        const { type, sequence } = typeAndSequence(bytes);
        if (type !== BOOKMARK) {
          matched++;
          lastSequence = sequence;
          return;
        }
        bookmarks++;
        if (sequence >= head && matched >= expected) {
          finish(undefined, { elapsedMs: wallClockMs() - startedAt, timedOut: false, matched, bookmarks, lastSequence, bookmarkSequence: sequence });
        } else call.write(serialize({ bookmark: {} }));
      });
      call.on('error', (error: grpc.ServiceError) => finish(error.code === grpc.status.CANCELLED ? undefined : error, { elapsedMs: NaN, matched }));
      call.write(serialize({ subscribe: { ...filter, since_sequence: 0 } }));
      call.write(serialize({ bookmark: {} }));
    });
  },

  /** Opens `streams` live SubscribeToTaskEvents streams over `connections` connections; resolves once each has its headers. */
  async openIdle({ address, streams, connections }: { address: string; streams: number; connections: number }) {
    // The contract loaded and every connection made before the clock starts: the time is the streams'.
    const request = encodeSubscribeRequest({});
    for (let i = 0; i < connections; i++) {
      channels.push(new grpc.Client(address, grpc.credentials.createInsecure(), { ...DEFAULT_CHANNEL_OPTIONS, 'grpc.use_local_subchannel_pool': 1 }));
    }
    await Promise.all(
      channels.map(
        (channel) => new Promise<void>((resolve, reject) => channel.waitForReady(Date.now() + 10_000, (error) => (error ? reject(error) : resolve()))),
      ),
    );
    const startedAt = wallClockMs();
    received = new Int32Array(streams);
    receivedAt = new Float64Array(streams);
    const ready: Promise<void>[] = [];
    for (let i = 0; i < streams; i++) {
      const stream = openRawStream(channels[i % connections]!, HUB_SUBSCRIBE_PATH, request);
      idleStreams.push(stream);
      stream.on('data', () => {
        receivedAt[i] = wallClockMs();
        if (++received[i]! === fanOutTarget && ++fanOutReached === received.length) onFanOut?.();
      });
      stream.on('error', (error: grpc.ServiceError) => {
        if (error.code !== grpc.status.CANCELLED) failures.push(error.message);
      });
      ready.push(
        new Promise<void>((resolve, reject) => {
          stream.once('metadata', () => resolve());
          stream.once('error', reject);
        }),
      );
    }
    await Promise.all(ready);
    return { streams: idleStreams.length, elapsedMs: wallClockMs() - startedAt };
  },

  /** Resolves when every idle stream has received `count` messages in all; the wall-clock time the last one did. */
  async fanOutDone({ count, timeoutMs }: { count: number; timeoutMs: number }) {
    fanOutTarget = count;
    fanOutReached = received.filter((n) => n >= count).length;
    if (fanOutReached < received.length) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(
                `${fanOutReached} of ${received.length} streams had ${count} messages after ${timeoutMs} ms; failures: ${failures.slice(0, 3).join('; ')}`,
              ),
            ),
          timeoutMs,
        );
        onFanOut = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    onFanOut = undefined;
    let lastReceiptAt = 0;
    for (const at of receivedAt) lastReceiptAt = Math.max(lastReceiptAt, at);
    return { lastReceiptAt, streams: received.length };
  },

  closeIdle() {
    for (const stream of idleStreams) stream.cancel();
    for (const channel of channels) channel.close();
    idleStreams = [];
    channels = [];
    return { failures: failures.length };
  },

  /** One AddTask; the wall-clock time it was sent. */
  async addTask({ address }: { address: string }) {
    const client = serviceFor(address);
    const sentAt = wallClockMs();
    await unaryCall(client, 'AddTask', { title: benchTitle(0), assignee: 'fan-out' });
    return { sentAt };
  },

  /**
   * AddTask at a steady `rate` for `durationMs` (or until stopWrites), each call issued on
   * schedule; latency percentiles in ms over every call.
   */
  async steadyWrites({ address, rate, durationMs }: { address: string; rate: number; durationMs: number }) {
    const client = serviceFor(address);
    const total = Math.round((rate * durationMs) / 1000);
    const run = { stopped: false, sentAt: [] as number[], latency: [] as number[], errors: 0, done: Promise.resolve() };
    writer = run;
    const inFlight: Promise<void>[] = [];
    const startedAt = wallClockMs();
    let finished: () => void = () => undefined;
    run.done = new Promise<void>((resolve) => (finished = resolve));
    for (let issued = 0; issued < total && !run.stopped; issued++) {
      const wait = startedAt + (issued * 1000) / rate - wallClockMs();
      if (wait > 0) await sleep(wait);
      const sentAt = wallClockMs();
      inFlight.push(
        unaryCall(client, 'AddTask', { title: benchTitle(issued), assignee: 'writer' }).then(
          () => {
            run.sentAt.push(sentAt);
            run.latency.push(wallClockMs() - sentAt);
          },
          () => void run.errors++,
        ),
      );
    }
    await Promise.all(inFlight);
    finished();
    const samples = Float64Array.from(run.latency);
    return { ...percentiles(samples, samples.length), errors: run.errors, elapsedMs: wallClockMs() - startedAt };
  },

  /** Stops the running steadyWrites; percentiles of the calls that were in flight at any time in [from, to]. */
  async stopWrites({ from, to }: { from: number; to: number }) {
    const run = writer;
    if (!run) throw new Error('stopWrites: no steadyWrites running');
    run.stopped = true;
    await run.done;
    const samples = Float64Array.from(run.latency.filter((ms, i) => run.sentAt[i]! <= to && run.sentAt[i]! + ms >= from));
    return { ...percentiles(samples, samples.length), errors: run.errors };
  },
});
