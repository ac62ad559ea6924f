// TaskEventStream (bidirectional): the first subscribe starts the stream, later ones replace the
// filter without closing it or leaving a gap, updates apply like UpdateTask and their events come
// back under the current filter, a bad update ends the stream with its status code.
import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { call, connect, type RiggerServiceClient } from '../support/client';
import { startServer, tempProject } from '../support/processes';
import { addTasks, asLogged, matches, readLog, sequences, sleep, waitForLength, type Filter, type LoggedEvent } from './hub-support';

function openBidi(client: RiggerServiceClient) {
  const stream = client.TaskEventStream();
  const received: LoggedEvent[] = [];
  let endedWith: grpc.ServiceError | 'end' | undefined;
  stream.on('data', (e) => received.push(asLogged(e)));
  const ended = new Promise<grpc.ServiceError | 'end'>((resolve) => {
    stream.on('error', (e: grpc.ServiceError) => resolve((endedWith = e)));
    stream.on('end', () => resolve((endedWith = 'end')));
  });
  return { stream, received, ended, endedWith: () => endedWith };
}

test('first subscribe starts, later subscribes replace the filter at one point with no gap, updates come back', { timeout: 120_000 }, async () => {
  const dir = tempProject();
  const server = await startServer(dir, ['--buffer-size', '16']);
  const client = connect(server.address);
  try {
    const alice = (await call(client, 'AddTask', { title: 'hers', assignee: 'Alice' })).task.id as string;
    const bidi = openBidi(client);
    const headers = new Promise<grpc.Metadata>((resolve) => bidi.stream.once('metadata', resolve));
    const filters: Filter[] = [
      { event_types: [1] },
      { assignee_filter: 'Alice' },
      { event_types: [1, 4], statuses: [2] },
      {},
    ];
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
    for (let f = 1; f < filters.length; f++) {
      await sleep(300);
      bidi.stream.write({ subscribe: filters[f] as object });
      // An update sent after the subscribe is applied after it: its events arrive under the new filter.
      const status = f % 2 ? 2 : 9;
      bidi.stream.write({ update: { task_id: alice, status, assignee: 'Alice' } });
      const before = bidi.received.length;
      await waitForLength(() => bidi.received, before + 1, 10_000, `events after switch ${f}`);
    }
    await sleep(300);
    writing = false;
    await writer;
    await call(client, 'AddTask', { title: 'last' });
    const log = readLog(dir);
    await sleep(500);
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
      assert.ok(possible.length > 0, `event ${e.sequence} ${isNext ? 'was sent but matches no filter in effect' : 'matches every filter that could be in effect but was not sent (a gap)'}`);
      if (isNext) next++;
    }
    assert.equal(next, got.length, `every received event is in the log, in order (${got.length} received)`);
    assert.ok(possible.includes(filters.length - 1), 'the stream ends under the last filter');
    assert.ok(bidi.received.some((e) => e.event_type === 4 && e.task_id === alice), 'the update came back as STATUS_CHANGED');
    const { task } = await call(client, 'GetTask', { task_id: alice });
    assert.equal(task.status, 2, 'the last update (status 2) was applied like UpdateTask');
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
    await sleep(300);
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
