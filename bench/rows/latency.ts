// latency: commit -> receipt at a steady rate with many subscribers, for the hub and, in the same
// run with the same producer and subscriber processes, a bare grpc-js relay (no store) that stamps
// and fans out each AddTask the same way. The event's `timestamp` is the wall-clock time its
// transaction took (ms precision, truncated); the client process subtracts it from its own wall
// clock at receipt (performance.timeOrigin + performance.now(), sub-ms). Both processes read the
// same CLOCK_REALTIME of this machine, so there is no clock skew to correct; the truncation makes
// every figure up to 1 ms pessimistic. JetStream is measured the same way beside them: 100 ordered
// push consumers of a file-storage stream, each message's latency from its store time on the server.
import type { BenchConfig } from '../config';
import { cpuShares, formatShares, startRigServer, tempProject } from '../processes';
import { formatMs, type Measurement } from '../report';
import { sleep } from '../stats';
import type { WorkerHandle } from '../ipc';
import { forkClient, forkPeer, forkPeerClient, forkProducer, type WindowResult } from '../workers';
import { isAbsent, PEER_SYNC, startPeerServers, stopPeerServers } from '../peers/peer-servers';

interface Percentiles {
  p50: number;
  p99: number;
  max: number;
  n: number;
}

interface LatencyRun {
  warmup: Percentiles;
  measured: Percentiles;
  complete: boolean;
  expected: number;
  received: number;
  achievedRate: number;
  errors: number;
  shares: Record<string, number>;
}

const DRAIN_TIMEOUT_MS = 20_000;

/**
 * Warm-up at the rate, then the measured load. A fresh server falls behind while V8 compiles its
 * hot paths and its heap grows; the warm-up's receipts are all waited for (and reported apart), so
 * its backlog is not counted as the measured load's latency.
 */
async function measure(config: BenchConfig, address: string, serverPid: number, client: WorkerHandle, producer: WorkerHandle): Promise<LatencyRun> {
  const subscribers = config.latencySubscribers;
  // The samples are kept for one phase at a time (reset between them): room for the longer one.
  const expectedEvents = Math.round((config.latencyRate * Math.max(config.latencyWarmupMs, config.latencyMs)) / 1000);
  await client.call('subscribe', { kind: 'hub', address, streams: subscribers, latency: true, maxSamples: (expectedEvents + 1000) * subscribers });
  const steadyLoad = (durationMs: number) =>
    producer.call<{ calls: number; errors: number; elapsedMs: number }>('steadyLoad', { address, rate: config.latencyRate, durationMs }, durationMs + 60_000);
  const warmupLoad = await steadyLoad(config.latencyWarmupMs);
  await client.call('waitForCount', { total: warmupLoad.calls * subscribers, timeoutMs: DRAIN_TIMEOUT_MS, partial: true }, DRAIN_TIMEOUT_MS + 10_000);
  const warmup = await client.call<Percentiles>('latency');
  await sleep(100);
  await client.call('reset');
  const { result: load, shares } = await cpuShares({ server: serverPid, subscribers: client.pid, producer: producer.pid }, () => steadyLoad(config.latencyMs));
  // A machine that cannot sustain the rate leaves a backlog: wait a bounded time, then report the shortfall.
  const expected = load.calls * subscribers;
  const delivered = await client.call<WindowResult>('waitForCount', { total: expected, timeoutMs: DRAIN_TIMEOUT_MS, partial: true }, DRAIN_TIMEOUT_MS + 10_000);
  const measured = await client.call<Percentiles>('latency');
  await client.call('close');
  return {
    warmup,
    measured,
    complete: delivered.complete === true,
    expected,
    received: delivered.count,
    achievedRate: (load.calls * 1000) / load.elapsedMs,
    errors: warmupLoad.errors + load.errors,
    shares,
  };
}

const percentilesText = (p: Percentiles) => `p50 ${formatMs(p.p50)} / p99 ${formatMs(p.p99)} / max ${formatMs(p.max)} ms`;
const shortfall = (run: LatencyRun) =>
  run.complete ? '' : `${run.received} of ${run.expected} receipts within ${DRAIN_TIMEOUT_MS / 1000} s of the last commit, percentiles are over those only`;

/** The bare relay writing through `writer`, in a process of its own, measured like the hub. */
async function measureRelay(config: BenchConfig, writer: 'grpc-js' | 'packed', client: WorkerHandle, producer: WorkerHandle): Promise<LatencyRun> {
  const relay = forkPeer('grpc-relay');
  try {
    const { address } = await relay.call<{ address: string }>('listen', { writer });
    return await measure(config, address, relay.pid, client, producer);
  } finally {
    await relay.kill();
  }
}

/**
 * JetStream: a publisher process at the same steady rate (js.publish, each issued on schedule) into a
 * file-storage stream, and `latencySubscribers` ordered push consumers on one connection in another;
 * the same warm-up and window as the hub. A string: why it was left out.
 */
