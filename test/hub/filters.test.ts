// SubscribeToTaskEvents filters: every combination of event_types / assignee_filter / statuses /
// task_ids, live and replayed, against a scripted mutation sequence on the real server.
import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { call, connect, type RiggerServiceClient } from '../support/client';
import { startServer, tempProject } from '../support/processes';
import { BOOKMARK, bookmarkReached, headSequence } from '../support/barriers';
import { asLogged, matches, readLog, ResumingSubscriber, sequences, type Filter, type LoggedEvent } from './hub-support';

const CREATED = 1,
  UPDATED = 2,
  DELETED = 3,
  STATUS_CHANGED = 4,
  ASSIGNED = 5;
const TODO = 1,
  IN_PROGRESS = 2,
  COMPLETED = 9;

/** The script: three tasks, then status changes, reassignments (to and away from Alice) and a delete. */
async function runScript(client: RiggerServiceClient): Promise<{ a: string; b: string; c: string }> {
  const add = async (title: string, assignee?: string) => (await call(client, 'AddTask', { title, ...(assignee && { assignee }) })).task.id as string;
  const update = (task_id: string, patch: object) => call(client, 'UpdateTask', { task_id, ...patch });
  const a = await add('A: Alice from the start', 'Alice');
  const b = await add('B: Bob from the start', 'Bob');
  const c = await add('C: nobody');
  await update(a, { status: IN_PROGRESS }); // Alice's task changes status
  await update(a, { assignee: 'Bob' }); // moves away from Alice
  await update(b, { assignee: 'Alice', status: IN_PROGRESS }); // moves to Alice and changes status
  await update(c, { status: COMPLETED });
  await update(b, { status: COMPLETED });
  await call(client, 'DeleteTask', { task_id: c });
  await update(a, { assignee: '' }); // unassigned
  return { a, b, c };
}

test('every filter combination sees exactly its subset, live and replayed from since_sequence 0', async () => {
  const dir = tempProject();
  const server = await startServer(dir);
  const client = connect(server.address);
  try {
    // Task ids are only known after the script; the task_ids parts name ids of tasks made first.
    const probe = await call(client, 'AddTask', { title: 'probe', assignee: 'Alice' });
    const probeId = probe.task.id as string;

    const typeSets = [[], [CREATED, UPDATED, DELETED], [STATUS_CHANGED], [ASSIGNED, DELETED]];
    const assignees = [undefined, 'Alice', 'Nobody'];
    const statusSets = [[], [TODO], [IN_PROGRESS, COMPLETED]];
    const filters: Filter[] = [];
    for (const event_types of typeSets)
      for (const assignee_filter of assignees)
        for (const statuses of statusSets)
          for (const task_ids of [[], [probeId], ['no-such-task']])
            filters.push({ event_types, statuses, task_ids, ...(assignee_filter && { assignee_filter }) });

    const everything = new ResumingSubscriber(client, {}, 0);
    await everything.connect();
    const live = filters.map((f) => new ResumingSubscriber(client, f, undefined));
    await Promise.all(live.map((s) => s.connect()));

    const ids = await runScript(client);
    await call(client, 'UpdateTask', { task_id: probeId, status: COMPLETED });
    await call(client, 'UpdateTask', { task_id: probeId, assignee: 'Carol' });

    // The no-filter subscriber's stream is the whole log; compute each filter's subset from it.
    const log = readLog(dir);
    await everything.caughtUp(log.length);
    const all = everything.received;
    assert.deepEqual(all, log, 'the unfiltered stream is the whole log as the SQLite file holds it');
    assert.deepEqual(
      sequences(all),
      all.map((_, i) => i + 1),
      'gap-free from 1',
    );

    // The same filters, now replaying everything from since_sequence 0, plus filters naming the script's tasks.
    const replayFilters = [...filters, { task_ids: [ids.a, ids.c] }, { task_ids: [ids.b], assignee_filter: 'Alice', event_types: [ASSIGNED] }];
    const replayed = replayFilters.map((f) => new ResumingSubscriber(client, f, 0));
    await Promise.all(replayed.map((s) => s.connect()));

    // A bookmark at the log's end on each stream: it has had all it will get, extras included.
    await Promise.all([...live, ...replayed].map((s) => s.caughtUp(all.length)));
    const expectations = [...live, ...replayed].map((s) => all.filter((e) => e.sequence > (s.startAfter ?? 0) && matches(s.filter, e)));
    [...live, ...replayed].forEach((subscriber, i) => {
      assert.deepEqual(sequences(subscriber.received), sequences(expectations[i]!), `filter ${JSON.stringify(subscriber.filter)}`);
      assert.equal(subscriber.errors.length, 0);
    });
    // The filters are not vacuous: some see nothing, some see a part, the widest sees all.
    const sizes = new Set(expectations.map((e) => e.length));
    assert.ok(sizes.has(0) && sizes.has(all.length) && sizes.size > 5, `subset sizes ${[...sizes].join(',')}`);
    for (const s of [everything, ...live, ...replayed]) await s.disconnect();
  } finally {
    client.close();
    await server.stop();
  }
});

