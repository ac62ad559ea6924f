// The snapshot read itself (src/store/snapshot.ts), in-process over a real SQLite file, with
// writes made between its pages: whatever happens between pages, the snapshot is exactly the
// tasks table as it was at its sequence, field for field, each task once; filters apply to that
// state; a task too large for a default client is sent reduced; history compacted away under it
// ends it with UNAVAILABLE rather than a wrong snapshot.
import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import type { LoggedEvent } from '../../src/model/logged-event';
import type { Task, TaskEvent } from '../../src/model/task';
import { MAX_EVENT_BYTES } from '../../src/model/validate';
import { taskEventEncoder } from '../../src/protocol/event-codec';
import { loadProto, SERVICE_NAME } from '../../src/protocol/proto';
import { openStore, type Store } from '../../src/store/store';
import type { SnapshotFilter } from '../../src/store/snapshot';
import { tempProject } from '../support/processes';
import { seededRandom } from '../support/seeded-random';

const SEED = Number(process.env.RIGGER_TEST_SEED ?? 20261201);
const SNAPSHOT = 9;
const SNAPSHOT_COMPLETE = 10;
const ASSIGNEES = ['Alice', 'Bob', 'Carol', ''];

const decode = (bytes: Buffer): TaskEvent =>
  ((loadProto().definition[SERVICE_NAME] as grpc.ServiceDefinition).SubscribeToTaskEvents!.responseDeserialize as (b: Buffer) => TaskEvent)(bytes);

function openProjectStore(): Store {
  return openStore(path.join(tempProject(), '.rigger', 'tasks.db'), taskEventEncoder);
}

/** Every task in the table now, in the shape a client decodes (through the same encoder). */
function allTasks(store: Store): Task[] {
  return store.tasks.listTasks({ limit: 1_000_000, offset: 0, includeArchived: true }).tasks.map((task) => decodeTask(task));
}

function decodeTask(task: Task): Task {
  return decode(taskEventEncoder.encode({ sequence: 1, event_id: '', timestamp: '', event_type: SNAPSHOT, task, metadata: {}, changed_fields: [] })).task;
}

function matchesAtSnapshot(filter: SnapshotFilter, task: Task): boolean {
  if (filter.taskIds?.length && !filter.taskIds.includes(task.id)) return false;
  if (filter.assignee && task.assignee !== filter.assignee) return false;
  if (filter.statuses?.length && !filter.statuses.includes(task.status)) return false;
  return true;
}

/** Reads the whole snapshot, calling `between` after every page; returns its tasks and the marker. */
function drain(store: Store, filter: SnapshotFilter, between: () => void): { sequence: number; tasks: Task[]; entries: LoggedEvent[] } {
  const snapshot = store.snapshots.open(filter);
  const entries: LoggedEvent[] = [];
  for (let page = snapshot.next(); page !== undefined; page = snapshot.next()) {
    entries.push(...page);
    between();
  }
  snapshot.close();
  const marker = entries.pop()!;
  assert.equal(marker.eventType, SNAPSHOT_COMPLETE, 'the marker comes last');
  assert.equal(decode(marker.encoded).sequence, snapshot.sequence);
  assert.equal(decode(marker.encoded).task, undefined, 'the marker carries no task');
  const tasks = entries.map((entry) => {
    assert.equal(entry.eventType, SNAPSHOT);
    const event = decode(entry.encoded);
    assert.equal(event.event_type, SNAPSHOT);
    assert.equal(event.sequence, snapshot.sequence);
    return event.task;
  });
  return { sequence: snapshot.sequence, tasks, entries };
}

const byId = (a: Task, b: Task) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

