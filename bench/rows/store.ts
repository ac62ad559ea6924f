// store alone: CPU per AddTask write in the store itself, 64 writes per group commit, in a process
// of its own with no gRPC in front (bench/store-worker.ts), on a project made by `rig init`.
import path from 'node:path';
import type { BenchConfig } from '../config';
import { forkWorker } from '../ipc';
import { BENCH_DIST, databaseFile, tempProject } from '../processes';
import { formatRate, rate, type Measurement } from '../report';

const PER_COMMIT = 64;
const TARGET_US = 30;

export async function storeAlone(config: BenchConfig, log: (line: string) => void): Promise<Measurement[]> {
  const worker = forkWorker(path.join(BENCH_DIST, 'store-worker.js'));
  try {
    const result = await worker.call<{ writes: number; elapsedMs: number; userUs: number; systemUs: number }>(
      'storeLoad',
      { file: databaseFile(tempProject()), writes: config.storeWrites, warmupWrites: Math.round(config.storeWrites / 4), perCommit: PER_COMMIT },
      300_000,
    );
    const userPerWrite = result.userUs / result.writes;
    const systemPerWrite = result.systemUs / result.writes;
    const cpuPerWrite = userPerWrite + systemPerWrite;
    const writesPerS = rate(result.writes, result.elapsedMs);
    log(
      `store alone: ${cpuPerWrite.toFixed(1)} us CPU per write (user ${userPerWrite.toFixed(1)}, system ${systemPerWrite.toFixed(1)}), ${formatRate(writesPerS)}`,
    );
    return [
      {
        row: 'store alone',
        case: `AddTask's write, ${PER_COMMIT} per commit, ${result.writes} writes`,
        rigger: `${cpuPerWrite.toFixed(1)} us CPU/write, ${formatRate(writesPerS)}`,
        peer: '-',
        ratio: null,
        target: `<= ${TARGET_US} us CPU/write`,
        met: cpuPerWrite <= TARGET_US,
        values: {
          writes: result.writes,
          per_commit: PER_COMMIT,
          cpu_us_per_write: cpuPerWrite,
          user_us_per_write: userPerWrite,
          system_us_per_write: systemPerWrite,
          writes_per_s: writesPerS,
        },
        note: 'TaskStore.writeGrouped in server mode (WAL synced on the thread pool before each write settles, checkpoints on their worker thread); CPU of every thread of the process',
      },
    ];
  } finally {
    await worker.kill();
  }
}
