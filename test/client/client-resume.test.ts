// RiggerClient against the real `rig grpc`: reconnects across server restarts (graceful and
// SIGKILL) without losing or repeating an event, resumes from its checkpoint after a client
// restart, and surfaces what retrying cannot fix (OUT_OF_RANGE, INVALID_ARGUMENT) as an error.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { RiggerClient, StreamError, type StreamStatus, type TaskEvent } from '../../src/index';
import { assertExactlyOnceInOrder, restartServer } from '../sidecars/sidecar-support';
import { addTaskToFile } from '../support/project-writes';
import { startServer, tempDir, tempProject, waitFor } from '../support/processes';

const FAST_RETRY = { initialDelayMs: 20, maxDelayMs: 200 };

test('a subscription rides out a graceful restart and a SIGKILL of the server with no event lost or repeated', async () => {
  const dir = tempProject();
  let server = await startServer(dir);
  const client = new RiggerClient({ address: server.address, actor: 'client-test' });
  const events: TaskEvent[] = [];
  const statuses: StreamStatus[] = [];
  const bookmarks: { sequence: number; at: number }[] = [];
  let failure: unknown;
  const subscription = client
    .subscribe({
      sinceSequence: 0,
      backoff: FAST_RETRY,
      onStatus: (s) => statuses.push(s),
      bookmarkIntervalMs: 100,
      onBookmark: (sequence) => bookmarks.push({ sequence, at: Date.now() }),
    })
    .subscribe({ next: (e) => events.push(e), error: (e) => (failure = e) });
  try {
    for (let i = 1; i <= 3; i++) await client.addTask({ title: `before ${i}` });
    await waitFor(() => events.length === 3, 10_000, '3 events');

    assert.equal(await server.stop('SIGTERM'), 0);
    // Written while the server is down: the client must fetch these on resume.
    addTaskToFile(dir, 'while down 1');
    addTaskToFile(dir, 'while down 2');
    server = await restartServer(server);
    await waitFor(() => events.length === 5, 15_000, '5 events after a graceful restart');
    await client.addTask({ title: 'after restart' });
    await waitFor(() => events.length === 6, 10_000, '6 events');

    server.child.kill('SIGKILL');
    await waitFor(() => server.child.exitCode !== null || server.child.signalCode !== null, 5_000, 'server death');
    addTaskToFile(dir, 'after kill');
    server = await restartServer(server);
    await waitFor(() => events.length === 7, 15_000, '7 events after a SIGKILL');
    await client.addTask({ title: 'last' });
    await waitFor(() => events.length === 8, 10_000, '8 events');
    // A bookmark at 8 after it: anything extra (a repeat) the stream sent before it has arrived.
    const eighthAt = Date.now();
    await waitFor(() => bookmarks.some((b) => b.sequence >= 8 && b.at >= eighthAt), 10_000, 'a bookmark at 8');

    assert.equal(failure, undefined);
    assertExactlyOnceInOrder(
      events.map((e) => e.sequence),
      8,
    );
    assert.deepEqual(
      events.map((e) => e.task.title),
      ['before 1', 'before 2', 'before 3', 'while down 1', 'while down 2', 'after restart', 'after kill', 'last'],
    );
    assert.ok(
      statuses.some((s) => s.state === 'disconnected'),
      'the losses were seen',
    );
    const lastConnect = statuses.filter((s) => s.state === 'connected').at(-1);
    assert.ok(lastConnect && lastConnect.state === 'connected' && lastConnect.reconnects >= 2, `reconnects counted: ${JSON.stringify(lastConnect)}`);
  } finally {
    subscription.unsubscribe();
    await client.close();
    await server.stop();
  }
});

