// unary: AddTask and GetTask calls/s at a fixed concurrency, against a bare grpc-js server with the
// same service definition answering at once (the unary ceiling), in the same run.
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
  const producer = forkProducer();
  const echo = forkPeer('grpc-echo');
  const measurements: Measurement[] = [];
  try {
    const { address: echoAddress } = await echo.call<{ address: string }>('listen');
    const taskIds = await producer.call<string[]>('createTasks', { address: server.address, count: 100 });
    const run = async (address: string, method: 'AddTask' | 'GetTask') => {
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
        values: { method, concurrency: config.unaryConcurrency, calls_per_s: hubRate, echo_calls_per_s: echoRate },
      });
    }
  } finally {
    await Promise.all([producer.kill(), echo.kill()]);
    await server.stop();
  }
  return measurements;
}
