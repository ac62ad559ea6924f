// The write pipeline and the WAL sync in-process: a write settles, and its events are published,
// only once its commit is durable; the next batch commits meanwhile; syncs are shared by the commits
// made while one runs; a failed sync fails the writes it covered. The transactions and the sync
// stage are fakes held by the test; WalSync runs against a real file (fdatasync from the thread pool).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { LoggedEvent } from '../../src/model/logged-event';
import type { Transactions } from '../../src/store/batch-transaction';
import { WritePipeline, type CommitSync } from '../../src/store/write-pipeline';
import { WalSync } from '../../src/store/wal-sync';

const turn = () => new Promise((resolve) => setImmediate(resolve));

function fakePipeline() {
  const published: number[][] = [];
  const pending: ((failure?: Error) => void)[] = [];
  let commits = 0;
  const db: Transactions = {
    inWriteTransaction: (work) => {
      const result = work();
      commits++;
      return result;
    },
    inSavepoint: (work) => work(),
    inTransaction: () => true,
  };
  const sync: CommitSync = { afterCommit: (done) => pending.push((failure) => done(failure ?? null)), idle: async () => {}, close: () => {} };
  const pipeline = new WritePipeline(db, () => {});
  pipeline.serve({ lockWaitMs: 1000, walFile: path.join(os.tmpdir(), 'rigger-no-such-wal'), sync });
  pipeline.onCommit((events) => published.push(events.map((e) => e.sequence)));
  return { pipeline, published, pending, commits: () => commits };
}

let sequence = 0;
const write = (events: LoggedEvent[]) => {
  events.push({ sequence: ++sequence } as LoggedEvent);
  return sequence;
};

test('writes settle and events are published only once the commit is durable, in commit order', async () => {
  const { pipeline: groups, published, pending, commits } = fakePipeline();
  const settled: number[] = [];
  const first = [groups.enqueue(write), groups.enqueue(write)].map((p) => p.then((n) => settled.push(n)));
  await turn();
  assert.equal(commits(), 1);
  const second = groups.enqueue(write).then((n) => settled.push(n));
  await turn();
  assert.equal(commits(), 2, 'the next group commits while the first waits for its sync');
  assert.deepEqual(settled, []);
  assert.deepEqual(published, []);
  pending.shift()!();
  await Promise.all(first);
  assert.deepEqual(published, [[sequence - 2, sequence - 1]]);
  assert.deepEqual(settled, [sequence - 2, sequence - 1]);
  pending.shift()!(new Error('EIO'));
  await assert.rejects(second, /EIO/);
  assert.deepEqual(published.at(-1), [sequence], 'what was committed is published even when its sync failed');
});

test('WalSync shares one sync among the commits made while one runs, and reports a missing file', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rigger-walsync-'));
  try {
    const file = path.join(dir, 'tasks.db-wal');
    fs.writeFileSync(file, 'x');
    const sync = new WalSync(file);
    const order: string[] = [];
    const done = (name: string) => new Promise<void>((resolve, reject) => sync.afterCommit((error) => (error ? reject(error) : (order.push(name), resolve()))));
    const realSync = fs.fdatasync;
    let syncs = 0;
    (fs as { fdatasync: typeof fs.fdatasync }).fdatasync = ((fd: number, callback: fs.NoParamCallback) => {
      syncs++;
      realSync(fd, callback);
    }) as typeof fs.fdatasync;
    try {
      // 'a' starts a sync; 'b' and 'c' come while it runs and share the next one.
      await Promise.all([done('a'), done('b'), done('c')]);
    } finally {
      (fs as { fdatasync: typeof fs.fdatasync }).fdatasync = realSync;
    }
    assert.deepEqual(order, ['a', 'b', 'c']);
    assert.equal(syncs, 2, 'three commits, the last two made while the first sync ran: two syncs');
    await sync.idle();
    sync.close();

    const missing = new WalSync(path.join(dir, 'gone-wal'));
    await assert.rejects(new Promise<void>((resolve, reject) => missing.afterCommit((error) => (error ? reject(error) : resolve()))), { code: 'ENOENT' });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
