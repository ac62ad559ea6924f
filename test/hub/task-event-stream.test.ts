// TaskEventStream (bidirectional): the first subscribe starts the stream, later ones replace the
// filter without closing it or leaving a gap, updates apply like UpdateTask and their events come
// back under the current filter, a bad update ends the stream with its status code.
import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { call, connect, type RiggerServiceClient } from '../support/client';
import { startServer, tempProject, waitFor } from '../support/processes';
import { askedBookmarkAtHead, BOOKMARK } from '../support/barriers';
import { addTasks, asLogged, matches, readLog, sequences, waitForLength, type Filter, type LoggedEvent } from './hub-support';

function openBidi(client: RiggerServiceClient) {
  const stream = client.TaskEventStream();
  const received: LoggedEvent[] = [];
  const bookmarks: number[] = [];
  let endedWith: grpc.ServiceError | 'end' | undefined;
  stream.on('data', (e) => (e.event_type === BOOKMARK ? bookmarks.push(Number(e.sequence)) : received.push(asLogged(e))));
  const ended = new Promise<grpc.ServiceError | 'end'>((resolve) => {
    stream.on('error', (e: grpc.ServiceError) => resolve((endedWith = e)));
    stream.on('end', () => resolve((endedWith = 'end')));
  });
  return { stream, received, bookmarks, ended, endedWith: () => endedWith };
}

test('first subscribe starts, later subscribes replace the filter at one point with no gap, updates come back', { timeout: 120_000 }, async () => {
  const dir = tempProject();
  const server = await startServer(dir, ['--buffer-size', '16']);
  const client = connect(server.address);
  try {
    const alice = (await call(client, 'AddTask', { title: 'hers', assignee: 'Alice' })).task.id as string;
    const bidi = openBidi(client);
    const headers = new Promise<grpc.Metadata>((resolve) => bidi.stream.once('metadata', resolve));
    // The writer's events (CREATED, UPDATED, STATUS_CHANGED of TODO/IN_PROGRESS tasks) match every
    // filter, so an event lost at a switch is a visible gap. The stream's own updates of Alice's
    // task produce events that only some filters match, which shows each switch took effect.
    const filters: Filter[] = [{ event_types: [1, 2, 4] }, { event_types: [1, 2, 4, 5] }, { event_types: [1, 2, 4, 5], statuses: [1, 2] }, {}];
    bidi.stream.write({ subscribe: filters[0] as object });
    const startAfter = Number((await headers).get('x-rigger-position')[0]);

    // A writer runs the whole time, so every filter switch lands among concurrent commits.
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing && i < 3000; i++) {
        const { task } = await call(client, 'AddTask', { title: `w${i}`, assignee: i % 2 ? 'Alice' : 'Bob' });
        await call(client, 'UpdateTask', { task_id: task.id, status: 2 });
      }
    })();
    const arrives = (what: string, test: (e: LoggedEvent) => boolean) => waitFor(() => bidi.received.some((e) => e.task_id === alice && test(e)), 10_000, what);
    // Between switches, the writer's events go by under each filter: wait for some, not for a time.
    const writerEvents = async (n: number) => waitForLength(() => bidi.received, bidi.received.length + n, 20_000, `${n} more writer events`);
    await writerEvents(20);
    // An update sent after a subscribe is applied after it: its events are judged by the new filter.
    bidi.stream.write({ subscribe: filters[1] as object });
    bidi.stream.write({ update: { task_id: alice, assignee: 'Carol' } });
    await arrives('ASSIGNED, visible from filter 1 on', (e) => e.event_type === 5);
    await writerEvents(20);
    bidi.stream.write({ subscribe: filters[2] as object });
    bidi.stream.write({ update: { task_id: alice, status: 9 } }); // from TODO: matches statuses [1, 2]
    bidi.stream.write({ update: { task_id: alice, status: 3 } }); // from COMPLETED to 3: does not
    await arrives('the change to COMPLETED', (e) => e.event_type === 4 && e.status === 9);
    await writerEvents(20);
    bidi.stream.write({ subscribe: filters[3] as object });
    bidi.stream.write({ update: { task_id: alice, status: 5 } }); // from 3 to 5: only filter 3 matches
    await arrives('the change to PENDING_FOLLOW_ON, visible under filter 3 only', (e) => e.event_type === 4 && e.status === 5);
    await writerEvents(20);
    writing = false;
    await writer;
    await call(client, 'AddTask', { title: 'last' });
    // A bookmark at the head: the stream has had every event it will get of the log read here.
    await askedBookmarkAtHead(client, bidi.stream, () => bidi.bookmarks);
    const log = readLog(dir);
    assert.equal(bidi.endedWith(), undefined, 'the stream stayed open through every filter change');

    // The stream must be the log under filter 0, then 1, then 2, then 3, each switch at one point:
    // walk the log keeping every filter index the stream could be under at that event.
    const got = sequences(bidi.received);
    let possible = [0];
    let next = 0;
    for (const e of log) {
      if (e.sequence <= startAfter) continue;
      const isNext = got[next] === e.sequence;
      const from = Math.min(...possible);
      possible = filters.map((_, g) => g).filter((g) => g >= from && matches(filters[g]!, e) === isNext);
      assert.ok(
        possible.length > 0,
        `event ${e.sequence} ${isNext ? 'was sent but matches no filter in effect' : 'matches every filter that could be in effect but was not sent (a gap)'}`,
      );
      if (isNext) next++;
    }
    assert.equal(next, got.length, `every received event is in the log, in order (${got.length} received)`);
    assert.ok(possible.includes(filters.length - 1), 'the stream ends under the last filter');
    assert.ok(!bidi.received.some((e) => e.task_id === alice && e.status === 3), 'the change to status 3 was filtered out under filter 2');
    const { task } = await call(client, 'GetTask', { task_id: alice });
    assert.equal(task.status, 5, 'the updates were applied like UpdateTask');
    assert.equal(task.assignee, 'Carol');
    bidi.stream.cancel();
  } finally {
    client.close();
    await server.stop();
  }
});

