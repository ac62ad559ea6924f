// ListTasks over a real server: filters applied together, total_count, default limit, order,
// paging and archived tasks. 60 tasks with a known mix of assignees and statuses are made first,
// and every answer is compared with what that mix says it must be.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { call, connect, type RiggerServiceClient } from '../support/client';
import { startServer, tempProject, type ServerProcess } from '../support/processes';

const TOTAL = 60;
const assigneeOf = (i: number) => (i % 3 === 0 ? 'Alice' : i % 3 === 1 ? 'Bob' : undefined);
const inProgress = (i: number) => i % 4 === 0;
const archived = (i: number) => i % 10 === 9;

let server: ServerProcess;
let client: RiggerServiceClient;
/** Task ids in creation order. */
const ids: string[] = [];

/** The ids a filter must return, newest first. */
function expected(keep: (i: number) => boolean): string[] {
  return ids
    .map((id, i) => ({ id, i }))
    .filter(({ i }) => keep(i))
    .map(({ id }) => id)
    .reverse();
}

describe('ListTasks', () => {
  before(async () => {
    server = await startServer(tempProject());
    client = connect(server.address);
    for (let i = 0; i < TOTAL; i++) {
      const assignee = assigneeOf(i);
      const { task } = await call(client, 'AddTask', { title: `task ${i}`, ...(assignee && { assignee }) });
      ids.push(task.id);
    }
    for (let i = 0; i < TOTAL; i++) {
      if (inProgress(i)) await call(client, 'UpdateTask', { task_id: ids[i], status: 2 });
      if (archived(i)) await call(client, 'DeleteTask', { task_id: ids[i] });
    }
  });

  after(async () => {
    client.close();
    assert.equal(await server.stop(), 0);
  });

  test('with no arguments: the default limit of 50, newest first, total_count of every match', async () => {
    const all = expected((i) => !archived(i));
    assert.equal(all.length, 54);
    const response = await call(client, 'ListTasks', {});
    assert.equal(response.tasks.length, 50);
    assert.equal(response.total_count, 54);
    assert.deepEqual(
      response.tasks.map((t: { id: string }) => t.id),
      all.slice(0, 50),
    );
  });

  test('status AND assignee are applied together', async () => {
    const want = expected((i) => inProgress(i) && assigneeOf(i) === 'Alice' && !archived(i));
    assert.equal(want.length, 5);
    const response = await call(client, 'ListTasks', { status: 2, assignee: 'Alice' });
    assert.deepEqual(
      response.tasks.map((t: { id: string }) => t.id),
      want,
    );
    assert.equal(response.total_count, want.length);
    for (const task of response.tasks) {
      assert.equal(task.status, 2);
      assert.equal(task.assignee, 'Alice');
    }
  });

  test('status alone and assignee alone', async () => {
    const byStatus = await call(client, 'ListTasks', { status: 1, limit: 1000 });
    assert.deepEqual(
      byStatus.tasks.map((t: { id: string }) => t.id),
      expected((i) => !inProgress(i) && !archived(i)),
    );
    const byAssignee = await call(client, 'ListTasks', { assignee: 'Bob', limit: 1000 });
    assert.deepEqual(
      byAssignee.tasks.map((t: { id: string }) => t.id),
      expected((i) => assigneeOf(i) === 'Bob' && !archived(i)),
    );
  });

  test('total_count is the number of matches, not the page size', async () => {
    const matches = expected((i) => assigneeOf(i) === 'Alice' && !archived(i)).length;
    const response = await call(client, 'ListTasks', { assignee: 'Alice', limit: 2 });
    assert.equal(response.tasks.length, 2);
    assert.equal(response.total_count, matches);
    assert.ok(matches > 2);
  });

  test('offset pages through every match once, in order', async () => {
    const all = expected((i) => !archived(i));
    const seen: string[] = [];
    for (let offset = 0, pages = 0; pages < 20; offset += 7, pages++) {
      const page = await call(client, 'ListTasks', { limit: 7, offset });
      assert.equal(page.total_count, all.length);
      if (page.tasks.length === 0) break;
      seen.push(...page.tasks.map((t: { id: string }) => t.id));
    }
    assert.deepEqual(seen, all);
    const past = await call(client, 'ListTasks', { offset: 1000 });
    assert.deepEqual(past.tasks, []);
    assert.equal(past.total_count, all.length);
  });

  test('archived tasks are left out unless include_archived or status ARCHIVED asks for them', async () => {
    const archivedIds = expected(archived);
    assert.equal(archivedIds.length, 6);
    const normal = await call(client, 'ListTasks', { limit: 1000 });
    assert.ok(normal.tasks.every((t: { id: string; status: number }) => t.status !== 10 && !archivedIds.includes(t.id)));
    const withArchived = await call(client, 'ListTasks', { limit: 1000, include_archived: true });
    assert.equal(withArchived.total_count, TOTAL);
    assert.deepEqual(
      withArchived.tasks.map((t: { id: string }) => t.id),
      expected(() => true),
    );
    const onlyArchived = await call(client, 'ListTasks', { status: 10 });
    assert.deepEqual(
      onlyArchived.tasks.map((t: { id: string }) => t.id),
      archivedIds,
    );
    assert.equal(onlyArchived.total_count, 6);
    const archivedOfAlice = await call(client, 'ListTasks', { status: 10, assignee: 'Alice' });
    assert.deepEqual(
      archivedOfAlice.tasks.map((t: { id: string }) => t.id),
      expected((i) => archived(i) && assigneeOf(i) === 'Alice'),
    );
  });
});
