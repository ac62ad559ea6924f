// ListTasks keyset pages over a real server and its SQLite file: page tokens walk every filter shape
// once, in order, while another client adds tasks; bad tokens are refused with a message; offset
// pages are what they always were; and the page statements seek on an index (their query plans on
// the real file).
import assert from 'node:assert/strict';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import Database from 'better-sqlite3';
import { after, before, describe, test } from 'node:test';
import { RiggerClient } from '../../src/client/rigger-client';
import { taskEventEncoder } from '../../src/protocol/event-codec';
import { openStore } from '../../src/store/store';
import { listStatements } from '../../src/store/task-queries';
import { call, callError, connect, type RiggerServiceClient } from '../support/client';
import { startServer, tempProject, type ServerProcess } from '../support/processes';
import { listShapeOf, matches, SHAPES, tasksInFile, type ListRequestShape } from './list-shapes';

const TASKS = 400;
const PAGE = 9;
const MAX_PAGES = 200;
const assigneeOf = (i: number) => (i % 3 === 0 ? 'Alice' : i % 3 === 1 ? 'Bob' : undefined);

let dir: string;
let dbFile: string;
let server: ServerProcess;
let typed: RiggerClient;
let other: RiggerServiceClient;

const idsOf = (tasks: { id?: string }[]) => tasks.map((t) => t.id!);

/** Adds a task that `request` lists (so it is newer than every page of a listing already begun). */
async function addMatching(request: ListRequestShape, n: number): Promise<string> {
  const assignee = request.assignee;
  const { task } = await call(other, 'AddTask', { title: `added while paging ${n}`, ...(assignee !== undefined && { assignee }) });
  if (request.status === 10) await call(other, 'DeleteTask', { task_id: task.id });
  else if (request.status !== undefined) await call(other, 'UpdateTask', { task_id: task.id, status: request.status });
  return task.id as string;
}

