// Durable writes at the peers a user would pick instead of Rigger: JetStream publish-with-ack (file
// storage), Redis XADD (appendfsync always) and etcd put, each with the same concurrency, duration and
// warm-up as the unary row's AddTask, from a client process of their own. The figures are kept per
// peer so that any Rigger case (AddTask unary, pipelined, ...) is compared against the same ones.
import type { BenchConfig } from '../config';
import type { WorkerHandle } from '../ipc';
import { cpuShares, formatShares } from '../processes';
import { formatRate, type Measurement } from '../report';
import { forkPeerClient } from '../workers';
import { isAbsent, PEER_SYNC, startPeerServers, stopPeerServers, type PeerName } from './peer-servers';

export interface PeerFigure {
  peer: PeerName;
  /** How the peer and its call are named in the table, e.g. "Redis XADD, appendfsync always". */
  label: string;
  /** Acknowledged writes/s; null when the peer is not installed. */
  rate: number | null;
  /** What it syncs before acknowledging, or why it is missing. */
  note: string;
  shares?: Record<string, number>;
}

export type PeerWriteRates = Map<PeerName, PeerFigure>;

const LABELS: Record<PeerName, string> = {
  jetstream: 'JetStream js.publish, file storage',
  redis: 'Redis XADD, appendfsync always',
  etcd: 'etcd put',
};

export const WRITE_PEERS: PeerName[] = ['jetstream', 'redis', 'etcd'];

async function measureOne(config: BenchConfig, client: WorkerHandle, peer: PeerName, address: string, serverPid: number) {
  const { result, shares } = await cpuShares({ server: serverPid, client: client.pid }, () =>
    client.call<{ calls: number; errors: number; elapsedMs: number; firstError?: string }>(
      'writeLoad',
      {
        peer,
        address,
        concurrency: config.unaryConcurrency,
        durationMs: config.unaryMs,
        warmupMs: config.warmupMs,
        payloadBytes: config.peerPayloadBytes,
      },
      config.unaryMs + config.warmupMs + 60_000,
    ),
  );
  if (result.errors > 0) throw new Error(`${LABELS[peer]} failed ${result.errors} times: ${result.firstError}`);
  return { rate: (result.calls * 1000) / result.elapsedMs, shares };
}

/** Starts each peer, measures its write rate, stops it; a missing one is recorded with its note. */
export async function measureWritePeers(config: BenchConfig, log: (line: string) => void): Promise<PeerWriteRates> {
  const rates: PeerWriteRates = new Map();
  const client = forkPeerClient();
  try {
    for (const name of WRITE_PEERS) {
      const [server] = await startPeerServers([name]);
      try {
        if (isAbsent(server!)) {
          log(`durable writes: ${LABELS[name]} LEFT OUT: ${server.absent}`);
          rates.set(name, { peer: name, label: LABELS[name], rate: null, note: server.absent });
          continue;
        }
        const { rate, shares } = await measureOne(config, client, name, server!.address, server!.pid);
        log(`durable writes: ${LABELS[name]} ${formatRate(rate)} (${formatShares(shares)})`);
        rates.set(name, { peer: name, label: LABELS[name], rate, note: PEER_SYNC[name], shares });
      } finally {
        await stopPeerServers([server!]);
      }
    }
  } finally {
    await client.kill();
  }
  return rates;
}

/**
 * One table line per peer for the Rigger case `riggerCase` at `riggerRate` writes/s: ratio = Rigger /
 * peer. `targets` gives the minimum ratio per peer, where it sets one.
 */
export function versusWritePeers(
  config: BenchConfig,
  riggerCase: string,
  riggerRate: number,
  peers: PeerWriteRates,
  targets: Partial<Record<PeerName, number>> = {},
): Measurement[] {
  return [...peers.values()].map((figure) => {
    const ratio = figure.rate ? riggerRate / figure.rate : null;
    const target = targets[figure.peer];
    return {
      row: `durable writes, ${config.unaryConcurrency} in flight`,
      case: `${riggerCase} / ${figure.label}`,
      rigger: formatRate(riggerRate),
      peer: figure.rate === null ? `${figure.label}: NOT INSTALLED` : `${figure.label} ${formatRate(figure.rate)}`,
      ratio,
      target: target === undefined ? '' : `>= ${target}x`,
      met: target === undefined || ratio === null ? null : ratio >= target,
      values: {
        peer: figure.peer,
        rigger_calls_per_s: riggerRate,
        peer_calls_per_s: figure.rate,
        concurrency: config.unaryConcurrency,
        payload_bytes: config.peerPayloadBytes,
        ...(figure.shares && { peer_cpu_share_server: figure.shares.server!, peer_cpu_share_client: figure.shares.client! }),
      },
      note: [
        figure.rate === null ? `LEFT OUT: ${figure.note}` : `fsync before the ack: ${figure.note}`,
        `ratio = Rigger / peer, ${config.unaryConcurrency} writes in flight from one client process, ${config.peerPayloadBytes}-byte payloads, ${config.unaryMs / 1000} s after ${config.warmupMs / 1000} s of warm-up`,
        figure.shares && `CPU during the peer's load (warm-up included): ${formatShares(figure.shares)}`,
      ]
        .filter(Boolean)
        .join('; '),
    };
  });
}
