// Durable consumers: how a group's throughput grows with its members (bench/consumer-worker.ts,
// every delivery acked at once), over prefilled events, beside one plain subscriber from sequence 0
// over the same events. A group that drains N events in T s keeps lag-free under any steady
// production below N / T events/s.
import fs from 'node:fs';
import path from 'node:path';
import { forkWorker } from '../ipc';
import { writeEvents } from '../prefill';
import { BENCH_DIST, databaseFile, startRigServer, tempProject } from '../processes';
import { formatRate, rate } from '../report';
import { forkClient, type WindowResult } from '../workers';
import type { ScaleConfig } from './scale-config';

export interface ConsumersResult {
  events: number;
  plainPerS: number;
  byMembers: { members: number; perS: number; received: number }[];
}

export async function consumerMembers(config: ScaleConfig, log: (line: string) => void): Promise<ConsumersResult> {
  const project = tempProject();
  const total = config.consumerEvents;
  writeEvents(databaseFile(project), total);
  const server = await startRigServer(project);
  const subscriber = forkClient();
  const members = forkWorker(path.join(BENCH_DIST, 'consumer-worker.js'));
  try {
    await subscriber.call('subscribe', { kind: 'hub', address: server.address, streams: 1, sinceSequence: 0 });
    const plain = await subscriber.call<WindowResult>('waitForCount', { total, timeoutMs: 120_000 }, 130_000);
    await subscriber.call('close');
    const plainPerS = rate(plain.count, plain.elapsedMs);
    const byMembers: ConsumersResult['byMembers'] = [];
    for (const count of config.consumerMembers) {
      const result = await members.call<{ received: number; elapsedMs: number }>(
        'group',
        { address: server.address, name: `scale-${count}`, members: count, total, timeoutMs: 240_000 },
        250_000,
      );
      byMembers.push({ members: count, perS: rate(result.received, result.elapsedMs), received: result.received });
      log(
        `consumer group of ${count}: ${formatRate(rate(result.received, result.elapsedMs))} (${result.received} of ${total}); plain ${formatRate(plainPerS)}`,
      );
    }
    return { events: total, plainPerS, byMembers };
  } finally {
    await Promise.all([subscriber.kill(), members.kill(), server.stop()]);
    fs.rmSync(project, { recursive: true, force: true });
  }
}
