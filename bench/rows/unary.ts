// unary: AddTask and GetTask calls/s at a fixed concurrency, against a bare grpc-js server with the
// same service definition answering at once (the unary ceiling), in the same run; AddTask both with
// the default --durability full (every commit synced) and with --durability normal; then AddTask
// FULL against the durable writes of JetStream, Redis and etcd (bench/peers/write-peers.ts).
import type { BenchConfig } from '../config';
import { startRigServer, tempProject } from '../processes';
import { formatRate, rate, type Measurement } from '../report';
import { forkPeer, forkProducer } from '../workers';
import { measureWritePeers, versusWritePeers } from '../peers/write-peers';

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
    const cases = [
      { method: 'AddTask', address: server.address, target: 0.6, durability: 'full' },
      { method: 'GetTask', address: server.address, target: 0.8, durability: undefined },
      // The same AddTask load against a server with --durability normal (synchronous=NORMAL), the echo peer again beside it.
      { method: 'AddTask', address: normalServer.address, target: 0.6, durability: 'normal' },
    ] as const;
    let addTaskFullRate = 0;
    for (const { method, address, target, durability } of cases) {
      const hubRate = await run(address, method);
      if (method === 'AddTask' && durability === 'full') addTaskFullRate = hubRate;
      const echoRate = await run(echoAddress, method);
      const ratio = echoRate > 0 ? hubRate / echoRate : null;
      const name = `${method} c=${config.unaryConcurrency}${durability === 'normal' ? ' --durability normal' : ''}`;
      log(`unary ${name}: hub ${formatRate(hubRate)}, echo ${formatRate(echoRate)}`);
      measurements.push({
        row: 'unary',
        case: name,
        rigger: formatRate(hubRate),
        peer: `echo ${formatRate(echoRate)}`,
        ratio,
        target: `>= ${target}x echo`,
        met: ratio === null ? null : ratio >= target,
        values: { method, concurrency: config.unaryConcurrency, calls_per_s: hubRate, echo_calls_per_s: echoRate, ...(durability && { durability }) },
      });
    }
    // The peers' rates are kept apart so another Rigger case can be compared against the same figures.
    const peerRates = await measureWritePeers(config, log);
    measurements.push(...versusWritePeers(config, `AddTask FULL c=${config.unaryConcurrency}`, addTaskFullRate, peerRates));
  } finally {
    await Promise.all([producer.kill(), echo.kill()]);
    await Promise.all([server.stop(), normalServer.stop()]);
  }
  return measurements;
}
