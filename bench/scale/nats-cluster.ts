// Beyond one machine: events from the hub through the NATS bridge into an R3 stream on a 3-node
// JetStream cluster (loopback), read by the remote consumer recipe (a durable pull consumer,
// max_ack_pending 1); against the hub's own stream (one subscriber) in the same run. Two figures:
// the rate over prefilled events (hub -> consumer), and commit -> receipt at a steady AddTask rate.
import fs from 'node:fs';
import path from 'node:path';
import { RiggerClient } from '../../src/client/index';
import { consumeRemote } from '../../sidecars/nats-remote-consumer';
import { addStreamWhenReady, connectCluster, natsClusterAt } from '../../test/sidecars/nats-support';
import { spawnCollected, waitFor } from '../../test/support/processes';
import { writeEvents } from '../prefill';
import { BENCH_DIST, commandPath, databaseFile, startRigServer, tempProject } from '../processes';
import { formatMs, formatRate, rate, type Measurement } from '../report';
import { nearestRank, wallClockMs } from '../stats';
import { steadyCalls } from '../steady-load';
import type { ScaleConfig } from './scale-config';

export interface NatsClusterResult {
  events: number;
  /** Prefilled events from --since 0 to the remote consumer's last, per second. */
  clusterPerS: number;
  /** The bridge alone: from the consumer's start until the stream held every prefilled event. */
  bridgePerS: number;
  /** The same events read by one subscriber of the hub's own stream from sequence 0. */
  hubPerS: number;
  /** Commit -> receipt at each steady rate, through the cluster and on the hub's own stream. */
  latency: { rate: number; samples: number; cluster: { p50: number; p99: number }; hub: { p50: number; p99: number } }[];
}

const SIDECARS = path.join(BENCH_DIST, '..', 'sidecars');
const TIMEOUT_MS = 300_000;

/** undefined when nats-server is not installed (the part says so and measures nothing). */
export async function natsCluster(config: ScaleConfig, log: (line: string) => void): Promise<NatsClusterResult | undefined> {
  const binary = commandPath('nats-server');
  if (!binary) {
    log('nats cluster: nats-server is not installed (apt-get install nats-server); not measured');
    return undefined;
  }
  const total = config.natsEvents;
  const project = tempProject();
  writeEvents(databaseFile(project), total);
  const cluster = await natsClusterAt(binary, 3);
  await cluster.start();
  const admin = await connectCluster(cluster.urls);
  const server = await startRigServer(project);
  const hub = new RiggerClient({ address: server.address, actor: 'bench-nats' });
  const stop = new AbortController();
  const bridge = spawnCollected(
    process.execPath,
    [path.join(SIDECARS, 'nats-bridge.js'), '--address', server.address, '--nats', cluster.urls, '--project', 'bench', '--since', '0', '--replicas', '3'],
    {
      env: { ...process.env, RIGGER_LOG_LEVEL: 'warn' },
    },
  );
  try {
    await addStreamWhenReady(admin, { name: 'RIGGER_TASKS', subjects: ['rigger.*.*.*'], num_replicas: 3 }, 60_000);
    // Commit -> receipt of the steady writes (after the prefilled events): the event's timestamp is set in its committing transaction (ms), the same clock.
    let phaseAfter = total;
    const latencyOf = (sequence: number, timestamp: string | undefined) =>
      sequence > phaseAfter && timestamp ? Date.now() - Date.parse(timestamp) : undefined;
    let clusterLatency: number[] = [];
    let hubLatency: number[] = [];
    let received = 0;
    let firstAt = 0;
    let lastAt = 0;
    const reading = consumeRemote(
      { servers: cluster.urls.split(','), stream: 'RIGGER_TASKS', durable: 'bench', filter: 'rigger.bench.*.*', maxAckPending: 1, ackWaitMs: 10_000 },
      (event) => {
        if (received++ === 0) firstAt = wallClockMs();
        lastAt = wallClockMs();
        const ms =
          event.sequence > phaseAfter
            ? latencyOf(event.sequence, (JSON.parse(new TextDecoder().decode(event.data)) as { timestamp?: string }).timestamp)
            : undefined;
        if (ms !== undefined) clusterLatency.push(ms);
      },
      stop.signal,
    );
    reading.catch(() => undefined);
    // The bridge alone: when the stream holds every prefilled event.
    const jsm = await admin.jetstreamManager();
    let storedAt = 0;
    const bridgeStartedAt = wallClockMs();
    const storing = waitFor(
      async () => (await jsm.streams.info('RIGGER_TASKS')).state.messages >= total && (storedAt = wallClockMs()) > 0,
      TIMEOUT_MS,
      `${total} events in the stream`,
    );
    await waitFor(() => received >= total || bridge.child.exitCode !== null, TIMEOUT_MS, `${total} events through the cluster`);
    if (received < total) throw new Error(`the bridge exited: ${bridge.stderr().slice(-2000)}`);
    const clusterPerS = rate(total - 1, lastAt - firstAt);
    await storing;
    const bridgePerS = rate(total, storedAt - bridgeStartedAt);

    // The hub's own stream over the same events, then live, for the latency part.
    let hubReceived = 0;
    let hubFirstAt = 0;
    let hubLastAt = 0;
    const subscription = hub.subscribe({ sinceSequence: 0 }).subscribe({
      next: (event) => {
        if (hubReceived++ === 0) hubFirstAt = wallClockMs();
        hubLastAt = wallClockMs();
        const ms = latencyOf(event.sequence, event.timestamp);
        if (ms !== undefined) hubLatency.push(ms);
      },
    });
    await waitFor(() => hubReceived >= total, TIMEOUT_MS, `${total} events on the hub's stream`);
    const hubPerS = rate(total - 1, hubLastAt - hubFirstAt);
    log(
      `nats cluster: ${formatRate(clusterPerS)} hub -> R3 -> consumer (the bridge alone ${formatRate(bridgePerS)} into the stream), hub's own stream ${formatRate(hubPerS)}, over ${total} events`,
    );

    const latency: NatsClusterResult['latency'] = [];
    for (const steady of config.natsRates) {
      phaseAfter = (await hub.getLog()).newest_sequence ?? 0;
      clusterLatency = [];
      hubLatency = [];
      const load = await steadyCalls(steady, config.natsLatencyMs, () => hub.addTask({ title: 'bench nats latency' }));
      if (load.errors > 0) throw new Error(`${load.errors} AddTask calls failed: ${load.firstError}`);
      await waitFor(() => clusterLatency.length >= load.calls && hubLatency.length >= load.calls, 120_000, `${load.calls} steady writes received by both`);
      const [cluster, own] = [quantiles(clusterLatency), quantiles(hubLatency)];
      latency.push({ rate: steady, samples: load.calls, cluster, hub: own });
      log(
        `nats cluster: commit -> receipt at ${steady}/s: R3 consumer p50 ${cluster.p50} / p99 ${cluster.p99} ms, hub stream p50 ${own.p50} / p99 ${own.p99} ms`,
      );
    }
    subscription.unsubscribe();
    return { events: total, clusterPerS, bridgePerS, hubPerS, latency };
  } finally {
    stop.abort();
    bridge.child.kill('SIGTERM');
    await hub.close();
    await admin.close().catch(() => undefined);
    await server.stop();
    await cluster.stop();
    fs.rmSync(project, { recursive: true, force: true });
  }
}

