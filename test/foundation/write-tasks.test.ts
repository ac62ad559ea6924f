// WriteTasks (pipelined writes) through a real `rig grpc` and real grpc-js clients: thousands of
// writes in flight answered in order and on disk, per-write errors with the unary call's status,
// the server's in-flight bound, and a kill -9 in the middle of a pipeline.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import Database from 'better-sqlite3';
import { RiggerClient, WriteError, WriteOutcomeUnknown } from '../../src/client';
import type { WriteTaskResponse__Output } from '../../src/generated/rigger/v1/WriteTaskResponse';
import { loadProto, SERVICE_NAME } from '../../src/protocol/proto';
import { callError, connect, type RiggerServiceClient } from '../support/client';
import { startServer, tempProject, waitFor, type ServerProcess } from '../support/processes';

const dbOf = (server: ServerProcess) => path.join(server.dir, '.rigger', 'tasks.db');

function readDb<T>(server: ServerProcess, read: (db: Database.Database) => T): T {
  const db = new Database(dbOf(server), { readonly: true, fileMustExist: true });
  try {
    return read(db);
  } finally {
    db.close();
  }
}

/** Opens a WriteTasks stream and collects its answers. */
function openStream(client: RiggerServiceClient) {
  const stream = client.WriteTasks();
  const answers: WriteTaskResponse__Output[] = [];
  const ended = new Promise<grpc.StatusObject>((resolve) => stream.on('status', resolve));
  stream.on('data', (answer: WriteTaskResponse__Output) => answers.push(answer));
  stream.on('error', () => {});
  return { stream, answers, ended };
}

