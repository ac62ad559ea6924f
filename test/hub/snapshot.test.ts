// Snapshot, then stream (include_snapshot), through the real server and grpc-js clients. The
// acceptance: 10,000 tasks; writers change them while a snapshot subscriber starts; the state
// rebuilt from its snapshot plus its stream equals ListTasks at the end, field for field, in 20
// seeded runs. The 10,000 tasks are written once, before the server starts, in one transaction
// of the real store (a fast path); each run then starts a fresh subscriber at a seeded moment
// while seeded writers change tasks over gRPC. Also: the events after the snapshot are exactly the
// log's matching events after its sequence (no loss, no double), and the snapshot is the tasks as
// the log says they were at its sequence (the rebuild alone would hide a snapshot that mixed in
// later states, since the events after it overwrite them); the filter rules; bad requests.
import * as grpc from '@grpc/grpc-js';
import Database from 'better-sqlite3';
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import type { SubscribeToTaskEventsRequest } from '../../src/generated/rigger/v1/SubscribeToTaskEventsRequest';
import type { Task } from '../../src/model/task';
import { taskEventEncoder } from '../../src/protocol/event-codec';
import { openStore } from '../../src/store/store';
import { call, connect, type RiggerServiceClient } from '../support/client';
import { startServer, tempProject, waitFor } from '../support/processes';
import { seededRandom } from '../support/seeded-random';
import { matches, readLog, sleep, type Filter, type LoggedEvent } from './hub-support';

const SEED = Number(process.env.RIGGER_TEST_SEED ?? 20261202);
const RUNS = 20;
const TASKS = 10_000;
const BOOKMARK = 8,
  SNAPSHOT = 9,
  SNAPSHOT_COMPLETE = 10;
const ASSIGNEES = ['Alice', 'Bob', 'Carol'];

interface Received {
  type: number;
  sequence: number;
  task: Task | undefined;
}

interface SnapshotStream {
  received: Received[];
  position: Promise<number>;
  ended: Promise<grpc.ServiceError | undefined>;
  cancel(): void;
}

function openSnapshotStream(client: RiggerServiceClient, request: SubscribeToTaskEventsRequest): SnapshotStream {
  const stream = client.SubscribeToTaskEvents({ include_snapshot: true, ...request });
  const received: Received[] = [];
  stream.on('data', (e: any) => received.push({ type: e.event_type, sequence: Number(e.sequence), task: e.task ?? undefined }));
  const ended = new Promise<grpc.ServiceError | undefined>((resolve) => {
    stream.on('error', (error: grpc.ServiceError) => resolve(error));
    stream.on('end', () => resolve(undefined));
  });
  const position = new Promise<number>((resolve, reject) => {
    stream.once('metadata', (m: grpc.Metadata) => resolve(Number(m.get('x-rigger-position')[0])));
    void ended.then((error) => reject(error ?? new Error('ended before its headers')));
  });
  position.catch(() => {}); // a stream refused before its headers is awaited through `ended`
  return { received, position, ended, cancel: () => stream.cancel() };
}

/** The newest published sequence: the position header of a live stream opened now. */
async function head(client: RiggerServiceClient): Promise<number> {
  const stream = client.SubscribeToTaskEvents({});
  const sequence = await new Promise<number>((resolve) => stream.once('metadata', (m: grpc.Metadata) => resolve(Number(m.get('x-rigger-position')[0]))));
  stream.cancel();
  stream.on('error', () => {});
  return sequence;
}

/** Every task, archived ones included, through ListTasks pages (at most 1000 a page). */
async function listAll(client: RiggerServiceClient): Promise<Task[]> {
  const tasks: Task[] = [];
  for (let offset = 0; ; offset += 1000) {
    const page = await call(client, 'ListTasks', { include_archived: true, limit: 1000, offset });
    tasks.push(...(page.tasks as Task[]));
    if (tasks.length >= page.total_count) return tasks;
  }
}

