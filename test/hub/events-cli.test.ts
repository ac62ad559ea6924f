// `rig events` as a real process against a real server: filters, --since, --json and human lines,
// and its one-line failures.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { call, connect } from '../support/client';
import { sentinelThrough } from '../support/barriers';
import { RIG_BIN, rig, spawnCollected, startServer, tempProject, waitFor } from '../support/processes';
import { matches, readLog, sequences, sleep } from './hub-support';

function runEvents(dir: string, args: string[]) {
  const { child, stdout, stderr, exited } = spawnCollected(process.execPath, [RIG_BIN, 'events', '-C', dir, ...args], {
    env: { ...process.env, RIGGER_LOG_LEVEL: 'warn' },
  });
  const lines = () => stdout().split('\n').filter(Boolean);
  const waitForLines = async (n: number, timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs;
    while (lines().length < n) {
      if (Date.now() > deadline) throw new Error(`rig events printed ${lines().length} of ${n} lines; stderr: ${stderr()}`);
      await sleep(20);
    }
  };
  return { child, lines, stderr, exited, waitForLines };
}

async function scenario(address: string) {
  const client = connect(address);
  const hers = (await call(client, 'AddTask', { title: 'hers', assignee: 'Alice' })).task.id;
  const his = (await call(client, 'AddTask', { title: 'his', assignee: 'Bob' })).task.id;
  await call(client, 'UpdateTask', { task_id: hers, status: 2 });
  await call(client, 'UpdateTask', { task_id: his, status: 2 });
  await call(client, 'UpdateTask', { task_id: hers, assignee: 'Bob', status: 9 }); // leaves Alice
  client.close();
}

test('rig events --types created,status_changed --assignee Alice --since 0 --json prints one JSON line per matching event', { timeout: 60_000 }, async () => {
  const dir = tempProject();
  const server = await startServer(dir);
  try {
    await scenario(server.address); // history before the CLI starts: --since 0 replays it
    const events = runEvents(dir, ['--types', 'created,status_changed', '--assignee', 'Alice', '--since', '0', '--json', '--address', server.address]);
    const added = rig(['task', 'add', 'from the CLI', '--assignee', 'Alice', '-C', dir]);
    assert.equal(added.code, 0, added.stderr);
    const filter = { event_types: [1, 4], assignee_filter: 'Alice' };
    const expected = readLog(dir).filter((e) => matches(filter, e));
    assert.equal(expected.length, 4, 'her task created, its two status changes (the second leaving Alice), the CLI-added task');
    await events.waitForLines(expected.length);
    // Hers and written last: once it is printed, every line before it has been.
    const client = connect(server.address);
    const sentinel = await sentinelThrough(client, (id) => events.lines().some((line) => JSON.parse(line).task?.id === id), 'rig events', {
      assignee: 'Alice',
    });
    client.close();
    const printed = events.lines().map((line) => JSON.parse(line));
    assert.equal(printed.pop().task.id, sentinel, 'the sentinel, last');
    assert.deepEqual(
      printed.map((e) => e.sequence),
      sequences(expected),
    );
    assert.deepEqual(
      printed.map((e) => e.event_type),
      ['CREATED', 'STATUS_CHANGED', 'STATUS_CHANGED', 'CREATED'],
    );
    assert.equal(printed[3].task.title, 'from the CLI');
    assert.equal(printed[2].task.assignee, 'Bob', 'the change that moved the task away from Alice is included');
    assert.equal(printed[2].previous_task.assignee, 'Alice');
    assert.equal(printed[2].task.status, 'COMPLETED');
    events.child.kill('SIGINT');
    assert.equal(await events.exited, 0, events.stderr());
  } finally {
    await server.stop();
  }
});

test('without --json rig events prints one human line per event, live from now', { timeout: 60_000 }, async () => {
  const dir = tempProject();
  const server = await startServer(dir);
  try {
    const events = runEvents(dir, ['--address', server.address]);
    const client = connect(server.address);
    // It starts live: once the server lists its stream, every later write reaches it.
    const subscribed = async () => (await call(client, 'GetHubStatus', {})).streams.some((s: { position?: unknown }) => s.position != null);
    await waitFor(subscribed, 20_000, 'the rig events stream, subscribed');
    const warmUp = events.lines().length;
    assert.equal(warmUp, 0);
    const { task } = await call(client, 'AddTask', { title: 'Write the docs', assignee: 'Alice' });
    await call(client, 'UpdateTask', { task_id: task.id, status: 2 });
    await events.waitForLines(warmUp + 3);
    const sentinel = await sentinelThrough(client, (id) => events.lines().some((line) => line.includes(` CREATED ${id} `)), 'rig events');
    client.close();
    const lines = events.lines();
    assert.match(lines.pop()!, new RegExp(` CREATED ${sentinel} "sentinel"`), 'the sentinel, last');
    const numbers = lines.map((line) => Number(/^#(\d+) /.exec(line)?.[1]));
    assert.deepEqual(
      numbers,
      numbers.map((_, i) => numbers[0]! + i),
      'one line per event, no gap',
    );
    const [created, updated, statusChanged] = lines.slice(-3);
    assert.match(created!, new RegExp(`^#\\d+ \\S+ CREATED ${task.id} "Write the docs" status=TODO assignee=Alice actor=\\S+$`));
    assert.match(updated!, /^#\d+ \S+ UPDATED .* status=IN_PROGRESS assignee=Alice changed=status actor=/);
    assert.match(statusChanged!, /^#\d+ \S+ STATUS_CHANGED /);
    events.child.kill('SIGINT');
    assert.equal(await events.exited, 0);
  } finally {
    await server.stop();
  }
});

test('rig events fails with exit 1 and one line: bad --types, no server, server shutting down', { timeout: 60_000 }, async () => {
  const dir = tempProject();
  const bad = rig(['events', '--types', 'created,bogus', '-C', dir]);
  assert.equal(bad.code, 1);
  assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  assert.match(bad.stderr, /^rig: --types: "bogus" is not an event type; use e\.g\. created,updated/);

  const port = await new Promise<number>((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
  const nobody = rig(['events', '--address', `127.0.0.1:${port}`, '-C', dir]);
  assert.equal(nobody.code, 1);
  assert.equal(nobody.stderr.trim().split('\n').length, 1, nobody.stderr);
  assert.equal(nobody.stderr, `rig: nothing is listening at 127.0.0.1:${port}; start the server with \`rig grpc\` (or check --address / RIGGER_ADDRESS)\n`);

  const server = await startServer(dir);
  const client = connect(server.address);
  await call(client, 'AddTask', { title: 'one' });
  client.close();
  const events = runEvents(dir, ['--since', '0', '--address', server.address]);
  await events.waitForLines(1);
  assert.equal(await server.stop('SIGTERM'), 0);
  assert.equal(await events.exited, 1);
  assert.match(events.stderr().trim(), /^rig: the server at \S+ ended the stream: server shutting down.*; resume with --since 1 --since-log [0-9a-f]{16}$/);
  assert.equal(events.stderr().trim().split('\n').length, 1);
});
