// Durable consumers: a consumer group's throughput with 1, 2 and 4 members (every delivery acked,
// each ack written by the group commit) against a plain subscriber reading the same prefilled
// events in the same run; and the ack round trip, ack() to the server's confirmation that it is on
// disk (the WAL synced), one ack at a time. Then the same against a JetStream durable pull consumer
// and a Redis Streams consumer group (bench/peers/consumer-peers.ts), ratio = Rigger / peer.
import path from 'node:path';
import type { BenchConfig } from '../config';
import { forkWorker } from '../ipc';
import { writeEvents } from '../prefill';
import { BENCH_DIST, databaseFile, startRigServer, tempProject } from '../processes';
import { formatMs, formatRate, rate, type Measurement } from '../report';
import { forkClient, type WindowResult } from '../workers';
import { measureConsumerPeers, versusAckPeers, versusConsumerPeers } from '../peers/consumer-peers';

const forkMembers = () => forkWorker(path.join(BENCH_DIST, 'consumer-worker.js'));

export async function consumerGroups(config: BenchConfig, log: (line: string) => void): Promise<Measurement[]> {
  const project = tempProject();
  const total = config.consumerEvents;
  writeEvents(databaseFile(project), total);
  const server = await startRigServer(project);
  const subscriber = forkClient();
  const members = forkMembers();
  const measurements: Measurement[] = [];
  try {
    await subscriber.call('subscribe', { kind: 'hub', address: server.address, streams: 1, sinceSequence: 0 });
    const plain = await subscriber.call<WindowResult>('waitForCount', { total, timeoutMs: 120_000 }, 130_000);
    await subscriber.call('close');
    const plainRate = rate(plain.count, plain.elapsedMs);
    log(`plain subscriber: ${formatRate(plainRate)} events`);
    const groupRates = new Map<number, number>();
    for (const count of config.consumerMembers) {
      const result = await members.call<{ received: number; elapsedMs: number }>(
        'group',
        { address: server.address, name: `bench-${count}`, members: count, total, timeoutMs: 240_000 },
        250_000,
      );
      const groupRate = rate(result.received, result.elapsedMs);
      groupRates.set(count, groupRate);
      log(`consumer group, ${count} member(s): ${formatRate(groupRate)} events (${result.received} of ${total})`);
      measurements.push({
        row: 'consumer group throughput',
        case: `${count} member${count > 1 ? 's' : ''}, ${total} events`,
        rigger: `${formatRate(groupRate)} events`,
        peer: `plain subscriber ${formatRate(plainRate)} events`,
        ratio: groupRate / plainRate,
        target: '',
        met: result.received >= total,
        values: { members: count, events: total, received: result.received, elapsed_ms: result.elapsedMs, rate: groupRate, plain_rate: plainRate },
        note: 'every delivery acked at once (acks batched by the group commit, each batch WAL-synced); peer: one SubscribeToTaskEvents stream from 0 over the same events, no acks; ratio = group / plain',
      });
    }
    const roundTrips = config.consumerAckRoundTrips;
    const acks = await members.call<{ p50: number; p99: number; max: number; n: number }>(
      'ackRoundTrip',
      { address: server.address, name: 'bench-acks', count: roundTrips },
      120_000,
    );
    log(`ack round trip: p50 ${formatMs(acks.p50)} / p99 ${formatMs(acks.p99)} ms over ${acks.n}`);
    measurements.push({
      row: 'consumer ack round trip',
      case: `${acks.n} acks, one at a time`,
      rigger: `p50 ${formatMs(acks.p50)} / p99 ${formatMs(acks.p99)} ms`,
      peer: '-',
      ratio: null,
      target: '',
      met: acks.n === roundTrips,
      values: { p50_ms: acks.p50, p99_ms: acks.p99, max_ms: acks.max, acks: acks.n },
      note: 'from ack() to the acks_committed confirmation (group commit + WAL sync on the thread pool), the next delivery handled only after it',
    });
    await Promise.all([subscriber.kill(), members.kill(), server.stop()]);
    // The peers run after the hub is stopped, each started and stopped in turn.
    const peers = await measureConsumerPeers(config, log);
    for (const [count, groupRate] of groupRates) measurements.push(...versusConsumerPeers(config, count, groupRate, peers));
    measurements.push(...versusAckPeers(acks, peers));
    return measurements;
  } finally {
    await Promise.all([subscriber.kill(), members.kill(), server.stop()]);
  }
}
