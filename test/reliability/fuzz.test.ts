// Hostile input, seeded and bounded: random bytes, mutated valid requests, and every string field
// with empty, control-character, invalid UTF-8, large and over-the-limit content, sent raw to every
// RiggerService method. Every call ends with a status (or a live stream); no handler fails with an
// unexpected error; the server never crashes and serves normally afterwards with an intact file.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';
import { TaskEventType } from '../../src/model/task';
import { loadProto, SERVICE_NAME } from '../../src/protocol/proto';
import { call, connect } from '../support/client';
import { startServer, tempProject } from '../support/processes';
import { rawClient, rawStream, rawUnary, type RawOutcome, type StreamBarrier } from '../support/raw-client';
import { assertConsistent } from './db-check';
import { seededRandom } from '../support/seeded-random';

const RANDOM_PER_METHOD = 60;
const MUTATED_PER_METHOD = 60;
const MAX_REQUEST_BYTES = 64 * 1024;

type Method =
  | 'ListTasks'
  | 'AddTask'
  | 'UpdateTask'
  | 'GetTask'
  | 'DeleteTask'
  | 'ParsePRD'
  | 'GenerateTasksFromPRD'
  | 'OrchestrateTask'
  | 'SubscribeToTaskEvents'
  | 'TaskEventStream';

