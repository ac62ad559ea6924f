// A subscriber that stops reading while thousands of events flow through a server whose replay
// buffer holds 16: the others get everything while it is stalled, its stream is not ended, and
// when it reads again it receives every event in order with no gap.
import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { call, connect } from '../support/client';
import { startServer, tempProject } from '../support/processes';
import { sentinelThrough } from '../support/barriers';
import { addTasks, asLogged, readLog, sequences, waitForLength, type LoggedEvent } from './hub-support';

const EVENTS = 3000;

test('a stalled subscriber neither blocks the others nor loses events, and is not dropped', { timeout: 240_000 }, async (t) => {
  const dir = tempProject();
  const server = await startServer(dir, ['--buffer-size', '16']);
  const writer = connect(server.address);
  // Each subscriber on its own connection, as separate sidecars would be.
  const stalledClient = connect(server.address);
  const fastClients = [connect(server.address), connect(server.address)];
  try {
    const stalled: LoggedEvent[] = [];
    let stalledEnded: string | undefined;
    const stream = stalledClient.SubscribeToTaskEvents({});
    stream.on('data', (e) => stalled.push(asLogged(e)));
    stream.on('error', (error: grpc.ServiceError) => (stalledEnded ??= `error ${error.code} ${error.details}`));
    stream.on('end', () => (stalledEnded ??= 'end'));
    await new Promise((resolve) => stream.once('metadata', resolve));
    stream.pause(); // stops reading: grpc-js stops taking data, HTTP/2 flow control closes the window

    const fast = fastClients.map((client) => {
      const received: LoggedEvent[] = [];
      const s = client.SubscribeToTaskEvents({});
      s.on('data', (e) => received.push(asLogged(e)));
      s.on('error', () => {});
      return { received, ready: new Promise((resolve) => s.once('metadata', resolve)), stream: s };
    });
    await Promise.all(fast.map((f) => f.ready));

    await addTasks(writer, EVENTS, 32);
    // The others have everything while the stalled one still sits far behind.
    for (const f of fast) await waitForLength(() => f.received, EVENTS, 60_000, 'a reading subscriber');
    const stalledWhileOthersDone = stalled.length;
    t.diagnostic(`while stalled it had taken ${stalledWhileOthersDone} of ${EVENTS} events`);
    assert.ok(stalledWhileOthersDone < EVENTS / 2, `the stalled subscriber had taken only ${stalledWhileOthersDone} events`);

    // And they keep going: more events reach them while the stalled one still does not read.
    await addTasks(writer, 200, 16);
    for (const f of fast) await waitForLength(() => f.received, EVENTS + 200, 30_000, 'a reading subscriber, later');
    assert.equal(stalledEnded, undefined, 'the server did not end the stalled stream while it published 200 more past it');

    stream.resume();
    await waitForLength(() => stalled, EVENTS + 200, 60_000, 'the stalled subscriber after it reads again');
    // Still live afterwards: one more event arrives on the same stream.
    await call(writer, 'AddTask', { title: 'after the stall' });
    await waitForLength(() => stalled, EVENTS + 201, 10_000, 'a live event after catching up');
    await sentinelThrough(writer, (id) => stalled.some((e) => e.task_id === id), 'the stalled subscriber, caught up');

    const log = readLog(dir);
    assert.equal(log.length, EVENTS + 202);
    assert.deepEqual(sequences(stalled), sequences(log), 'every event, in order, no gap, no duplicate');
    for (const f of fast) assert.deepEqual(sequences(f.received), sequences(log).slice(0, f.received.length));
    assert.equal(stalledEnded, undefined);
    stream.cancel();
    for (const f of fast) f.stream.cancel();
  } finally {
    for (const c of [writer, stalledClient, ...fastClients]) c.close();
    await server.stop();
  }
});
