// The store's side of the writer thread (writer-worker.ts): task writes are posted to it, their
// answers and the events of each commit come back in commit order, the events' bytes in
// transferred buffers. If the thread stops, every write it holds fails and the store is fenced.
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { RiggerError } from '../model/errors';
import type { LoggedEvent } from '../model/logged-event';
import type { Task } from '../model/task';
import type { TaskCommand } from './task-command';
import { errorOfWire, FLAG_CLOSED, FLAG_MAIN_WAITS, unpackEvents, type FromWriter, type ToWriter, type WriterWorkerData } from './writer-messages';

/** How long close() waits for the thread to close its connection, in ms. */
const CLOSE_WAIT_MS = 10_000;

export interface ThreadWriterHooks {
  /** The events of each commit, once durable, in commit order. */
  publish(events: LoggedEvent[]): void;
  /** A commit of `writes` writes. */
  committed(writes: number): void;
  /** The thread stopped: `failure` is what every write fails with from now on. */
  died(failure: RiggerError): void;
}

export class ThreadWriter {
  private readonly worker: Worker;
  private readonly flags: Int32Array;
  private readonly pending = new Map<number, { resolve: (task: Task) => void; reject: (error: unknown) => void }>();
  private nextId = 1;
  /** The writes of this turn, posted together at its end. */
  private outgoing: { ids: number[]; commands: TaskCommand[] } | undefined;
  private idleWaiters: (() => void)[] = [];
  private failure: RiggerError | undefined;
  private closing = false;

  constructor(
    data: Omit<WriterWorkerData, 'flags'>,
    private readonly hooks: ThreadWriterHooks,
  ) {
    const flags = new SharedArrayBuffer(8);
    this.flags = new Int32Array(flags);
    this.worker = new Worker(path.join(__dirname, 'writer-worker.js'), { workerData: { ...data, flags } satisfies WriterWorkerData });
    this.worker.on('message', (message: FromWriter) => this.received(message));
    this.worker.on('error', (error) => this.stopped(error.message));
    this.worker.on('exit', (code) => this.stopped(`exit code ${code}`));
  }

  /** Queues a task write; resolves with the task once its commit is durable and its events are published. */
  write(command: TaskCommand): Promise<Task> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<Task>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (!this.outgoing) {
        this.outgoing = { ids: [], commands: [] };
        setImmediate(() => this.flush());
      }
      this.outgoing.ids.push(id);
      this.outgoing.commands.push(command);
    });
  }

  /** Every write, queued ones included, fails with `reason` from now on. */
  fence(reason: RiggerError): void {
    this.post({ type: 'fence', kind: reason.kind, message: reason.message });
  }

  /** Set while the main thread's own writes wait for the lock: the thread lets them in before its next batch. */
  mainWaits(waiting: boolean): void {
    if (Atomics.exchange(this.flags, FLAG_MAIN_WAITS, waiting ? 1 : 0) === 1 && !waiting) Atomics.notify(this.flags, FLAG_MAIN_WAITS);
  }

  inFlight(): boolean {
    return this.pending.size > 0;
  }

  /** Resolves once no write is waiting for its answer. */
  idle(): Promise<void> {
    if (this.pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Closes the thread's connection and waits for it (before the main connection closes: it is then the last one). */
  close(): void {
    if (this.closing) return;
    this.closing = true;
    if (this.failure) return;
    this.post({ type: 'close' });
    Atomics.wait(this.flags, FLAG_CLOSED, 0, CLOSE_WAIT_MS);
  }

  private flush(): void {
    const outgoing = this.outgoing!;
    this.outgoing = undefined;
    this.post({ type: 'writes', ...outgoing });
  }

  private post(message: ToWriter): void {
    if (!this.failure) this.worker.postMessage(message);
  }

  private received({ items }: FromWriter): void {
    for (const item of items) {
      if ('events' in item) this.hooks.publish(unpackEvents(item.events));
      else if ('committed' in item) this.hooks.committed(item.committed);
      else {
        const waiting = this.pending.get(item.id);
        if (!waiting) continue;
        this.pending.delete(item.id);
        if ('task' in item) waiting.resolve(item.task);
        else waiting.reject(errorOfWire(item.error));
      }
    }
    if (this.pending.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private stopped(reason: string): void {
    if (this.failure) return;
    this.failure = new RiggerError(
      'unavailable',
      this.closing
        ? 'the store is closed; nothing was written'
        : `the store's writer thread stopped (${reason}); the writes it held were not acknowledged and may or may not have committed (read the task back), and writes are refused from now on: restart rig grpc`,
    );
    for (const { reject } of this.pending.values()) reject(this.failure);
    this.pending.clear();
    for (const resolve of this.idleWaiters.splice(0)) resolve();
    if (!this.closing) this.hooks.died(this.failure);
  }
}
