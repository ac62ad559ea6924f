// crash-loop: acknowledged AddTask calls/s from crashLoopWriters writers (one call in flight each,
// the typed client's channel options) while the server is killed with SIGKILL every
// crashLoopKillEveryMs and restarted at once, as a supervisor would, against the same writers with
// no kills, on the same database. Each restart after a kill runs quick_check before it serves.
import * as grpc from '@grpc/grpc-js';
import { connectService } from '../../src/client/connect';
import type { BenchConfig } from '../config';
import { freePort, startRigServer, tempProject, type RigServer } from '../processes';
import { formatMs, formatRate, rate, type Measurement } from '../report';
import { median, sleep, wallClockMs } from '../stats';

/** A writer that failed waits this long before it tries again (the server is down or checking). */
const RETRY_MS = 10;

interface Writers {
  /** Acknowledged calls since the last take(). */
  take(): number;
  failures(): number;
  stop(): Promise<void>;
}

function startWriters(address: string, count: number): Writers {
  const client = connectService(address);
  let acked = 0;
  let failed = 0;
  let running = true;
  const one = async (writer: number) => {
    for (let n = 0; running; n++) {
      const ok = await new Promise<boolean>((resolve) =>
        client.AddTask({ title: `crash loop ${writer}.${n}`, assignee: 'bench' }, new grpc.Metadata(), { deadline: Date.now() + 2000 }, (error) =>
          resolve(!error),
        ),
      );
      if (ok) acked++;
      else {
        failed++;
        await sleep(RETRY_MS);
      }
    }
  };
  const loops = Array.from({ length: count }, (_, i) => one(i));
  return {
    take: () => {
      const taken = acked;
      acked = 0;
      return taken;
    },
    failures: () => failed,
    stop: async () => {
      running = false;
      await Promise.all(loops);
      client.close();
    },
  };
}

export async function crashLoop(config: BenchConfig, log: (line: string) => void): Promise<Measurement[]> {
  const project = tempProject();
  const port = await freePort();
  const args = ['--port', String(port)];
  let server: RigServer = await startRigServer(project, args);
  const writers = startWriters(`127.0.0.1:${port}`, config.crashLoopWriters);
  const restarts: number[] = [];
  try {
    await sleep(config.warmupMs);
    writers.take();
    let startedAt = wallClockMs();
    await sleep(config.crashLoopMs);
    const steadyRate = rate(writers.take(), wallClockMs() - startedAt);

    startedAt = wallClockMs();
    const deadline = startedAt + config.crashLoopMs;
    for (let kill = 1; startedAt + kill * config.crashLoopKillEveryMs < deadline; kill++) {
      await sleep(startedAt + kill * config.crashLoopKillEveryMs - wallClockMs());
      const exited = new Promise((resolve) => server.child.once('exit', resolve));
      server.child.kill('SIGKILL');
      await exited;
      const restartedAt = wallClockMs();
      server = await startRigServer(project, args);
      restarts.push(wallClockMs() - restartedAt);
    }
    await sleep(deadline - wallClockMs());
    const killedRate = rate(writers.take(), wallClockMs() - startedAt);
    const ratio = steadyRate > 0 ? killedRate / steadyRate : null;
    const summary = `${restarts.length} kills in ${(config.crashLoopMs / 1000).toFixed(0)} s; restart to ready median ${formatMs(median(restarts))} ms, max ${formatMs(Math.max(...restarts))} ms; ${writers.failures()} calls failed (down or checking)`;
    log(`crash-loop: ${formatRate(killedRate)} acknowledged with kills, ${formatRate(steadyRate)} without; ${summary}`);
    return [
      {
        row: 'crash-loop',
        case: `AddTask, ${config.crashLoopWriters} writers, kill -9 every ${config.crashLoopKillEveryMs / 1000} s`,
        rigger: formatRate(killedRate),
        peer: `no kills ${formatRate(steadyRate)}`,
        ratio,
        target: '>= 0.5x no kills',
        met: ratio === null ? null : ratio >= 0.5,
        values: {
          writers: config.crashLoopWriters,
          window_ms: config.crashLoopMs,
          kill_every_ms: config.crashLoopKillEveryMs,
          acked_per_s: killedRate,
          steady_acked_per_s: steadyRate,
          kills: restarts.length,
          restart_median_ms: median(restarts),
          restart_max_ms: Math.max(...restarts),
          restart_runs_ms: restarts.map((ms) => Math.round(ms)).join(','),
          failed_calls: writers.failures(),
        },
        note: summary,
      },
    ];
  } finally {
    await writers.stop();
    await server.stop();
  }
}