async function measureJetStream(config: BenchConfig): Promise<LatencyRun | string> {
  const [server] = await startPeerServers(['jetstream']);
  if (isAbsent(server!)) return server.absent;
  const publisher = forkPeerClient();
  const subscriber = forkPeerClient();
  try {
    const address = server!.address;
    const subject = 'bench.latency';
    const subscribers = config.latencySubscribers;
    await publisher.call('createStream', { address, name: 'BENCH_LATENCY', subject });
    const expectedEvents = Math.round((config.latencyRate * Math.max(config.latencyWarmupMs, config.latencyMs)) / 1000);
    await subscriber.call('subscribeOrdered', { address, subject, subscribers, maxSamples: (expectedEvents + 1000) * subscribers });
    const steadyLoad = (durationMs: number) =>
      publisher.call<{ calls: number; errors: number; elapsedMs: number }>(
        'steadyPublish',
        {
          address,
          subject,
          rate: config.latencyRate,
          durationMs,
          payloadBytes: config.peerPayloadBytes,
        },
        durationMs + 60_000,
      );
    const warmupLoad = await steadyLoad(config.latencyWarmupMs);
    await subscriber.call('waitForCount', { total: warmupLoad.calls * subscribers, timeoutMs: DRAIN_TIMEOUT_MS }, DRAIN_TIMEOUT_MS + 10_000);
    const warmup = await subscriber.call<Percentiles>('latency');
    await sleep(100);
    await subscriber.call('reset');
    const { result: load, shares } = await cpuShares({ server: server!.pid, subscribers: subscriber.pid, producer: publisher.pid }, () =>
      steadyLoad(config.latencyMs),
    );
    const expected = load.calls * subscribers;
    const delivered = await subscriber.call<{ count: number; complete: boolean }>(
      'waitForCount',
      { total: expected, timeoutMs: DRAIN_TIMEOUT_MS },
      DRAIN_TIMEOUT_MS + 10_000,
    );
    const measured = await subscriber.call<Percentiles>('latency');
    await subscriber.call('closeSubscribers');
    return {
      warmup,
      measured,
      complete: delivered.complete,
      expected,
      received: delivered.count,
      achievedRate: (load.calls * 1000) / load.elapsedMs,
      errors: warmupLoad.errors + load.errors,
      shares,
    };
  } finally {
    await Promise.all([publisher.kill(), subscriber.kill()]);
    await stopPeerServers([server!]);
  }
}

/** The JetStream line beside the hub's: ratio = hub p99 / JetStream p99. */
function jetStreamLine(config: BenchConfig, hub: LatencyRun, jetStream: LatencyRun | string): Measurement {
  const subscribers = config.latencySubscribers;
  const absent = typeof jetStream === 'string';
  return {
    row: 'latency commit->receipt',
    case: `${config.latencyRate}/s x ${subscribers} subs / JetStream, ${subscribers} ordered push consumers, file storage`,
    rigger: percentilesText(hub.measured),
    peer: absent ? 'JetStream: NOT INSTALLED' : percentilesText(jetStream.measured),
    ratio: absent ? null : hub.measured.p99 / jetStream.measured.p99,
    target: '',
    met: null,
    values: absent
      ? { p99_ms: hub.measured.p99, jetstream_p99_ms: null }
      : {
          p50_ms: hub.measured.p50,
          p99_ms: hub.measured.p99,
          jetstream_p50_ms: jetStream.measured.p50,
          jetstream_p99_ms: jetStream.measured.p99,
          jetstream_max_ms: jetStream.measured.max,
          jetstream_receipts: jetStream.measured.n,
          jetstream_expected_receipts: jetStream.expected,
          jetstream_complete: jetStream.complete ? 1 : 0,
          jetstream_achieved_rate: jetStream.achievedRate,
          jetstream_errors: jetStream.errors,
          jetstream_warmup_p99_ms: jetStream.warmup.p99,
          jetstream_cpu_share_server: jetStream.shares.server!,
          jetstream_cpu_share_subscribers: jetStream.shares.subscribers!,
          jetstream_cpu_share_producer: jetStream.shares.producer!,
        },
    note: absent
      ? `LEFT OUT: ${jetStream}`
      : [
          shortfall(jetStream) && `JetStream incomplete: ${shortfall(jetStream)}`,
          `what the publish ack has synced: ${PEER_SYNC.jetstream}`,
          `ratio = hub p99 / JetStream p99; a publisher process at ${config.latencyRate}/s (js.publish, ${config.peerPayloadBytes}-byte payloads, issued on schedule) and ${subscribers} ordered push consumers on one connection in another`,
          "latency = receipt wall clock - the message's store time on the server (ns; the hub's timestamp is ms-truncated, up to 1 ms pessimistic)",
          `warm-up: ${percentilesText(jetStream.warmup)}; achieved ${Math.round(jetStream.achievedRate)} msgs/s; CPU during the load: ${formatShares(jetStream.shares)}`,
        ]
          .filter(Boolean)
          .join('; '),
  };
}

