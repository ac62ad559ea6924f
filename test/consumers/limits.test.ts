// What a client can create in the durable-consumer registry is bounded: consumers per hub
// (--max-consumers: RESOURCE_EXHAUSTED naming it, however many creates arrive at once), filter size
// (task_ids entries, and bytes: --consumer-max-filter-bytes, INVALID_ARGUMENT), ListConsumers pages
// (every consumer exactly once; `rig consumers list` follows them), the retention hold in bytes
// (--consumer-max-held-bytes marks the biggest holder lost and names the next), and groups kept
// after their last member left (a read-only client joining many consumers does not shut plain
// subscribers out of --max-subscribers). Real `rig grpc`, real gRPC clients, the real CLI.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import Database from 'better-sqlite3';
import type { RiggerClient } from '../../src/client/index';
import type { ConsumerInfo__Output } from '../../src/generated/rigger/v1/ConsumerInfo';
import type { ListConsumersResponse__Output } from '../../src/generated/rigger/v1/ListConsumersResponse';
import { taskEventEncoder } from '../../src/protocol/event-codec';
import { openStore } from '../../src/store/store';
import { rigAsync, startServer, tempProject, waitFor, type ServerProcess } from '../support/processes';
import { clientOf, closeClients } from './consumer-support';

const servers: ServerProcess[] = [];
after(async () => {
  await closeClients();
  for (const s of servers) await s.stop('SIGKILL');
});

async function server(args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<ServerProcess> {
  const s = await startServer(tempProject(), args, env);
  servers.push(s);
  return s;
}

type Outcome = { ok: true } | { ok: false; code: number; details: string };

/** `total` CreateConsumer calls named prefix-0 ... in batches of `batch` at once; the outcome of each. */
async function createMany(client: RiggerClient, prefix: string, total: number, batch: number): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  for (let from = 0; from < total; from += batch) {
    const names = Array.from({ length: Math.min(batch, total - from) }, (_, i) => `${prefix}-${from + i}`);
    outcomes.push(
      ...(await Promise.all(
        names.map((name) =>
          client.createConsumer({ name }).then(
            (): Outcome => ({ ok: true }),
            (error: grpc.ServiceError): Outcome => ({ ok: false, code: error.code, details: error.details }),
          ),
        ),
      )),
    );
  }
  return outcomes;
}

function listPage(client: RiggerClient, request: { page_size?: number; page_token?: string }): Promise<ListConsumersResponse__Output> {
  return new Promise((resolve, reject) => client.service.ListConsumers(request, (error, reply) => (error ? reject(error) : resolve(reply!))));
}

/** Every consumer name by following next_page_token, with each page's total_count. */
async function pageThrough(client: RiggerClient, pageSize: number | undefined): Promise<{ names: string[]; totals: number[]; pages: number }> {
  const names: string[] = [];
  const totals: number[] = [];
  let token = '';
  for (let pages = 1; pages <= 10_000; pages++) {
    const page = await listPage(client, { ...(pageSize !== undefined && { page_size: pageSize }), page_token: token });
    assert.ok(page.consumers.length <= (pageSize ?? 500), `a page of ${page.consumers.length}, over its size`);
    names.push(...page.consumers.map((c) => c.config!.name!));
    totals.push(page.total_count ?? 0);
    token = page.next_page_token ?? '';
    if (token === '') return { names, totals, pages };
  }
  throw new Error('ListConsumers pages did not end');
}

function assertCapped(outcomes: Outcome[], cap: number): void {
  const created = outcomes.filter((o) => o.ok).length;
  const refused = outcomes.filter((o): o is Extract<Outcome, { ok: false }> => !o.ok);
  assert.equal(created, cap, `created ${created}, not the cap of ${cap}`);
  assert.equal(refused.length, outcomes.length - cap);
  for (const r of refused) {
    assert.equal(r.code, grpc.status.RESOURCE_EXHAUSTED, r.details);
    assert.match(r.details, new RegExp(`already has ${cap} consumers \\(its --max-consumers limit\\); delete unused ones .*or raise --max-consumers`));
  }
}

