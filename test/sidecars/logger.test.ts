// The logger sidecar as a real process against the real server: SIGKILLed and restarted, the
// server stopped and SIGKILLed and restarted, changes made while either is down; its file must end
// up with every event exactly once, in order.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { call, connect } from '../support/client';
import { rig, rigAsync, startServer, tempDir, tempProject, waitFor } from '../support/processes';
import type { EventSummary } from '../../sidecars/event-json';
import { assertExactlyOnceInOrder, restartServer, startSidecar, type SidecarProcess } from './sidecar-support';
import { addTaskToFile, setStatusInFile } from '../support/project-writes';

/** One line of the logger's file: the event's summary, the fields it touched, pino's msg. */
type Line = EventSummary & { changed_fields: string[]; msg: string };

/** Waits for `n` lines; on timeout the error carries the logger's stderr. */
async function waitForLines(file: string, n: number, logger: SidecarProcess, timeoutMs = 20_000): Promise<void> {
  try {
    await waitFor(() => readLines(file).length >= n, timeoutMs, `${n} lines in ${file}`);
  } catch (error) {
    throw new Error(`${(error as Error).message}; have ${readLines(file).length}; logger stderr:\n${logger.stderr()}`);
  }
}

const readLines = (file: string): Line[] =>
  fs.existsSync(file)
    ? fs
        .readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Line)
    : [];

test('logger: every event exactly once and in order across SIGKILLs and restarts of the logger and the server', async () => {
  const dir = tempProject();
  let server = await startServer(dir);
  const work = tempDir();
  const file = path.join(work, 'events.jsonl');
  const checkpoint = path.join(work, 'logger.checkpoint');
  const args = ['--address', server.address, '--file', file, '--checkpoint', checkpoint, '--since', '0'];
  let logger = startSidecar('logger', args);
  try {
    const first = addTaskToFile(dir, 'write the docs', 'Alice');
    setStatusInFile(dir, first, 'in_progress');
    await waitForLines(file, 3, logger); // a status change is UPDATED + STATUS_CHANGED

    // The logger dies hard; changes go on without it.
    logger.child.kill('SIGKILL');
    await waitFor(() => logger.child.signalCode !== null, 5_000, 'logger death');
    addTaskToFile(dir, 'while the logger is down');
    logger = startSidecar('logger', args);
    await waitForLines(file, 4, logger);

    // The server stops; a change lands in the database meanwhile; the server comes back.
    assert.equal(await server.stop('SIGTERM'), 0);
    addTaskToFile(dir, 'while the server is down');
    server = await restartServer(server);
    setStatusInFile(dir, first, 'completed');
    await waitForLines(file, 7, logger);

    // The server dies hard, and the logger too, both come back.
    server.child.kill('SIGKILL');
    logger.child.kill('SIGKILL');
    await waitFor(() => server.child.signalCode !== null && logger.child.signalCode !== null, 5_000, 'both dead');
    addTaskToFile(dir, 'while both are down');
    server = await restartServer(server);
    logger = startSidecar('logger', args);
    addTaskToFile(dir, 'after everything');
    await waitForLines(file, 9, logger);
    // A sentinel (10): the logger writes in order, so a repeat of 1..9 would be in the file before it.
    addTaskToFile(dir, 'sentinel');
    await waitFor(() => readLines(file).some((l) => l.sequence === 10), 20_000, 'the sentinel line');

    assert.equal(await logger.stop('SIGTERM'), 0, logger.stderr());
    const lines = readLines(file);
    assertExactlyOnceInOrder(
      lines.map((l) => l.sequence),
      10,
    );
    assert.match(fs.readFileSync(checkpoint, 'utf8'), /^10 [0-9a-f]{16}\n$/, `checkpoint flushed on SIGTERM; logger stderr:\n${logger.stderr()}`);
    assert.deepEqual(
      lines.map((l) => l.type),
      ['CREATED', 'UPDATED', 'STATUS_CHANGED', 'CREATED', 'CREATED', 'UPDATED', 'STATUS_CHANGED', 'CREATED', 'CREATED', 'CREATED'],
    );
    assert.deepEqual(
      { ...lines[2], time: undefined, level: undefined, event_id: undefined, timestamp: undefined },
      {
        sequence: 3,
        type: 'STATUS_CHANGED',
        task_id: first,
        title: 'write the docs',
        status: 'IN_PROGRESS',
        assignee: 'Alice',
        changed_fields: ['status'],
        actor: lines[2]!.actor,
        log_id: JSON.parse(rig(['log', 'show', '--json', '-C', dir]).stdout).log_id,
        msg: 'task event',
        time: undefined,
        level: undefined,
        event_id: undefined,
        timestamp: undefined,
      },
    );
    assert.ok(lines[2]!.actor, 'the actor is logged');
  } finally {
    await logger.stop('SIGKILL');
    await server.stop();
  }
});