describe('ListTasks page tokens', () => {
  before(async () => {
    dir = tempProject();
    dbFile = path.join(dir, '.rigger', 'tasks.db');
    // Prefilled through the store's own write path, before the server opens the file.
    const store = openStore(dbFile, taskEventEncoder);
    try {
      store.tasks.write('test', (m) => {
        for (let i = 0; i < TASKS; i++) {
          const assignee = assigneeOf(i);
          const task = m.createTask({ title: `task ${i}`, ...(assignee && { assignee }) });
          if (i % 10 === 9) m.archiveTask(task.id);
          else if (i % 4 === 0) m.updateTask(task.id, { status: 2 });
        }
      });
    } finally {
      store.close();
    }
    assert.equal(tasksInFile(dbFile).length, TASKS);
    server = await startServer(dir);
    typed = new RiggerClient({ address: server.address });
    other = connect(server.address);
  });

  after(async () => {
    await typed.close();
    other.close();
    assert.equal(await server.stop(), 0);
  });

  for (const shape of SHAPES) {
    test(`${shape.name}: every task exactly once, newest first, while another client adds matching tasks`, async () => {
      const now = tasksInFile(dbFile);
      const want = idsOf(now.filter((t) => matches(shape.request, t)));
      const seen: string[] = [];
      const added: string[] = [];
      let token = '';
      for (let pages = 0; ; pages++) {
        assert.ok(pages < MAX_PAGES, 'paging did not end');
        const page = await typed.listTasks({ ...shape.request, limit: PAGE, ...(token && { pageToken: token }) });
        assert.equal(page.total_count, want.length + added.length, `total_count on page ${pages + 1}`);
        assert.equal(page.nextPageToken, page.next_page_token ?? '');
        for (const task of page.tasks)
          assert.ok(matches(shape.request, { status: task.status as number, assignee: task.assignee ?? null }), `task ${task.id} does not match`);
        seen.push(...idsOf(page.tasks));
        token = page.nextPageToken;
        if (token === '') {
          assert.ok(page.tasks.length <= PAGE);
          break;
        }
        assert.equal(page.tasks.length, PAGE, 'a page with a next page is full');
        added.push(await addMatching(shape.request, added.length));
      }
      assert.deepEqual(seen, want, 'the pages repeat or skip a task, or are out of order');
      assert.equal(new Set(seen).size, seen.length);
      if (want.length > PAGE) assert.ok(added.length > 0, 'tasks were added while paging');
      // The tasks added while paging are newer than the listing: a new one starts with them.
      const fresh = await typed.listTasks({ ...shape.request, limit: 1000 });
      assert.deepEqual(idsOf(fresh.tasks), [...[...added].reverse(), ...want]);
      assert.equal(fresh.nextPageToken, '');
    });
  }

  test('next_page_token is empty on a last page that is exactly full, and set on a full page with more after it', async () => {
    const request: ListRequestShape = { status: 2, assignee: 'Alice' };
    const want = idsOf(tasksInFile(dbFile).filter((t) => matches(request, t)));
    assert.ok(want.length > 2);
    const whole = await typed.listTasks({ ...request, limit: want.length });
    assert.deepEqual(idsOf(whole.tasks), want);
    assert.equal(whole.nextPageToken, '');
    const first = await typed.listTasks({ ...request, limit: want.length - 1 });
    assert.notEqual(first.nextPageToken, '');
    const last = await typed.listTasks({ ...request, limit: want.length - 1, pageToken: first.nextPageToken });
    assert.deepEqual(idsOf(last.tasks), want.slice(-1));
    assert.equal(last.nextPageToken, '');
    // The wire spelling works too, and the page size may change between pages.
    const wire = await call(other, 'ListTasks', { ...request, limit: 2, page_token: first.nextPageToken });
    assert.deepEqual(idsOf(wire.tasks), want.slice(-1));
    assert.equal(wire.next_page_token, '');
  });

  test('offset pages are what they were: the same tasks, total_count and order as a page-token walk', async () => {
    for (const shape of SHAPES) {
      const want = idsOf(tasksInFile(dbFile).filter((t) => matches(shape.request, t)));
      const byOffset: string[] = [];
      for (let offset = 0; offset < want.length + PAGE; offset += PAGE) {
        // A request as an original client sends it: no page_token.
        const page = await call(other, 'ListTasks', { ...shape.request, limit: PAGE, offset });
        assert.equal(page.total_count, want.length);
        byOffset.push(...idsOf(page.tasks));
        if (page.tasks.length < PAGE) break;
      }
      assert.deepEqual(byOffset, want, shape.name);
      // An offset page hands out a token for the page after it.
      const middle = await typed.listTasks({ ...shape.request, limit: PAGE, offset: PAGE });
      if (want.length > 2 * PAGE) {
        const next = await typed.listTasks({ ...shape.request, limit: PAGE, pageToken: middle.nextPageToken });
        assert.deepEqual(idsOf(next.tasks), want.slice(2 * PAGE, 3 * PAGE), shape.name);
      }
    }
    const beyond = await call(other, 'ListTasks', { offset: 100_000 });
    assert.deepEqual(beyond.tasks, []);
    assert.equal(beyond.next_page_token, '');
  });

  test('a garbled token, a token of another filter, and a token with an offset are INVALID_ARGUMENT, saying what to do', async () => {
    const alice = await typed.listTasks({ assignee: 'Alice', limit: 3 });
    const everything = await typed.listTasks({ limit: 3 });
    assert.notEqual(alice.nextPageToken, '');
    const forged = Buffer.from(JSON.stringify({ v: 1, after: 5 })).toString('base64url');
    const garbled = ['not a token', 'abc!', alice.nextPageToken.slice(0, -4), forged, Buffer.from('[]').toString('base64url'), 'x'.repeat(5000)];
    for (const page_token of garbled) {
      const error = await callError(other, 'ListTasks', { assignee: 'Alice', page_token });
      assert.equal(error.code, grpc.status.INVALID_ARGUMENT, page_token);
      assert.match(
        error.details,
        /page_token is not a token this server issued .*send the next_page_token of the previous page unchanged, or leave page_token out/,
      );
    }
    const mismatched: [object, string][] = [
      [{ assignee: 'Bob' }, alice.nextPageToken],
      [{}, alice.nextPageToken],
      [{ assignee: 'Alice', include_archived: true }, alice.nextPageToken],
      [{ assignee: 'Alice', status: 1 }, alice.nextPageToken],
      [{ include_archived: true }, everything.nextPageToken],
    ];
    for (const [request, page_token] of mismatched) {
      const error = await callError(other, 'ListTasks', { ...request, page_token });
      assert.equal(error.code, grpc.status.INVALID_ARGUMENT, JSON.stringify(request));
      assert.match(error.details, /page_token belongs to a listing with a different filter .*send it with the same filter .*or leave page_token out/);
    }
    const withOffset = await callError(other, 'ListTasks', { assignee: 'Alice', page_token: alice.nextPageToken, offset: 3 });
    assert.equal(withOffset.code, grpc.status.INVALID_ARGUMENT);
    assert.match(withOffset.details, /page_token cannot be combined with offset 3: .*send offset 0 \(or leave offset out\)/);
    // The typed client rejects with the same status.
    await assert.rejects(typed.listTasks({ pageToken: 'garbage' }), (error: grpc.ServiceError) => error.code === grpc.status.INVALID_ARGUMENT);
    // An empty token is the first page; offset 0 with a token is fine.
    const first = await call(other, 'ListTasks', { assignee: 'Alice', limit: 3, page_token: '' });
    assert.deepEqual(idsOf(first.tasks), idsOf(alice.tasks));
    const second = await call(other, 'ListTasks', { assignee: 'Alice', limit: 3, offset: 0, page_token: alice.nextPageToken });
    assert.equal(second.tasks.length, 3);
  });

  test('the page statements seek on an index with a page token, sort nothing, and total_count reads only the counts tables (plans on the real file)', () => {
    const db = new Database(dbFile, { readonly: true, fileMustExist: true });
    try {
      const plan = (sql: string, params: Record<string, unknown>) =>
        (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(params) as { detail: string }[]).map((row) => row.detail);
      const byAssigneeStatus = /^SEARCH tasks USING INDEX tasks_by_assignee_status \(assignee=\? AND status=\? AND rowid<\?\)$/;
      // [the index each read seeks, how many runs of it SQLite merges: one per status the listing takes]
      const expected: Record<string, [RegExp, number]> = {
        'no filter': [/^SEARCH tasks USING INDEX tasks_by_archived \(<expr>=\? AND rowid<\?\)$/, 1],
        include_archived: [/^SEARCH tasks USING INTEGER PRIMARY KEY \(rowid<\?\)$/, 1],
        status: [/^SEARCH tasks USING INDEX tasks_by_status \(status=\? AND rowid<\?\)$/, 1],
        'status ARCHIVED': [/^SEARCH tasks USING INDEX tasks_by_status \(status=\? AND rowid<\?\)$/, 1],
        assignee: [byAssigneeStatus, 9],
        'assignee, include_archived': [byAssigneeStatus, 10],
        'status and assignee': [byAssigneeStatus, 1],
        'assignee nobody has': [byAssigneeStatus, 9],
      };
      for (const shape of SHAPES) {
        const [index, runs] = expected[shape.name]!;
        const seek = listStatements(listShapeOf(shape.request), true);
        const seekPlan = plan(seek.page, { ...seek.params, after: 100, limit: 10, offset: 0 });
        const searches = seekPlan.filter((line) => line.startsWith('SEARCH'));
        assert.equal(searches.length, runs, `${shape.name}: ${seekPlan.join(' | ')}`);
        for (const line of searches) assert.match(line, index, shape.name);
        // The rest of a merged plan is the merge itself: no scan, no sort.
        for (const line of seekPlan.filter((l) => !l.startsWith('SEARCH'))) assert.match(line, /^(MERGE \(UNION ALL\)|LEFT|RIGHT)$/, `${shape.name}: ${line}`);
        const firstPage = listStatements(listShapeOf(shape.request), false);
        const first = plan(firstPage.page, { ...firstPage.params, limit: 10, offset: 0 });
        assert.ok(
          !first.some((line) => /TEMP B-TREE|^SCAN/.test(line)) || (shape.request.include_archived && shape.request.assignee === undefined),
          `${shape.name} sorts or scans: ${first.join(' | ')}`,
        );
        if (!shape.request.include_archived || shape.request.assignee !== undefined) {
          assert.ok(
            first.filter((l) => !/^(MERGE|LEFT|RIGHT)/.test(l)).every((line) => /^SEARCH tasks USING INDEX /.test(line)),
            `${shape.name}: ${first.join(' | ')}`,
          );
        }
        for (const line of plan(seek.count, seek.params)) {
          assert.match(line, /^(SCAN|SEARCH) task_counts_by_(status|assignee)\b/, `${shape.name} counts from: ${line}`);
        }
      }
    } finally {
      db.close();
    }
  });
});
