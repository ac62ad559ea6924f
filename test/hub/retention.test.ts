// Retention and compaction: the log keeps --retain-events events (and --retain-days days);
// resuming below what is kept is OUT_OF_RANGE naming the oldest sequence available, never a
// silent partial replay; resuming beyond the newest is OUT_OF_RANGE too.
import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RiggerServiceClient } from '../support/client';
import { connectService } from '../../src/client/connect';
import { connect } from '../support/client';
import { BOOKMARK, headSequence } from '../support/barriers';
import { startServer, tempProject, waitFor, type ServerProcess } from '../support/processes';
import { addTasks, asLogged, readLog, sequences, sleep, type LoggedEvent } from './hub-support';

/** Opens SubscribeToTaskEvents from `since`; resolves with its error, or with what arrived before a bookmark at the log's head. */
async function resume(client: RiggerServiceClient, since: number): Promise<{ error?: grpc.ServiceError; events: LoggedEvent[] }> {
  const head = await headSequence(client);
  const events: LoggedEvent[] = [];
  const bookmarks: number[] = [];
  let error: grpc.ServiceError | undefined;
  const stream = client.SubscribeToTaskEvents({ since_sequence: since, bookmark_interval_ms: 100 });
  stream.on('data', (e) => (e.event_type === BOOKMARK ? bookmarks.push(Number(e.sequence)) : events.push(asLogged(e))));
  stream.on('error', (e: grpc.ServiceError) => (error ??= e));
  await waitFor(() => error !== undefined || (bookmarks.at(-1) ?? -1) >= head, 20_000, `the resume from ${since}: its error or a bookmark at ${head}`);
  stream.cancel();
  return error ? { error, events } : { events };
}

/** rigger_compaction_runs_total from the server's /metrics (started with --http-listen). */
async function compactionRuns(server: ServerProcess): Promise<number> {
  const base = /^ {2}operations: +(http:\/\/\S+?)\/metrics/m.exec(server.stdout())![1]!;
  const line = (await (await fetch(`${base}/metrics`)).text()).split('\n').find((l) => l.startsWith('rigger_compaction_runs_total '));
  return Number(line?.split(' ')[1] ?? 0);
}

test('after compaction to --retain-events, resuming below the oldest kept sequence is OUT_OF_RANGE; oldest-1 works', { timeout: 120_000 }, async () => {
  const dir = tempProject();
  // The default 1000-event buffer still holds everything: the log alone decides what is retained.
  const server = await startServer(dir, ['--retain-events', '50', '--compact-interval-ms', '100']);
  const client = connect(server.address);
  try {
    await addTasks(client, 120, 8);
    await waitFor(() => readLog(dir)[0]?.sequence === 71, 20_000, 'compaction to the newest 50 events');
    const log = readLog(dir);
    assert.deepEqual(
      sequences(log),
      Array.from({ length: 50 }, (_, i) => 71 + i),
    );

    for (const since of [0, 10, 69]) {
      const { error, events } = await resume(client, since);
      assert.equal(error?.code, grpc.status.OUT_OF_RANGE, `since_sequence ${since}`);
      assert.equal(events.length, 0, 'no partial replay');
      assert.match(
        error!.details,
        new RegExp(`since_sequence ${since} is older than the retained history; the oldest event still available is 71, so resume with since_sequence >= 70`),
      );
      assert.deepEqual(error!.metadata.get('x-rigger-oldest-sequence'), ['71']);
    }
    const atOldest = await resume(client, 70);
    assert.equal(atOldest.error, undefined);
    assert.deepEqual(sequences(atOldest.events), sequences(log));

    const atNewest = await resume(client, 120);
    assert.equal(atNewest.error, undefined);
    assert.deepEqual(atNewest.events, []);
    const beyond = await resume(client, 121);
    assert.equal(beyond.error?.code, grpc.status.OUT_OF_RANGE);
    assert.match(beyond.error!.details, /since_sequence 121 is ahead of the newest event \(120\)/);

    // TaskEventStream's since_sequence is held to the same rule.
    const bidi = client.TaskEventStream();
    bidi.on('data', () => assert.fail('no event expected'));
    const bidiError = new Promise<grpc.ServiceError>((resolve) => bidi.on('error', resolve));
    bidi.write({ subscribe: { since_sequence: 5 } });
    const e = await bidiError;
    assert.equal(e.code, grpc.status.OUT_OF_RANGE);
    assert.deepEqual(e.metadata.get('x-rigger-oldest-sequence'), ['71']);
  } finally {
    client.close();
    await server.stop();
  }
});