function quantiles(values: number[]): { p50: number; p99: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: nearestRank(sorted, 0.5), p99: nearestRank(sorted, 0.99) };
}

/** Two lines of the scale table: the rate and the latency through the cluster, the hub's own stream as the peer. */
export function natsMeasurements(result: NatsClusterResult | undefined): Measurement[] {
  if (!result) return [];
  const pair = (q: { p50: number; p99: number }) => `p50 ${formatMs(q.p50)} / p99 ${formatMs(q.p99)} ms`;
  return [
    {
      row: 'scale: nats cluster',
      case: 'events/s hub -> bridge -> R3 stream -> remote consumer',
      rigger: formatRate(result.clusterPerS),
      peer: `hub's own stream: ${formatRate(result.hubPerS)}; the bridge alone into the stream: ${formatRate(result.bridgePerS)}`,
      ratio: result.hubPerS > 0 ? result.clusterPerS / result.hubPerS : null,
      target: '',
      met: null,
      values: { events: result.events, cluster_per_s: result.clusterPerS, bridge_per_s: result.bridgePerS, hub_per_s: result.hubPerS },
      note: `${result.events} prefilled events; the bridge from --since 0 (hub stream mode, one publish acknowledged at a time) into an R3 stream of a 3-node cluster on loopback; the recipe's durable pull consumer (max_ack_pending 1) in the bench process, reading while the bridge publishes; first event to last (the cluster's start and the consumer's creation not counted)`,
    },
    ...result.latency.map((l) => ({
      row: 'scale: nats cluster',
      case: `commit -> receipt at ${l.rate}/s through the R3 cluster`,
      rigger: pair(l.cluster),
      peer: `hub's own stream: ${pair(l.hub)}`,
      ratio: l.hub.p99 > 0 ? l.cluster.p99 / l.hub.p99 : null,
      target: '',
      met: null,
      values: { rate: l.rate, samples: l.samples, cluster_p50_ms: l.cluster.p50, cluster_p99_ms: l.cluster.p99, hub_p50_ms: l.hub.p50, hub_p99_ms: l.hub.p99 },
      note: "AddTask at a steady rate; from the event's timestamp (set in its committing transaction, ms resolution) to its receipt, the same clock; both readers in the bench process; a rate above the bridge's queues in the hub's log",
    })),
  ];
}