export async function latency(config: BenchConfig, log: (line: string) => void): Promise<Measurement[]> {
  const client = forkClient();
  const producer = forkProducer();
  try {
    const server = await startRigServer(tempProject());
    let hub: LatencyRun;
    try {
      hub = await measure(config, server.address, server.pid, client, producer);
    } finally {
      await server.stop();
    }
    log(`latency hub: ${percentilesText(hub.measured)} over ${hub.measured.n} receipts (warm-up: ${percentilesText(hub.warmup)})`);
    const bare = await measureRelay(config, 'grpc-js', client, producer);
    log(`latency bare grpc-js relay: ${percentilesText(bare.measured)}`);
    const packed = await measureRelay(config, 'packed', client, producer);
    log(`latency bare relay with the hub's writer: ${percentilesText(packed.measured)}`);
    const jetStream = await measureJetStream(config);
    log(
      typeof jetStream === 'string'
        ? `latency JetStream LEFT OUT: ${jetStream}`
        : `latency JetStream ordered consumers: ${percentilesText(jetStream.measured)}`,
    );
    const subscribers = config.latencySubscribers;
    const peerValues = (prefix: string, run: LatencyRun) => ({
      [`${prefix}_p50_ms`]: run.measured.p50,
      [`${prefix}_p99_ms`]: run.measured.p99,
      [`${prefix}_max_ms`]: run.measured.max,
      [`${prefix}_receipts`]: run.measured.n,
      [`${prefix}_achieved_rate`]: run.achievedRate,
      [`${prefix}_errors`]: run.errors,
      [`${prefix}_complete`]: run.complete ? 1 : 0,
      [`${prefix}_cpu_share_server`]: run.shares.server!,
      [`${prefix}_cpu_share_subscribers`]: run.shares.subscribers!,
      [`${prefix}_cpu_share_producer`]: run.shares.producer!,
    });
    return [
      {
        row: 'latency commit->receipt',
        case: `${config.latencyRate}/s x ${subscribers} subs`,
        rigger: percentilesText(hub.measured),
        peer: `relay, hub's writer: p99 ${formatMs(packed.measured.p99)} ms; grpc-js writes: p99 ${formatMs(bare.measured.p99)} ms`,
        ratio: hub.measured.p99 / packed.measured.p99,
        target: 'p99 < 10 ms',
        met: hub.complete && hub.errors === 0 && hub.measured.p99 < 10,
        values: {
          p50_ms: hub.measured.p50,
          p99_ms: hub.measured.p99,
          max_ms: hub.measured.max,
          receipts: hub.measured.n,
          warmup_p50_ms: hub.warmup.p50,
          warmup_p99_ms: hub.warmup.p99,
          warmup_max_ms: hub.warmup.max,
          subscribers,
          target_rate: config.latencyRate,
          achieved_rate: hub.achievedRate,
          errors: hub.errors,
          expected_receipts: hub.expected,
          complete: hub.complete ? 1 : 0,
          cpu_share_server: hub.shares.server!,
          cpu_share_subscribers: hub.shares.subscribers!,
          cpu_share_producer: hub.shares.producer!,
          ...peerValues('relay_packed', packed),
          ...peerValues('relay_grpcjs', bare),
        },
        note: [
          shortfall(hub) && `hub INCOMPLETE: ${shortfall(hub)}`,
          shortfall(packed) && `relay (hub's writer) incomplete: ${shortfall(packed)}`,
          shortfall(bare) && `relay (grpc-js writes) incomplete: ${shortfall(bare)}`,
          "peers: a bare grpc-js relay (no store) that stamps and fans out each AddTask, writing through the hub's EventStreamWriter, and through grpc-js's own stream.write",
          `ratio = hub p99 / relay (hub's writer) p99`,
          `each measured ${config.latencyMs / 1000} s after a ${config.latencyWarmupMs / 1000} s warm-up at the same rate whose receipts were all awaited; the hub's warm-up: ${percentilesText(hub.warmup)}`,
          `relays: hub's writer ${percentilesText(packed.measured)}, grpc-js writes ${percentilesText(bare.measured)}`,
          `achieved ${Math.round(hub.achievedRate)} events/s`,
          `CPU during the load, hub: ${formatShares(hub.shares)}; relay (hub's writer): ${formatShares(packed.shares)}; relay (grpc-js writes): ${formatShares(bare.shares)}`,
          'commit timestamp (ms, truncated) vs receipt wall clock in the client process',
        ]
          .filter(Boolean)
          .join('; '),
      },
      jetStreamLine(config, hub, jetStream),
    ];
  } finally {
    await Promise.all([client.kill(), producer.kill()]);
  }
}
