// Subscriptions end with their streams: cancelled, stalled-then-cancelled, ended by an error, or
// whose client process died. Observed two ways: the server's debug log (subscription started /
// ended, with the count still open) and --max-subscribers, which counts the hub's subscriptions.
import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { call, connect } from '../support/client';
import { RIG_BIN, spawnTracked, startServer, tempProject, waitFor, type ServerProcess } from '../support/processes';
import { addTasks, inParallel, sleep } from './hub-support';

interface LogLine {
  msg: string;
  subscribers?: number;
}
const logLines = (server: ServerProcess): LogLine[] =>
  server
    .stderr()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
const counts = (server: ServerProcess) => {
  const lines = logLines(server);
  const started = lines.filter((l) => l.msg === 'subscription started').length;
  const ended = lines.filter((l) => l.msg === 'subscription ended');
  return { started, ended: ended.length, open: ended.length ? ended[ended.length - 1]!.subscribers : undefined };
};

test('200 streams opened and cancelled in every state leave no subscription behind', { timeout: 180_000 }, async () => {
  const dir = tempProject();
  const server = await startServer(dir, ['--buffer-size', '16', '--max-subscribers', '20'], { RIGGER_LOG_LEVEL: 'debug' });
  const client = connect(server.address);
  try {
    await addTasks(client, 300, 16); // history for catch-up streams
    let opened = 0;
    // Batches of 20 = the limit: any subscription left over from a batch would refuse the next one.
    for (let batch = 0; batch < 10; batch++) {
      const streams: (grpc.ClientReadableStream<unknown> | grpc.ClientDuplexStream<unknown, unknown>)[] = [];
      const ready: Promise<unknown>[] = [];
      const failures: grpc.ServiceError[] = [];
      for (let i = 0; i < 20; i++) {
        const kind = (batch * 20 + i) % 5;
        let stream;
        if (kind === 4) {
          stream = client.TaskEventStream();
          stream.write({ subscribe: { since_sequence: 0 } });
        } else {
          stream = client.SubscribeToTaskEvents(
            kind === 0 ? {} : kind === 1 ? { since_sequence: 0 } : kind === 2 ? { since_sequence: 100, assignee_filter: 'x' } : { since_sequence: 0 },
          );
        }
        stream.on('data', () => {});
        if (kind === 3) stream.pause(); // stalled with writes pending when it is cancelled
        ready.push(
          new Promise((resolve) => {
            stream.once('metadata', resolve);
            stream.on('error', (e: grpc.ServiceError) => {
              if (e.code !== grpc.status.CANCELLED) failures.push(e);
              resolve(undefined);
            });
          }),
        );
        streams.push(stream);
      }
      await Promise.all(ready);
      await call(client, 'AddTask', { title: `during batch ${batch}` });
      for (const s of streams) s.cancel();
      opened += streams.length;
      assert.deepEqual(
        failures.map((f) => `${f.code} ${f.details}`),
        [],
        `batch ${batch}: every stream was accepted`,
      );
      await waitFor(() => counts(server).ended === opened, 10_000, `batch ${batch} released`);
    }
    const after = counts(server);
    assert.equal(after.started, 200);
    assert.equal(after.ended, 200);
    assert.equal(after.open, 0, 'no subscription left open');
  } finally {
    client.close();
    await server.stop();
  }
});

test('a subscriber process killed with -9 is released when its connection drops', { timeout: 120_000 }, async () => {
  const dir = tempProject();
  const server = await startServer(dir, [], { RIGGER_LOG_LEVEL: 'debug' });
  try {
    const children = Array.from({ length: 5 }, () =>
      spawnTracked(process.execPath, [RIG_BIN, 'events', '--since', '0', '--address', server.address, '-C', dir], {
        env: { ...process.env, RIGGER_LOG_LEVEL: 'warn' },
      }),
    );
    await waitFor(() => counts(server).started === 5, 20_000, 'five rig events subscribed');
    await inParallel(children, 5, async (child) => {
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    });
    await waitFor(() => counts(server).ended === 5, 20_000, 'their subscriptions released');
    assert.equal(counts(server).open, 0);
    await sleep(100);
  } finally {
    await server.stop();
  }
});
