// unary: AddTask and GetTask calls/s at a fixed concurrency, against a bare grpc-js server with the
// same service definition answering at once (the unary ceiling), in the same run; AddTask both with
// the default --durability full (every commit synced) and with --durability normal; AddTask
// pipelined from one client over WriteTasks (FULL), beside the same echo ceiling; then AddTask FULL,
// unary and pipelined, against the durable writes of JetStream, Redis and etcd (bench/peers/write-peers.ts).
import type { BenchConfig } from '../config';
import type { LoadResult } from '../steady-load';
import { cpuShares, formatShares, startRigServer, tempProject } from '../processes';
import { formatRate, rate, type Measurement } from '../report';
import { forkPeer, forkProducer } from '../workers';
import { measureWritePeers, versusWritePeers } from '../peers/write-peers';

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
        address,
        method,
        concurrency: config.unaryConcurrency,
        taskIds,
        durationMs: config.unaryMs,
        warmupMs: config.warmupMs,
      });
      if (result.errors > 0) throw new Error(`${method} failed ${result.errors} times: ${result.firstError}`);
      return rate(result.calls, result.elapsedMs);
    };
    const cases = [
      { method: 'AddTask', address: server.address, target: 0.85, durability: 'full' },
      { method: 'GetTask', address: server.address, target: 0.8, durability: undefined },
      // The same AddTask load against a server with --durability normal (synchronous=NORMAL), the echo peer again beside it.
      { method: 'AddTask', address: normalServer.address, target: 0.6, durability: 'normal' },
    ] as const;
    let addTaskFullRate = 0;
    for (const { method, address, target, durability } of cases) {
      const serverPid = address === server.address ? server.pid : normalServer.pid;
      const { result: hubRate, shares } = await cpuShares({ server: serverPid, client: producer.pid }, () => run(address, method));
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
        values: {
          method,
          concurrency: config.unaryConcurrency,
          calls_per_s: hubRate,
          echo_calls_per_s: echoRate,
          ...(durability && { durability }),
          cpu_share_server: shares.server!,
          cpu_share_client: shares.client!,
        },
        note: `CPU during the load (warm-up included): ${formatShares(shares)}`,
      });
    }
    // One client, many writes in flight on one WriteTasks stream (FULL): no unary round trip per write.
    const pipelinedRates = new Map<number, number>();
    for (const inFlight of [64, 256]) {
      const { result, shares } = await cpuShares({ server: server.pid, client: producer.pid }, () =>
        producer.call<LoadResult>('pipelinedLoad', { address: server.address, inFlight, durationMs: config.unaryMs, warmupMs: config.warmupMs }),
      );
      if (result.errors > 0) throw new Error(`pipelined AddTask failed ${result.errors} times: ${result.firstError}`);
      const hubRate = rate(result.calls, result.elapsedMs);
      pipelinedRates.set(inFlight, hubRate);
      const echoRate = await run(echoAddress, 'AddTask');
      const name = `AddTask pipelined, one client, ${inFlight} in flight`;
      log(`unary ${name}: hub ${formatRate(hubRate)}, echo c=${config.unaryConcurrency} ${formatRate(echoRate)}`);
      measurements.push({
        row: 'unary',
        case: name,
        rigger: formatRate(hubRate),
        peer: `echo ${formatRate(echoRate)}`,
        ratio: echoRate > 0 ? hubRate / echoRate : null,
        target: '',
        met: null,
        values: {
          method: 'WriteTasks',
          in_flight: inFlight,
          calls_per_s: hubRate,
          echo_calls_per_s: echoRate,
          durability: 'full',
          cpu_share_server: shares.server!,
          cpu_share_client: shares.client!,
        },
        note: `one WriteTasks stream; CPU during the load (warm-up included): ${formatShares(shares)}`,
      });
    }
    // The peers' rates are measured once; every Rigger case is compared against the same figures.
    const peerRates = await measureWritePeers(config, log);
    measurements.push(...versusWritePeers(config, `AddTask FULL c=${config.unaryConcurrency}`, addTaskFullRate, peerRates));
    for (const [inFlight, pipelinedRate] of pipelinedRates) {
      measurements.push(...versusWritePeers(config, `AddTask FULL pipelined, ${inFlight} in flight`, pipelinedRate, peerRates, { redis: 1, jetstream: 1 }));
    }
  } finally {
    await Promise.all([producer.kill(), echo.kill()]);
    await Promise.all([server.stop(), normalServer.stop()]);
  }
  return measurements;
}
