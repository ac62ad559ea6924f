// The writer thread in-process (TaskStore.neverBlock with writer `thread`, writer-thread.ts): task
// writes commit on the thread's own connection; their events are published in commit order,
// gap-free, before each write is answered; a write that fails is answered with its error and the
// rest of its batch commits; the main thread's own writes get the lock beside a busy thread; and a
// thread that dies fails what it held with a clear error and fences the store.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import type { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { RiggerError } from '../../src/model/errors';
import type { Task } from '../../src/model/task';
import { taskEventEncoder } from '../../src/protocol/event-codec';
import { openStore, type Store } from '../../src/store/store';
import { tempProject } from '../support/processes';

const writer = { kind: 'thread', encoderModule: require.resolve('../../src/protocol/event-codec'), encoderExport: 'taskEventEncoder' } as const;

function threadStore(): { store: Store; published: number[]; publishedTasks: Set<string> } {
  const store = openStore(path.join(tempProject(), '.rigger', 'tasks.db'), taskEventEncoder);
  store.tasks.neverBlock(5000, { writer });
  const published: number[] = [];
  const publishedTasks = new Set<string>();
  store.tasks.onCommit((events) => {
    for (const event of events) {
      published.push(event.sequence);
      publishedTasks.add(event.taskId);
    }
  });
  return { store, published, publishedTasks };
}

const sequences = (file: string) => {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare('SELECT sequence FROM events ORDER BY sequence').all() as { sequence: number }[]).map((r) => r.sequence);
  } finally {
    db.close();
  }
};

test('task writes on the writer thread: published in commit order, gap-free, before each answer; readable on the main connection once answered', async () => {
  const { store, published, publishedTasks } = threadStore();
  try {
    const answers: Promise<void>[] = [];
    for (let i = 0; i < 600; i++) {
      answers.push(
        store.tasks.writeTask({ kind: 'create', actor: 'tester', input: { title: `task ${i}` } }).then((task) => {
          assert.ok(store.tasks.getTask(task.id), 'the task is committed when its write is answered');
          assert.ok(publishedTasks.has(task.id), 'its event was published first');
        }),
      );
    }
    await Promise.all(answers);
    assert.equal(published.length, 600);
    assert.deepEqual(
      published,
      published.map((_, i) => i + 1),
      'published in order, no gap, no duplicate',
    );
    assert.deepEqual(sequences(store.db.name), published);
    const [first] = store.log.readAfter(0, 1, 1);
    assert.equal(first!.sequence, 1);
  } finally {
    store.close();
  }
});

test('a write that fails is answered with its error; the other writes of its batch commit', async () => {
  const { store, published } = threadStore();
  try {
    const created = await store.tasks.writeTask({ kind: 'create', actor: undefined, input: { title: 'one' } });
    const results = await Promise.allSettled([
      store.tasks.writeTask({ kind: 'update', actor: undefined, id: created.id, patch: { title: 'two' }, options: {} }),
      store.tasks.writeTask({ kind: 'update', actor: undefined, id: 'no-such-task', patch: { title: 'x' }, options: {} }),
      store.tasks.writeTask({ kind: 'update', actor: undefined, id: created.id, patch: { title: 'three' }, options: { expectedVersion: 1 } }),
      store.tasks.writeTask({ kind: 'archive', actor: undefined, id: created.id }),
    ]);
    assert.equal(results[0]!.status, 'fulfilled');
    const missing = results[1] as PromiseRejectedResult;
    assert.ok(missing.reason instanceof RiggerError && missing.reason.kind === 'not_found', String(missing.reason));
    assert.match(missing.reason.message, /no-such-task/);
    const stale = results[2] as PromiseRejectedResult;
    assert.ok(stale.reason instanceof RiggerError && stale.reason.kind === 'conflict', String(stale.reason));
    assert.equal((results[3] as PromiseFulfilledResult<Task>).value.title, 'two');
    assert.deepEqual(published, [1, 2, 3]);
    assert.deepEqual(sequences(store.db.name), [1, 2, 3]);
  } finally {
    store.close();
  }
});

test("the main thread's own writes (consumer state, compaction) get the lock while the writer thread is busy", async () => {
  const { store } = threadStore();
  try {
    let stop = false;
    const load = (async () => {
      for (let round = 0; round < 2000 && !stop; round++) {
        await Promise.all(
          Array.from({ length: 64 }, (_, i) => store.tasks.writeTask({ kind: 'create', actor: undefined, input: { title: `load ${round}.${i}` } })),
        );
      }
    })();
    for (let i = 0; i < 20; i++) {
      const n = await store.tasks.writeState(() => store.db.prepare('SELECT count(*) AS n FROM tasks').get() as { n: number });
      assert.ok(n.n >= 0);
    }
    stop = true;
    await load;
  } finally {
    store.close();
  }
});

test('a writer thread that dies fails the writes it held with a clear error and fences the store; nothing answered is lost', async () => {
  const { store } = threadStore();
  try {
    await store.tasks.writeTask({ kind: 'create', actor: undefined, input: { title: 'before' } });
    const writes = Array.from({ length: 300 }, (_, i) => store.tasks.writeTask({ kind: 'create', actor: undefined, input: { title: `held ${i}` } }));
    const worker = (store.tasks as unknown as { thread: { worker: Worker } }).thread.worker;
    await worker.terminate();
    const results = await Promise.allSettled(writes);
    for (const result of results) {
      if (result.status === 'fulfilled') assert.ok(store.tasks.getTask(result.value.id), 'an answered write is in the file');
      else assert.match((result.reason as Error).message, /writer thread stopped .*writes are refused from now on: restart rig grpc/);
    }
    assert.ok(
      results.some((r) => r.status === 'rejected'),
      'writes were held when it died',
    );
    assert.match(store.tasks.writeRefusal()?.message ?? '', /writer thread stopped/);
    await assert.rejects(store.tasks.writeTask({ kind: 'create', actor: undefined, input: { title: 'after' } }), /writer thread stopped/);
    await assert.rejects(
      store.tasks.writeState(() => 1),
      /writer thread stopped/,
      "the main thread's writes are refused too",
    );
  } finally {
    store.close();
  }
});