test('logger: filters as flags, stdout output, and `rig sidecar logger` is the same program', async () => {
  const dir = tempProject();
  const server = await startServer(dir);
  const logger = startSidecar('logger', ['--address', server.address, '--since', '0', '--assignee', 'Bob', '--types', 'created,assigned'], 'rig');
  try {
    const alice = addTaskToFile(dir, 'alice task', 'Alice');
    addTaskToFile(dir, 'bob task', 'Bob');
    const reassign = await rigAsync(['task', 'update', alice, '--assignee', 'Bob', '-C', dir]);
    assert.equal(reassign.code, 0, reassign.stderr);
    setStatusInFile(dir, alice, 'in_progress'); // STATUS_CHANGED: not in --types
    const lines = () =>
      logger
        .stdout()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Line);
    await waitFor(() => lines().length >= 2, 15_000, '2 lines');
    // Bob's and written last: once its line is out, every line before it is.
    addTaskToFile(dir, 'sentinel', 'Bob');
    await waitFor(() => lines().some((l) => l.title === 'sentinel'), 15_000, 'the sentinel line');
    assert.equal(await logger.stop('SIGINT'), 0, logger.stderr());
    assert.deepEqual(
      lines().map((l) => [l.type, l.title, l.assignee]),
      [
        ['CREATED', 'bob task', 'Bob'],
        ['ASSIGNED', 'alice task', 'Bob'],
        ['CREATED', 'sentinel', 'Bob'],
      ],
    );
    assert.match(logger.stderr(), /"msg":"stopped"/);
  } finally {
    await logger.stop('SIGKILL');
    await server.stop();
  }
});

test('logger: a bad flag is one readable line and exit code 1', async () => {
  const result = await rigAsync(['sidecar', 'logger', '--address', '127.0.0.1:1', '--types', 'finished']);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /^rig: .*"finished" is not an event type/m);
});

test('logger: a checkpoint older than the retained history stops it with exit 1 and a line saying so', async () => {
  const dir = tempProject();
  for (let i = 1; i <= 6; i++) addTaskToFile(dir, `task ${i}`);
  const server = await startServer(dir, ['--retain-events', '2', '--buffer-size', '1', '--compact-interval-ms', '50']);
  const checkpoint = path.join(tempDir(), 'old.checkpoint');
  fs.writeFileSync(checkpoint, '1\n');
  try {
    // Compaction runs in the background: start the logger once the log says it has happened (GetLog).
    const client = connect(server.address);
    await waitFor(async () => Number((await call(client, 'GetLog', {})).oldest_sequence) === 5, 20_000, 'compaction to the last 2 events');
    client.close();
    const logger = startSidecar('logger', ['--address', server.address, '--checkpoint', checkpoint]);
    const exit = new Promise<number | null>((resolve) => logger.child.once('exit', (code) => resolve(code)));
    const exited = await Promise.race([exit, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 30_000).unref())]);
    const result = exited === undefined ? undefined : { code: exited, stdout: logger.stdout(), stderr: logger.stderr() };
    assert.ok(result, 'the logger stopped on its own');
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /^rig: since_sequence 1 is older than the retained history; the oldest event still available is 5, .*; the events after the checkpoint .*old\.checkpoint are gone from the server's log; delete it to start from the live stream \(or with --since 4\)$/m,
    );
    assert.equal(fs.readFileSync(checkpoint, 'utf8'), '1\n', 'nothing skipped silently');
  } finally {
    await server.stop();
  }
});