test('since_sequence on the first subscribe replays; a bad update ends the stream with NOT_FOUND', async () => {
  const dir = tempProject();
  const server = await startServer(dir);
  const client = connect(server.address);
  try {
    await addTasks(client, 5, 1);
    const bidi = openBidi(client);
    bidi.stream.write({ subscribe: { since_sequence: 2 } });
    await waitForLength(() => bidi.received, 3, 10_000, 'the replay');
    assert.deepEqual(sequences(bidi.received), [3, 4, 5]);
    bidi.stream.write({ update: { task_id: 'no-such-task', status: 2 } });
    const ended = await bidi.ended;
    assert.notEqual(ended, 'end');
    assert.equal((ended as grpc.ServiceError).code, grpc.status.NOT_FOUND);
    assert.match((ended as grpc.ServiceError).details, /task "no-such-task" does not exist/);
  } finally {
    client.close();
    await server.stop();
  }
});

test('a later subscribe with a bad filter ends the stream with INVALID_ARGUMENT; an update before any subscribe still applies', async () => {
  const dir = tempProject();
  const server = await startServer(dir);
  const client = connect(server.address);
  try {
    const [id] = await addTasks(client, 1, 1);
    const bidi = openBidi(client);
    bidi.stream.write({ update: { task_id: id, assignee: 'Dana' } });
    bidi.stream.write({ subscribe: {} });
    // Answered after the update committed and the subscribe took effect, in order with any event sent.
    await askedBookmarkAtHead(client, bidi.stream, () => bidi.bookmarks);
    assert.equal((await call(client, 'GetTask', { task_id: id })).task.assignee, 'Dana');
    bidi.stream.write({ subscribe: { event_types: [0] } });
    const ended = (await bidi.ended) as grpc.ServiceError;
    assert.equal(ended.code, grpc.status.INVALID_ARGUMENT);
    assert.match(ended.details, /TASK_EVENT_TYPE_UNSPECIFIED/);
    assert.deepEqual(bidi.received, [], 'the update came before the subscribe, so its events were not sent');
  } finally {
    client.close();
    await server.stop();
  }
});
