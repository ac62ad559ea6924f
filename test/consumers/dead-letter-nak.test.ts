// nak({ deadLetter: true }) (ConsumerNak.dead_letter, JetStream's AckTerm): the event is a dead
// letter at once, with the member's reason and one attempt, on a consumer that would otherwise
// redeliver it forever (max_deliver 0); it is never delivered again, its task's next event follows,
// and a redrive delivers it once more.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { startServer, tempProject, waitFor, type ServerProcess } from '../support/processes';
import { clientOf, closeClients, consumeUntil } from './consumer-support';

let server: ServerProcess | undefined;
after(async () => {
  await closeClients();
  await server?.stop('SIGKILL');
});

test('a nak with deadLetter makes the event a dead letter now, with its reason, and the task moves on', { timeout: 60_000 }, async () => {
  server = await startServer(tempProject());
  const client = clientOf(server);
  const task = (await client.addTask({ title: 'poison' })).task!;
  await client.updateTask({ task_id: task.id!, assignee: 'Bob' });
  const seen: { sequence: number; attempt: number }[] = [];
  await consumeUntil(
    client,
    'terminator',
    { startSequence: 0, maxDeliver: 0, backoffMs: [10] },
    async (delivery) => {
      seen.push({ sequence: delivery.sequence, attempt: delivery.attempt });
      if (delivery.sequence === 1) delivery.nak({ deadLetter: true, reason: 'refused for good' });
      else await delivery.ack();
    },
    () => seen.some((d) => d.sequence === 3),
  );
  // The update is two events (UPDATED, ASSIGNED): 2 and 3.
  assert.deepEqual(
    seen,
    [1, 2, 3].map((sequence) => ({ sequence, attempt: 1 })),
    'the dead letter is not redelivered; the next events of its task follow',
  );

  const dead = await client.deadLetters('terminator');
  assert.equal(dead.length, 1);
  assert.equal(dead[0]!.sequence, 1);
  assert.equal(dead[0]!.attempts, 1);
  assert.equal(dead[0]!.reason, 'refused for good');
  await waitFor(async () => (await client.getConsumer('terminator')).acked_sequence === 3, 10_000, 'the position past the dead letter');

  // A redrive hands it out again, once; an ack then clears it.
  await client.redriveDeadLetters('terminator', [1]);
  const again: number[] = [];
  await consumeUntil(
    client,
    'terminator',
    { filter: false },
    async (delivery) => {
      again.push(delivery.sequence);
      await delivery.ack();
    },
    () => again.length === 1,
  );
  assert.deepEqual(again, [1]);
  await waitFor(async () => (await client.deadLetters('terminator')).length === 0, 10_000, 'the redriven dead letter to clear on its ack');
});
