// latency: commit -> receipt at a steady rate with many subscribers. The event's `timestamp` is the
// wall-clock time its transaction took (ms precision, truncated); the client process subtracts it
// from its own wall clock at receipt (performance.timeOrigin + performance.now(), sub-ms). Both
// processes read the same CLOCK_REALTIME of this machine, so there is no clock skew to correct;
// the truncation makes every figure up to 1 ms pessimistic.
import type { BenchConfig } from '../config';
import { cpuShares, formatShares, startRigServer, tempProject } from '../processes';
import { formatMs, type Measurement } from '../report';
import { sleep } from '../stats';
import { forkClient, forkProducer, type WindowResult } from '../workers';

interface Percentiles {
  p50: number;
  p99: number;
  max: number;
  n: number;
}

export async function latency(config: BenchConfig, log: (line: string) => void): Promise<Measurement[]> {
  const server = await startRigServer(tempProject());
  const client = forkClient();
  const producer = forkProducer();
  try {
    const subscribers = config.latencySubscribers;
    const expectedEvents = Math.round((config.latencyRate * config.latencyMs) / 1000);
    await client.call('subscribe', {
      kind: 'hub', address: server.address, streams: subscribers, latency: true, maxSamples: (expectedEvents + 1000) * subscribers,
    });
    // Warm up at the same rate (not counted), then measure.
    await producer.call('steadyLoad', { address: server.address, rate: config.latencyRate, durationMs: config.warmupMs });
    await sleep(100);
    await client.call('reset');
    const { result: load, shares } = await cpuShares({ server: server.pid, subscribers: client.pid, producer: producer.pid }, () =>
      producer.call<{ calls: number; errors: number; elapsedMs: number }>('steadyLoad', {
        address: server.address, rate: config.latencyRate, durationMs: config.latencyMs,
      }, config.latencyMs + 60_000),
    );
    // A machine that cannot sustain the rate leaves a backlog: wait a bounded time, then report the shortfall.
    const expected = load.calls * subscribers;
    const delivered = await client.call<WindowResult>('waitForCount', { total: expected, timeoutMs: 20_000, partial: true }, 30_000);
    const stats = await client.call<Percentiles>('latency');
    await client.call('close');
    const achievedRate = (load.calls * 1000) / load.elapsedMs;
    const shortfall = delivered.complete ? '' : `INCOMPLETE: ${delivered.count} of ${expected} receipts within 20 s of the last commit, percentiles are over those only; `;
    log(`latency: p50 ${formatMs(stats.p50)} p99 ${formatMs(stats.p99)} max ${formatMs(stats.max)} ms over ${stats.n} receipts`);
    return [
      {
        row: 'latency commit->receipt',
        case: `${config.latencyRate}/s x ${subscribers} subs`,
        rigger: `p50 ${formatMs(stats.p50)} / p99 ${formatMs(stats.p99)} / max ${formatMs(stats.max)} ms`,
        peer: '',
        ratio: null,
        target: 'p99 < 10 ms',
        met: delivered.complete === true && stats.p99 < 10,
        values: {
          p50_ms: stats.p50, p99_ms: stats.p99, max_ms: stats.max, receipts: stats.n,
          subscribers, target_rate: config.latencyRate, achieved_rate: achievedRate, errors: load.errors,
          expected_receipts: expected, complete: delivered.complete === true ? 1 : 0,
          cpu_share_server: shares.server!, cpu_share_subscribers: shares.subscribers!, cpu_share_producer: shares.producer!,
        },
        note: `${shortfall}achieved ${Math.round(achievedRate)} events/s; CPU during the load: ${formatShares(shares)}; commit timestamp (ms, truncated) vs receipt wall clock in the client process`,
      },
    ];
  } finally {
    await Promise.all([client.kill(), producer.kill()]);
    await server.stop();
  }
}
