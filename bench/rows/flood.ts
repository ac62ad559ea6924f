// update flood: one client writes a flood of TaskEventStream updates at once, while another calls
// GetTask at a steady pace. The server reads the stream one message at a time (HTTP/2 flow control
// holds the rest on the client), so its memory stays flat and the other caller waits behind at most
// one update; measured as the server's RSS growth and the other caller's p99 during the flood
// against its own p99 just before, on the same server.
import type { BenchConfig } from '../config';
import { rssBytes, sampleRssPeak, startRigServer, tempProject } from '../processes';
import { formatMs, type Measurement } from '../report';
import { forkProducer } from '../workers';

const MB = 1024 * 1024;
/** The other caller's pace: one GetTask every 5 ms, as the reliability test's. */
const SAMPLE_INTERVAL_MS = 5;

interface Sampled {
  p50: number;
  p99: number;
  max: number;
  n: number;
  version: number;
}

export async function updateFlood(config: BenchConfig, log: (line: string) => void): Promise<Measurement[]> {
  const server = await startRigServer(tempProject());
  const sampler = forkProducer();
  const flooder = forkProducer();
  try {
    const [taskId] = await sampler.call<string[]>('createTasks', { address: server.address, count: 1 });
    const sample = (durationMs: number, untilVersion?: number) =>
      sampler.call<Sampled>(
        'sampleGetTask',
        { address: server.address, taskId, intervalMs: SAMPLE_INTERVAL_MS, durationMs, untilVersion },
        durationMs + 30_000,
      );
    await sample(config.warmupMs);
    const quiet = await sample(config.floodQuietMs);

    const rssBefore = rssBytes(server.pid);
    const rss = sampleRssPeak(server.pid);
    const started = Date.now();
    let during: Sampled;
    try {
      await flooder.call('floodUpdates', { address: server.address, taskId, count: config.floodUpdates });
      during = await sample(config.floodTimeoutMs, config.floodUpdates + 1);
    } finally {
      rss.stop();
    }
    const rssPeak = rss.peak();
    const elapsedS = (Date.now() - started) / 1000;
    if (during.version !== config.floodUpdates + 1)
      throw new Error(`only ${during.version - 1} of ${config.floodUpdates} updates were applied in ${elapsedS.toFixed(0)} s`);
    const growthMb = (rssPeak - rssBefore) / MB;
    const ratio = quiet.p99 > 0 ? during.p99 / quiet.p99 : null;
    log(
      `flood: ${config.floodUpdates} updates in ${elapsedS.toFixed(1)} s; RSS +${growthMb.toFixed(1)} MB; GetTask p99 ${formatMs(quiet.p99)} quiet, ${formatMs(during.p99)} during`,
    );
    const values = {
      updates: config.floodUpdates,
      seconds: elapsedS,
      rss_before_mb: rssBefore / MB,
      rss_peak_mb: rssPeak / MB,
      rss_growth_mb: growthMb,
      quiet_p50_ms: quiet.p50,
      quiet_p99_ms: quiet.p99,
      quiet_samples: quiet.n,
      during_p50_ms: during.p50,
      during_p99_ms: during.p99,
      during_max_ms: during.max,
      during_samples: during.n,
    };
    const note = `${config.floodUpdates} updates on one TaskEventStream applied in ${elapsedS.toFixed(1)} s (in group commits: the server reads up to --max-writes-in-flight updates ahead); GetTask every ${SAMPLE_INTERVAL_MS} ms from another process`;
    return [
      {
        row: 'update flood',
        case: `server RSS growth, ${config.floodUpdates} updates`,
        rigger: `${growthMb.toFixed(1)} MB`,
        peer: '',
        ratio: null,
        target: '< 50 MB',
        met: growthMb < 50,
        values,
        note,
      },
      {
        row: 'update flood',
        case: "another caller's GetTask p99 during the flood",
        rigger: `p99 ${formatMs(during.p99)} ms`,
        peer: `quiet: p99 ${formatMs(quiet.p99)} ms`,
        ratio,
        target: '<= 2x quiet',
        met: ratio === null ? null : ratio <= 2,
        values,
        note: `p50 ${formatMs(quiet.p50)} ms quiet, ${formatMs(during.p50)} ms during; max ${formatMs(during.max)} ms during; ${during.n} samples during, ${quiet.n} quiet`,
      },
    ];
  } finally {
    await Promise.all([sampler.kill(), flooder.kill()]);
    await server.stop();
  }
}