describe('consumer limits', () => {
  test(
    '2,000 creates at once against --max-consumers 300: exactly 300 exist, the rest RESOURCE_EXHAUSTED naming the limit; every page lists each once; rig consumers list shows all',
    { timeout: 120_000 },
    async () => {
      const s = await server(['--max-consumers', '300']);
      const client = clientOf(s);
      assertCapped(await createMany(client, 'c', 2000, 200), 300);
      // An existing one is still answered (create is idempotent), a new one still refused.
      await client.createConsumer({ name: 'c-0' });
      await assert.rejects(client.createConsumer({ name: 'one-more' }), (e: grpc.ServiceError) => e.code === grpc.status.RESOURCE_EXHAUSTED);
      // So is a join that would create one; a join of an existing one is not.
      await assert.rejects(
        client.consume('join-new').next(),
        (e: grpc.ServiceError) => e.code === grpc.status.RESOURCE_EXHAUSTED && /--max-consumers/.test(e.details),
      );
      await joinOnce(client, 'c-1');

      const expected = Array.from({ length: 300 }, (_, i) => `c-${i}`).sort();
      for (const size of [7, 500, undefined]) {
        const { names, totals, pages } = await pageThrough(client, size);
        assert.deepEqual(names, expected, `page_size ${size}: every consumer exactly once, by name`);
        assert.ok(totals.every((t) => t === 300));
        assert.equal(pages, Math.ceil(300 / (size ?? 500)));
      }
      await assert.rejects(
        listPage(client, { page_size: 501 }),
        (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && /page_size 501 is over the maximum of 500/.test(e.details),
      );
      await assert.rejects(
        listPage(client, { page_token: 'not a token!' }),
        (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && /page_token is not a ListConsumers token/.test(e.details),
      );

      // Deleting one makes room for exactly one.
      await client.deleteConsumer('c-17');
      await client.createConsumer({ name: 'one-more' });
      await assert.rejects(client.createConsumer({ name: 'two-more' }), (e: grpc.ServiceError) => e.code === grpc.status.RESOURCE_EXHAUSTED);

      const env = { RIGGER_PORT: String(s.port) };
      const listed = await rigAsync(['consumers', 'list', '-C', s.dir, '--json'], { env, timeoutMs: 30_000 });
      assert.equal(listed.code, 0, listed.stderr);
      const all = JSON.parse(listed.stdout) as ConsumerInfo__Output[];
      assert.equal(all.length, 300);
      assert.equal(new Set(all.map((c) => c.config!.name)).size, 300);
      const table = await rigAsync(['consumers', 'list', '-C', s.dir], { env, timeoutMs: 30_000 });
      assert.equal(table.code, 0, table.stderr);
      assert.equal(table.stdout.trim().split('\n').length, 301, 'a header and one line per consumer');
    },
  );

  test(
    '40,000 create attempts at the default cap: 1,000 consumers, the rest RESOURCE_EXHAUSTED; rig consumers list pages through them',
    { timeout: 180_000 },
    async () => {
      const s = await server();
      const client = clientOf(s);
      assertCapped(await createMany(client, 'flood', 40_000, 500), 1000);
      const listed = await rigAsync(['consumers', 'list', '-C', s.dir, '--json'], { env: { RIGGER_PORT: String(s.port) }, timeoutMs: 60_000 });
      assert.equal(listed.code, 0, listed.stderr);
      assert.equal((JSON.parse(listed.stdout) as unknown[]).length, 1000);
    },
  );

  test(
    'filters: more than 1,000 task ids, or over --consumer-max-filter-bytes, are INVALID_ARGUMENT naming the limit; the largest allowed is stored whole, and pages of them stay under 4 MiB',
    { timeout: 60_000 },
    async () => {
      const s = await server();
      const client = clientOf(s);
      const id = (i: number) => `${String(i).padStart(6, '0')}-${'x'.repeat(193)}`; // 200 characters, the longest task id
      const refused = (pattern: RegExp) => (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && pattern.test(e.details);
      await assert.rejects(
        client.createConsumer({ name: 'many-ids', filter: { task_ids: Array.from({ length: 1001 }, (_, i) => `t${i}`) } }),
        refused(/task_ids has 1001 entries; the maximum is 1000/),
      );
      await assert.rejects(
        client.createConsumer({ name: 'big-ids', filter: { task_ids: Array.from({ length: 1000 }, (_, i) => id(i)) } }),
        refused(/filter is \d+ bytes stored \(as JSON\), over the 65536-byte limit \(the server's --consumer-max-filter-bytes\)/),
      );
      // A join that would create is refused the same way, and creates nothing.
      const join = client.consume('big-join', { taskIds: Array.from({ length: 400 }, (_, i) => id(i)) });
      await assert.rejects(join.next(), refused(/--consumer-max-filter-bytes/));
      // 300 such ids are about 61 KB: allowed, and stored whole.
      const largest = Array.from({ length: 300 }, (_, i) => id(i));
      await client.createConsumer({ name: 'largest', filter: { task_ids: largest } });
      assert.deepEqual((await client.getConsumer('largest')).config!.filter!.task_ids, largest);
      // 80 of them are about 5 MB of filters, over a default client's 4 MiB a message: pages hold fewer, and every one is listed.
      const names = Array.from({ length: 80 }, (_, i) => `large-${String(i).padStart(2, '0')}`);
      for (let i = 0; i < names.length; i += 20)
        await Promise.all(names.slice(i, i + 20).map((name) => client.createConsumer({ name, filter: { task_ids: largest } })));
      const { names: listed, pages } = await pageThrough(client, undefined);
      assert.deepEqual(listed, [...names, 'largest']);
      assert.ok(pages >= 2, `${pages} page(s)`);
      const cli = await rigAsync(['consumers', 'list', '-C', s.dir, '--json'], { env: { RIGGER_PORT: String(s.port) }, timeoutMs: 60_000 });
      assert.equal(cli.code, 0, cli.stderr);
      assert.equal((JSON.parse(cli.stdout) as unknown[]).length, 81);
    },
  );

  test('a smaller --consumer-max-filter-bytes applies to new consumers', { timeout: 60_000 }, async () => {
    const s = await server(['--consumer-max-filter-bytes', '2048']);
    const client = clientOf(s);
    await assert.rejects(
      client.createConsumer({ name: 'over', filter: { task_ids: Array.from({ length: 100 }, (_, i) => `task-${i}-${'y'.repeat(20)}`) } }),
      (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && /over the 2048-byte limit/.test(e.details),
    );
    await client.createConsumer({ name: 'under', filter: { task_ids: ['a', 'b'] } });
  });
});

/** Writes `count` CREATED events with titles of one length to the project's database, in one transaction, as the CLI would. */
function writeEvents(dir: string, count: number, from: number): void {
  const store = openStore(path.join(dir, '.rigger', 'tasks.db'), taskEventEncoder);
  try {
    store.tasks.write('bulk', (m) => {
      for (let i = 0; i < count; i++) m.createTask({ title: `bulk ${String(from + i).padStart(7, '0')} ${'z'.repeat(400)}` });
    });
  } finally {
    store.close();
  }
}

function inFile<T>(dir: string, sql: string): T {
  const db = new Database(path.join(dir, '.rigger', 'tasks.db'), { readonly: true });
  try {
    return db.prepare(sql).get() as T;
  } finally {
    db.close();
  }
}

test(
  '--consumer-max-held-bytes: the consumer holding the most bytes past the retention is lost with a clear reason; the next one holds the log and is named',
  { timeout: 120_000 },
  async () => {
    const dir = tempProject();
    writeEvents(dir, 1, 0);
    const perEvent = inFile<{ n: number }>(dir, 'SELECT length(encoded) AS n FROM events').n;
    const maxHeld = 2400 * perEvent;
    const s = await startServer(
      dir,
      ['--retain-events', '100', '--compact-interval-ms', '100', '--consumer-max-lag', '0', '--consumer-max-held-bytes', String(maxHeld)],
      { RIGGER_LOG_LEVEL: 'info' },
    );
    servers.push(s);
    const client = clientOf(s);
    await client.createConsumer({ name: 'big', start_sequence: 0 });
    writeEvents(dir, 1000, 1);
    await waitFor(async () => (await client.getConsumer('big')).head_sequence === 1001, 30_000, 'the server to see 1,001 events');
    await client.createConsumer({ name: 'small' }); // new events only: acked 1001
    // big holds 1..901 (901 events past the retention of 100): under the bound, so kept.
    await waitFor(() => /consumer big holds the event log back the most: 901 events/.test(s.stderr()), 30_000, 'the warning naming big');
    assert.equal(inFile<{ s: number }>(dir, 'SELECT min(sequence) AS s FROM events').s, 1);

    // 2,000 more: big would hold 2,901 events (over 2,400 of them in bytes), small 1,900 (under).
    writeEvents(dir, 2000, 1001);
    await waitFor(async () => (await client.getConsumer('big')).lost === true, 30_000, 'big to be marked lost');
    const big = await client.getConsumer('big');
    assert.match(
      big.lost_reason ?? '',
      new RegExp(
        `it held \\d+ bytes of events past the retention \\(2901 events\\), more than --consumer-max-held-bytes ${maxHeld}, and they were due for compaction`,
      ),
    );
    await waitFor(() => /consumer small holds the event log back the most: 1900 events \(\d+ bytes\)/.test(s.stderr()), 30_000, 'the warning naming small');
    await waitFor(() => inFile<{ s: number }>(dir, 'SELECT min(sequence) AS s FROM events').s === 1002, 30_000, 'compaction up to what small holds');
    assert.equal((await client.getConsumer('small')).lost, false);
    await assert.rejects(
      client.consume('big').next(),
      (e: grpc.ServiceError) => e.code === grpc.status.OUT_OF_RANGE && /--consumer-max-held-bytes/.test(e.details),
    );
  },
);

/**
 * Joins `name` on a raw stream, waits for `joined`, ends the stream, and resolves on the server's
 * status: the server has let the member go and no longer counts its stream against --max-subscribers.
 */
function joinOnce(client: RiggerClient, name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const call = client.service.ConsumeTaskEvents();
    let joined = false;
    call.on('data', (response: { joined?: unknown }) => {
      if (response.joined) {
        joined = true;
        call.end();
      }
    });
    call.on('error', (error: grpc.ServiceError) => {
      if (error.code !== grpc.status.CANCELLED) reject(error);
    });
    call.on('status', (status: grpc.StatusObject) =>
      joined ? resolve() : reject(new Error(`${name}: the stream ended before joined (${status.code} ${status.details})`)),
    );
    call.write({ join: { name } });
  });
}

/** Opens a plain SubscribeToTaskEvents stream; resolves once the server has accepted it (its first bookmark), then cancels it. */
function subscribeOnce(client: RiggerClient): Promise<void> {
  return new Promise((resolve, reject) => {
    const call = client.service.SubscribeToTaskEvents({ bookmark_interval_ms: 100 });
    const timer = setTimeout(() => reject(new Error('no bookmark within 10 s')), 10_000);
    call.on('data', () => {
      clearTimeout(timer);
      call.cancel();
      resolve();
    });
    call.on('error', (error: grpc.ServiceError) => {
      clearTimeout(timer);
      if (error.code === grpc.status.CANCELLED) resolve();
      else reject(error);
    });
  });
}

test(
  'a read-only client joining 60 consumers once each, with --max-subscribers 20: every join and then every plain subscriber is accepted (idle groups give their slots up)',
  { timeout: 120_000 },
  async () => {
    const s = await server(['--max-subscribers', '20', '--token', 'rw-limits', '--read-only-token', 'ro-limits'], { RIGGER_LOG_LEVEL: 'info' });
    const writer = clientOf(s, 'rw-limits');
    const names = Array.from({ length: 60 }, (_, i) => `joined-${i}`);
    for (const name of names) await writer.createConsumer({ name });
    const reader = clientOf(s, 'ro-limits');
    for (const name of names) await joinOnce(reader, name);
    // Within the 10 s a group is kept after its last member left: 20 plain subscribers at once.
    const started = Date.now();
    await Promise.all(Array.from({ length: 20 }, () => subscribeOnce(clientOf(s, 'ro-limits'))));
    assert.ok(Date.now() - started < 10_000, 'the subscribers were accepted while idle groups were still kept');
    assert.match(s.stderr(), /released \d+ idle consumer group\(s\) for subscriber slots/);
    // A consumer whose group was let go joins again from what was written.
    await joinOnce(reader, names[0]!);
    assert.equal((await writer.getConsumer(names[0]!)).lost, false);
  },
);
