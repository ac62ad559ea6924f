// fan-out: events/s delivered in total to S live subscribers on one connection, with events made
// by AddTask through the store at full speed (pipelined over one WriteTasks stream, so the rate is
// the hub's, not one client's unary round trips); the bare grpc-js ceiling and NATS in the same run.
import fs from 'node:fs';
import type { BenchConfig } from '../config';
import { formatRate, rate, type Measurement } from '../report';
import { cpuShares, databaseFile, formatShares, startNatsServer, startRigServer, tempProject } from '../processes';
import { sleep } from '../stats';
import { forkClient, forkPeer, forkProducer, type WindowResult } from '../workers';

export interface FanOutResult {
  measurements: Measurement[];
  /** Encoded size of the hub's events, bytes (the peers send this size). */
  eventBytes: number;
  /** AddTask calls/s the producer achieved with one subscriber. */
  addTaskRate: number;
  /** The ceiling's rate per subscriber count. */
  ceilingRates: Map<number, number>;
  dbFile: string;
}

export async function fanOut(config: BenchConfig, log: (line: string) => void): Promise<FanOutResult> {
  const project = tempProject();
  const nodeArgs: string[] = [];
  if (config.profileDir) {
    fs.mkdirSync(config.profileDir, { recursive: true });
    nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${config.profileDir}`);
  }
  const server = await startRigServer(project, [], nodeArgs);
  const client = forkClient();
  const producer = forkProducer();
  const ceiling = forkPeer('grpc-ceiling');
  const nats = await startNatsServer();
  const measurements: Measurement[] = [];
  const ceilingRates = new Map<number, number>();
  let eventBytes = 0;
  let addTaskRate = 0;
  try {
    const { address: ceilingAddress } = await ceiling.call<{ address: string }>('listen');
    for (const subscribers of config.fanOutSubscribers) {
      // The hub: AddTask at full speed from the producer process, S live subscribers in the client process.
      await client.call('subscribe', { kind: 'hub', address: server.address, streams: subscribers });
      await producer.call('startLoad', { address: server.address, method: 'WriteTasks', concurrency: config.producerInFlight });
      await sleep(config.warmupMs);
      const calls0 = (await producer.call<{ calls: number }>('loadCalls')).calls;
      const { result: hub, shares } = await cpuShares({ server: server.pid, subscribers: client.pid, producer: producer.pid }, () =>
        client.call<WindowResult>('window', { ms: config.windowMs }),
      );
      const calls1 = (await producer.call<{ calls: number }>('loadCalls')).calls;
      const load = await producer.call<{ errors: number; firstError?: string }>('stopLoad');
      await client.call('close');
      if (load.errors > 0) throw new Error(`AddTask failed ${load.errors} times: ${load.firstError}`);
      const hubRate = rate(hub.count, hub.elapsedMs);
      const producedRate = rate(calls1 - calls0, hub.elapsedMs);
      if (subscribers === config.fanOutSubscribers[0]) addTaskRate = producedRate;
      eventBytes = hub.count > 0 ? Math.round(hub.bytes / hub.count) : eventBytes || 200;
      log(`fan-out S=${subscribers}: hub ${formatRate(hubRate)} (${formatRate(producedRate)} AddTask, ${eventBytes} B/event)`);

      // The ceiling: same S, same connection layout, pre-encoded buffers of the same size.
      await client.call('subscribe', { kind: 'ceiling', address: ceilingAddress, streams: subscribers });
      await ceiling.call('start', { size: eventBytes });
      await sleep(config.warmupMs);
      const bare = await client.call<WindowResult>('window', { ms: config.windowMs });
      await ceiling.call('stop');
      await client.call('close');
      const ceilingRate = rate(bare.count, bare.elapsedMs);
      ceilingRates.set(subscribers, ceilingRate);
      log(`fan-out S=${subscribers}: grpc-js ceiling ${formatRate(ceilingRate)}`);

      // NATS core pub/sub: one publisher process, S subscriptions on one connection.
      let natsRate: number | null = null;
      if (nats) {
        const subject = `bench.fanout.${subscribers}`;
        await client.call('subscribeNats', { url: nats.url, subject, subscriptions: subscribers });
        await producer.call('natsStartPublishing', { url: nats.url, subject, size: eventBytes });
        await sleep(config.warmupMs);
        const viaNats = await client.call<WindowResult>('window', { ms: config.windowMs });
        await producer.call('natsStopPublishing');
        await client.call('close');
        natsRate = rate(viaNats.count, viaNats.elapsedMs);
        log(`fan-out S=${subscribers}: NATS ${formatRate(natsRate)}`);
      }

      const ratio = ceilingRate > 0 ? hubRate / ceilingRate : null;
      const isTargetRow = subscribers === 100;
      measurements.push({
        row: 'fan-out (live, AddTask)',
        case: `S=${subscribers}`,
        rigger: formatRate(hubRate),
        peer: `ceiling ${formatRate(ceilingRate)}${natsRate === null ? '; NATS not installed' : `; NATS ${formatRate(natsRate)}`}`,
        ratio,
        target: isTargetRow ? '>= 0.85x ceiling' : '',
        met: isTargetRow && ratio !== null ? ratio >= 0.85 : null,
        values: {
          subscribers,
          hub_events_per_s: hubRate,
          addtask_calls_per_s: producedRate,
          hub_delivered_per_produced_x_s: producedRate > 0 ? hubRate / (producedRate * subscribers) : null,
          ceiling_events_per_s: ceilingRate,
          nats_events_per_s: natsRate,
          hub_over_nats: natsRate ? hubRate / natsRate : null,
          event_bytes: eventBytes,
          producer_in_flight: config.producerInFlight,
          window_ms: hub.elapsedMs,
          cpu_share_server: shares.server!,
          cpu_share_subscribers: shares.subscribers!,
          cpu_share_producer: shares.producer!,
        },
        note:
          (hubRate >= 0.9 * producedRate * subscribers
            ? `bounded by production: ${formatRate(producedRate)} AddTask x ${subscribers} = ${formatRate(producedRate * subscribers)} offered, all delivered`
            : `server-bound: ${formatRate(producedRate)} AddTask x ${subscribers} = ${formatRate(producedRate * subscribers)} offered, ${Math.round((100 * hubRate) / (producedRate * subscribers))}% delivered in the window (commits and stream writes share the server's core)`) +
          `; CPU in the window: ${formatShares(shares)}`,
      });
    }
  } finally {
    await Promise.all([client.kill(), producer.kill(), ceiling.kill(), nats?.stop()]);
    await server.stop();
  }
  return { measurements, eventBytes, addTaskRate, ceilingRates, dbFile: databaseFile(project) };
}