test("the contract's example {event_types:[1,2,3], assignee_filter:'Alice'} sees her task's status change and its move away", async () => {
  const dir = tempProject();
  const server = await startServer(dir);
  const client = connect(server.address);
  try {
    const received: LoggedEvent[] = [];
    const bookmarks: number[] = [];
    const stream = client.SubscribeToTaskEvents({ event_types: [1, 2, 3], assignee_filter: 'Alice', bookmark_interval_ms: 100 });
    stream.on('data', (e) => (e.event_type === BOOKMARK ? bookmarks.push(Number(e.sequence)) : received.push(asLogged(e))));
    stream.on('error', () => {}); // cancelled at the end
    await new Promise((resolve) => stream.once('metadata', resolve));

    const { task } = await call(client, 'AddTask', { title: 'OAuth2', assignee: 'Alice' });
    await call(client, 'AddTask', { title: 'not hers', assignee: 'Bob' });
    await call(client, 'UpdateTask', { task_id: task.id, status: IN_PROGRESS });
    await call(client, 'UpdateTask', { task_id: task.id, assignee: 'Bob' });
    await call(client, 'UpdateTask', { task_id: task.id, status: COMPLETED }); // Bob's now: not hers
    await bookmarkReached(() => bookmarks, await headSequence(client), 'the example filter');
    assert.deepEqual(
      received.map((e) => [e.event_type, e.task_id, e.assignee, e.previous_assignee ?? null, e.status]),
      [
        [CREATED, task.id, 'Alice', null, TODO],
        [UPDATED, task.id, 'Alice', 'Alice', IN_PROGRESS],
        [UPDATED, task.id, 'Bob', 'Alice', IN_PROGRESS],
      ],
    );
    stream.cancel();
  } finally {
    client.close();
    await server.stop();
  }
});

test('an UNSPECIFIED (0) or unknown (99) event type, or an unknown status, is INVALID_ARGUMENT with a clear message', async () => {
  const dir = tempProject();
  const server = await startServer(dir);
  const client = connect(server.address);
  try {
    for (const [request, expected] of [
      [{ event_types: [1, 0] }, /event_types contains TASK_EVENT_TYPE_UNSPECIFIED.*use 1-7/],
      [{ event_types: [99] }, /event_types contains 99.*use 1-7/],
      [{ statuses: [42] }, /statuses contains 42.*use 1-10/],
    ] as const) {
      const stream = client.SubscribeToTaskEvents(request as object);
      stream.on('data', () => assert.fail('no event expected'));
      const error = await new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
      assert.equal(error.code, grpc.status.INVALID_ARGUMENT, JSON.stringify(request));
      assert.match(error.details, expected);
    }
  } finally {
    client.close();
    await server.stop();
  }
});
