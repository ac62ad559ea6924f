// The `rig task` CLI writing the same database while the server runs: its events reach
// subscribers, in sequence order, interleaved correctly with the server's own gRPC writes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { call, collectEvents, connect } from '../support/client';
import { rigAsync, startServer, tempProject } from '../support/processes';
import { sentinelThrough } from '../support/barriers';
import { asLogged, readLog, sequences, sleep } from './hub-support';

test('CLI and gRPC writes at the same time reach subscribers in sequence order', { timeout: 120_000 }, async () => {
  const dir = tempProject();
  const server = await startServer(dir, ['--buffer-size', '16']);
  const client = connect(server.address);
  try {
    const everything = collectEvents(client, {});
    const bobs = collectEvents(client, { assignee_filter: 'Bob' });
    await Promise.all([everything.ready, bobs.ready]);
    const { task: shared } = await call(client, 'AddTask', { title: 'grpc: shared', assignee: 'Alice' });

    let cliDone = false;
    const cli = (async () => {
      try {
        for (let i = 0; i < 6; i++) {
          const results = await Promise.all([
            rigAsync(['task', 'add', `cli: ${i}`, '--assignee', 'Bob', '-C', dir]),
            rigAsync(['task', 'update', shared.id, '--assignee', i % 2 ? 'Alice' : 'Bob', '-C', dir]),
          ]);
          for (const r of results) assert.equal(r.code, 0, r.stderr);
        }
      } finally {
        cliDone = true;
      }
    })();
    let grpcWrites = 0;
    while (!cliDone && grpcWrites < 2000) {
      await call(client, 'AddTask', { title: `grpc: ${grpcWrites++}`, assignee: grpcWrites % 3 ? 'Alice' : 'Bob' });
      await sleep(2);
    }
    await cli;
    // Written last and Bob's, so both streams carry it: once it is in, everything before it is.
    const through = (id: string) => [everything, bobs].every((c) => c.events.some((e) => e.task.id === id));
    await sentinelThrough(client, through, 'both subscribers', { title: 'grpc: last', assignee: 'Bob' });

    const log = readLog(dir);
    const expectedBobs = log.filter((e) => e.assignee === 'Bob' || e.previous_assignee === 'Bob');

    assert.deepEqual(everything.events.map(asLogged), log, 'the stream is the log, in order');
    assert.deepEqual(sequences(bobs.events.map(asLogged)), sequences(expectedBobs));
    // The CLI's writes really interleave with the server's: some CLI event sits between gRPC events.
    const origin = everything.events.filter((e) => e.event_type === 1).map((e) => e.task.title.slice(0, e.task.title.indexOf(':')));
    const cliEvents = everything.events.filter((e) => e.task.title.startsWith('cli:'));
    assert.equal(cliEvents.filter((e) => e.event_type === 1).length, 6, 'all six CLI-added tasks were broadcast');
    const firstCli = origin.indexOf('cli');
    assert.ok(firstCli > 0 && origin.slice(firstCli).includes('grpc'), `interleaved: ${origin.join(' ').slice(0, 400)}`);
    assert.ok(grpcWrites > 5, `${grpcWrites} gRPC writes ran alongside the CLI`);
    everything.cancel();
    bobs.cancel();
  } finally {
    client.close();
    await server.stop();
  }
});
