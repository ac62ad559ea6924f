// A producer process, forked by the bench: unary load over gRPC (AddTask, UpdateTask, GetTask) at
// a fixed concurrency or a steady rate, pipelined AddTask over one WriteTasks stream, bulk writes straight into a project's database through
// TaskStore.write (the server's log tailer publishes them), and NATS publishing.
import { connect, type NatsConnection } from 'nats';
import type { RiggerServiceClient } from '../src/generated/rigger/v1/RiggerService';
import { serveCommands } from './ipc';
import { steadyCalls, type LoadResult } from './steady-load';
import { serviceFor, unaryCall } from './service';
import { benchTitle, writeEvents } from './prefill';
import { percentiles, sleep, wallClockMs } from './stats';

type Method = 'AddTask' | 'GetTask' | 'UpdateTask';

let sequenceNumber = 0;
/** The request for the n-th call of `method`; titles are the same length so events are the same size. */
function requestFor(method: Method, taskIds: string[]): object {
  const n = sequenceNumber++;
  if (method === 'AddTask') return { title: benchTitle(n), assignee: 'bench' };
  const taskId = taskIds[n % taskIds.length]!;
  if (method === 'GetTask') return { task_id: taskId };
  return { task_id: taskId, assignee: `bench-${n % 2}` };
}

/** A load that runs until stopped: `concurrency` loops, each with one call in flight. */
class UnaryLoad {
  private stopped = false;
  private readonly result: LoadResult = { calls: 0, errors: 0, elapsedMs: 0 };
  private readonly done: Promise<void>;
  private readonly startedAt = wallClockMs();

  constructor(client: RiggerServiceClient, method: Method, concurrency: number, taskIds: string[]) {
    const loop = async () => {
      while (!this.stopped) {
        try {
          await unaryCall(client, method, requestFor(method, taskIds));
          this.result.calls++;
        } catch (error) {
          this.result.errors++;
          this.result.firstError ??= (error as Error).message;
          await sleep(10);
        }
      }
    };
    this.done = Promise.all(Array.from({ length: concurrency }, loop)).then(() => undefined);
  }

  get calls(): number {
    return this.result.calls;
  }

  async stop(): Promise<LoadResult> {
    this.stopped = true;
    await this.done;
    return { ...this.result, elapsedMs: wallClockMs() - this.startedAt };
  }
}

/** AddTask over one WriteTasks stream with `inFlight` writes outstanding, until stopped: a new write goes out as each answer comes back. */
class PipelinedLoad {
  private readonly result: LoadResult = { calls: 0, errors: 0, elapsedMs: 0 };
  private readonly startedAt = wallClockMs();
  private stopping = false;
  private readonly done: Promise<void>;

  constructor(client: RiggerServiceClient, inFlight: number) {
    const stream = client.WriteTasks();
    let requestId = 0;
    const send = () => stream.write({ request_id: requestId++, add: requestFor('AddTask', []) });
    stream.on('data', (answer: { error?: { message?: string } }) => {
      if (answer.error) {
        this.result.errors++;
        this.result.firstError ??= answer.error.message;
      } else this.result.calls++;
      if (!this.stopping) send();
    });
    stream.on('error', (error: Error) => {
      this.result.errors++;
      this.result.firstError ??= error.message;
    });
    this.done = new Promise((resolve) => stream.on('status', () => resolve()));
    this.end = () => stream.end();
    for (let i = 0; i < inFlight; i++) send();
  }

  private readonly end: () => void;

  get calls(): number {
    return this.result.calls;
  }

  /** Sends no more, waits for the answers of those in flight. */
  async stop(): Promise<LoadResult> {
    this.stopping = true;
    this.end();
    await this.done;
    return { ...this.result, elapsedMs: wallClockMs() - this.startedAt };
  }
}

let background: UnaryLoad | PipelinedLoad | undefined;
let nats: NatsConnection | undefined;
let natsPublishing: Promise<number> | undefined;
let natsStop = false;

interface LoadArgs {
  address: string;
  method: Method | 'WriteTasks';
  concurrency: number;
  taskIds?: string[];
}

