// Filter exit through the real server: a subscriber filtered by status (or assignee) sees the event
// that moves a task out of its filter, and nothing of that task after it until it comes back;
// here with task_ids and statuses combined, live and replayed from since_sequence, and with
// assignee and statuses combined. The rule is documented once, in docs/subscribing.md#filters.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SubscribeToTaskEventsRequest } from '../../src/generated/rigger/v1/SubscribeToTaskEventsRequest';
import { call, connect } from '../support/client';
import { startServer, tempProject } from '../support/processes';
import { BOOKMARK, bookmarkReached } from '../support/barriers';
import { asLogged, ResumingSubscriber } from './hub-support';

const CREATED = 1,
  UPDATED = 2,
  DELETED = 3,
  STATUS_CHANGED = 4,
  ASSIGNED = 5;
const TODO = 1,
  IN_PROGRESS = 2,
  COMPLETED = 9,
  ARCHIVED = 10;

test(
  'task_ids + statuses: the change that takes the task out of the statuses is delivered, later ones are not until it is back',
  { timeout: 60_000 },
  async () => {
    const server = await startServer(tempProject());
    const client = connect(server.address);
    try {
      const add = async (title: string) => (await call(client, 'AddTask', { title, assignee: 'Alice' })).task.id as string;
      const a = await add('watched'); // 1
      const b = await add('other'); // 2
      const filter = { task_ids: [a], statuses: [TODO] };
      const live = client.SubscribeToTaskEvents({ ...filter, bookmark_interval_ms: 100 } as SubscribeToTaskEventsRequest);
      const received: ReturnType<typeof asLogged>[] = [];
      const bookmarks: number[] = [];
      live.on('data', (e) => (e.event_type === BOOKMARK ? bookmarks.push(Number(e.sequence)) : received.push(asLogged(e))));
      live.on('error', () => {});
      await new Promise((resolve) => live.once('metadata', resolve));

      const update = (task_id: string, patch: object) => call(client, 'UpdateTask', { task_id, ...patch });
      await update(b, { status: IN_PROGRESS }); // 3, 4: another task, leaving TODO: not this filter's task
      await update(a, { status: IN_PROGRESS }); // 5, 6: a leaves TODO: the exit, delivered
      await update(a, { status: COMPLETED }); // 7, 8: neither before nor after is TODO
      await update(a, { assignee: 'Bob' }); // 9, 10: a is not in TODO
      await update(a, { status: TODO }); // 11, 12: a comes back to TODO: delivered
      await update(a, { assignee: 'Carol' }); // 13, 14: in TODO: delivered
      await call(client, 'DeleteTask', { task_id: a }); // 15: from TODO to ARCHIVED: the exit, delivered
      await update(a, { assignee: 'Dan' }); // 16, 17: archived, not TODO
      const expected = [
        [5, UPDATED, TODO, IN_PROGRESS],
        [6, STATUS_CHANGED, TODO, IN_PROGRESS],
        [11, UPDATED, COMPLETED, TODO],
        [12, STATUS_CHANGED, COMPLETED, TODO],
        [13, UPDATED, TODO, TODO],
        [14, ASSIGNED, TODO, TODO],
        [15, DELETED, TODO, ARCHIVED],
      ];
      const shape = (list: ReturnType<typeof asLogged>[]) => list.map((e) => [e.sequence, e.event_type, e.previous_status, e.status]);
      await bookmarkReached(() => bookmarks, 17, 'the live stream');
      assert.deepEqual(shape(received), expected, 'live');
      assert.ok(received.every((e) => e.task_id === a));
      live.cancel();

      // The same from the log.
      const replay = new ResumingSubscriber(client, filter, 0);
      await replay.connect();
      await replay.caughtUp(17);
      assert.deepEqual(shape(replay.received), [[1, CREATED, undefined, TODO], ...expected], 'replayed from since_sequence 0: its CREATED too');
      await replay.disconnect();
    } finally {
      client.close();
      await server.stop();
    }
  },
);

test("assignee + statuses: reassigning away from the person is delivered with the task's new assignee", { timeout: 60_000 }, async () => {
  const server = await startServer(tempProject());
  const client = connect(server.address);
  try {
    const a = (await call(client, 'AddTask', { title: 'hers', assignee: 'Alice' })).task.id as string; // 1
    const sub = new ResumingSubscriber(client, { assignee_filter: 'Alice', statuses: [TODO] }, undefined);
    await sub.connect();
    await call(client, 'UpdateTask', { task_id: a, assignee: 'Bob' }); // 2, 3: leaves Alice: delivered
    await call(client, 'UpdateTask', { task_id: a, status: IN_PROGRESS }); // 4, 5: Bob's now: not
    await call(client, 'UpdateTask', { task_id: a, assignee: 'Alice' }); // 6, 7: back to Alice, but IN_PROGRESS: not
    await sub.caughtUp(7);
    assert.deepEqual(
      sub.received.map((e) => [e.sequence, e.event_type, e.previous_assignee, e.assignee]),
      [
        [2, UPDATED, 'Alice', 'Bob'],
        [3, ASSIGNED, 'Alice', 'Bob'],
      ],
    );
    await sub.disconnect();
  } finally {
    client.close();
    await server.stop();
  }
});
