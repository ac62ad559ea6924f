// Members that do not play by the rules, as raw gRPC clients with a read-only token: acks, naks
// and in_progress of another member's deliveries, of forged ids and of already-acked sequences
// change nothing and are answered with `refused`; a member that sends acks without reading its
// stream is held back, then ended with RESOURCE_EXHAUSTED, and the server's memory stays flat.
// V8 collects lazily: left alone it lets garbage fill a heap far larger than what is kept, so the
// server here runs in a small fixed heap (NODE_OPTIONS), where RSS follows what is kept and a leak
// would end in an out-of-memory crash; RSS is measured from the end of the first such member.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { ConsumeRequest } from '../../src/generated/rigger/v1/ConsumeRequest';
import type { ConsumeResponse__Output } from '../../src/generated/rigger/v1/ConsumeResponse';
import { loadProto, SERVICE_NAME } from '../../src/protocol/proto';
import { startServer, tempProject, waitFor, type ServerProcess } from '../support/processes';
import { rawClient } from '../support/raw-client';
import { addTasks, clientOf, closeClients } from './consumer-support';
import { bearer } from '../support/client';

const RW = 'rw-token-hostile-member';
const RO = 'ro-token-hostile-member';
const EVENTS = 20;
const STALL_MS = 2000;
/** Memberships flooded and dropped one after another: the first warms the server up, RSS is measured over the other 10. */
const MEMBERSHIPS = 11;

type Member = grpc.ClientDuplexStream<ConsumeRequest, ConsumeResponse__Output>;

let server: ServerProcess | undefined;
const calls: grpc.Client[] = [];
after(async () => {
  for (const client of calls) client.close();
  await closeClients();
  await server?.stop('SIGKILL');
});

