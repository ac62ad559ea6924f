// The new stream fields seen by clients that are not ours: Python grpcio with stubs compiled from
// the proto, and `buf curl` (Go), which knows the schema from server reflection alone. Each gets
// bookmarks when it asks (bookmark_interval_ms, and a TaskEventStream BookmarkRequest) and none
// when it does not, and a snapshot with include_snapshot. grpcio missing: skipped locally with a
// loud reason, a failure under CI=true (as every optional tool in this suite).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { call, connect, type RiggerServiceClient } from '../support/client';
import {
  pythonGrpcStubs,
  REPO_ROOT,
  runAsync,
  spawnCollected,
  startServer,
  SYSTEM_PYTHON,
  tempDir,
  tempProject,
  type ServerProcess,
} from '../support/processes';
import { streamsAt } from '../support/barriers';

const BUF = path.join(REPO_ROOT, 'node_modules', '.bin', 'buf');

let server: ServerProcess;
let client: RiggerServiceClient;
let workDir: string;

/** Adds a task `afterMs` from now, while a client's stream is open. */
function addLater(afterMs: number, title: string): Promise<void> {
  return new Promise((resolve, reject) => setTimeout(() => call(client, 'AddTask', { title }).then(() => resolve(), reject), afterMs));
}

/** Splits buf curl's output (pretty-printed JSON documents one after another) into objects. */
function jsonDocuments(text: string): any[] {
  const documents: any[] = [];
  let current = '';
  for (const line of text.split('\n')) {
    current += `${line}\n`;
    if (line === '}') {
      documents.push(JSON.parse(current));
      current = '';
    }
  }
  assert.equal(current.trim(), '', `trailing output: ${current}`);
  return documents;
}

/** Runs buf curl on an event stream for `seconds` (it ends with deadline_exceeded) and returns the messages. */
async function bufStream(method: string, body: string, seconds: number): Promise<any[]> {
  const result = await runAsync(
    BUF,
    [
      'curl',
      '--protocol',
      'grpc',
      '--http2-prior-knowledge',
      '--timeout',
      `${seconds}s`,
      '-d',
      body,
      `http://${server.address}/rigger.v1.RiggerService/${method}`,
    ],
    { cwd: workDir, timeoutMs: (seconds + 20) * 1000 },
  );
  assert.match(result.stderr, /deadline_exceeded/, `buf curl ended otherwise: ${result.stderr}`);
  return jsonDocuments(result.stdout);
}

const types = (messages: any[]) => messages.map((m) => m.eventType as string);

