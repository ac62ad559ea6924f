// cross-process: an event written by the real `rig task add` (another process writing the same
// database) -> receipt by a subscriber of the running server. The server learns of such commits by
// polling SQLite's data_version, every few ms while the -wal changes and slower once it has been
// still (src/store/log-watcher.ts); this row measures both: writes back to back, and each write
// after the server has sat idle past the switch to the slow poll.
import { DEFAULT_CHECKPOINT_OPTIONS } from '../../src/store/checkpointer';
import { DEFAULT_LOG_WATCH } from '../../src/store/log-watcher';
import type { BenchConfig } from '../config';
import { cpuShares, rigAsync, startRigServer, tempProject } from '../processes';
import { formatMs, type Measurement } from '../report';
import { forkClient } from '../workers';

/**
 * Each idle write waits out the checkpointer's TRUNCATE of the still WAL (which moves data_version,
 * so it counts as a change) and then the watcher's quiet time, so it lands on a server polling at its idle interval.
 */
const IDLE_BEFORE_MS = DEFAULT_CHECKPOINT_OPTIONS.idleMs + DEFAULT_LOG_WATCH.quietAfterMs + 500;

export async function crossProcess(config: BenchConfig, log: (line: string) => void): Promise<Measurement[]> {
  const project = tempProject();
  const server = await startRigServer(project);
  const client = forkClient();
  try {
    const writes = config.crossProcessWrites;
    const idleWrites = Math.max(2, Math.round(writes / 8));
    await client.call('subscribe', { kind: 'hub', address: server.address, streams: 1, latency: true, maxSamples: writes });
    const measure = async (what: string, count: number, pauseMs: number, note: string): Promise<Measurement> => {
      await client.call('reset');
      for (let i = 0; i < count; i++) {
        if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
        const result = await rigAsync(['task', 'add', `cross-process ${what} ${i}`, '-C', project]);
        if (result.code !== 0) throw new Error(`rig task add failed: ${result.stderr}`);
      }
      await client.call('waitForCount', { total: count, timeoutMs: 30_000 }, 40_000);
      const stats = await client.call<{ p50: number; p99: number; max: number; n: number }>('latency');
      log(`cross-process (${what}): p50 ${formatMs(stats.p50)} p99 ${formatMs(stats.p99)} ms over ${stats.n}`);
      return {
        row: 'cross-process',
        case: `${count} x rig task add${pauseMs > 0 ? `, each after ${pauseMs} ms idle` : ''}`,
        rigger: `p50 ${formatMs(stats.p50)} / p99 ${formatMs(stats.p99)} / max ${formatMs(stats.max)} ms`,
        peer: '',
        ratio: null,
        target: 'p99 < 100 ms',
        met: stats.p99 < 100,
        values: { writes: count, idle_before_ms: pauseMs, p50_ms: stats.p50, p99_ms: stats.p99, max_ms: stats.max },
        note,
      };
    };
    const { activeMs, idleMs, quietAfterMs } = DEFAULT_LOG_WATCH;
    // The server with its one subscriber and nothing written: what it costs to sit there.
    await new Promise((resolve) => setTimeout(resolve, IDLE_BEFORE_MS));
    const idleWindowMs = config.quick ? 1000 : 10_000;
    const { shares } = await cpuShares({ server: server.pid }, () => new Promise((resolve) => setTimeout(resolve, idleWindowMs)));
    log(`idle server: ${(shares.server! * 100).toFixed(2)}% of a core`);
    const idle: Measurement = {
      row: 'idle server',
      case: `1 subscriber, nothing written, ${idleWindowMs / 1000} s`,
      rigger: `${(shares.server! * 100).toFixed(2)}% of a core`,
      peer: '',
      ratio: null,
      target: '',
      met: null,
      values: { window_ms: idleWindowMs, server_core_share: shares.server! },
      note: `CPU of every thread of rig grpc (from /proc), after ${IDLE_BEFORE_MS} ms with nothing written: the log watcher polls every ${idleMs} ms, the checkpointer looks at the -wal every ${DEFAULT_CHECKPOINT_OPTIONS.tickMs} ms`,
    };
    return [
      idle,
      await measure('back to back', writes, 0, `CLI commit timestamp -> receipt; while the -wal changes the server polls data_version every ${activeMs} ms`),
      await measure(
        'after idle',
        idleWrites,
        IDLE_BEFORE_MS,
        `the server had seen no change for over ${quietAfterMs} ms, so it polled every ${idleMs} ms; the -wal's file event (inotify) wakes the poll`,
      ),
    ];
  } finally {
    await client.kill();
    await server.stop();
  }
}