/** The filter applied to a task as it is (a snapshot's rule). */
function holds(filter: Filter, task: Task): boolean {
  if (filter.task_ids?.length && !filter.task_ids.includes(task.id)) return false;
  if (filter.assignee_filter && task.assignee !== filter.assignee_filter) return false;
  if (filter.statuses?.length && !filter.statuses.includes(task.status)) return false;
  return true;
}

/** The log's events after `after`, from the SQLite file itself, as the filter suites compare them. */
const logAfter = (dir: string, after: number): LoggedEvent[] => readLog(dir).filter((event) => event.sequence > after);

/** Every task as it was at `sequence`: the task of its last event up to it, from the log itself (it holds all of them here). */
function tasksAt(dir: string, sequence: number): Task[] {
  const db = new Database(path.join(dir, '.rigger', 'tasks.db'), { readonly: true, fileMustExist: true });
  try {
    const rows = db
      .prepare('SELECT task FROM events WHERE sequence IN (SELECT max(sequence) FROM events WHERE sequence <= ? GROUP BY task_id)')
      .all(sequence) as { task: string }[];
    return rows.map((row) => JSON.parse(row.task) as Task);
  } finally {
    db.close();
  }
}

const byId = (a: Task, b: Task) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

test(
  `snapshot + stream rebuilds ListTasks field for field: ${TASKS} tasks, writers running, ${RUNS} seeded runs (seed ${SEED})`,
  { timeout: 180_000 },
  async (t) => {
    t.diagnostic(`rerun with RIGGER_TEST_SEED=${SEED}`);
    const dir = tempProject();
    const ids: string[] = [];
    const seedStore = openStore(path.join(dir, '.rigger', 'tasks.db'), taskEventEncoder);
    seedStore.tasks.write('seed', (m) => {
      for (let i = 0; i < TASKS; i++) ids.push(m.createTask({ title: `task ${i}`, ...(i % 4 !== 3 && { assignee: ASSIGNEES[i % 3] }) }).id);
    });
    seedStore.close();
    const server = await startServer(dir);
    const client = connect(server.address);
    try {
      let changes = 0;
      for (let run = 0; run < RUNS; run++) {
        const random = seededRandom(SEED + run);
        const filters: Filter[] = [
          {},
          { statuses: [1, 2] },
          { assignee_filter: 'Alice' },
          { task_ids: ids.filter(() => random() < 0.02), statuses: [1, 2, 9, 10] },
        ];
        const filter = filters[run % filters.length]!;
        const writeMs = 300 + Math.floor(random() * 400);
        const startAt = Math.floor(random() * writeMs);
        // Three writers changing random tasks for writeMs: status, assignee, archive, new tasks.
        const deadline = Date.now() + writeMs;
        const writers = Array.from({ length: 3 }, (_, w) =>
          (async () => {
            const own = seededRandom(SEED * 31 + run * 7 + w);
            const choose = <T>(list: readonly T[]) => list[Math.floor(own() * list.length)]!;
            while (Date.now() < deadline) {
              const roll = own();
              if (roll < 0.1) ids.push((await call(client, 'AddTask', { title: `new ${run}`, assignee: choose(ASSIGNEES) })).task.id);
              else if (roll < 0.15) await call(client, 'DeleteTask', { task_id: choose(ids) });
              else if (roll < 0.6) await call(client, 'UpdateTask', { task_id: choose(ids), status: 1 + Math.floor(own() * 9) });
              else await call(client, 'UpdateTask', { task_id: choose(ids), assignee: choose([...ASSIGNEES, '']) });
              changes++;
            }
          })(),
        );
        await sleep(startAt);
        const stream = openSnapshotStream(client, { ...filter, bookmark_interval_ms: 100 } as SubscribeToTaskEventsRequest);
        const position = await stream.position;
        await Promise.all(writers);
        const end = await head(client);
        // Caught up: a bookmark at the head (every matching event up to it was delivered).
        await waitFor(() => stream.received.some((r) => r.type === BOOKMARK && r.sequence >= end), 20_000, `run ${run}: a bookmark at ${end}`);
        stream.cancel();

        const complete = stream.received.findIndex((r) => r.type === SNAPSHOT_COMPLETE);
        assert.ok(complete >= 0, `run ${run}: a SNAPSHOT_COMPLETE`);
        const snapshot = stream.received.slice(0, complete);
        assert.ok(
          snapshot.every((r) => r.type === SNAPSHOT && r.sequence === position),
          `run ${run}: only SNAPSHOT entries at ${position} before the marker`,
        );
        assert.equal(stream.received[complete]!.sequence, position, 'the marker at the snapshot sequence (the position header)');
        assert.equal(stream.received.filter((r) => r.type === SNAPSHOT || r.type === SNAPSHOT_COMPLETE).length, complete + 1, 'one snapshot only');
        const events = stream.received.slice(complete + 1).filter((r) => r.type !== BOOKMARK);

        // The snapshot itself is the tasks as they were at its sequence, though writers ran while it was read.
        const atSnapshot = tasksAt(dir, position)
          .filter((task) => holds(filter, task))
          .sort(byId);
        assert.deepEqual(snapshot.map((r) => r.task!).sort(byId), atSnapshot, `run ${run}: the snapshot is the state at ${position}`);

        // No loss, no double: the events after the snapshot are exactly the log's matching events after its sequence.
        const expected = logAfter(dir, position)
          .filter((e) => e.sequence <= end && matches(filter, e))
          .map((e) => e.sequence);
        assert.deepEqual(
          events.map((e) => e.sequence),
          expected,
          `run ${run}: the events after ${position}`,
        );

        // Rebuild: the snapshot, then every event's task; then what the filter holds now.
        const state = new Map<string, Task>();
        for (const r of snapshot) {
          assert.ok(!state.has(r.task!.id), `run ${run}: task ${r.task!.id} twice in the snapshot`);
          state.set(r.task!.id, r.task!);
        }
        for (const r of events) state.set(r.task!.id, r.task!);
        const rebuilt = [...state.values()].filter((task) => holds(filter, task)).sort(byId);
        const listed = (await listAll(client)).filter((task) => holds(filter, task)).sort(byId);
        assert.equal(rebuilt.length, listed.length, `run ${run} (${JSON.stringify(filter).slice(0, 80)}): ${rebuilt.length} rebuilt, ${listed.length} listed`);
        assert.deepEqual(rebuilt, listed, `run ${run}: rebuilt state equals ListTasks field for field`);
        t.diagnostic(`run ${run}: snapshot at ${position} of ${snapshot.length} tasks, ${events.length} events after it, head ${end}`);
      }
      assert.ok(changes > RUNS * 20, `${changes} changes made by the writers`);
    } finally {
      client.close();
      await server.stop();
    }
  },
);