describe('WriteTasks: pipelined writes', () => {
  let server: ServerProcess;
  let client: RiggerServiceClient;

  before(async () => {
    server = await startServer(tempProject());
    client = connect(server.address);
  });
  after(async () => {
    client.close();
    assert.equal(await server.stop(), 0);
  });

  test('2,000 adds sent without waiting: answered in order, each task and its event in the SQLite file, sequences gap-free', async () => {
    const COUNT = 2000;
    const { stream, answers, ended } = openStream(client);
    for (let i = 0; i < COUNT; i++) stream.write({ request_id: 1000 + i, add: { title: `pipelined ${i}`, assignee: 'pipe' } });
    stream.end();
    const status = await ended;
    assert.equal(status.code, grpc.status.OK, status.details);
    assert.equal(answers.length, COUNT);
    answers.forEach((answer, i) => {
      assert.equal(answer.request_id, 1000 + i);
      assert.equal(answer.error, undefined);
      assert.equal(answer.task?.title, `pipelined ${i}`);
    });
    const ids = answers.map((a) => a.task!.id);
    const { tasks, events } = readDb(server, (db) => ({
      tasks: new Map((db.prepare("SELECT id, title FROM tasks WHERE assignee = 'pipe'").all() as { id: string; title: string }[]).map((r) => [r.id, r.title])),
      events: db.prepare('SELECT sequence, task_id, event_type FROM events ORDER BY sequence').all() as {
        sequence: number;
        task_id: string;
        event_type: number;
      }[],
    }));
    for (let i = 0; i < COUNT; i++) assert.equal(tasks.get(ids[i]!), `pipelined ${i}`);
    for (let i = 1; i < events.length; i++) assert.equal(events[i]!.sequence, events[i - 1]!.sequence + 1, 'sequences are gap-free');
    const created = events.filter((e) => e.event_type === 1 && tasks.has(e.task_id)).map((e) => e.task_id);
    assert.deepEqual(created, ids, 'one CREATED event per write, in the order answered');
  });

  test("a failing write is answered with the unary call's code and message, and the stream goes on", async () => {
    const { stream: first, answers: made, ended: firstEnded } = openStream(client);
    first.write({ request_id: 1, add: { title: 'to update' } });
    first.end();
    await firstEnded;
    const task = made[0]!.task!;

    const cases: { update?: any; add?: any; delete?: any }[] = [
      { update: { task_id: 'no-such-task', status: 2 } },
      { update: { task_id: task.id, status: 2, expected_version: 99 } },
      { add: { title: '' } },
      { delete: { task_id: '' } },
    ];
    const unary = [
      await callError(client, 'UpdateTask', cases[0]!.update!),
      await callError(client, 'UpdateTask', cases[1]!.update!),
      await callError(client, 'AddTask', cases[2]!.add!),
      await callError(client, 'DeleteTask', cases[3]!.delete!),
    ];
    const { stream, answers, ended } = openStream(client);
    cases.forEach((write, i) => stream.write({ request_id: i + 1, ...write }));
    stream.write({ request_id: 5 }); // no write set
    stream.write({ request_id: 6, update: { task_id: task.id, status: 2, expected_version: 1 } });
    stream.write({ request_id: 7, delete: { task_id: task.id } });
    stream.end();
    const status = await ended;
    assert.equal(status.code, grpc.status.OK, status.details);
    assert.deepEqual(
      answers.map((a) => a.request_id),
      [1, 2, 3, 4, 5, 6, 7],
    );
    unary.forEach((error, i) => {
      assert.deepEqual(answers[i]!.error, { code: error.code, message: error.details }, `case ${i + 1}`);
    });
    assert.deepEqual([unary[0]!.code, unary[1]!.code, unary[2]!.code], [grpc.status.NOT_FOUND, grpc.status.FAILED_PRECONDITION, grpc.status.INVALID_ARGUMENT]);
    assert.equal(answers[4]!.error?.code, grpc.status.INVALID_ARGUMENT);
    assert.match(answers[4]!.error!.message!, /one of add, update or delete/);
    assert.equal(answers[5]!.task?.status, 2);
    assert.equal(answers[5]!.task?.version, 2);
    assert.equal(answers[6]!.deleted, true);
  });

  test('a client that cancels mid-pipeline: the writes read still commit, their answers are dropped, the server carries on', async () => {
    const { stream, answers } = openStream(client);
    for (let i = 0; i < 1000; i++) stream.write({ request_id: i, add: { title: `cancelled ${i}`, assignee: 'cancel' } });
    await waitFor(() => answers.length > 0, 30_000, 'a first answer');
    stream.cancel();
    const countOf = () => readDb(server, (db) => (db.prepare("SELECT count(*) AS n FROM tasks WHERE assignee = 'cancel'").get() as { n: number }).n);
    await waitFor(() => countOf() >= answers.length, 10_000, 'the answered writes in the file');
    // The server is still serving, on this connection and its streams.
    const { stream: next, answers: nextAnswers, ended } = openStream(client);
    next.write({ request_id: 1, add: { title: 'after the cancel' } });
    next.end();
    assert.equal((await ended).code, grpc.status.OK);
    assert.equal(nextAnswers[0]?.task?.title, 'after the cancel');
  });

  test('the typed client: many in flight over one stream, refusals reject with WriteError', async () => {
    const rigger = new RiggerClient({ address: server.address, actor: 'writer-test' });
    const writer = rigger.writer();
    try {
      const adds = Array.from({ length: 500 }, (_, i) => writer.add({ title: `typed ${i}` }));
      const refused = writer.update({ task_id: 'missing', status: 2 });
      const tasks = await Promise.all(adds);
      assert.deepEqual(
        tasks.map((t) => t.title),
        adds.map((_, i) => `typed ${i}`),
      );
      const error = await refused.then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(error instanceof WriteError);
      assert.equal(error.code, grpc.status.NOT_FOUND);
      const updated = await writer.update({ task_id: tasks[0]!.id, assignee: 'Bob' });
      assert.equal(updated.assignee, 'Bob');
      await writer.delete({ task_id: tasks[1]!.id });
      const actors = readDb(server, (db) => db.prepare('SELECT DISTINCT actor FROM events WHERE task_id = ?').all(tasks[0]!.id!) as { actor: string }[]);
      assert.deepEqual(
        actors.map((a) => a.actor),
        ['writer-test'],
      );
      await writer.close();
      assert.equal(writer.pending, 0);
    } finally {
      await rigger.close();
    }
  });
});