test('a live subscription that has seen no event yet still resumes without a gap', async () => {
  const dir = tempProject();
  let server = await startServer(dir);
  addTaskToFile(dir, 'history');
  const client = new RiggerClient({ address: server.address });
  const events: TaskEvent[] = [];
  const connected: number[] = [];
  const subscription = client
    .subscribe({ backoff: FAST_RETRY, onStatus: (s) => s.state === 'connected' && connected.push(s.position ?? -1) })
    .subscribe({ next: (e) => events.push(e) });
  try {
    await waitFor(() => connected.length === 1, 10_000, 'connected');
    assert.deepEqual(connected, [1], 'a live start learns the server position from the response header');
    assert.equal(await server.stop('SIGTERM'), 0);
    addTaskToFile(dir, 'while down');
    server = await restartServer(server);
    await waitFor(() => events.length === 1, 15_000, 'the event written while down');
    assert.deepEqual(
      events.map((e) => [e.sequence, e.task.title]),
      [[2, 'while down']],
    );
  } finally {
    subscription.unsubscribe();
    await client.close();
    await server.stop();
  }
});

test('a checkpointed subscription resumes after a client restart where it stopped (Observable and async iterator)', async () => {
  const dir = tempProject();
  const server = await startServer(dir);
  const checkpoint = path.join(tempDir(), 'sidecar.checkpoint');
  try {
    // First run: live start writes the position at once (no events yet).
    let client = new RiggerClient({ address: server.address });
    const seen: number[] = [];
    let subscription = client.subscribe({ checkpoint }).subscribe({ next: (e) => seen.push(e.sequence) });
    await waitFor(() => fs.existsSync(checkpoint), 10_000, 'checkpoint written on a live start');
    assert.match(fs.readFileSync(checkpoint, 'utf8'), /^0 [0-9a-f]{16}\n$/);
    await client.addTask({ title: 'one' });
    await client.addTask({ title: 'two' });
    await waitFor(() => seen.length === 2, 10_000, '2 events');
    subscription.unsubscribe();
    await client.close(); // flushes the checkpoint
    assert.match(fs.readFileSync(checkpoint, 'utf8'), /^2 [0-9a-f]{16}\n$/);

    // Changes while no client runs.
    addTaskToFile(dir, 'three');
    addTaskToFile(dir, 'four');

    // Second run with the iterator: continues at 3; the checkpoint moves only once the loop comes back.
    client = new RiggerClient({ address: server.address });
    const iterator = client.events({ checkpoint, sinceSequence: 0 });
    const titles: string[] = [];
    for await (const event of iterator) {
      titles.push(`${event.sequence}:${event.task.title}`);
      if (event.sequence === 3) {
        await new Promise((r) => setTimeout(r, 100));
        assert.match(fs.readFileSync(checkpoint, 'utf8'), /^2 [0-9a-f]{16}\n$/, 'not yet handled: the loop body is still running');
      }
      if (titles.length === 2) break;
    }
    await client.close();
    assert.deepEqual(titles, ['3:three', '4:four'], 'the checkpoint wins over an older sinceSequence');
    assert.match(fs.readFileSync(checkpoint, 'utf8'), /^3 [0-9a-f]{16}\n$/, 'the event the loop broke out on is not counted as handled');

    // Third run: 4 again (it was not acknowledged), then nothing old.
    client = new RiggerClient({ address: server.address });
    const third: number[] = [];
    subscription = client.subscribe({ checkpoint }).subscribe({ next: (e) => third.push(e.sequence) });
    await waitFor(() => third.length === 1, 10_000, 'redelivery of 4');
    await client.addTask({ title: 'five' });
    await waitFor(() => third.length === 2, 10_000, 'event 5');
    subscription.unsubscribe();
    await client.close();
    assert.deepEqual(third, [4, 5]);
    assert.match(fs.readFileSync(checkpoint, 'utf8'), /^5 [0-9a-f]{16}\n$/);
    assert.deepEqual(fs.readdirSync(path.dirname(checkpoint)), ['sidecar.checkpoint'], 'no temp files left behind');
  } finally {
    await server.stop();
  }
});

