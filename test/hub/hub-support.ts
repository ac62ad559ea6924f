// Shared by the hub suites: the event log read straight from the SQLite file, an independent
// statement of what each filter matches, a seeded PRNG, and a subscriber that resumes.
import * as grpc from '@grpc/grpc-js';
import Database from 'better-sqlite3';
import path from 'node:path';
import type { SubscribeToTaskEventsRequest } from '../../src/generated/rigger/v1/SubscribeToTaskEventsRequest';
import type { RiggerServiceClient } from '../support/client';
import { BOOKMARK, bookmarkReached } from '../support/barriers';
import { call } from '../support/client';

/** What the tests need of one logged event. */
export interface LoggedEvent {
  sequence: number;
  event_type: number;
  task_id: string;
  status: number;
  assignee: string | undefined;
  previous_status: number | undefined;
  previous_assignee: string | undefined;
}

/** Every event in the project's log, in sequence order, read from the SQLite file itself. */
export function readLog(projectDir: string): LoggedEvent[] {
  const db = new Database(path.join(projectDir, '.rigger', 'tasks.db'), { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('SELECT sequence, event_type, task, previous_task FROM events ORDER BY sequence').all() as {
      sequence: number;
      event_type: number;
      task: string;
      previous_task: string | null;
    }[];
    return rows.map((row) => {
      const task = JSON.parse(row.task) as { id: string; status: number; assignee?: string };
      const previous = row.previous_task === null ? undefined : (JSON.parse(row.previous_task) as { status: number; assignee?: string });
      return {
        sequence: row.sequence,
        event_type: row.event_type,
        task_id: task.id,
        status: task.status,
        assignee: task.assignee,
        previous_status: previous?.status,
        previous_assignee: previous?.assignee,
      };
    });
  } finally {
    db.close();
  }
}

/** A wire event as the tests compare it. */
export function asLogged(event: any): LoggedEvent {
  return {
    sequence: Number(event.sequence),
    event_type: event.event_type,
    task_id: event.task.id,
    status: event.task.status,
    assignee: event.task.assignee ?? undefined,
    previous_status: event.previous_task?.status ?? undefined,
    previous_assignee: event.previous_task?.assignee ?? undefined,
  };
}

export interface Filter {
  event_types?: number[];
  assignee_filter?: string;
  statuses?: number[];
  task_ids?: string[];
}

/**
 * The contract's filter semantics, written here independently of the server's code: every given
 * part must match; assignee and status match the task after the change or before it.
 */
export function matches(filter: Filter, e: LoggedEvent): boolean {
  if (filter.event_types?.length && !filter.event_types.includes(e.event_type)) return false;
  if (filter.task_ids?.length && !filter.task_ids.includes(e.task_id)) return false;
  if (
    filter.assignee_filter !== undefined &&
    filter.assignee_filter !== '' &&
    e.assignee !== filter.assignee_filter &&
    e.previous_assignee !== filter.assignee_filter
  )
    return false;
  if (filter.statuses?.length && !filter.statuses.includes(e.status) && !(e.previous_status !== undefined && filter.statuses.includes(e.previous_status)))
    return false;
  return true;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `work` for each item with at most `limit` at once. */
export async function inParallel<T>(items: T[], limit: number, work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

/** Adds `count` tasks over gRPC, `concurrency` calls at a time; returns their ids. */
export async function addTasks(client: RiggerServiceClient, count: number, concurrency = 32, assignee?: string): Promise<string[]> {
  const ids: string[] = [];
  await inParallel(
    Array.from({ length: count }, (_, i) => i),
    concurrency,
    async (i) => {
      const { task } = await call(client, 'AddTask', { title: `bulk ${i}`, ...(assignee && { assignee }) });
      ids.push(task.id);
    },
  );
  return ids;
}

/**
 * One sidecar that connects, disconnects and resumes with since_sequence = the last sequence it
 * received (or the position its first stream started after). `received` spans all its streams.
 * It asks for bookmarks every 100 ms, kept apart in `bookmarks`: `caughtUp` waits on them.
 */
export class ResumingSubscriber {
  readonly received: LoggedEvent[] = [];
  /** The sequences of the bookmarks its streams received, in order. */
  readonly bookmarks: number[] = [];
  readonly errors: grpc.ServiceError[] = [];
  /** The sequence its history starts after (the first since_sequence, or the first stream's position header). */
  startAfter: number | undefined;
  private stream: grpc.ClientReadableStream<unknown> | undefined;
  private ended: Promise<void> | undefined;

  constructor(
    /** Replaceable: after a server restart on another port, resume through a new client. */
    public client: RiggerServiceClient,
    readonly filter: Filter,
    initialSince: number | undefined,
  ) {
    this.startAfter = initialSince;
  }

  get connected(): boolean {
    return this.stream !== undefined;
  }

  get lastSeen(): number | undefined {
    return this.received.length ? this.received[this.received.length - 1]!.sequence : this.startAfter;
  }

  /** Opens a stream from lastSeen (live when there is none yet) and waits until it is registered. */
  async connect(): Promise<void> {
    const since = this.lastSeen;
    const request = { ...this.filter, bookmark_interval_ms: 100, ...(since !== undefined && { since_sequence: since }) };
    const stream = this.client.SubscribeToTaskEvents(request as SubscribeToTaskEventsRequest);
    this.stream = stream;
    stream.on('data', (event) => (event.event_type === BOOKMARK ? this.bookmarks.push(Number(event.sequence)) : this.received.push(asLogged(event))));
    this.ended = new Promise((resolve) => {
      stream.on('error', (error: grpc.ServiceError) => {
        if (error.code !== grpc.status.CANCELLED) this.errors.push(error);
        resolve();
      });
      stream.on('end', resolve);
    });
    await new Promise<void>((resolve, reject) => {
      stream.once('metadata', (metadata: grpc.Metadata) => {
        if (this.startAfter === undefined) this.startAfter = Number(metadata.get('x-rigger-position')[0]);
        resolve();
      });
      void this.ended!.then(() => reject(this.errors[this.errors.length - 1] ?? new Error('stream ended before its headers')));
    });
  }

  /** Waits for a bookmark at or past `head` on the open stream: every matching event up to it has arrived. */
  async caughtUp(head: number, timeoutMs = 20_000): Promise<void> {
    const from = this.bookmarks.length;
    await bookmarkReached(() => this.bookmarks.slice(from), head, `subscriber ${JSON.stringify(this.filter)}`, timeoutMs);
  }

  async disconnect(): Promise<void> {
    if (!this.stream) return;
    this.stream.cancel();
    await this.ended;
    this.stream = undefined;
  }

  /** The log's events this subscriber must have received: matching its filter, after its start point. */
  expected(log: LoggedEvent[]): LoggedEvent[] {
    return log.filter((e) => e.sequence > (this.startAfter ?? 0) && matches(this.filter, e));
  }
}

/** Sequence lists are what the guarantees are about; compare them (with a readable failure). */
export function sequences(events: LoggedEvent[]): number[] {
  return events.map((e) => e.sequence);
}

/** Waits until `read()` has at least `count` entries, up to `timeoutMs`. */
export async function waitForLength(read: () => { length: number }, count: number, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (read().length < count) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}: ${read().length} of ${count}`);
    await sleep(20);
  }
}