describe('WriteTasks: the in-flight bound', () => {
  test('a client that does not read its answers makes the server stop reading it, not buffer', async () => {
    const server = await startServer(tempProject(), ['--max-writes-in-flight', '8']);
    // Raw HTTP/2 with a 1 KB receive window: a client that really does not read (grpc-js reads ahead into its own memory).
    const session = http2.connect(`http://${server.address}`, { settings: { initialWindowSize: 1024 } });
    try {
      const COUNT = 4000;
      const { stream } = rawWriteStream(session, COUNT, 'unread');
      const trailers = new Promise<http2.IncomingHttpHeaders>((resolve) => stream.on('trailers', resolve));
      stream.pause();
      const countOf = () => readDb(server, (db) => (db.prepare("SELECT count(*) AS n FROM tasks WHERE assignee = 'unread'").get() as { n: number }).n);
      let last = -1;
      let steady = 0;
      await waitFor(
        () => {
          const now = countOf();
          steady = now === last && now > 0 ? steady + 1 : 0;
          last = now;
          return steady >= 5 || now === COUNT;
        },
        30_000,
        'the committed count to stop growing',
      );
      assert.ok(last < COUNT / 4, `the server stopped reading at ${last} of ${COUNT} writes`);
      // Reading again: every write is answered and the stream ends OK.
      let bytes = 0;
      stream.on('data', (chunk: Buffer) => (bytes += chunk.length));
      stream.resume();
      const status = await trailers;
      assert.equal(status['grpc-status'], '0', String(status['grpc-message']));
      assert.equal(countOf(), COUNT);
      assert.ok(bytes > COUNT * 50, `${bytes} bytes of answers`);
    } finally {
      session.close();
      await server.stop();
    }
  });
});

describe('WriteTasks: at most --max-writes-in-flight writes held', () => {
  test('while commits cannot happen (the database locked by another process), the server reads no more than the bound', async () => {
    const server = await startServer(tempProject(), ['--max-writes-in-flight', '8', '--busy-timeout-ms', '60000']);
    const session = http2.connect(`http://${server.address}`);
    const locker = new Database(dbOf(server));
    try {
      const COUNT = 20_000;
      locker.exec('BEGIN IMMEDIATE');
      const { stream, written } = rawWriteStream(session, COUNT, 'held');
      const trailers = new Promise<http2.IncomingHttpHeaders>((resolve) => stream.on('trailers', resolve));
      stream.on('data', () => {});
      let last = -1;
      let steady = 0;
      await waitFor(
        () => {
          steady = written() === last && last > 0 ? steady + 1 : 0;
          last = written();
          return steady >= 5 || last === COUNT;
        },
        30_000,
        'the client to stop getting its writes out',
      );
      // The server's 8 KB receive window and what grpc-js has decoded ahead are a few hundred writes; unbounded, all 20,000 go out.
      assert.ok(last < COUNT / 4, `${last} of ${COUNT} writes got out while nothing could commit`);
      locker.exec('COMMIT');
      const status = await trailers;
      assert.equal(status['grpc-status'], '0', String(status['grpc-message']));
      const stored = readDb(server, (db) => (db.prepare("SELECT count(*) AS n FROM tasks WHERE assignee = 'held'").get() as { n: number }).n);
      assert.equal(stored, COUNT);
    } finally {
      if (locker.inTransaction) locker.exec('ROLLBACK');
      locker.close();
      session.close();
      await server.stop();
    }
  });
});

/**
 * Sends `count` adds on a raw HTTP/2 WriteTasks stream, 50 at a time, each batch once HTTP/2 has let
 * the one before out, then half-closes; written() counts the writes let out.
 */
function rawWriteStream(session: http2.ClientHttp2Session, count: number, assignee: string) {
  const method = loadProto().definition[SERVICE_NAME] as unknown as Record<string, { requestSerialize(value: object): Buffer }>;
  const serialize = method.WriteTasks!.requestSerialize;
  const stream = session.request({ ':method': 'POST', ':path': `/${SERVICE_NAME}/WriteTasks`, 'content-type': 'application/grpc', te: 'trailers' });
  let written = 0;
  void (async () => {
    for (let i = 0; i < count;) {
      const frames: Buffer[] = [];
      for (const end = Math.min(count, i + 50); i < end; i++) {
        const body = serialize({ request_id: i, add: { title: `${assignee} ${i}`, assignee } });
        const prefix = Buffer.alloc(5);
        prefix.writeUInt32BE(body.length, 1);
        frames.push(prefix, body);
      }
      const batch = frames.length / 2;
      await new Promise((resolve) => stream.write(Buffer.concat(frames), resolve));
      written += batch;
    }
    stream.end();
  })();
  return { stream, written: () => written };
}

