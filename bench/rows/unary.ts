// unary: AddTask and GetTask calls/s at a fixed concurrency, against a bare grpc-js server with the
// same service definition answering at once (the unary ceiling), in the same run; AddTask both with
// the default --durability full (every commit synced) and with --durability normal.
import type { BenchConfig } from '../config';
import { startRigServer, tempProject } from '../processes';
import { formatRate, rate, type Measurement } from '../report';
import { forkPeer, forkProducer } from '../workers';

interface LoadResult {
  calls: number;
  errors: number;
  elapsedMs: number;
  firstError?: string;
}

export async function unary(config: BenchConfig, log: (line: string) => void): Promise<Measurement[]> {
  const server = await startRigServer(tempProject());
  const normalServer = await startRigServer(tempProject(), ['--durability', 'normal']);
  const producer = forkProducer();
  const echo = forkPeer('grpc-echo');
  const measurements: Measurement[] = [];
  try {
    const { address: echoAddress } = await echo.call<{ address: string }>('listen');
    const taskIds = await producer.call<string[]>('createTasks', { address: server.address, count: 100 });
    const run = async (address: string, method: 'AddTask' | 'GetTask'): Promise<number> => {
      const result = await producer.call<LoadResult>('timedLoad', {
        address, method, concurrency: config.unaryConcurrency, taskIds, durationMs: config.unaryMs, warmupMs: config.warmupMs,
      });
      if (result.errors > 0) throw new Error(`${method} failed ${result.errors} times: ${result.firstError}`);
      return rate(result.calls, result.elapsedMs);
    };
    for (const [method, target] of [['AddTask', 0.6], ['GetTask', 0.8]] as const) {
      const hubRate = await run(server.address, method);
      const echoRate = await run(echoAddress, method);
      const ratio = echoRate > 0 ? hubRate / echoRate : null;
      log(`unary ${method}: hub ${formatRate(hubRate)}, echo ${formatRate(echoRate)}`);
      measurements.push({
        row: 'unary',
        case: `${method} c=${config.unaryConcurrency}`,
        rigger: formatRate(hubRate),
        peer: `echo ${formatRate(echoRate)}`,
        ratio,
        target: `>= ${target}x echo`,
        met: ratio === null ? null : ratio >= target,
        values: { method, concurrency: config.unaryConcurrency, calls_per_s: hubRate, echo_calls_per_s: echoRate, ...(method === 'AddTask' && { durability: 'full' }) },
      });
    }
    // The same AddTask load against a server with --durability normal (synchronous=NORMAL), and the echo peer again beside it.
    const normalRate = await run(normalServer.address, 'AddTask');
    const echoRate = await run(echoAddress, 'AddTask');
    const ratio = echoRate > 0 ? normalRate / echoRate : null;
    const fullRate = measurements.find((m) => m.values['method'] === 'AddTask')?.values['calls_per_s'] as number | undefined;
    log(`unary AddTask --durability normal: hub ${formatRate(normalRate)}, echo ${formatRate(echoRate)}${fullRate ? `; full / normal ${(fullRate / normalRate).toFixed(2)}` : ''}`);
    measurements.push({
      row: 'unary',
      case: `AddTask c=${config.unaryConcurrency} --durability normal`,
      rigger: formatRate(normalRate),
      peer: `echo ${formatRate(echoRate)}`,
      ratio,
      target: '>= 0.6x echo',
      met: ratio === null ? null : ratio >= 0.6,
      values: { method: 'AddTask', concurrency: config.unaryConcurrency, calls_per_s: normalRate, echo_calls_per_s: echoRate, durability: 'normal' },
    });
  } finally {
    await Promise.all([producer.kill(), echo.kill()]);
    await Promise.all([server.stop(), normalServer.stop()]);
  }
  return measurements;
}
