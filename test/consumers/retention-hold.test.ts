// The retention hold: with --retain-events 1000, a consumer whose client is gone while 100,000
// events are written still finds every one of its events when it comes back (compaction keeps
// them, and `rig grpc` warns that it does); one further behind than --consumer-max-lag is marked
// lost instead, gets OUT_OF_RANGE naming the fix, and stops holding the log. The events are
// written by another process on the same database (this test, through the store), as the CLI does,
// so 100,000 of them take seconds.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import * as grpc from '@grpc/grpc-js';
import { taskEventEncoder } from '../../src/protocol/event-codec';
import { openStore } from '../../src/store/store';
import { rigAsync, startServer, tempProject, waitFor, type ServerProcess } from '../support/processes';
import { clientOf, closeClients, consumeUntil } from './consumer-support';

const AWAY_EVENTS = 100_000;
const PER_TRANSACTION = 2000;

const servers: ServerProcess[] = [];
after(async () => {
  await closeClients();
  for (const s of servers) await s.stop('SIGKILL');
});

/** Writes `count` CREATED events to the project's database from this process, as the CLI would. */
function writeEvents(dir: string, count: number): void {
  const store = openStore(path.join(dir, '.rigger', 'tasks.db'), taskEventEncoder);
  try {
    for (let done = 0; done < count; done += PER_TRANSACTION) {
      store.tasks.write('bulk', (m) => {
        for (let i = 0; i < Math.min(PER_TRANSACTION, count - done); i++) m.createTask({ title: `bulk ${done + i}` });
      });
    }
  } finally {
    store.close();
  }
}

function oldestInFile(dir: string): number {
  const db = new Database(path.join(dir, '.rigger', 'tasks.db'), { readonly: true });
  try {
    return (db.prepare('SELECT min(sequence) AS s FROM events').get() as { s: number }).s;
  } finally {
    db.close();
  }
}

async function ackSome(server: ServerProcess, name: string, count: number): Promise<number[]> {
  const got: number[] = [];
  await consumeUntil(
    clientOf(server),
    name,
    { startSequence: 0 },
    async (d) => {
      got.push(d.sequence);
      await d.ack();
    },
    () => got.length >= count,
    60_000,
  );
  return got;
}

test(
  `a consumer away for ${AWAY_EVENTS} events with --retain-events 1000 finds its events kept; the log is held, with a warning`,
  { timeout: 240_000 },
  async () => {
    const dir = tempProject();
    const server = await startServer(dir, ['--retain-events', '1000', '--compact-interval-ms', '100', '--consumer-max-lag', '1000000'], {
      RIGGER_LOG_LEVEL: 'info',
    });
    servers.push(server);
    writeEvents(dir, 20);
    await waitFor(async () => (await clientOf(server).listTasks({})).total_count === 20, 10_000, 'the server to see the first events');
    assert.deepEqual(await ackSome(server, 'away', 10), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    await waitFor(async () => (await clientOf(server).getConsumer('away')).members === 0, 10_000, 'the member to leave');

    writeEvents(dir, AWAY_EVENTS);
    const head = 20 + AWAY_EVENTS;
    await waitFor(async () => (await clientOf(server).getConsumer('away')).head_sequence === head, 60_000, 'the server to publish every event');
    await waitFor(() => /holds the event log back/.test(server.stderr()), 30_000, 'the warning that the consumer holds the log back');
    assert.ok(oldestInFile(dir) <= 11, `compaction deleted events the consumer had not acked (oldest is ${oldestInFile(dir)})`);

    // Back: it gets 11, 12, ... and acking them lets compaction go on.
    const back = await ackSome(server, 'away', 2000);
    assert.deepEqual(back.slice(0, 3), [11, 12, 13]);
    assert.deepEqual(
      back,
      Array.from({ length: 2000 }, (_, i) => 11 + i),
      'every event, in order, none missing',
    );
    await waitFor(() => oldestInFile(dir) > 11, 30_000, 'compaction to resume past what was acked');
    assert.ok(oldestInFile(dir) <= 2011, `compaction went past the acked position (oldest ${oldestInFile(dir)})`);
    const info = await clientOf(server).getConsumer('away');
    assert.equal(info.lost, false);
  },
);

test(
  'a consumer further behind than --consumer-max-lag is lost: OUT_OF_RANGE naming the fix, and the log is no longer held',
  { timeout: 240_000 },
  async () => {
    const dir = tempProject();
    const server = await startServer(dir, ['--retain-events', '1000', '--compact-interval-ms', '100', '--consumer-max-lag', '5000']);
    servers.push(server);
    writeEvents(dir, 20);
    await waitFor(async () => (await clientOf(server).listTasks({})).total_count === 20, 10_000, 'the server to see the first events');
    await ackSome(server, 'lagger', 10);
    writeEvents(dir, 20_000);
    await waitFor(async () => (await clientOf(server).getConsumer('lagger')).lost === true, 60_000, 'the consumer to be marked lost');
    // Compaction goes on without it, down to the retention (then the fix the error names holds still).
    await waitFor(() => oldestInFile(dir) === 20_020 - 1000 + 1, 30_000, 'compaction to trim to the retention without the lost consumer');

    const error = await clientOf(server)
      .consume('lagger', { startSequence: 0 })
      .next()
      .then(
        () => undefined,
        (e: unknown) => e as grpc.ServiceError,
      );
    assert.equal(error?.code, grpc.status.OUT_OF_RANGE);
    assert.match(
      error!.details,
      /consumer "lagger" is lost: it fell \d+ events behind the head, more than --consumer-max-lag 5000.*rig consumers reset lagger --to \d+/,
    );

    const env = { RIGGER_PORT: String(server.port) };
    const listed = await rigAsync(['consumers', 'list', '-C', dir], { env });
    assert.match(listed.stdout, /lagger .* lost/);
    const to = Number(/--to (\d+)/.exec(error!.details)![1]);
    const reset = await rigAsync(['consumers', 'reset', 'lagger', '--to', String(to), '-C', dir], { env });
    assert.equal(reset.code, 0, reset.stderr);
    const again = await ackSome(server, 'lagger', 1);
    assert.equal(again[0], to + 1, 'after the reset it goes on from the oldest event kept');
  },
);
