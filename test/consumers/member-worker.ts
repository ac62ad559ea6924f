// One member of a consumer group, as its own process (the group tests kill -9 it): consumes with
// the typed client, "handles" each event for a moment, acks it, and appends one JSON line per step
// to its log: got (sequence, task, attempt, delivery id), ack (written just before the ack is
// sent), ok (the server confirmed the ack durable), lost (its stream was lost: what it held is
// let go). Times are wall-clock ms with sub-ms precision, comparable across processes.
// Usage: node member-worker.js <address> <consumer> <log file> <max handling ms>
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { RiggerClient } from '../../src/client/index';

const [address, name, logFile, maxMs] = process.argv.slice(2) as [string, string, string, string];
const fd = fs.openSync(logFile, 'a');
const now = () => performance.timeOrigin + performance.now();
const log = (entry: object) => fs.writeSync(fd, `${JSON.stringify({ ...entry, at: now() })}\n`);

async function main(): Promise<void> {
  const client = new RiggerClient({ address });
  const handling = Number(maxMs);
  const options = {
    startSequence: 0,
    maxInFlight: 300,
    backoff: { initialDelayMs: 50, maxDelayMs: 300, maxAttempts: 1000 },
    onStatus: (status: { state: string }) => {
      if (status.state === 'disconnected') log({ k: 'lost' });
    },
  };
  for await (const delivery of client.consume(name, options)) {
    const d = delivery.deliveryId;
    log({ k: 'got', s: delivery.sequence, t: delivery.event.task.id, a: delivery.attempt, d });
    if (handling > 0) await new Promise((resolve) => setTimeout(resolve, Math.random() * handling));
    log({ k: 'ack', s: delivery.sequence, d });
    const sequence = delivery.sequence;
    delivery.ack().then(
      () => log({ k: 'ok', s: sequence, d }),
      () => {},
    );
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`member failed: ${String(error)}\n`);
  process.exit(1);
});