test('OUT_OF_RANGE ends the subscription with an error the caller sees, with no retry', async () => {
  const dir = tempProject();
  const server = await startServer(dir);
  addTaskToFile(dir, 'only one');
  // A checkpoint from another database (say, the server's was replaced): sequence 500 does not exist here.
  const checkpoint = path.join(tempDir(), 'stale.checkpoint');
  fs.writeFileSync(checkpoint, '500\n');
  const client = new RiggerClient({ address: server.address });
  const statuses: StreamStatus[] = [];
  try {
    const error = await new Promise<unknown>((resolve, reject) => {
      client.subscribe({ checkpoint, backoff: FAST_RETRY, onStatus: (s) => statuses.push(s) }).subscribe({
        next: (e) => reject(new Error(`unexpected event ${e.sequence}`)),
        error: resolve,
        complete: () => reject(new Error('completed instead of failing')),
      });
    });
    assert.ok(error instanceof StreamError, String(error));
    assert.equal(error.code, grpc.status.OUT_OF_RANGE);
    assert.match(error.details, /since_sequence 500 is ahead of the newest event \(1\)/);
    assert.equal(statuses.filter((s) => s.state === 'disconnected').length, 0, 'no reconnect attempt');
    assert.equal(fs.readFileSync(checkpoint, 'utf8'), '500\n', 'the checkpoint is left for the caller to decide');

    // The same through the iterator: the loop throws.
    await assert.rejects(
      (async () => {
        for await (const event of client.events({ sinceSequence: 999, backoff: FAST_RETRY })) assert.fail(`unexpected event ${event.sequence}`);
      })(),
      (e: unknown) => e instanceof StreamError && e.code === grpc.status.OUT_OF_RANGE,
    );
  } finally {
    await client.close();
    await server.stop();
  }
});

test('a filter the server rejects (INVALID_ARGUMENT) is an error, not a retry loop', async () => {
  const dir = tempProject();
  const server = await startServer(dir);
  const client = new RiggerClient({ address: server.address });
  try {
    const error = await new Promise<unknown>((resolve) => client.subscribe({ statuses: [42 as never], backoff: FAST_RETRY }).subscribe({ error: resolve }));
    assert.ok(error instanceof StreamError);
    assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
    assert.match(error.details, /statuses contains 42/);
    // Names are checked before anything is sent.
    const local = await new Promise<unknown>((resolve) => client.subscribe({ eventTypes: ['finished'] }).subscribe({ error: resolve }));
    assert.match(String((local as Error).message), /"finished" is not an event type/);
  } finally {
    await client.close();
    await server.stop();
  }
});

test('retries are bounded when configured: a server that never comes back ends the subscription', async () => {
  const client = new RiggerClient({ address: '127.0.0.1:1' });
  const disconnects: number[] = [];
  try {
    const error = await new Promise<unknown>((resolve) =>
      client
        .subscribe({
          backoff: { initialDelayMs: 10, maxDelayMs: 40, maxAttempts: 3 },
          onStatus: (s) => s.state === 'disconnected' && disconnects.push(s.retryInMs),
        })
        .subscribe({ error: resolve }),
    );
    assert.ok(error instanceof StreamError);
    assert.equal(error.code, grpc.status.UNAVAILABLE);
    assert.match(error.details, /gave up after 3 reconnect attempts/);
    assert.equal(disconnects.length, 3);
    for (const delay of disconnects) assert.ok(delay >= 5 && delay <= 40, `delay ${delay} within the bound`);
  } finally {
    await client.close();
  }
});

test('history compacted away: OUT_OF_RANGE carries the oldest sequence still available', async () => {
  const dir = tempProject();
  for (let i = 1; i <= 6; i++) addTaskToFile(dir, `task ${i}`);
  const server = await startServer(dir, ['--retain-events', '2', '--buffer-size', '1', '--compact-interval-ms', '50']);
  const client = new RiggerClient({ address: server.address });
  try {
    // Compaction runs in the background: ask until the answer is an error (bounded).
    let error: unknown;
    for (let attempt = 0; attempt < 100 && error === undefined; attempt++) {
      error = await new Promise<unknown>((resolve) => {
        const subscription = client.subscribe({ sinceSequence: 0, backoff: FAST_RETRY }).subscribe({
          next: () => (subscription.unsubscribe(), resolve(undefined)),
          error: resolve,
        });
      });
      if (error === undefined) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(error instanceof StreamError, `expected OUT_OF_RANGE, got ${String(error)}`);
    assert.equal(error.code, grpc.status.OUT_OF_RANGE);
    assert.equal(error.oldestSequence, 5);
    assert.match(error.details, /resume with since_sequence >= 4/);
  } finally {
    await client.close();
    await server.stop();
  }
});