// --- protobuf wire encoding, by hand, so content can be anything (invalid UTF-8 included)
function varint(n: number): Buffer {
  const bytes: number[] = [];
  while (n > 0x7f) {
    bytes.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  bytes.push(n);
  return Buffer.from(bytes);
}
const lengthDelimited = (field: number, content: Buffer) => Buffer.concat([varint((field << 3) | 2), varint(content.length), content]);

/** Field-number paths to every string field of a message (one level into nested messages). */
function stringFieldPaths(typeName: string, depth = 0): number[][] {
  const { definition } = loadProto();
  const type = (definition[`rigger.v1.${typeName}`] as MessageTypeDefinition<any, any>).type as { field: { number: number; type: string; typeName: string }[] };
  return type.field.flatMap((f) => {
    if (f.type === 'TYPE_STRING') return [[f.number]];
    if (f.type === 'TYPE_MESSAGE' && depth === 0) return stringFieldPaths(f.typeName, 1).map((p) => [f.number, ...p]);
    return [];
  });
}
const encodeAt = (fieldPath: number[], content: Buffer): Buffer =>
  fieldPath.length === 1 ? lengthDelimited(fieldPath[0]!, content) : lengthDelimited(fieldPath[0]!, encodeAt(fieldPath.slice(1), content));

const STRING_CONTENTS: [string, Buffer][] = [
  ['empty', Buffer.alloc(0)],
  ['control characters', Buffer.from('\u0000\u0001\u0007\u001b[31m\r\n\t\u007f\u0085\u2028', 'utf8')],
  ['invalid UTF-8', Buffer.from([0xff, 0xfe, 0xc0, 0x80, 0xed, 0xa0, 0x80, 0xf8, 0x88, 0x80, 0x80, 0x80, 0x61])],
  ['large, under the limit', Buffer.alloc(MAX_REQUEST_BYTES - 1024, 0x62)],
  ['over the request size limit', Buffer.alloc(MAX_REQUEST_BYTES * 2, 0x63)],
];

function mutate(valid: Buffer, random: () => number): Buffer {
  let bytes = [...valid];
  const steps = 1 + Math.floor(random() * 4);
  for (let i = 0; i < steps; i++) {
    const at = Math.floor(random() * (bytes.length + 1));
    switch (Math.floor(random() * 5)) {
      case 0:
        if (bytes.length) bytes[at % bytes.length] = Math.floor(random() * 256);
        break; // replace
      case 1:
        bytes.splice(at, 0, Math.floor(random() * 256));
        break; // insert
      case 2:
        bytes.splice(at, 1);
        break; // delete
      case 3:
        bytes = bytes.slice(0, at);
        break; // truncate
      default:
        bytes = [...bytes, ...bytes.slice(at)]; // duplicate a tail (repeated fields, overrides)
    }
  }
  return Buffer.from(bytes);
}

test('random, mutated and hostile-string requests to every method: each gets a status, the server survives', async (t) => {
  const seed = Number(process.env.RIGGER_TEST_SEED ?? 6);
  t.diagnostic(`seed ${seed} (set RIGGER_TEST_SEED to repeat)`);
  const random = seededRandom(seed);
  const dir = tempProject();
  const server = await startServer(dir, ['--max-request-bytes', String(MAX_REQUEST_BYTES)]);
  const typed = connect(server.address);
  const { task } = await call(typed, 'AddTask', { title: 'fuzz target', assignee: 'Alice' });
  const raw = rawClient(server.address);
  const service = loadProto().definition[SERVICE_NAME] as unknown as Record<
    Method,
    {
      path: string;
      requestSerialize(v: object): Buffer;
      responseDeserialize(b: Buffer): { event_type?: number };
      requestType: MessageTypeDefinition<any, any>;
      requestStream: boolean;
      responseStream: boolean;
    }
  >;

  const valid: Record<Method, object[]> = {
    ListTasks: [{ status: 1, assignee: 'Alice', limit: 10, offset: 0 }],
    AddTask: [{ title: 'a', assignee: 'Bob', due_date: '2025-12-31', parent_task_id: task.id }],
    UpdateTask: [{ task_id: task.id, status: 2, assignee: 'Carol', due_date: '2026-01-01', expected_version: 1 }],
    GetTask: [{ task_id: task.id }],
    DeleteTask: [{ task_id: task.id }],
    ParsePRD: [{ prd_file_path: './docs/PRD.md' }, { prd_file_path: '../../etc/passwd' }],
    GenerateTasksFromPRD: [{ prd_id: 'prd-1', model: 'rules' }],
    OrchestrateTask: [{ task_id: task.id, model: 'rules', test_type: 'short_answer' }],
    SubscribeToTaskEvents: [{ event_types: [1, 2, 3], assignee_filter: 'Alice', since_sequence: 0, statuses: [1], task_ids: [task.id] }],
    TaskEventStream: [{ subscribe: { event_types: [1], assignee_filter: 'Alice' } }, { update: { task_id: task.id, status: 2, assignee: 'Dan' } }],
  };

  // A BookmarkRequest after the fuzzed message: answered (or refused for want of a subscribe) only once the server has handled it.
  const stream = service.TaskEventStream;
  const bookmarkBarrier: StreamBarrier = {
    request: stream.requestSerialize({ bookmark: {} }),
    answeredBy: (response) => stream.responseDeserialize(response).event_type === TaskEventType.BOOKMARK,
    refusal: /^bookmark before the first subscribe/,
  };
  const outcomes: { method: Method; kind: string; body: Buffer; ms: number; outcome: RawOutcome & { headers?: boolean; open?: boolean } }[] = [];
  const send = async (method: Method, kind: string, body: Buffer) => {
    const def = service[method];
    const started = Date.now();
    const outcome = def.responseStream
      ? def.requestStream
        ? await rawStream(raw, def.path, [body], 'bidi', undefined, 10_000, bookmarkBarrier) // ends on the barrier; 10 s only bounds it
        : await rawStream(raw, def.path, [body], 'server', undefined, 500)
      : await rawUnary(raw, def.path, body);
    outcomes.push({ method, kind, body, ms: Date.now() - started, outcome });
  };

  for (const method of Object.keys(valid) as Method[]) {
    const def = service[method];
    const cases: [string, Buffer][] = [];
    for (let i = 0; i < RANDOM_PER_METHOD; i++) {
      const length = Math.floor(random() * (random() < 0.1 ? 4096 : 64));
      cases.push(['random bytes', Buffer.from(Array.from({ length }, () => Math.floor(random() * 256)))]);
    }
    const seeds = valid[method].map((v) => def.requestSerialize(v));
    for (let i = 0; i < MUTATED_PER_METHOD; i++) cases.push(['mutated', mutate(seeds[i % seeds.length]!, random)]);
    const typeName = (def.requestType.type as { name: string }).name;
    for (const fieldPath of stringFieldPaths(typeName)) {
      for (const [what, content] of STRING_CONTENTS) cases.push([`string field ${fieldPath.join('.')} ${what}`, encodeAt(fieldPath, content)]);
    }
    // Streams wait up to 500 ms each for a status or headers: send those in parallel batches.
    const batch = def.responseStream ? 16 : 1;
    for (let i = 0; i < cases.length; i += batch) {
      await Promise.all(cases.slice(i, i + batch).map(([kind, body]) => send(method, kind, body)));
    }
    assert.equal(server.child.exitCode, null, `the server exited while fuzzing ${method}`);
  }

  const codes = new Map<string, number>();
  for (const { outcome } of outcomes) {
    const key = outcome.headers ? 'stream opened' : outcome.open ? 'stream open, no status yet' : grpc.status[outcome.code]!;
    codes.set(key, (codes.get(key) ?? 0) + 1);
  }
  for (const { method, kind, body, ms, outcome } of outcomes) {
    if (ms > 2000)
      t.diagnostic(
        `slow: ${method} ${kind} took ${ms} ms: ${grpc.status[outcome.code]} ${outcome.details.slice(0, 120)}; request ${body.subarray(0, 80).toString('hex')}`,
      );
  }
  t.diagnostic(`${outcomes.length} calls: ${[...codes].map(([k, n]) => `${k} ${n}`).join(', ')}`);

  for (const { method, kind, outcome } of outcomes) {
    if (method === 'TaskEventStream') assert.ok(!outcome.open, `${method} ${kind}: neither a status nor the barrier's answer within 10 s`);
    assert.ok(Number.isInteger(outcome.code) && outcome.code >= 0 && outcome.code <= 16, `${method} ${kind}: no status`);
    assert.notEqual(outcome.code, grpc.status.UNKNOWN, `${method} ${kind}: UNKNOWN ${outcome.details}`);
    // A stalled call (e.g. a status message too large for its trailer) shows up as its deadline passing.
    assert.notEqual(outcome.code, grpc.status.DEADLINE_EXCEEDED, `${method} ${kind}: no answer within 10 s`);
    if (outcome.code === grpc.status.INTERNAL) {
      // grpc-js's own answer to bytes that are not the request message; never a handler's crash.
      assert.match(outcome.details, /^Error deserializing request/, `${method} ${kind}: ${outcome.details}`);
    }
    if (kind.endsWith('over the request size limit')) assert.equal(outcome.code, grpc.status.RESOURCE_EXHAUSTED, `${method} ${kind}`);
    if (outcome.code === grpc.status.UNAVAILABLE) assert.fail(`${method} ${kind}: UNAVAILABLE ${outcome.details} (server down?)`);
  }

  // Still serving, normally.
  const health = await rawUnary(raw, '/grpc.health.v1.Health/Check', Buffer.alloc(0));
  assert.deepEqual([health.code, [...(health.response ?? [])]], [grpc.status.OK, [0x08, 0x01]]);
  const { task: after } = await call(typed, 'AddTask', { title: 'after the fuzz' });
  assert.equal((await call(typed, 'GetTask', { task_id: after.id })).task.title, 'after the fuzz');
  raw.close();
  typed.close();
  assert.equal(await server.stop(), 0);
  assertConsistent(path.join(dir, '.rigger', 'tasks.db'), assert);
});
