// What the filtered catch-up tests (filtered-catch-up*.test.ts) share: a project's log prefilled
// through the store's own write path with a few matching events among thousands of others, a real
// server that keeps only 50 events in its ring, and streams collected and checked against the log.
import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { SubscribeToTaskEventsRequest } from '../../src/generated/rigger/v1/SubscribeToTaskEventsRequest';
import { TaskStatus } from '../../src/model/task';
import { taskEventEncoder } from '../../src/protocol/event-codec';
import { openStore } from '../../src/store/store';
import { connect, streamLifecycle, type RiggerServiceClient } from '../support/client';
import { startServer, tempProject, waitFor } from '../support/processes';
import { asLogged, matches, sleep, type Filter, type LoggedEvent } from './hub-support';

export const BOOKMARK = 8;

export const dbOf = (dir: string) => path.join(dir, '.rigger', 'tasks.db');

export interface Prefilled {
  /** Reassigned from alice to bob half-way, then changed again as bob's. */
  moved: string;
  /** alice's, archived (DELETED) later. */
  archived: string;
  head: number;
}

/**
 * Writes `bulk` one-event tasks (assignee "bulk") through TaskStore.write, with the few events the
 * filters look for at scattered points in between.
 */
export function prefill(dir: string, bulk: number): Prefilled {
  const store = openStore(dbOf(dir), taskEventEncoder);
  try {
    type Step = (m: Parameters<Parameters<typeof store.tasks.write>[1]>[0]) => void;
    let moved = '';
    let archived = '';
    const at = new Map<number, Step>([
      [Math.floor(bulk * 0.1), (m) => (moved = m.createTask({ title: 'moved', assignee: 'alice' }).id)],
      [Math.floor(bulk * 0.3), (m) => (archived = m.createTask({ title: 'archived', assignee: 'alice' }).id)],
      [Math.floor(bulk * 0.45), (m) => void m.updateTask(moved, { status: TaskStatus.IN_PROGRESS })],
      [Math.floor(bulk * 0.6), (m) => void m.updateTask(moved, { assignee: 'bob' })],
      [Math.floor(bulk * 0.75), (m) => void m.archiveTask(archived)],
      [Math.floor(bulk * 0.85), (m) => void m.updateTask(moved, { status: TaskStatus.COMPLETED })],
    ]);
    for (let written = 0; written < bulk;) {
      const batch = Math.min(250, bulk - written);
      store.tasks.write('prefill', (m) => {
        for (let i = 0; i < batch; i++) {
          at.get(written + i)?.(m);
          m.createTask({ title: `bulk ${written + i}`, assignee: 'bulk' });
        }
      });
      written += batch;
    }
    return { moved, archived, head: store.log.latestSequence() };
  } finally {
    store.close();
  }
}

export interface Collected {
  events: LoggedEvent[];
  bookmarks: number[];
  ended: Promise<grpc.ServiceError | undefined>;
  ready: Promise<void>;
  cancel(): void;
}

export function collect(stream: grpc.ClientReadableStream<unknown> | grpc.ClientDuplexStream<unknown, unknown>): Collected {
  const events: LoggedEvent[] = [];
  const bookmarks: number[] = [];
  stream.on('data', (e: any) => (e.event_type === BOOKMARK ? bookmarks.push(Number(e.sequence)) : events.push(asLogged(e))));
  return { events, bookmarks, ...streamLifecycle(stream) };
}

/** Filters as hub-support states them (event types and statuses as plain numbers). */
export type Request = Filter & { since_sequence?: number; bookmark_interval_ms?: number };
export const asRequest = (request: Request) => request as SubscribeToTaskEventsRequest;
export const subscribe = (client: RiggerServiceClient, request: Request) => collect(client.SubscribeToTaskEvents(asRequest(request)));

/** The server's arguments for a catch-up from the log: a ring of 50 events, nothing compacted. */
export const BEHIND_THE_RING = ['--buffer-size', '50', '--retain-events', '0'];

/** Runs `work` with a client of the real server over a project `prefill`ed with `bulk` tasks; stops both after. */
export async function withPrefilledServer(bulk: number, work: (dir: string, ids: Prefilled, client: RiggerServiceClient) => Promise<void>): Promise<void> {
  const dir = tempProject();
  const ids = prefill(dir, bulk);
  const server = await startServer(dir, BEHIND_THE_RING);
  const client = connect(server.address);
  try {
    await work(dir, ids, client);
  } finally {
    client.close();
    await server.stop();
  }
}

export const expectedOf = (log: LoggedEvent[], filter: Filter, after = 0) => log.filter((e) => e.sequence > after && matches(filter, e));

export interface Watched {
  name: string;
  filter: Filter;
  c: Collected;
}

export const watch = (client: RiggerServiceClient, filters: [string, Filter][]): Watched[] =>
  filters.map(([name, filter]) => ({ name, filter, c: subscribe(client, { ...filter, since_sequence: 0 }) }));

/** Waits until each stream holds what its filter selects from `log`, then checks it holds exactly that, in order. */
export async function expectStreams(streams: Watched[], log: LoggedEvent[], what: string, timeoutMs: number): Promise<void> {
  for (const { name, filter, c } of streams) {
    const want = expectedOf(log, filter);
    await waitFor(() => c.events.length >= want.length, timeoutMs, `${name}: ${what}`);
    await sleep(50);
    assert.deepEqual(c.events, want, `${name}: ${what}`);
  }
}
