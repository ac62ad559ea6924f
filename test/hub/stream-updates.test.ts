// TaskEventStream updates written at once share group commits: they are applied in the order sent,
// each once, a bookmark sent after them comes after all their events, and the first update that
// fails ends the stream with its status while no update sent after it is applied.
import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TaskEventType } from '../../src/model/task';
import { call, connect, type RiggerServiceClient } from '../support/client';
import { startServer, tempProject } from '../support/processes';
import { readLog } from './hub-support';

const UPDATES = 3000;

function openStream(client: RiggerServiceClient) {
  const stream = client.TaskEventStream();
  const received: { sequence: number; type: number; assignee: string | undefined }[] = [];
  stream.on('data', (e) => received.push({ sequence: Number(e.sequence), type: e.event_type, assignee: e.task?.assignee ?? undefined }));
  const ended = new Promise<grpc.ServiceError | 'end'>((resolve) => {
    stream.on('error', (e: grpc.ServiceError) => resolve(e));
    stream.on('end', () => resolve('end'));
  });
  return { stream, received, ended };
}

/** The assignees the log recorded for `taskId`, in sequence order. */
function assigneesLogged(dir: string, taskId: string): (string | undefined)[] {
  return readLog(dir)
    .filter((e) => e.task_id === taskId && e.event_type === TaskEventType.ASSIGNED)
    .map((e) => e.assignee);
}

test(
  `${UPDATES} updates written at once: applied in the order sent, each once; a bookmark after them is at the stream's position`,
  { timeout: 120_000 },
  async () => {
    const dir = tempProject();
    const server = await startServer(dir);
    const client = connect(server.address);
    const bidi = openStream(client);
    try {
      const { task } = await call(client, 'AddTask', { title: 'ordered' });
      bidi.stream.write({ subscribe: { task_ids: [task.id] } });
      const sent = Array.from({ length: UPDATES }, (_, i) => `w${i}`);
      for (const assignee of sent) bidi.stream.write({ update: { task_id: task.id, assignee } });
      bidi.stream.write({ bookmark: {} });

      const deadline = Date.now() + 90_000;
      while (!bidi.received.some((m) => m.type === TaskEventType.BOOKMARK)) {
        assert.ok(Date.now() < deadline, `no bookmark after ${bidi.received.length} events`);
        await new Promise((r) => setTimeout(r, 20));
      }
      const bookmarkAt = bidi.received.findIndex((m) => m.type === TaskEventType.BOOKMARK);
      // The bookmark was asked for once every update had committed, so the stream's head is at the last
      // one; it is answered at the stream's position, which is there unless the flood took the stream
      // off the live path: then the events up to it came first and the rest follow it.
      const before = bidi.received.slice(0, bookmarkAt);
      assert.equal(bidi.received[bookmarkAt]!.sequence, before.at(-1)!.sequence, 'the bookmark is at the last event sent before it');
      const lastSequence = 1 + 2 * UPDATES; // AddTask, then an UPDATED and an ASSIGNED per update
      while (bidi.received.at(-1)?.sequence !== lastSequence) {
        assert.ok(Date.now() < deadline, `the stream stopped at ${bidi.received.at(-1)?.sequence} of ${lastSequence}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      // An assignee change is logged as UPDATED and ASSIGNED: one ASSIGNED per update applied.
      const events = bidi.received.filter((m) => m.type !== TaskEventType.BOOKMARK);
      assert.deepEqual(
        events.filter((m) => m.type === TaskEventType.ASSIGNED).map((m) => m.assignee),
        sent,
        'every update event, in the order sent',
      );
      assert.deepEqual(assigneesLogged(dir, task.id), sent, 'the log holds each update once, in the order sent');
      const after = (await call(client, 'GetTask', { task_id: task.id })).task;
      assert.equal(after.version, UPDATES + 1);
      assert.equal(after.assignee, sent.at(-1));
    } finally {
      bidi.stream.cancel();
      client.close();
      await server.stop();
    }
  },
);

for (const [what, bad, code, message] of [
  ['a task that does not exist', { task_id: 'no-such-task', assignee: 'x' }, grpc.status.NOT_FOUND, /task "no-such-task" does not exist/],
  ['an empty task_id', { task_id: '', assignee: 'x' }, grpc.status.INVALID_ARGUMENT, /task_id/],
] as const) {
  test(`an update of ${what} amid ${UPDATES} ends the stream with its status; those before it apply, none after it`, { timeout: 120_000 }, async () => {
    const dir = tempProject();
    const server = await startServer(dir);
    const client = connect(server.address);
    const bidi = openStream(client);
    try {
      const { task } = await call(client, 'AddTask', { title: 'cut short' });
      const half = UPDATES / 2;
      for (let i = 0; i < half; i++) bidi.stream.write({ update: { task_id: task.id, assignee: `before${i}` } });
      bidi.stream.write({ update: bad });
      for (let i = 0; i < half; i++) bidi.stream.write({ update: { task_id: task.id, assignee: `after${i}` } });

      const ended = await bidi.ended;
      assert.notEqual(ended, 'end');
      assert.equal((ended as grpc.ServiceError).code, code);
      assert.match((ended as grpc.ServiceError).details, message);
      // A unary write queues behind every write the stream started: once it is answered, none of them is pending.
      const barrier = (await call(client, 'UpdateTask', { task_id: task.id, assignee: 'barrier' })).task;
      const expected = [...Array.from({ length: half }, (_, i) => `before${i}`), 'barrier'];
      assert.deepEqual(assigneesLogged(dir, task.id), expected, 'every update before the bad one, in order, and none after it');
      assert.equal(barrier.version, half + 2);
    } finally {
      client.close();
      await server.stop();
    }
  });
}
