// A producer process, forked by the bench: unary load over gRPC (AddTask, UpdateTask, GetTask) at
// a fixed concurrency or a steady rate, pipelined AddTask over one WriteTasks stream, bulk writes straight into a project's database through
// TaskStore.write (the server's log tailer publishes them), and NATS publishing.
import { connect, type NatsConnection } from 'nats';
import type { RiggerServiceClient } from '../src/generated/rigger/v1/RiggerService';
import { serveCommands } from './ipc';
import { serviceFor, unaryCall } from './service';
import { benchTitle, writeEvents } from './prefill';
import { percentiles, sleep, wallClockMs } from './stats';

type Method = 'AddTask' | 'GetTask' | 'UpdateTask';

interface LoadResult {
  calls: number;
  errors: number;
  elapsedMs: number;
  firstError?: string;
}

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

/**
 * AddTask over one WriteTasks stream with `inFlight` writes outstanding: a new write goes out as each
 * answer comes back. Counts the answers received from `startAt` until `stopAt` (wall clock ms).
 */
function pipelinedAdds(client: RiggerServiceClient, inFlight: number, startAt: number, stopAt: number): Promise<LoadResult> {
  return new Promise((resolve) => {
    const result: LoadResult = { calls: 0, errors: 0, elapsedMs: 0 };
    const stream = client.WriteTasks();
    let requestId = 0;
    let outstanding = 0;
    let stopping = false;
    const send = () => {
      outstanding++;
      stream.write({ request_id: requestId, add: requestFor('AddTask', []) });
      requestId++;
    };
    stream.on('data', (answer: { error?: { message?: string } }) => {
      outstanding--;
      const now = wallClockMs();
      if (now >= startAt && now < stopAt) {
        if (answer.error) {
          result.errors++;
          result.firstError ??= answer.error.message;
        } else result.calls++;
      }
      if (now < stopAt) send();
      else if (!stopping) {
        stopping = true;
        stream.end();
      }
    });
    stream.on('error', (error: Error) => {
      result.errors++;
      result.firstError ??= error.message;
    });
    stream.on('status', () => resolve({ ...result, elapsedMs: stopAt - startAt }));
    for (let i = 0; i < inFlight; i++) send();
  });
}

let background: UnaryLoad | undefined;
let nats: NatsConnection | undefined;
let natsPublishing: Promise<number> | undefined;
let natsStop = false;

interface LoadArgs {
  address: string;
  method: Method;
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
  /** Starts a load that runs until `stopLoad`. */
  startLoad({ address, method, concurrency, taskIds = [] }: LoadArgs) {
    background = new UnaryLoad(serviceFor(address), method, concurrency, taskIds);
    return {};
  },
  loadCalls: () => ({ calls: background?.calls ?? 0 }),
  async stopLoad() {
    const result = await background!.stop();
    background = undefined;
    return result;
  },
  /** A load for `durationMs`, after `warmupMs` of the same load that is not counted. */
  async timedLoad({ address, method, concurrency, taskIds = [], durationMs, warmupMs }: LoadArgs & { durationMs: number; warmupMs: number }) {
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
    const startAt = wallClockMs() + warmupMs;
    return pipelinedAdds(serviceFor(address), inFlight, startAt, startAt + durationMs);
  },
  /** AddTask at a steady `rate` per second for `durationMs`, each call issued on schedule. */
  async steadyLoad({ address, rate, durationMs }: { address: string; rate: number; durationMs: number }) {
    const client = serviceFor(address);
    const result: LoadResult = { calls: 0, errors: 0, elapsedMs: 0 };
    const inFlight = new Set<Promise<void>>();
    const startedAt = wallClockMs();
    const total = Math.round((rate * durationMs) / 1000);
    let issued = 0;
    while (issued < total) {
      // Always yield to the event loop (never spin): the responses come in on it.
      const wait = startedAt + (issued * 1000) / rate - wallClockMs();
      await sleep(Math.max(1, wait));
      while (issued < total && startedAt + (issued * 1000) / rate <= wallClockMs()) {
        issued++;
        const pending: Promise<void> = unaryCall(client, 'AddTask', requestFor('AddTask', [])).then(
          () => void result.calls++,
          (error: Error) => {
            result.errors++;
            result.firstError ??= error.message;
          },
        );
        inFlight.add(pending);
        void pending.finally(() => inFlight.delete(pending));
      }
    }
    await Promise.all(inFlight);
    return { ...result, elapsedMs: wallClockMs() - startedAt };
  },
  /**
   * GetTask of `taskId`, one call at a time with `intervalMs` between them, for `durationMs` or until
   * the task reaches `untilVersion`; the latencies' percentiles in ms and the version last seen.
   */
  async sampleGetTask({ address, taskId, intervalMs, durationMs, untilVersion }: { address: string; taskId: string; intervalMs: number; durationMs: number; untilVersion?: number }) {
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
  bulkWrite: ({ dbFile, events, perTransaction }: { dbFile: string; events: number; perTransaction: number }) =>
    writeEvents(dbFile, events, perTransaction),
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