test('a subscriber catching up from the log when compaction overtakes it gets OUT_OF_RANGE, not a gap', { timeout: 120_000 }, async () => {
  const dir = tempProject();
  const server = await startServer(dir, ['--retain-events', '20', '--compact-interval-ms', '50', '--buffer-size', '4']);
  // HTTP/2's default 64 KiB window (our client opens 1 MiB, which would take all 3000 events into
  // its own buffer before the server ever saw it fall behind).
  const client = connectService(server.address, { channelOptions: { 'grpc-node.flow_control_window': 65_535 } });
  try {
    const events: LoggedEvent[] = [];
    const stream = client.SubscribeToTaskEvents({});
    stream.on('data', (e) => events.push(asLogged(e)));
    const ended = new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
    await new Promise((resolve) => stream.once('metadata', resolve));
    stream.pause(); // falls behind; the log is trimmed past its position
    await addTasks(client, 3000, 16);
    await waitFor(() => (readLog(dir)[0]?.sequence ?? 0) > 2000, 20_000, 'compaction past the stalled subscriber');
    stream.resume();
    const error = await Promise.race([ended, sleep(30_000).then(() => undefined)]);
    assert.equal(error?.code, grpc.status.OUT_OF_RANGE, 'the stream ends with OUT_OF_RANGE');
    assert.match(error!.details, /older than the retained history/);
    // What it did get is a gap-free prefix from sequence 1.
    assert.deepEqual(
      sequences(events),
      events.map((_, i) => i + 1),
    );
  } finally {
    client.close();
    await server.stop();
  }
});

test('compaction also runs at start-up: a restart with a smaller --retain-events trims at once', { timeout: 120_000 }, async () => {
  const dir = tempProject();
  let server = await startServer(dir, ['--retain-events', '0']);
  let client = connect(server.address);
  try {
    await addTasks(client, 60, 8);
    assert.equal(await server.stop(), 0);
    assert.equal(readLog(dir).length, 60);
    // An interval of a day: only the start-up pass can trim within this test.
    server = await startServer(dir, ['--retain-events', '10', '--compact-interval-ms', '86400000']);
    client.close();
    client = connect(server.address);
    await waitFor(() => readLog(dir)[0]?.sequence === 51, 10_000, 'the start-up compaction');
    const { error } = await resume(client, 0);
    assert.equal(error?.code, grpc.status.OUT_OF_RANGE);
    assert.deepEqual(error!.metadata.get('x-rigger-oldest-sequence'), ['51']);
  } finally {
    client.close();
    await server.stop();
  }
});

test('--retain-days drops events older than the limit: resuming below them is OUT_OF_RANGE', { timeout: 60_000 }, async () => {
  // 0.0001 days is 8.64 s: old enough to age out in real time, with no faked clock.
  const dir = tempProject();
  const server = await startServer(dir, ['--retain-days', '0.0001', '--retain-events', '0', '--compact-interval-ms', '100']);
  const client = connect(server.address);
  try {
    await addTasks(client, 5, 5);
    assert.equal(readLog(dir).length, 5);
    await waitFor(() => readLog(dir).length === 0, 20_000, 'the events to age out');
    await addTasks(client, 1, 1);
    const { error } = await resume(client, 0);
    assert.equal(error?.code, grpc.status.OUT_OF_RANGE);
    assert.deepEqual(error!.metadata.get('x-rigger-oldest-sequence'), ['6']);
    const { error: none, events } = await resume(client, 5);
    assert.equal(none, undefined);
    assert.deepEqual(sequences(events), [6]);
  } finally {
    client.close();
    await server.stop();
  }
});

test('--retain-days keeps events younger than the limit through compaction passes and restarts', { timeout: 60_000 }, async () => {
  const dir = tempProject();
  const args = ['--retain-days', '1', '--retain-events', '0', '--compact-interval-ms', '20', '--http-listen', '127.0.0.1:0'];
  let server = await startServer(dir, args);
  let client = connect(server.address);
  try {
    assert.match(server.stdout(), /retention: +unlimited events, 1 days/);
    await addTasks(client, 30, 8);
    const ranBefore = await compactionRuns(server);
    await waitFor(async () => (await compactionRuns(server)) >= ranBefore + 10, 30_000, 'ten compaction passes over the 30 events');
    assert.equal(await server.stop(), 0);
    server = await startServer(dir, args);
    client.close();
    client = connect(server.address);
    await waitFor(async () => (await compactionRuns(server)) >= 3, 30_000, 'compaction passes after the restart (the first at start-up)');
    assert.equal(readLog(dir).length, 30);
    const { error, events } = await resume(client, 0);
    assert.equal(error, undefined);
    assert.deepEqual(
      sequences(events),
      Array.from({ length: 30 }, (_, i) => i + 1),
    );
  } finally {
    client.close();
    await server.stop();
  }
});
