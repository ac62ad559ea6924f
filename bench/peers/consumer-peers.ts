// Durable consumers at the peers: a JetStream durable pull consumer with explicit acks and a Redis
// Streams consumer group with XACK (appendfsync always), each over the same number of prefilled
// events as the hub's group, with 1, 2 and 4 members in a client process of their own (every
// delivery acked at once); and each one's ack round trip, one message at a time.
import type { BenchConfig } from '../config';
import { formatMs, formatRate, type Measurement } from '../report';
import { forkPeerClient } from '../workers';
import { isAbsent, startPeerServers, stopPeerServers } from './peer-servers';

type ConsumerPeer = 'jetstream' | 'redis';

interface Percentiles {
  p50: number;
  p99: number;
  max: number;
  n: number;
}

export interface ConsumerPeerFigures {
  peer: ConsumerPeer;
  label: string;
  ackLabel: string;
  /** Deliveries/s per member count; empty when absent. */
  rates: Map<number, number>;
  acks: Percentiles | undefined;
  /** What an ack has synced when it is answered, or why the peer is missing. */
  note: string;
  absent: boolean;
}

const LABELS: Record<ConsumerPeer, { label: string; ack: string; sync: string }> = {
  jetstream: {
    label: 'JetStream durable pull consumer, explicit ack',
    ack: 'JetStream ackAck()',
    sync: "JetStream 2.9 file storage: acks update the consumer's state on file, not synced per ack (the server syncs every 2 minutes); no per-task order",
  },
  redis: {
    label: 'Redis XREADGROUP + XACK, appendfsync always',
    ack: 'Redis XACK reply',
    sync: 'Redis appendfsync always: every XREADGROUP and XACK goes to the AOF, fsynced once per event-loop pass before its replies',
  },
};

export async function measureConsumerPeers(config: BenchConfig, log: (line: string) => void): Promise<ConsumerPeerFigures[]> {
  const figures: ConsumerPeerFigures[] = [];
  const client = forkPeerClient();
  try {
    for (const peer of ['jetstream', 'redis'] as const) {
      const { label, ack, sync } = LABELS[peer];
      const [server] = await startPeerServers([peer]);
      try {
        if (isAbsent(server!)) {
          log(`consumers: ${label} LEFT OUT: ${server.absent}`);
          figures.push({ peer, label, ackLabel: ack, rates: new Map(), acks: undefined, note: server.absent, absent: true });
          continue;
        }
        const address = server!.address;
        const total = config.consumerEvents;
        await client.call('prefill', { peer, address, count: total, payloadBytes: config.peerPayloadBytes }, 300_000);
        const rates = new Map<number, number>();
        for (const members of config.consumerMembers) {
          const result = await client.call<{ received: number; elapsedMs: number }>(
            'group',
            { peer, address, name: `bench-${members}`, members, total, timeoutMs: 240_000 },
            250_000,
          );
          if (result.received < total) throw new Error(`${label}, ${members} member(s): ${result.received} of ${total} deliveries in 240 s`);
          rates.set(members, (result.received * 1000) / result.elapsedMs);
          log(`consumers: ${label}, ${members} member(s): ${formatRate(rates.get(members)!)} events`);
        }
        const count = Math.min(config.consumerAckRoundTrips, total);
        const acks = await client.call<Percentiles>('ackRoundTrip', { peer, address, name: 'bench-acks', count }, 120_000);
        log(`consumers: ${ack} round trip p50 ${formatMs(acks.p50)} / p99 ${formatMs(acks.p99)} ms`);
        figures.push({ peer, label, ackLabel: ack, rates, acks, note: sync, absent: false });
      } finally {
        await stopPeerServers([server!]);
      }
    }
  } finally {
    await client.kill();
  }
  return figures;
}

/** Rigger's group rate with `members` members against each peer's: ratio = Rigger / peer. */
export function versusConsumerPeers(config: BenchConfig, members: number, riggerRate: number, peers: ConsumerPeerFigures[]): Measurement[] {
  return peers.map((figure) => {
    const peerRate = figure.rates.get(members) ?? null;
    const ratio = peerRate ? riggerRate / peerRate : null;
    // The target: one member acking each event at least as fast as JetStream's pull consumer.
    const target = figure.peer === 'jetstream' && members === 1 ? 1 : undefined;
    return {
      row: 'consumer group vs peers',
      case: `${members} member${members > 1 ? 's' : ''}, ${config.consumerEvents} events / ${figure.label}`,
      rigger: `${formatRate(riggerRate)} events`,
      peer: peerRate === null ? `${figure.label}: NOT INSTALLED` : `${formatRate(peerRate)} events`,
      ratio,
      target: target === undefined ? '' : `>= ${target}x`,
      met: target === undefined || ratio === null ? null : ratio >= target,
      values: {
        peer: figure.peer,
        members,
        events: config.consumerEvents,
        rigger_rate: riggerRate,
        peer_rate: peerRate,
        payload_bytes: config.peerPayloadBytes,
      },
      note: [
        figure.absent ? `LEFT OUT: ${figure.note}` : `what an ack has synced: ${figure.note}`,
        `ratio = Rigger / peer; ${members} member(s) with a connection each in one client process, every delivery acked at once, over ${config.consumerEvents} prefilled ${config.peerPayloadBytes}-byte events`,
      ].join('; '),
    };
  });
}

/** Rigger's ack round trip against each peer's: ratio = Rigger p50 / peer p50. */
export function versusAckPeers(riggerAcks: Percentiles, peers: ConsumerPeerFigures[]): Measurement[] {
  return peers.map((figure) => {
    const acks = figure.acks;
    const ratio = acks ? riggerAcks.p50 / acks.p50 : null;
    // The target: Rigger's p50 at most twice JetStream's.
    const target = figure.peer === 'jetstream' ? 2 : undefined;
    return {
      row: 'consumer ack round trip vs peers',
      case: `${riggerAcks.n} acks, one at a time / ${figure.ackLabel}`,
      rigger: `p50 ${formatMs(riggerAcks.p50)} / p99 ${formatMs(riggerAcks.p99)} ms`,
      peer: acks ? `p50 ${formatMs(acks.p50)} / p99 ${formatMs(acks.p99)} ms` : `${figure.ackLabel}: NOT INSTALLED`,
      ratio,
      target: target === undefined ? '' : `p50 <= ${target}x`,
      met: target === undefined || ratio === null ? null : ratio <= target,
      values: {
        peer: figure.peer,
        rigger_p50_ms: riggerAcks.p50,
        rigger_p99_ms: riggerAcks.p99,
        peer_p50_ms: acks?.p50 ?? null,
        peer_p99_ms: acks?.p99 ?? null,
        peer_max_ms: acks?.max ?? null,
        peer_acks: acks?.n ?? null,
      },
      note: [
        figure.absent ? `LEFT OUT: ${figure.note}` : `what the ack has synced when answered: ${figure.note}`,
        "ratio = Rigger p50 / peer p50; each ack timed from its send to the server's reply, the next delivery fetched only after it",
      ].join('; '),
    };
  });
}
