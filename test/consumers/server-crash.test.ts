// The server kill -9'd while a member acks as fast as it can. The guarantee (docs/consumers.md):
// an ack the server confirmed (acks_committed; the typed client's ack() resolved) is never
// delivered again; an ack sent but not yet confirmed rejects, and its event may be delivered
// again; nothing is lost. The member is
// the typed client, which reconnects and rejoins by itself when the server is back on its port.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { freePort, startServer, tempProject, type ServerProcess } from '../support/processes';
import { addTasks, clientOf, closeClients, whenAnswered } from './consumer-support';

const EVENTS = 3000;
const KILL_AFTER_ACKS = 1200;

let server: ServerProcess | undefined;
after(async () => {
  await closeClients();
  await server?.stop('SIGKILL');
});

test('server kill -9 during acks: no confirmed ack is redelivered, every event is acked in the end', { timeout: 120_000 }, async () => {
  const dir = tempProject();
  const port = await freePort();
  server = await startServer(dir, ['--port', String(port)]);
  await addTasks(clientOf(server), EVENTS, 'crash', 32);

  const member = clientOf(server);
  const sent = new Set<number>();
  const confirmed = new Set<number>();
  const confirmedBeforeKill = new Set<number>();
  const deliveredAfterKill: number[] = [];
  let killed = false;
  let restarting: Promise<void> | undefined;
  const iterator = member.consume('crash', { startSequence: 0, maxInFlight: 500, backoff: { initialDelayMs: 50, maxDelayMs: 300 } });
  const consuming = (async () => {
    for await (const delivery of iterator) {
      if (killed) deliveredAfterKill.push(delivery.sequence);
      const sequence = delivery.sequence;
      sent.add(sequence);
      delivery.ack().then(
        () => confirmed.add(sequence),
        () => {},
      );
      if (!killed && sent.size === KILL_AFTER_ACKS) {
        killed = true;
        server!.child.kill('SIGKILL');
        await new Promise((r) => server!.child.once('exit', r));
        for (const s of confirmed) confirmedBeforeKill.add(s);
        restarting = startServer(dir, ['--port', String(port)]).then((s) => void (server = s));
      }
    }
  })();
  // Done when the server has every event acked: an ack written just before the kill whose
  // confirmation was lost with the stream is never confirmed to the client (it rejects), and its
  // event is not delivered again either.
  const deadline = Date.now() + 90_000;
  let checker: ReturnType<typeof clientOf> | undefined;
  try {
    for (;;) {
      assert.ok(Date.now() < deadline, `the consumer did not reach the head within 90 s (${confirmed.size} of ${EVENTS} acks confirmed)`);
      await new Promise((r) => setTimeout(r, 100));
      if (!killed || !restarting) continue;
      await restarting;
      checker ??= clientOf(server!);
      const info = await whenAnswered(() => checker!.getConsumer('crash'));
      if (info.acked_sequence === EVENTS && info.pending === 0) break;
    }
  } finally {
    await iterator.return!();
    await consuming;
  }
  assert.ok(confirmedBeforeKill.size > 0 && confirmedBeforeKill.size < EVENTS, `${confirmedBeforeKill.size} acks were confirmed before the kill`);
  const redeliveredConfirmed = deliveredAfterKill.filter((s) => confirmedBeforeKill.has(s));
  assert.deepEqual(redeliveredConfirmed, [], 'events whose ack was confirmed before the kill were delivered again');
  const unconfirmedAtKill = KILL_AFTER_ACKS - confirmedBeforeKill.size;
  const info = await checker!.getConsumer('crash');
  assert.equal(info.acked_sequence, EVENTS, 'nothing lost: the consumer is at the head');
  assert.equal(info.pending, 0);
  process.stderr.write(
    `server crash: ${confirmedBeforeKill.size} acks confirmed and ${unconfirmedAtKill} unconfirmed at the kill; ${deliveredAfterKill.length} deliveries after it\n`,
  );
});