test(`writes between every page never show in the snapshot: it is the table at its sequence, field for field (seed ${SEED})`, { timeout: 60_000 }, (t) => {
  t.diagnostic(`rerun with RIGGER_TEST_SEED=${SEED}`);
  const store = openProjectStore();
  try {
    const random = seededRandom(SEED);
    const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;
    const ids: string[] = [];
    store.tasks.write('seed', (m) => {
      for (let i = 0; i < 3000; i++) ids.push(m.createTask({ title: `task ${i}`, ...(i % 4 !== 3 && { assignee: ASSIGNEES[i % 3] }) }).id);
    });
    const filters: SnapshotFilter[] = [
      {},
      { statuses: [1, 2] },
      { assignee: 'Alice' },
      { assignee: 'Bob', statuses: [1, 3, 9] },
      { taskIds: ids.filter(() => random() < 0.05), statuses: [1, 2, 9, 10] },
      { assignee: '' },
    ];
    for (const filter of filters) {
      const before = allTasks(store);
      let writes = 0;
      const { tasks, sequence } = drain(store, filter, () => {
        // A burst of changes between pages: updates, reassignments, archives, new tasks.
        store.tasks.write('writer', (m) => {
          for (let i = 0; i < 40; i++) {
            const roll = random();
            if (roll < 0.1) ids.push(m.createTask({ title: `new ${writes}`, assignee: pick(ASSIGNEES) }).id);
            else if (roll < 0.2) m.archiveTask(pick(ids));
            else if (roll < 0.6) m.updateTask(pick(ids), { status: (1 + Math.floor(random() * 9)) as 1 });
            else m.updateTask(pick(ids), { assignee: pick(ASSIGNEES) });
            writes++;
          }
        });
      });
      assert.ok(writes >= 80, `${writes} changes were made while the snapshot was read`);
      const expected = before.filter((task) => matchesAtSnapshot(filter, task)).sort(byId);
      assert.equal(new Set(tasks.map((task) => task.id)).size, tasks.length, 'each task once');
      assert.deepEqual([...tasks].sort(byId), expected, `filter ${JSON.stringify(filter)}`);
      assert.ok(sequence > 0);
    }
  } finally {
    store.close();
  }
});

test('an empty table: only the marker, at the head', () => {
  const store = openProjectStore();
  try {
    const { tasks, sequence, entries } = drain(store, {}, () => {});
    assert.equal(sequence, 0);
    assert.deepEqual(tasks, []);
    assert.deepEqual(entries, []);
  } finally {
    store.close();
  }
});

test('a task too large for a default client (an old row) is sent as its reduced stand-in', () => {
  const store = openProjectStore();
  try {
    const id = store.tasks.write('x', (m) => m.createTask({ title: 'big', assignee: 'Alice' }).id);
    // As a build without write bounds could have left it: a 2 MB reasoning.
    store.db.prepare('UPDATE tasks SET reasoning = ? WHERE id = ?').run('r'.repeat(2 * 1024 * 1024), id);
    const { entries, tasks } = drain(store, {}, () => {});
    assert.equal(entries.length, 1);
    assert.ok(entries[0]!.encoded.length < MAX_EVENT_BYTES, `${entries[0]!.encoded.length} bytes`);
    const event = decode(entries[0]!.encoded);
    assert.ok(Number(event.metadata.oversized_bytes) > 2 * 1024 * 1024);
    assert.equal(tasks[0]!.id, id);
    assert.equal(tasks[0]!.assignee, 'Alice');
    assert.equal(tasks[0]!.reasoning, undefined);
  } finally {
    store.close();
  }
});

test('events after the snapshot compacted away while it is read: UNAVAILABLE, never a wrong snapshot', () => {
  const store = openProjectStore();
  try {
    const ids = store.tasks.write('x', (m) => Array.from({ length: 600 }, (_, i) => m.createTask({ title: `t${i}` }).id));
    const snapshot = store.snapshots.open({});
    assert.equal(snapshot.sequence, 600);
    // The last task (not read yet) changes, then retention keeps only the newest event.
    store.tasks.write('x', (m) => {
      m.updateTask(ids[599]!, { status: 2 });
      m.updateTask(ids[0]!, { status: 3 });
    });
    const below = store.log.retainedFrom({ events: 1, days: 0 });
    assert.ok(below > 1, 'the retention drops events');
    while (store.log.deleteBefore(below, 2000) > 0);
    assert.throws(
      () => {
        while (snapshot.next() !== undefined);
      },
      (error: Error & { kind?: string }) => error.kind === 'unavailable' && /compacted away while it was read/.test(error.message),
    );
  } finally {
    store.close();
  }
});