describe('bookmarks and snapshots through buf curl and Python grpcio', () => {
  before(async () => {
    assert.ok(fs.existsSync(BUF), `${BUF} is missing; run npm install (@bufbuild/buf is a devDependency)`);
    workDir = tempDir('rigger-clients-'); // empty: buf finds no module, only reflection
    server = await startServer(tempProject());
    client = connect(server.address);
    await call(client, 'AddTask', { title: 'first' });
  });

  after(async () => {
    client.close();
    assert.equal(await server.stop(), 0);
  });

  test('buf curl: bookmarks when it asks, in order with the events; none when it does not', async () => {
    // Resuming after 1, so the change is delivered whether buf curl (slow to start on a loaded
    // machine) subscribes before it or after it.
    const [asked, plain] = await Promise.all([
      bufStream('SubscribeToTaskEvents', '{"since_sequence": 1, "bookmark_interval_ms": 200}', 2.5),
      bufStream('SubscribeToTaskEvents', '{"since_sequence": 1}', 2.5),
      addLater(700, 'during'),
    ]);
    const bookmarks = asked.filter((m) => m.eventType === 'TASK_EVENT_TYPE_BOOKMARK');
    assert.ok(bookmarks.length >= 3, `bookmarks: ${types(asked).join(' ')}`);
    for (const b of bookmarks)
      assert.deepEqual(
        Object.keys(b).sort(),
        ['eventType', 'logId', 'sequence', 'timestamp'],
        'a bookmark carries only its position (sequence and log id) and time',
      );
    const created = asked.findIndex((m) => m.eventType === 'TASK_EVENT_TYPE_CREATED');
    assert.ok(created >= 0, `the event arrived: ${types(asked).join(' ')}`);
    assert.ok(
      asked.slice(0, created).every((m) => m.sequence === '1') && asked.slice(created + 1).every((m) => m.sequence === '2'),
      `sequences: ${asked.map((m) => m.sequence).join(' ')}`,
    );
    assert.deepEqual(types(plain), ['TASK_EVENT_TYPE_CREATED'], 'without bookmark_interval_ms: the event only');
  });

  test('buf curl: include_snapshot, and a TaskEventStream BookmarkRequest answered', async () => {
    const snapshot = await bufStream('SubscribeToTaskEvents', '{"include_snapshot": true}', 1);
    assert.deepEqual(types(snapshot), ['TASK_EVENT_TYPE_SNAPSHOT', 'TASK_EVENT_TYPE_SNAPSHOT', 'TASK_EVENT_TYPE_SNAPSHOT_COMPLETE']);
    assert.deepEqual(
      snapshot.map((m) => m.task?.title),
      ['first', 'during', undefined],
    );
    assert.ok(snapshot.every((m) => m.sequence === '2'));
    const bidi = await bufStream('TaskEventStream', '{"subscribe": {}} {"bookmark": {}}', 1);
    assert.deepEqual(
      bidi.map((m) => [m.eventType, m.sequence]),
      [['TASK_EVENT_TYPE_BOOKMARK', '2']],
    );
  });

  test('Python grpcio (stubs from the proto): bookmarks when it asks, none when it does not, and a snapshot', async (t) => {
    const stubs = pythonGrpcStubs(t);
    if (!stubs) return;
    // Prints one line per message: type name, sequence, whether it has a task; cancels itself after argv[3] s.
    const script = [
      'import sys, threading, grpc',
      'from rigger.v1 import rigger_pb2, rigger_pb2_grpc',
      'address, mode, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])',
      'stub = rigger_pb2_grpc.RiggerServiceStub(grpc.insecure_channel(address))',
      // Resuming after 2 (the head), so the change lands on the stream however long Python takes to start.
      'asks = {"asked": dict(since_sequence=2, bookmark_interval_ms=200), "plain": dict(since_sequence=2), "snapshot": dict(include_snapshot=True)}[mode]',
      'stream = stub.SubscribeToTaskEvents(rigger_pb2.SubscribeToTaskEventsRequest(**asks))',
      'threading.Timer(seconds, stream.cancel).start()',
      'try:',
      '    for event in stream:',
      '        print(rigger_pb2.TaskEventType.Name(event.event_type), event.sequence, event.HasField("task"), flush=True)',
      'except grpc.RpcError as error:',
      '    if error.code() != grpc.StatusCode.CANCELLED: raise',
    ].join('\n');
    const run = (mode: string, seconds: number) =>
      spawnCollected(SYSTEM_PYTHON, ['-c', script, server.address, mode, String(seconds)], { env: { ...process.env, PYTHONPATH: stubs } });
    const asked = run('asked', 3);
    const plain = run('plain', 3);
    // Both grpcio streams subscribed and at the head (GetHubStatus), so the task lands on both.
    await streamsAt(client, 2, 2);
    await call(client, 'AddTask', { title: 'python' });
    assert.equal(await asked.exited, 0, asked.stderr());
    assert.equal(await plain.exited, 0, plain.stderr());
    const askedLines = asked.stdout().trim().split('\n');
    const bookmarks = askedLines.filter((line) => line.startsWith('TASK_EVENT_TYPE_BOOKMARK '));
    assert.ok(bookmarks.length >= 3, `grpcio with bookmark_interval_ms: ${askedLines.join(' | ')}`);
    assert.ok(
      bookmarks.every((line) => /^TASK_EVENT_TYPE_BOOKMARK [23] False$/.test(line)),
      askedLines.join(' | '),
    );
    assert.ok(askedLines.includes('TASK_EVENT_TYPE_CREATED 3 True'), askedLines.join(' | '));
    assert.deepEqual(plain.stdout().trim().split('\n'), ['TASK_EVENT_TYPE_CREATED 3 True'], 'grpcio without it: the event only');

    const snapshot = run('snapshot', 1.5);
    assert.equal(await snapshot.exited, 0, snapshot.stderr());
    assert.deepEqual(snapshot.stdout().trim().split('\n'), [
      'TASK_EVENT_TYPE_SNAPSHOT 3 True',
      'TASK_EVENT_TYPE_SNAPSHOT 3 True',
      'TASK_EVENT_TYPE_SNAPSHOT 3 True',
      'TASK_EVENT_TYPE_SNAPSHOT_COMPLETE 3 False',
    ]);
  });
});