describe('WriteTasks: kill -9 mid-pipeline', () => {
  test('every write answered OK is in the file; the unanswered ones reject with WriteOutcomeUnknown', async () => {
    const dir = tempProject();
    const server = await startServer(dir);
    const rigger = new RiggerClient({ address: server.address });
    const writer = rigger.writer();
    const COUNT = 6000;
    const answered: string[] = [];
    const unknown: Error[] = [];
    const others: unknown[] = [];
    const settled = Array.from({ length: COUNT }, (_, i) =>
      writer.add({ title: `crash ${i}` }).then(
        (task) => void answered.push(task.id!),
        (error: unknown) => void (error instanceof WriteOutcomeUnknown ? unknown.push(error) : others.push(error)),
      ),
    );
    await waitFor(() => answered.length >= 300, 30_000, '300 answers');
    server.child.kill('SIGKILL');
    await Promise.all(settled);
    assert.deepEqual(others, []);
    assert.ok(unknown.length > 0, 'some writes were still in flight at the kill');
    assert.equal(answered.length + unknown.length, COUNT);
    assert.match(unknown[0]!.message, /may or may not have been committed/);
    await rigger.close();

    const restarted = await startServer(dir);
    try {
      const stored = readDb(restarted, (db) => new Set((db.prepare('SELECT id FROM tasks').all() as { id: string }[]).map((r) => r.id)));
      const missing = answered.filter((id) => !stored.has(id));
      assert.deepEqual(missing, [], 'every answered write survived the kill');
    } finally {
      assert.equal(await restarted.stop(), 0);
    }
  });
});

describe('WriteTasks: shutdown mid-pipeline', () => {
  test('SIGTERM: the server reads no more, answers every write it read (each committed), then ends the stream; it exits 0', async () => {
    const server = await startServer(tempProject());
    const rigger = new RiggerClient({ address: server.address });
    const writer = rigger.writer();
    const COUNT = 6000;
    const answered: string[] = [];
    const unknown: WriteOutcomeUnknown[] = [];
    const settled = Array.from({ length: COUNT }, (_, i) =>
      writer.add({ title: `shutdown ${i}` }).then(
        (task) => void answered.push(task.id!),
        (error: unknown) => void (error instanceof WriteOutcomeUnknown ? unknown.push(error) : assert.fail(error as Error)),
      ),
    );
    await waitFor(() => answered.length >= 300, 30_000, '300 answers');
    assert.equal(await server.stop('SIGTERM'), 0);
    await Promise.all(settled);
    await rigger.close();
    assert.ok(unknown.length > 0, 'some writes were not read before the shutdown');
    assert.equal(unknown[0]!.code, grpc.status.UNAVAILABLE);
    const stored = readDb(server, (db) => (db.prepare("SELECT id FROM tasks WHERE title LIKE 'shutdown %'").all() as { id: string }[]).map((r) => r.id));
    assert.deepEqual(new Set(stored), new Set(answered), 'exactly the answered writes are in the file');
  });
});

describe('WriteTasks: tokens', () => {
  test('a read-only token is refused with PERMISSION_DENIED, as AddTask is', async () => {
    const server = await startServer(tempProject(), ['--token', 'rw-secret', '--read-only-token', 'ro-secret']);
    const rigger = new RiggerClient({ address: server.address, connect: { token: 'ro-secret' } });
    const writer = rigger.writer();
    try {
      const error = await writer.add({ title: 'nope' }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(error instanceof WriteOutcomeUnknown);
      assert.equal(error.code, grpc.status.PERMISSION_DENIED);
      const unary = await rigger.addTask({ title: 'nope' }).then(
        () => undefined,
        (e: grpc.ServiceError) => e,
      );
      assert.equal(unary?.code, grpc.status.PERMISSION_DENIED);
      const rw = new RiggerClient({ address: server.address, connect: { token: 'rw-secret' } });
      const rwWriter = rw.writer();
      assert.equal((await rwWriter.add({ title: 'yes' })).title, 'yes');
      await rwWriter.close();
      await rw.close();
    } finally {
      await rigger.close();
      await server.stop();
    }
  });
});
