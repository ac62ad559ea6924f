// Server death and restart: kill -9 in the middle of writes and streams, or SIGTERM. Subscribers
// resume from the last sequence they saw on the restarted server and lose nothing, repeat nothing.
import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { call, connect, type RiggerServiceClient } from '../support/client';
import { startServer, tempProject } from '../support/processes';
import { asLogged, readLog, ResumingSubscriber, sequences, waitForLength, type LoggedEvent } from './hub-support';

/** Writes until told to stop or the server goes away; returns the ids whose AddTask was acknowledged. */
function writeUntilStopped(client: RiggerServiceClient, prefix: string): { stop(): void; done: Promise<string[]>; acknowledged: string[] } {
  let stopped = false;
  const acknowledged: string[] = [];
  const done = (async () => {
    for (let i = 0; i < 5000 && !stopped; i++) {
      try {
        const { task } = await call(client, 'AddTask', { title: `${prefix} ${i}`, assignee: i % 2 ? 'Alice' : 'Bob' });
        acknowledged.push(task.id);
        if (i % 3 === 0) await call(client, 'UpdateTask', { task_id: task.id, status: 2 });
      } catch {
        return acknowledged; // the server died under us
      }
    }
    return acknowledged;
  })();
  return { stop: () => (stopped = true), done, acknowledged };
}

test('kill -9 while a writer and subscribers run; after a restart they resume and nothing is lost or repeated', { timeout: 180_000 }, async () => {
  const dir = tempProject();
  let server = await startServer(dir, ['--buffer-size', '16']);
  let client = connect(server.address);
  const subscribers = [
    new ResumingSubscriber(client, {}, 0),
    new ResumingSubscriber(client, { assignee_filter: 'Alice' }, undefined),
    new ResumingSubscriber(client, { event_types: [4], statuses: [2] }, 0),
  ];
  try {
    await Promise.all(subscribers.map((s) => s.connect()));
    const writer = writeUntilStopped(client, 'before');
    await waitForLength(() => subscribers[0]!.received, 150, 30_000, 'events before the kill');
    server.child.kill('SIGKILL');
    const acknowledgedBefore = await writer.done;
    for (const s of subscribers) {
      await s.disconnect();
      assert.ok(
        s.errors.every((e) => e.code === grpc.status.UNAVAILABLE),
        `a dead server reads as UNAVAILABLE: ${s.errors.map((e) => e.code)}`,
      );
      s.errors.length = 0;
    }
    const logAtDeath = readLog(dir);
    const lastBefore = logAtDeath[logAtDeath.length - 1]!.sequence;

    server = await startServer(dir, ['--buffer-size', '16']);
    client.close();
    client = connect(server.address);
    for (const s of subscribers) s.client = client;
    await Promise.all(subscribers.map((s) => s.connect()));
    const after = writeUntilStopped(client, 'after');
    await waitForLength(() => after.acknowledged, 30, 20_000, 'writes acknowledged after the restart');
    after.stop();
    const acknowledgedAfter = await after.done;

    const log = readLog(dir);
    // The sequence continues where it stopped: gap-free across the crash.
    assert.deepEqual(
      sequences(log),
      log.map((_, i) => i + 1),
    );
    assert.ok(log.length > lastBefore, 'writes continued after the restart');
    // Every acknowledged AddTask is in the log.
    const created = new Set(log.filter((e) => e.event_type === 1).map((e) => e.task_id));
    for (const id of [...acknowledgedBefore, ...acknowledgedAfter]) assert.ok(created.has(id), `acknowledged task ${id} is in the log`);

    await Promise.all(subscribers.map((s) => s.caughtUp(log.at(-1)!.sequence)));
    for (const s of subscribers) {
      await s.disconnect();
      assert.deepEqual(s.errors, []);
      assert.deepEqual(sequences(s.received), sequences(s.expected(log)), `${JSON.stringify(s.filter)}: nothing lost, nothing repeated`);
    }
    assert.ok(subscribers[0]!.received.some((e) => e.sequence <= lastBefore) && subscribers[0]!.received.some((e) => e.sequence > lastBefore));
  } finally {
    client.close();
    await server.stop();
  }
});

test(
  'SIGTERM ends every open stream with UNAVAILABLE "server shutting down", exits 0, and a restart continues the sequence',
  { timeout: 120_000 },
  async () => {
    const dir = tempProject();
    let server = await startServer(dir);
    let client = connect(server.address);
    try {
      for (let i = 0; i < 5; i++) await call(client, 'AddTask', { title: `t${i}` });
      const ends: Promise<grpc.ServiceError | 'end'>[] = [];
      const received: LoggedEvent[] = [];
      const watch = (stream: grpc.ClientReadableStream<unknown> | grpc.ClientDuplexStream<unknown, unknown>, collect = false) => {
        if (collect) stream.on('data', (e) => received.push(asLogged(e)));
        else stream.on('data', () => {});
        ends.push(
          new Promise((resolve) => {
            stream.on('error', resolve);
            stream.on('end', () => resolve('end'));
          }),
        );
        return new Promise((resolve) => stream.once('metadata', resolve));
      };
      // A live stream, a replaying one, a filtered one, a subscribed TaskEventStream and one that never subscribed.
      await watch(client.SubscribeToTaskEvents({}), true);
      await watch(client.SubscribeToTaskEvents({ since_sequence: 0 }));
      await watch(client.SubscribeToTaskEvents({ assignee_filter: 'nobody' }));
      const bidi = client.TaskEventStream();
      const bidiReady = watch(bidi);
      bidi.write({ subscribe: { event_types: [1] } });
      await bidiReady;
      const idle = client.TaskEventStream();
      watch(idle);
      idle.write({ update: { task_id: (await call(client, 'ListTasks', {})).tasks[0].id, status: 2 } });
      await waitForLength(() => received, 2, 10_000, 'the update from the idle TaskEventStream');

      const code = await server.stop('SIGTERM');
      const results = await Promise.all(ends);
      assert.equal(code, 0, `exit code; stderr: ${server.stderr()}`);
      assert.equal(results.length, 5);
      for (const result of results) {
        assert.notEqual(result, 'end', 'ended with a status, not OK');
        const error = result as grpc.ServiceError;
        assert.equal(error.code, grpc.status.UNAVAILABLE, error.details);
        assert.match(error.details, /server shutting down/);
      }

      const lastSeen = received[received.length - 1]!.sequence;
      assert.equal(lastSeen, 7);
      server = await startServer(dir);
      client.close();
      client = connect(server.address);
      const resumed = new ResumingSubscriber(client, {}, lastSeen);
      await resumed.connect();
      const { task } = await call(client, 'AddTask', { title: 'after restart' });
      await waitForLength(() => resumed.received, 1, 10_000, 'the first event after the restart');
      assert.deepEqual(
        resumed.received.map((e) => [e.sequence, e.task_id]),
        [[lastSeen + 1, task.id]],
        'the sequence continues',
      );
      await resumed.disconnect();
    } finally {
      client.close();
      await server.stop();
    }
  },
);