function member(token: string): {
  client: grpc.Client;
  call: Member;
  responses: ConsumeResponse__Output[];
  next(what: (r: ConsumeResponse__Output) => boolean, label: string): Promise<ConsumeResponse__Output>;
  ended: Promise<grpc.StatusObject>;
} {
  const method = (loadProto().definition[SERVICE_NAME] as grpc.ServiceDefinition).ConsumeTaskEvents!;
  const client = rawClient(server!.address);
  calls.push(client);
  const call = client.makeBidiStreamRequest(
    `/${SERVICE_NAME}/ConsumeTaskEvents`,
    method.requestSerialize,
    method.responseDeserialize,
    bearer(token),
    {},
  ) as Member;
  const responses: ConsumeResponse__Output[] = [];
  const waiters: { what: (r: ConsumeResponse__Output) => boolean; resolve(r: ConsumeResponse__Output): void }[] = [];
  call.on('data', (response: ConsumeResponse__Output) => {
    responses.push(response);
    for (const waiter of [...waiters]) {
      if (waiter.what(response)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(response);
      }
    }
  });
  const ended = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  call.on('error', () => {});
  const next = (what: (r: ConsumeResponse__Output) => boolean, label: string) =>
    new Promise<ConsumeResponse__Output>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${label} within 10 s`)), 10_000);
      waiters.push({ what, resolve: (r) => (clearTimeout(timer), resolve(r)) });
    });
  return { client, call, responses, next, ended };
}

function rssBytes(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

test('requests naming deliveries a member does not hold change nothing and are refused', { timeout: 60_000 }, async () => {
  server = await startServer(tempProject(), ['--token', RW, '--read-only-token', RO, '--consumer-member-stall-ms', String(STALL_MS)], {
    NODE_OPTIONS: '--max-semi-space-size=1 --max-old-space-size=64',
  });
  const admin = clientOf(server, RW);
  await admin.createConsumer({ name: 'shared', start_sequence: 0, ack_wait_ms: 60_000, max_in_flight: 100 });
  await addTasks(admin, EVENTS, 'hostile', 8);

  const owner = member(RW);
  owner.call.write({ join: { name: 'shared' } });
  await waitFor(() => owner.responses.filter((r) => r.delivery).length === EVENTS, 10_000, 'every event delivered to the first member');
  const ids = new Map(owner.responses.filter((r) => r.delivery).map((r) => [r.delivery!.event!.sequence!, r.delivery!.delivery_id!]));
  owner.call.write({ ack: { delivery_ids: [1, 2, 3, 4, 5].map((s) => ids.get(s)!) } });
  await owner.next((r) => (r.acks_committed?.sequences.length ?? 0) > 0 && r.acks_committed!.acked_sequence === 5, 'confirmation of 1-5');

  const hostile = member(RO);
  hostile.call.write({ join: { name: 'shared' } });
  await hostile.next((r) => r.joined !== null && r.joined !== undefined, 'joined');
  const refusal = (count: number) => hostile.next((r) => r.refused?.count === count, `a refusal of ${count}`);
  const forgedOfOther = ids.get(19)!.replace(/^(\w+)\.\d+\./, '$1.99.');
  const cases: [ConsumeRequest, number][] = [
    [{ ack: { delivery_ids: [6, 7, 8, 9, 10].map((s) => ids.get(s)!) } }, 5], // another member's ids
    [{ ack: { sequences: [11, 12, 13, 14, 15] } }, 5], // another member's sequences
    [{ nak: { delivery_id: ids.get(16)!, dead_letter: true, reason: 'hostile' } }, 1],
    [{ nak: { sequence: 17, delay_ms: 0 } }, 1],
    [{ in_progress: { sequences: [18], delivery_ids: [ids.get(18)!] } }, 2],
    [{ ack: { sequences: [1, 2, 3, 4, 5] } }, 5], // already acked
    [{ ack: { delivery_ids: ['x', forgedOfOther, `${ids.get(20)!}9`, 'a.b.c.d.e'] } }, 4], // forged
  ];
  for (const [request, count] of cases) {
    hostile.call.write(request);
    const refused = (await refusal(count)).refused!;
    assert.match(refused.reason!, /not held by this member/);
  }
  const info = await admin.getConsumer('shared');
  assert.equal(info.acked_sequence, 5);
  assert.equal(info.in_flight, EVENTS - 5);
  assert.equal(info.dead_letters, 0);
  assert.equal(info.redeliveries, 0);
  assert.ok(!hostile.responses.some((r) => r.delivery || r.acks_committed), 'the hostile member got a delivery or a confirmation');

  // The holder's own requests still work: a dead letter with a reason far over the limit is kept,
  // cut (not refused: that would end the stream), and its other acks each once.
  owner.call.write({ nak: { delivery_id: ids.get(20)!, dead_letter: true, reason: 'x'.repeat(5000) } });
  owner.call.write({ ack: { delivery_ids: [...ids].filter(([s]) => s > 5 && s < 20).map(([, id]) => id) } });
  await owner.next((r) => r.acks_committed?.acked_sequence === EVENTS, 'confirmation up to the head');
  owner.call.write({ ack: { delivery_ids: [ids.get(6)!] } });
  assert.equal((await owner.next((r) => r.refused !== null && r.refused !== undefined, 'a refusal of the repeated ack')).refused!.count, 1);
  const [dead] = await admin.deadLetters('shared');
  assert.equal(dead?.sequence, 20);
  assert.equal(dead.reason!.length, 1000);
  assert.match(dead.reason!, /\(5000 characters, cut\)$/);
  owner.call.end();
  hostile.call.end();
});

test(
  `a member that acks without reading is held back and ended; the server's RSS stays flat over ${MEMBERSHIPS} such members`,
  { timeout: 120_000 },
  async () => {
    assert.ok(server, 'runs after the first test');
    const pid = server.child.pid!;
    let before = 0;
    let peak = 0;
    let drops = 0;
    let sent = 0;
    const rssAfterEach: number[] = [];
    while (drops < MEMBERSHIPS) {
      const flooder = member(RO);
      flooder.call.write({ join: { name: 'shared' } });
      await flooder.next((r) => r.joined !== null && r.joined !== undefined, 'joined');
      flooder.call.pause(); // reads nothing more
      let ended = false;
      void flooder.ended.then(() => (ended = true));
      const dropsBefore = (server.stderr().match(/consumer member dropped/g) ?? []).length;
      // Acks of already-acked sequences, as fast as the connection takes them, until the server drops it.
      const sequences = Array.from({ length: 1000 }, (_, i) => 1 + (i % EVENTS));
      const started = Date.now();
      for (let i = 0; i < 1_000_000 && !ended && Date.now() - started < STALL_MS + 30_000; i++) {
        sent++;
        if (!flooder.call.write({ ack: { sequences } }))
          await Promise.race([new Promise((r) => flooder.call.once('drain', r)), new Promise((r) => setTimeout(r, 200))]);
        if (i % 50 === 0 && drops > 0) peak = Math.max(peak, rssBytes(pid));
        if ((server.stderr().match(/consumer member dropped/g) ?? []).length > dropsBefore) break;
      }
      assert.ok((server.stderr().match(/consumer member dropped/g) ?? []).length > dropsBefore, 'the server did not drop the member that does not read');
      drops++;
      flooder.call.resume(); // now it reads: what was queued, then the status
      const status = await flooder.ended;
      assert.equal(status.code, grpc.status.RESOURCE_EXHAUSTED, status.details);
      assert.match(status.details, new RegExp(`did not read its stream for ${STALL_MS} ms \\(--consumer-member-stall-ms\\)`));
      flooder.client.close(); // and connects again, as a misbehaving sidecar restarting would
      // The first membership is the warm-up: V8's young generation grows to its working size once.
      if (drops === 1) before = peak = rssBytes(pid);
      peak = Math.max(peak, rssBytes(pid));
      rssAfterEach.push(rssBytes(pid));
    }
    const growth = peak - before;
    process.stderr.write(
      `flood: ${sent} ack messages in ${drops} memberships, server RSS ${(before / 2 ** 20).toFixed(1)} MB -> peak ${(peak / 2 ** 20).toFixed(1)} MB; after each: ${rssAfterEach.map((b) => (b / 2 ** 20).toFixed(1)).join(' ')}\n`,
    );
    assert.ok(growth < 20 * 2 ** 20, `the server grew by ${(growth / 2 ** 20).toFixed(1)} MB`);
    // It still serves: a write and a consumer status answer.
    const admin = clientOf(server, RW);
    await admin.addTask({ title: 'after the flood' });
    assert.equal((await admin.getConsumer('shared')).members, 0);
  },
);
