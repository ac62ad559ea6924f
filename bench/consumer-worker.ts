// Durable consumer members, forked by the bench: M members (one typed client and channel each) on
// one consumer, acking every delivery at once; or one member timing each ack from ack() to the
// server's confirmation that it is on disk (acks_committed).
import { RiggerClient, type ConsumedEvent } from '../src/client/index';
import { serveCommands } from './ipc';
import { percentiles, wallClockMs } from './stats';

let clients: RiggerClient[] = [];
let iterators: AsyncIterableIterator<ConsumedEvent>[] = [];

async function stop(): Promise<void> {
  await Promise.all(iterators.map((it) => it.return?.()));
  await Promise.all(clients.map((c) => c.close()));
  iterators = [];
  clients = [];
}

serveCommands({
  /** Joins `members` members and acks everything until `total` deliveries; resolves with the elapsed time. */
  async group(args: { address: string; name: string; members: number; total: number; timeoutMs: number }) {
    let received = 0;
    const startedAt = wallClockMs();
    clients = Array.from(
      { length: args.members },
      () => new RiggerClient({ address: args.address, connect: { channelOptions: { 'grpc.use_local_subchannel_pool': 1 } } }),
    );
    iterators = clients.map((c) => c.consume(args.name, { startSequence: 0, maxInFlight: 2000 }));
    let finish: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (finish = resolve));
    const timer = setTimeout(finish, args.timeoutMs);
    await Promise.race([
      done,
      Promise.all(
        iterators.map(async (iterator) => {
          for await (const delivery of iterator) {
            void delivery.ack().catch(() => undefined);
            if (++received >= args.total) return finish();
          }
        }),
      ),
    ]);
    clearTimeout(timer);
    const elapsedMs = wallClockMs() - startedAt;
    await stop();
    return { received, elapsedMs };
  },

  /** One member: ack() to confirmation for each of `count` deliveries, one at a time. */
  async ackRoundTrip(args: { address: string; name: string; count: number }) {
    const client = new RiggerClient({ address: args.address });
    clients = [client];
    const samples = new Float64Array(args.count);
    let n = 0;
    const iterator = client.consume(args.name, { startSequence: 0 });
    iterators = [iterator];
    for await (const delivery of iterator) {
      const startedAt = wallClockMs();
      await delivery.ack();
      samples[n++] = wallClockMs() - startedAt;
      if (n >= args.count) break;
    }
    await stop();
    return percentiles(samples, n);
  },
});
