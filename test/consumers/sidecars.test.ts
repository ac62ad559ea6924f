// The sidecars on durable consumers: two logger sidecars with one --consumer share the events
// (each written by one of them), and the one left carries on when the other is SIGKILLed; two NATS
// bridges on one --consumer put every event in JetStream once, one of them SIGKILLed on the way;
// the metrics sidecar shows each consumer's lag, in flight, members, redeliveries and dead letters.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { connect as connectNats } from 'nats';
import { requireTool, startServer, tempDir, tempProject, waitFor, type ServerProcess } from '../support/processes';
import { natsServerAt, readStream } from '../sidecars/nats-support';
import { metricsUrl, sample, scrape, startSidecar } from '../sidecars/sidecar-support';
import { addTasks, clientOf, closeClients, consumeUntil } from './consumer-support';

let server: ServerProcess | undefined;
after(async () => {
  await closeClients();
  await server?.stop('SIGKILL');
});

const sequencesIn = (file: string): number[] =>
  fs.existsSync(file)
    ? fs
        .readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => (JSON.parse(line) as { sequence: number }).sequence)
    : [];

test('two loggers on one --consumer share the events; SIGKILL one and the other gets the rest', { timeout: 90_000 }, async () => {
  server = await startServer(tempProject());
  const client = clientOf(server);
  const work = tempDir();
  const files = [path.join(work, 'a.jsonl'), path.join(work, 'b.jsonl')];
  const loggers = files.map((file) => startSidecar('logger', ['--address', server!.address, '--consumer', 'log-group', '--since', '0', '--file', file]));
  await waitFor(async () => (await client.getConsumer('log-group').catch(() => undefined))?.members === 2, 20_000, 'both loggers to join');
  await addTasks(client, 60, 'log', 4);
  await waitFor(() => sequencesIn(files[0]!).length + sequencesIn(files[1]!).length >= 60, 20_000, 'every event written');
  assert.ok(sequencesIn(files[0]!).length > 0 && sequencesIn(files[1]!).length > 0, 'both loggers wrote some events');

  loggers[0]!.child.kill('SIGKILL');
  await addTasks(client, 20, 'after', 4);
  await waitFor(async () => (await client.getConsumer('log-group')).acked_sequence === 80, 20_000, 'the remaining logger to ack the rest');
  const all = [...sequencesIn(files[0]!), ...sequencesIn(files[1]!)].sort((x, y) => x - y);
  assert.deepEqual(
    [...new Set(all)],
    Array.from({ length: 80 }, (_, i) => i + 1),
    'every event written, at least once',
  );
  await loggers[1]!.stop();
});

test('two NATS bridges on one --consumer: every event once in JetStream, one bridge SIGKILLed on the way', { timeout: 90_000 }, async (t) => {
  const binary = requireTool(t, 'nats-server', 'apt-get install nats-server');
  if (!binary) return;
  const nats = await natsServerAt(binary);
  await nats.start();
  const nc = await connectNats({ servers: nats.url });
  try {
    server ??= await startServer(tempProject());
    const client = clientOf(server);
    const head = (await client.listTasks({})).total_count ?? 0;
    const args = ['--address', server.address, '--nats', nats.url, '--consumer', 'to-nats', '--since', '0'];
    const bridges = [startSidecar('nats-bridge', args), startSidecar('nats-bridge', args)];
    await waitFor(async () => (await client.getConsumer('to-nats').catch(() => undefined))?.members === 2, 20_000, 'both bridges to join');
    const events = (await client.getConsumer('to-nats')).head_sequence!;
    await addTasks(client, 30, 'nats', 4);
    bridges[0]!.child.kill('SIGKILL');
    await addTasks(client, 30, 'nats-after', 4);
    const total = events + 60;
    await waitFor(async () => (await client.getConsumer('to-nats')).acked_sequence === total, 30_000, 'every event acked by the bridges');
    const stored = (await readStream(nc, 'RIGGER_TASKS')).map((e) => e.sequence).sort((x, y) => x - y);
    assert.deepEqual(
      stored,
      Array.from({ length: total }, (_, i) => i + 1),
      `each of the ${total} events once in JetStream (head was ${head} tasks)`,
    );
    await bridges[1]!.stop();
  } finally {
    await nc.close();
    await nats.stop();
  }
});

test('--consumer and --checkpoint together are refused in one line', async () => {
  const logger = startSidecar('logger', ['--address', '127.0.0.1:1', '--consumer', 'x', '--checkpoint', '/tmp/nope']);
  assert.equal(await new Promise((r) => logger.child.once('exit', r)), 1);
  assert.match(logger.stderr(), /--consumer and --checkpoint are two ways to keep the position; give one of them/);
});

test("the metrics sidecar exposes each consumer's lag, in flight, members, redeliveries and dead letters", { timeout: 60_000 }, async () => {
  server ??= await startServer(tempProject());
  const client = clientOf(server);
  await client.createConsumer({ name: 'idle', start_sequence: 0 });
  await addTasks(client, 3, 'metrics', 1);
  const poison = (await client.listTasks({ limit: 1 })).tasks[0]!.id;
  let attempts = 0;
  await consumeUntil(
    client,
    'busy',
    { startSequence: 0, maxDeliver: 2 },
    async (d) => {
      if (d.event.task.id === poison) {
        attempts++;
        d.nak({ reason: 'no' });
      } else await d.ack();
    },
    () => attempts === 2,
  );
  const sidecar = startSidecar('metrics', ['--address', server.address, '--listen', '127.0.0.1:0', '--consumers-interval-ms', '200']);
  try {
    const url = await metricsUrl(sidecar);
    const head = (await client.getConsumer('idle')).head_sequence!;
    await waitFor(async () => sample(await scrape(url), 'rigger_consumer_lag{consumer="idle"}') === head, 10_000, "the idle consumer's lag");
    const text = await scrape(url);
    assert.equal(sample(text, 'rigger_consumers_up'), 1);
    assert.equal(sample(text, 'rigger_consumer_in_flight{consumer="idle"}'), 0);
    assert.equal(sample(text, 'rigger_consumer_dead_letters{consumer="busy"}'), 1);
    assert.ok((sample(text, 'rigger_consumer_redeliveries{consumer="busy"}') ?? 0) >= 1);
    assert.equal(sample(text, 'rigger_consumer_lost{consumer="busy"}'), 0);
    assert.equal(sample(text, 'rigger_consumer_lag{consumer="busy"}'), 0);
  } finally {
    await sidecar.stop();
  }
});