test(
  'snapshot rules: sent whatever event_types says, filtered by current state; an empty table is just the marker; TaskEventStream too; since_sequence is refused',
  { timeout: 60_000 },
  async () => {
    const dir = tempProject();
    const server = await startServer(dir);
    const client = connect(server.address);
    try {
      const empty = openSnapshotStream(client, {});
      assert.equal(await empty.position, 0);
      await waitFor(() => empty.received.length === 1, 5000, 'the marker');
      assert.deepEqual(empty.received, [{ type: SNAPSHOT_COMPLETE, sequence: 0, task: undefined }]);
      empty.cancel();

      const add = async (title: string, assignee?: string) => (await call(client, 'AddTask', { title, ...(assignee && { assignee }) })).task.id as string;
      const a = await add('a', 'Alice');
      const b = await add('b', 'Bob');
      const c = await add('c', 'Alice');
      await call(client, 'UpdateTask', { task_id: c, status: 2 });
      await call(client, 'DeleteTask', { task_id: b });

      // event_types filters the events, not the snapshot: a DELETED-only sidecar still gets the state it starts from.
      const deletions = openSnapshotStream(client, { event_types: [3] });
      assert.equal(await deletions.position, 6);
      await waitFor(() => deletions.received.length === 4, 5000, 'three tasks and the marker');
      assert.deepEqual(
        deletions.received.map((r) => [r.type, r.task?.id]),
        [
          [SNAPSHOT, a],
          [SNAPSHOT, b],
          [SNAPSHOT, c],
          [SNAPSHOT_COMPLETE, undefined],
        ],
      );
      assert.equal(deletions.received[1]!.task!.status, 10, 'archived tasks are in the snapshot (status ARCHIVED)');
      // Filters apply to the snapshot by each task's current state.
      const alice = openSnapshotStream(client, { assignee_filter: 'Alice', statuses: [1] });
      await waitFor(() => alice.received.some((r) => r.type === SNAPSHOT_COMPLETE), 5000, 'the marker');
      assert.deepEqual(
        alice.received.map((r) => r.task?.id),
        [a, undefined],
        "Alice's TODO tasks only",
      );

      await call(client, 'UpdateTask', { task_id: a, status: 2 });
      await call(client, 'DeleteTask', { task_id: a });
      // A sentinel of hers, added (10) and deleted from TODO (11): both streams carry its delete, so once it is in, all before it is.
      const sentinel = await add('sentinel', 'Alice');
      await call(client, 'DeleteTask', { task_id: sentinel });
      await waitFor(() => [deletions, alice].every((s) => s.received.some((r) => r.type === 3 && r.task?.id === sentinel)), 5000, "the sentinel's delete");
      assert.deepEqual(
        deletions.received.slice(4).map((r) => [r.type, r.sequence]),
        [
          [3, 9],
          [3, 11],
        ],
        'after it, only DELETED',
      );
      // a leaves TODO: those events match (status before the change); its delete, from IN_PROGRESS, no longer does.
      assert.deepEqual(
        alice.received.slice(2).map((r) => [r.type, r.sequence]),
        [
          [2, 7],
          [4, 8],
          [1, 10],
          [3, 11],
        ],
        "the events that move a out of the filter, then the sentinel's",
      );
      for (const s of [deletions, alice]) s.cancel();

      const bidi = client.TaskEventStream();
      const got: Received[] = [];
      bidi.on('data', (e: any) => got.push({ type: e.event_type, sequence: Number(e.sequence), task: e.task ?? undefined }));
      bidi.on('error', () => {});
      bidi.write({ subscribe: { include_snapshot: true, task_ids: [c] } });
      await waitFor(() => got.length === 2, 5000, 'the TaskEventStream snapshot');
      assert.deepEqual(
        got.map((r) => [r.type, r.sequence, r.task?.status]),
        [
          [SNAPSHOT, 11, 2],
          [SNAPSHOT_COMPLETE, 11, undefined],
        ],
      );
      bidi.write({ update: { task_id: c, status: 9 } });
      await waitFor(() => got.length === 4, 5000, 'its update');
      assert.deepEqual(
        got.slice(2).map((r) => [r.type, r.sequence]),
        [
          [2, 12],
          [4, 13],
        ],
      );
      bidi.cancel();

      const refused = openSnapshotStream(client, { since_sequence: 3 });
      const error = await refused.ended;
      assert.equal(error?.code, grpc.status.INVALID_ARGUMENT);
      assert.match(error!.details, /include_snapshot cannot be combined with since_sequence/);
      const zero = openSnapshotStream(client, { since_sequence: 0 });
      assert.equal((await zero.ended)?.code, grpc.status.INVALID_ARGUMENT, 'since_sequence 0 too');
    } finally {
      client.close();
      await server.stop();
    }
  },
);