serveCommands({
  /** Creates `count` tasks and returns their ids (for GetTask/UpdateTask loads). */
  async createTasks({ address, count }: { address: string; count: number }) {
    const client = serviceFor(address);
    const ids: string[] = [];
    for (let i = 0; i < count; i++) ids.push((await unaryCall(client, 'AddTask', requestFor('AddTask', []))).task.id);
    return ids;
  },
  /** Starts a load that runs until `stopLoad`: `concurrency` unary calls in flight, or AddTask pipelined over WriteTasks with that many in flight. */
  startLoad({ address, method, concurrency, taskIds = [] }: LoadArgs) {
    background =
      method === 'WriteTasks' ? new PipelinedLoad(serviceFor(address), concurrency) : new UnaryLoad(serviceFor(address), method, concurrency, taskIds);
    return {};
  },
  loadCalls: () => ({ calls: background?.calls ?? 0 }),
  async stopLoad() {
    const result = await background!.stop();
    background = undefined;
    return result;
  },
  /** A load for `durationMs`, after `warmupMs` of the same load that is not counted. */
  async timedLoad({ address, method, concurrency, taskIds = [], durationMs, warmupMs }: LoadArgs & { method: Method; durationMs: number; warmupMs: number }) {
    const client = serviceFor(address);
    const warmup = new UnaryLoad(client, method, concurrency, taskIds);
    await sleep(warmupMs);
    await warmup.stop();
    const load = new UnaryLoad(client, method, concurrency, taskIds);
    await sleep(durationMs);
    return load.stop();
  },
  /** One client's pipelined AddTask (WriteTasks, `inFlight` outstanding) for `durationMs`, after `warmupMs` not counted. */
  async pipelinedLoad({ address, inFlight, durationMs, warmupMs }: { address: string; inFlight: number; durationMs: number; warmupMs: number }) {
    const load = new PipelinedLoad(serviceFor(address), inFlight);
    await sleep(warmupMs);
    const before = load.calls;
    const startedAt = wallClockMs();
    await sleep(durationMs);
    const calls = load.calls - before;
    const elapsedMs = wallClockMs() - startedAt;
    const { errors, firstError } = await load.stop();
    return { calls, errors, elapsedMs, ...(firstError !== undefined && { firstError }) };
  },
  /** AddTask at a steady `rate` per second for `durationMs`, each call issued on schedule. */
  async steadyLoad({ address, rate, durationMs }: { address: string; rate: number; durationMs: number }) {
    const client = serviceFor(address);
    return steadyCalls(rate, durationMs, () => unaryCall(client, 'AddTask', requestFor('AddTask', [])));
  },
  /**
   * GetTask of `taskId`, one call at a time with `intervalMs` between them, for `durationMs` or until
   * the task reaches `untilVersion`; the latencies' percentiles in ms and the version last seen.
   */
  async sampleGetTask({
    address,
    taskId,
    intervalMs,
    durationMs,
    untilVersion,
  }: {
    address: string;
    taskId: string;
    intervalMs: number;
    durationMs: number;
    untilVersion?: number;
  }) {
    const client = serviceFor(address);
    const samples = new Float64Array(Math.ceil(durationMs / intervalMs) + 1);
    const endAt = wallClockMs() + durationMs;
    let count = 0;
    let version = 0;
    while (count < samples.length && wallClockMs() < endAt && (untilVersion === undefined || version < untilVersion)) {
      const started = wallClockMs();
      version = Number((await unaryCall(client, 'GetTask', { task_id: taskId })).task.version);
      samples[count++] = wallClockMs() - started;
      await sleep(intervalMs);
    }
    return { ...percentiles(samples, count), version };
  },
  /** Writes `count` TaskEventStream updates of `taskId` at once (flow control holds what the server has not read). */
  floodUpdates({ address, taskId, count }: { address: string; taskId: string; count: number }) {
    const stream = serviceFor(address).TaskEventStream();
    stream.on('data', () => {});
    stream.on('error', () => {});
    for (let i = 0; i < count; i++) stream.write({ update: { task_id: taskId, status: i % 2 === 0 ? 2 : 1 } });
    return {};
  },
  /** Writes `events` CREATED events straight into the database file; the running server's log tailer publishes them. */
  bulkWrite: ({ dbFile, events, perTransaction }: { dbFile: string; events: number; perTransaction: number }) => writeEvents(dbFile, events, perTransaction),
  /** Publishes `size`-byte messages to `subject` as fast as the client allows, until natsStopPublishing. */
  async natsStartPublishing({ url, subject, size }: { url: string; subject: string; size: number }) {
    nats ??= await connect({ servers: url });
    const payload = new Uint8Array(size).fill(120);
    natsStop = false;
    const connection = nats;
    natsPublishing = (async () => {
      let published = 0;
      while (!natsStop) {
        for (let i = 0; i < 1000; i++) connection.publish(subject, payload);
        published += 1000;
        // A round trip every 10,000 messages keeps the client's outbound buffer bounded.
        if (published % 10_000 === 0) await connection.flush();
        else await new Promise((r) => setImmediate(r));
      }
      return published;
    })();
    return {};
  },
  async natsStopPublishing() {
    natsStop = true;
    const published = await natsPublishing;
    return { published };
  },
});
