// Every CRUD RPC of rigger.v1.RiggerService through a real grpc-js client against a real `rig grpc`:
// the success paths, then each bad input with its status code and a message naming the field.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { call, callError, connect, type RiggerServiceClient } from '../support/client';
import { startServer, tempProject, type ServerProcess } from '../support/processes';

let server: ServerProcess;
let client: RiggerServiceClient;

// Suite-level hooks: they run before the harness's own root `after`, which kills what is left.
describe('RiggerService CRUD through a real server', () => {
  before(async () => {
    server = await startServer(tempProject());
    client = connect(server.address);
  });

  after(async () => {
    client.close();
    assert.equal(await server.stop(), 0);
  });

  describe('success paths', () => {
    test('AddTask returns the stored task with every given field, TODO status and version 1', async () => {
      const { task } = await call(client, 'AddTask', {
        title: '  Implement OAuth2 authentication  ',
        assignee: 'Alice',
        due_date: '2025-12-31',
        source_prd_id: 'prd-1',
      });
      assert.match(task.id, /^[0-9a-f-]{36}$/);
      assert.equal(task.title, 'Implement OAuth2 authentication');
      assert.equal(task.assignee, 'Alice');
      assert.equal(task.due_date, '2025-12-31');
      assert.equal(task.source_prd_id, 'prd-1');
      assert.equal(task.status, 1);
      assert.equal(task.version, 1);
      assert.ok(!Number.isNaN(Date.parse(task.created_at)), `created_at ${task.created_at} is RFC 3339`);
      assert.equal(task.created_at, task.updated_at);
    });

    test('AddTask with an existing parent_task_id records the parent', async () => {
      const { task: parent } = await call(client, 'AddTask', { title: 'parent' });
      const { task: child } = await call(client, 'AddTask', { title: 'child', parent_task_id: parent.id });
      assert.equal(child.parent_task_id, parent.id);
    });

    test('GetTask returns what AddTask stored', async () => {
      const { task: added } = await call(client, 'AddTask', { title: 'get me', assignee: 'Bob' });
      const { task } = await call(client, 'GetTask', { task_id: added.id });
      assert.deepEqual(task, added);
    });

    test('UpdateTask changes status, assignee and due date and bumps the version', async () => {
      const { task: added } = await call(client, 'AddTask', { title: 'update me' });
      const { task } = await call(client, 'UpdateTask', { task_id: added.id, status: 2, assignee: 'Carol', due_date: '2026-01-15' });
      assert.equal(task.status, 2);
      assert.equal(task.assignee, 'Carol');
      assert.equal(task.due_date, '2026-01-15');
      assert.equal(task.version, 2);
      assert.equal(task.title, 'update me');
      const { task: read } = await call(client, 'GetTask', { task_id: added.id });
      assert.deepEqual(read, task);
    });

    test('DeleteTask succeeds and archives the task', async () => {
      const { task: added } = await call(client, 'AddTask', { title: 'delete me' });
      const response = await call(client, 'DeleteTask', { task_id: added.id });
      assert.equal(response.success, true);
      const { task } = await call(client, 'GetTask', { task_id: added.id });
      assert.equal(task.status, 10);
      assert.equal(task.version, 2);
    });

    test('ListTasks returns the added tasks', async () => {
      const { task } = await call(client, 'AddTask', { title: 'listed', assignee: 'ListOnly' });
      const listed = await call(client, 'ListTasks', { assignee: 'ListOnly' });
      assert.equal(listed.total_count, 1);
      assert.deepEqual(listed.tasks, [task]);
    });
  });

  /** Asserts the call fails with `code` and a message matching every pattern. */
  async function expectError(method: Parameters<typeof callError>[1], request: object, code: grpc.status, ...patterns: RegExp[]) {
    const error = await callError(client, method, request);
    assert.equal(error.code, code, `${method} ${JSON.stringify(request).slice(0, 80)}: got ${grpc.status[error.code]}: ${error.details}`);
    for (const pattern of patterns) assert.match(error.details, pattern);
    return error;
  }

  describe('INVALID_ARGUMENT naming the field', () => {
    const { INVALID_ARGUMENT } = grpc.status;

    test('AddTask with an empty title', async () => {
      await expectError('AddTask', { title: '' }, INVALID_ARGUMENT, /title/, /empty/);
    });

    test('AddTask with a whitespace-only title', async () => {
      await expectError('AddTask', { title: ' \t\n ' }, INVALID_ARGUMENT, /title/, /empty/);
    });

    test('AddTask with a title over 500 characters (501)', async () => {
      await expectError('AddTask', { title: 'x'.repeat(501) }, INVALID_ARGUMENT, /title/, /500/);
      // 500 exactly is fine.
      const { task } = await call(client, 'AddTask', { title: 'y'.repeat(500) });
      assert.equal(task.title.length, 500);
    });

    for (const due of ['2025-02-30', '2025-1-5', '2025-13-01', 'tomorrow']) {
      test(`AddTask with due_date ${due}`, async () => {
        await expectError('AddTask', { title: 'due', due_date: due }, INVALID_ARGUMENT, /due_date/, /YYYY-MM-DD/);
      });
      test(`UpdateTask with due_date ${due}`, async () => {
        const { task } = await call(client, 'AddTask', { title: 'due update' });
        await expectError('UpdateTask', { task_id: task.id, due_date: due }, INVALID_ARGUMENT, /due_date/);
        const { task: unchanged } = await call(client, 'GetTask', { task_id: task.id });
        assert.equal(unchanged.version, 1);
      });
    }

    for (const due of ['2024-02-29', '0050-06-15']) {
      test(`a real calendar date is accepted: ${due}`, async () => {
        const { task } = await call(client, 'AddTask', { title: 'real date', due_date: due });
        assert.equal(task.due_date, due);
      });
    }

    for (const status of [0, 99]) {
      test(`UpdateTask with status ${status}`, async () => {
        const { task } = await call(client, 'AddTask', { title: `status ${status}` });
        await expectError('UpdateTask', { task_id: task.id, status }, INVALID_ARGUMENT, /status/, new RegExp(status === 0 ? 'UNSPECIFIED' : '99'));
        const { task: unchanged } = await call(client, 'GetTask', { task_id: task.id });
        assert.equal(unchanged.status, 1);
        assert.equal(unchanged.version, 1);
      });
      test(`ListTasks with status ${status}`, async () => {
        await expectError('ListTasks', { status }, INVALID_ARGUMENT, /status/);
      });
    }

    for (const method of ['GetTask', 'UpdateTask', 'DeleteTask'] as const) {
      test(`${method} with an empty task_id`, async () => {
        await expectError(method, { task_id: '' }, INVALID_ARGUMENT, /task_id/, /empty/);
        await expectError(method, {}, INVALID_ARGUMENT, /task_id/);
      });
    }

    test('ListTasks with limit 1001 (over the maximum of 1000)', async () => {
      await expectError('ListTasks', { limit: 1001 }, INVALID_ARGUMENT, /limit/, /1000/);
      const page = await call(client, 'ListTasks', { limit: 1000 });
      assert.ok(page.total_count >= page.tasks.length);
    });
  });

  describe('NOT_FOUND', () => {
    const { NOT_FOUND } = grpc.status;
    const unknown = '00000000-0000-0000-0000-000000000000';

    for (const method of ['GetTask', 'UpdateTask', 'DeleteTask'] as const) {
      test(`${method} of an unknown task id`, async () => {
        await expectError(method, { task_id: unknown, ...(method === 'UpdateTask' && { status: 2 }) }, NOT_FOUND, new RegExp(unknown));
      });
    }

    test('AddTask with an unknown parent_task_id names the field and writes nothing', async () => {
      const before = await call(client, 'ListTasks', { include_archived: true, limit: 1000 });
      await expectError('AddTask', { title: 'orphan', parent_task_id: unknown }, NOT_FOUND, /parent_task_id/, new RegExp(unknown));
      const afterwards = await call(client, 'ListTasks', { include_archived: true, limit: 1000 });
      assert.equal(afterwards.total_count, before.total_count);
    });
  });
});
