// cross-process: an event written by the real `rig task add` (another process writing the same
// database) -> receipt by a subscriber of the running server. The server learns of such commits by
// polling SQLite's data_version every few ms; this row measures that path end to end.
import type { BenchConfig } from '../config';
import { rigAsync, startRigServer, tempProject } from '../processes';
import { formatMs, type Measurement } from '../report';
import { forkClient } from '../workers';

export async function crossProcess(config: BenchConfig, log: (line: string) => void): Promise<Measurement[]> {
  const project = tempProject();
  const server = await startRigServer(project);
  const client = forkClient();
  try {
    const writes = config.crossProcessWrites;
    await client.call('subscribe', { kind: 'hub', address: server.address, streams: 1, latency: true, maxSamples: writes });
    for (let i = 0; i < writes; i++) {
      const result = await rigAsync(['task', 'add', `cross-process ${i}`, '-C', project]);
      if (result.code !== 0) throw new Error(`rig task add failed: ${result.stderr}`);
    }
    await client.call('waitForCount', { total: writes, timeoutMs: 30_000 }, 40_000);
    const stats = await client.call<{ p50: number; p99: number; max: number; n: number }>('latency');
    log(`cross-process: p50 ${formatMs(stats.p50)} p99 ${formatMs(stats.p99)} ms over ${stats.n}`);
    return [
      {
        row: 'cross-process',
        case: `${writes} x rig task add`,
        rigger: `p50 ${formatMs(stats.p50)} / p99 ${formatMs(stats.p99)} / max ${formatMs(stats.max)} ms`,
        peer: '',
        ratio: null,
        target: 'p99 < 100 ms',
        met: stats.p99 < 100,
        values: { writes, p50_ms: stats.p50, p99_ms: stats.p99, max_ms: stats.max },
        note: 'CLI commit timestamp -> receipt; server polls data_version every 5 ms',
      },
    ];
  } finally {
    await client.kill();
    await server.stop();
  }
}
