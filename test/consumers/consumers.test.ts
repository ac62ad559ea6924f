// Durable consumers through the real server and the typed client: created on first use or by the
// CLI, a different filter refused, acks surviving a restart and kill -9, bookmarks moving a
// filtered consumer, a two-member group redelivering a departed member's events at once with their
// attempt count, dead letters after max_deliver and redrive, read-only tokens.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { ConsumedEvent } from '../../src/client/index';
import { rigAsync, startServer, tempProject, waitFor, type ServerProcess } from '../support/processes';
import { addTasks, clientOf, closeClients, consumeUntil } from './consumer-support';

const servers: ServerProcess[] = [];
async function server(dir = tempProject(), args: string[] = []): Promise<ServerProcess> {
  const started = await startServer(dir, args);
  servers.push(started);
  return started;
}

after(async () => {
  await closeClients();
  for (const s of servers) await s.stop('SIGKILL');
});

describe('durable consumers', () => {
  test('create, list and show by CLI (--json); the same name with another filter is FAILED_PRECONDITION', async () => {
    const s = await server();
    const env = { RIGGER_PORT: String(s.port) };
    const created = await rigAsync(
      ['consumers', 'create', 'audit', '-C', s.dir, '--assignee', 'Alice', '--types', 'created,assigned', '--max-deliver', '5', '--json'],
      { env },
    );
    assert.equal(created.code, 0, created.stderr);
    const info = JSON.parse(created.stdout);
    assert.equal(info.config.name, 'audit');
    assert.equal(info.config.filter.assignee_filter, 'Alice');
    assert.deepEqual(info.config.filter.event_types, ['CREATED', 'ASSIGNED']);
    assert.equal(info.config.max_deliver, 5);

    const again = await rigAsync(['consumers', 'create', 'audit', '-C', s.dir, '--assignee', 'Alice', '--types', 'assigned,created'], { env });
    assert.equal(again.code, 0, `the same filter, spelled in another order, is the same consumer: ${again.stderr}`);

    const other = await rigAsync(['consumers', 'create', 'audit', '-C', s.dir, '--assignee', 'Bob'], { env });
    assert.equal(other.code, 1);
    assert.equal(other.stderr.trim().split('\n').length, 1, other.stderr);
    assert.match(other.stderr, /consumer "audit" exists with filter .*Alice.*delete it/);

    const client = clientOf(s);
    const mismatch = client.consume('audit', { assignee: 'Bob' });
    await assert.rejects(mismatch.next(), (error: { code?: number }) => error.code === grpc.status.FAILED_PRECONDITION);

    const listed = await rigAsync(['consumers', 'list', '-C', s.dir, '--json'], { env });
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(
      JSON.parse(listed.stdout).map((c: { config: { name: string } }) => c.config.name),
      ['audit'],
    );
    const table = await rigAsync(['consumers', 'list', '-C', s.dir], { env });
    assert.match(table.stdout, /NAME\s+FILTER\s+ACKED\s+LAG\s+IN FLIGHT\s+MEMBERS\s+DEAD/);
    assert.match(table.stdout, /audit\s+types=created,assigned assignee=Alice/);
    const missing = await rigAsync(['consumers', 'show', 'nobody', '-C', s.dir], { env });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /consumer "nobody" does not exist/);
    const badName = await rigAsync(['consumers', 'show', 'no spaces', '-C', s.dir], { env });
    assert.match(badName.stderr, /is not valid; use 1-100 letters/);
  });

  test('acked events are never delivered again across a restart and a kill -9; unacked ones are, with their attempt count', async () => {
    const dir = tempProject();
    let s = await server(dir);
    let client = clientOf(s);
    await addTasks(client, 10);
    const seen: number[] = [];
    // Ack the first 6 (waiting for each to be committed), leave 7 in flight unacked.
    await consumeUntil(
      client,
      'indexer',
      { startSequence: 0 },
      async (d) => {
        seen.push(d.sequence);
        if (d.sequence <= 6) await d.ack();
      },
      () => seen.length >= 7,
    );
    assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7]);

    await s.stop('SIGTERM');
    s = await server(dir);
    client = clientOf(s);
    const afterRestart: ConsumedEvent[] = [];
    await consumeUntil(
      client,
      'indexer',
      {},
      async (d) => {
        afterRestart.push(d);
        if (d.sequence <= 8) await d.ack();
      },
      () => afterRestart.length >= 2,
    );
    assert.deepEqual(
      afterRestart.map((d) => d.sequence),
      [7, 8],
    );

    await s.stop('SIGKILL');
    s = await server(dir);
    client = clientOf(s);
    const afterKill: number[] = [];
    await consumeUntil(
      client,
      'indexer',
      {},
      async (d) => {
        afterKill.push(d.sequence);
        await d.ack();
      },
      () => afterKill.length >= 2,
    );
    assert.deepEqual(afterKill, [9, 10], 'the committed acks of 7 and 8 held across kill -9');
    const info = await client.getConsumer('indexer');
    assert.equal(info.acked_sequence, 10);
    assert.equal(info.lag, 0);
  });

  test('a filtered consumer is moved past events it does not match (its lag goes to 0 without any delivery)', async () => {
    const s = await server();
    const client = clientOf(s);
    await client.createConsumer({ name: 'alice-only', filter: { assignee_filter: 'Alice' } });
    await addTasks(client, 30, 'bob', 8, 'Bob');
    const iterator = client.consume('alice-only', { assignee: 'Alice' });
    const first = iterator.next();
    await waitFor(async () => (await client.getConsumer('alice-only')).acked_sequence === 30, 10_000, 'the acked position to reach the head');
    const [alice] = await addTasks(client, 1, 'alice', 1, 'Alice');
    const delivered = await first;
    assert.equal(delivered.value!.event.task.id, alice);
    assert.equal(delivered.value!.sequence, 31);
    await delivered.value!.ack();
    await iterator.return!();
  });

  test('two members share a consumer, one task at a time; a member that leaves has its events redelivered at once, attempt 2', async () => {
    const s = await server();
    const client = clientOf(s);
    const [taskA, taskB] = await addTasks(client, 2, 'pair', 1);
    // Two more events for each task: 1 (A) 2 (B) created, then 3 (A) 4 (B) 5 (A) 6 (B) assigned.
    for (const assignee of ['x', 'y']) {
      await client.updateTask({ task_id: taskA!, assignee });
      await client.updateTask({ task_id: taskB!, assignee });
    }
    const first = client.consume('pair', { startSequence: 0, ackWaitMs: 60_000 });
    const held = [(await first.next()).value!, (await first.next()).value!];
    assert.deepEqual(
      held.map((d) => d.sequence),
      [1, 2],
      'the first member holds the head of each task',
    );
    // A second member, idle, gets nothing: both tasks have an event in flight.
    const second = clientOf(s).consume('pair', { ackWaitMs: 60_000 });
    const next = second.next();
    await waitFor(async () => (await client.getConsumer('pair')).members === 2, 5000, 'the second member to join');
    // A sequence known to follow: a third task's CREATED is free to go out, so the second member's
    // first delivery is it; one of A's or B's first would be a second event of a task while its first is in flight.
    const taskC = (await client.addTask({ title: 'pair C' })).task!.id!;
    const firstForSecond = (await next).value!;
    assert.equal(firstForSecond.event.task.id, taskC, `a second event of a task went out while its first was in flight: ${firstForSecond.sequence}`);
    await firstForSecond.ack();
    // The first member goes away: its events go to the second at once, with attempt 2.
    const started = Date.now();
    await first.return!();
    const redelivered = [(await second.next()).value!, (await second.next()).value!];
    assert.deepEqual(
      redelivered.map((d) => [d.sequence, d.attempt]),
      [
        [1, 2],
        [2, 2],
      ],
    );
    assert.ok(Date.now() - started < 5000, 'redelivered at once, not after the ack wait');
    const order: number[] = [];
    for (const d of redelivered) await d.ack();
    for (let i = 0; i < 4; i++) {
      const d = (await second.next()).value!;
      order.push(d.sequence);
      await d.ack();
    }
    assert.deepEqual(
      order.filter((q) => q % 2 === 1),
      [3, 5],
      'task A in order',
    );
    assert.deepEqual(
      order.filter((q) => q % 2 === 0),
      [4, 6],
      'task B in order',
    );
    await second.return!();
  });

  test('max_deliver 3: an event nak-ed three times is a dead letter, the others flow; redrive delivers it again', async () => {
    const s = await server();
    const client = clientOf(s);
    const env = { RIGGER_PORT: String(s.port) };
    const ids = await addTasks(client, 5, 'dl', 1);
    const poison = ids[2]!;
    const acked = new Set<number>();
    const poisonAttempts: number[] = [];
    await consumeUntil(
      client,
      'dl',
      { startSequence: 0, maxDeliver: 3, backoffMs: [10] },
      async (d) => {
        if (d.event.task.id === poison) {
          poisonAttempts.push(d.attempt);
          d.nak({ reason: 'poison task' });
        } else {
          acked.add(d.sequence);
          await d.ack();
        }
      },
      () => acked.size === 4 && poisonAttempts.length === 3,
    );
    assert.deepEqual(poisonAttempts, [1, 2, 3]);
    await waitFor(async () => (await client.deadLetters('dl')).length === 1, 5000, 'the dead letter to be written');
    const listed = await rigAsync(['consumers', 'dead-letters', 'dl', '-C', s.dir, '--json'], { env });
    assert.equal(listed.code, 0, listed.stderr);
    const [dead] = JSON.parse(listed.stdout);
    assert.equal(dead.sequence, 3);
    assert.equal(dead.task_id, poison);
    assert.equal(dead.attempts, 3);
    assert.equal(dead.reason, 'poison task');
    const info = await client.getConsumer('dl');
    assert.equal(info.acked_sequence, 5, 'the consumer moved on past the dead letter');

    const redrive = await rigAsync(['consumers', 'redrive', 'dl', '3', '-C', s.dir], { env });
    assert.equal(redrive.code, 0, redrive.stderr);
    assert.match(redrive.stdout, /redriven: 3/);
    let again: ConsumedEvent | undefined;
    await consumeUntil(
      client,
      'dl',
      {},
      async (d) => {
        again = d;
        await d.ack();
      },
      () => again !== undefined,
    );
    assert.equal(again!.sequence, 3);
    assert.equal(again!.attempt, 1, 'a redrive starts a new count');
    await waitFor(async () => (await client.deadLetters('dl')).length === 0, 5000, 'the acked redrive to leave the dead letters');
    const none = await rigAsync(['consumers', 'drop', 'dl', '99', '-C', s.dir], { env });
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no dead letter at 99/);
  });

  test('an event not acked within ack_wait is redelivered; in_progress holds it', async () => {
    const s = await server();
    const client = clientOf(s);
    await addTasks(client, 2, 'slow', 1);
    const deliveries: { sequence: number; attempt: number; at: number }[] = [];
    const start = Date.now();
    await consumeUntil(
      client,
      'slow',
      { startSequence: 0, ackWaitMs: 300 },
      async (d) => {
        deliveries.push({ sequence: d.sequence, attempt: d.attempt, at: Date.now() - start });
        if (d.sequence === 1) return; // let the ack wait run out (a later attempt may be current by now)
        // Working for 3 ack waits, saying so: no redelivery meanwhile.
        for (let i = 0; i < 6; i++) {
          await new Promise((r) => setTimeout(r, 150));
          d.inProgress();
        }
        await d.ack();
      },
      () => deliveries.filter((d) => d.sequence === 2).length >= 1 && deliveries.some((d) => d.sequence === 1 && d.attempt === 2),
    );
    const ones = deliveries.filter((d) => d.sequence === 1);
    assert.deepEqual(
      ones.map((d) => d.attempt),
      [1, 2],
    );
    assert.ok(ones[1]!.at - ones[0]!.at >= 250, `redelivered after the ack wait, not before (${ones[1]!.at - ones[0]!.at} ms)`);
    assert.equal(deliveries.filter((d) => d.sequence === 2).length, 1, 'in_progress kept event 2 from being redelivered');
  });

  test('read-only tokens consume and list but cannot create, delete, reset or redrive', async () => {
    const s = await server(tempProject(), ['--token', 'rw-token-consumers', '--read-only-token', 'ro-token-consumers']);
    const writer = clientOf(s, 'rw-token-consumers');
    const reader = clientOf(s, 'ro-token-consumers');
    await writer.createConsumer({ name: 'shared', start_sequence: 0 });
    await addTasks(writer, 2);
    let got = 0;
    await consumeUntil(
      reader,
      'shared',
      { filter: false },
      async (d) => {
        got++;
        await d.ack();
      },
      () => got === 2,
    );
    assert.equal((await reader.listConsumers())[0]!.acked_sequence, 2);
    const denied = (error: { code?: number }) => error.code === grpc.status.PERMISSION_DENIED;
    await assert.rejects(reader.createConsumer({ name: 'other' }), denied);
    await assert.rejects(reader.deleteConsumer('shared'), denied);
    await assert.rejects(reader.resetConsumer('shared', 0), denied);
    await assert.rejects(reader.redriveDeadLetters('shared'), denied);
    await assert.rejects(reader.dropDeadLetters('shared'), denied);
    await assert.rejects(
      reader.consume('brand-new').next(),
      (error: { code?: number; details?: string }) => denied(error) && /read-only/.test(error.details ?? ''),
    );
  });

  test('reset --to moves the position back: the events after it are delivered again; delete ends the members', async () => {
    const s = await server();
    const client = clientOf(s);
    const env = { RIGGER_PORT: String(s.port) };
    await addTasks(client, 4);
    let count = 0;
    await consumeUntil(
      client,
      'replay',
      { startSequence: 0 },
      async (d) => {
        count++;
        await d.ack();
      },
      () => count === 4,
    );
    const reset = await rigAsync(['consumers', 'reset', 'replay', '--to', '2', '-C', s.dir, '--json'], { env });
    assert.equal(reset.code, 0, reset.stderr);
    assert.equal(JSON.parse(reset.stdout).acked_sequence, 2);
    const again: number[] = [];
    await consumeUntil(
      client,
      'replay',
      {},
      async (d) => {
        again.push(d.sequence);
        await d.ack();
      },
      () => again.length === 2,
    );
    assert.deepEqual(again, [3, 4]);
    const tooFar = await rigAsync(['consumers', 'reset', 'replay', '--to', '99', '-C', s.dir], { env });
    assert.match(tooFar.stderr, /ahead of the newest event \(4\)/);

    const member = client.consume('replay', {});
    const ended = member.next().then(
      () => undefined,
      (error: unknown) => error,
    );
    await waitFor(async () => (await client.getConsumer('replay')).members === 1, 5000, 'the member to join');
    const deleted = await rigAsync(['consumers', 'delete', 'replay', '-C', s.dir], { env });
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(((await ended) as { code?: number }).code, grpc.status.NOT_FOUND);
    assert.deepEqual(await client.listConsumers(), []);
  });
});
