// cli: wall time of the real `rig` per spawn (start to exit, stdout a pipe), against `node -e 0`
// spawned the same way in the same run, interleaved so that load on the machine hits both alike
// (issue 27): `rig --help`, `rig task list` and `rig task add` on a small project, a client command
// over gRPC (`rig consumers list` against a running `rig grpc`), and `rig task list` on a ~1 GB
// database. The large file is built once by bulk inserts through the store (in the producer
// worker) and cached in the temp dir across runs; --quick uses a small file instead.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MIGRATIONS } from '../../src/store/schema';
import type { BenchConfig } from '../config';
import { forkWorker } from '../ipc';
import { writeEvents } from '../prefill';
import { BENCH_DIST, databaseFile, RIG_BIN, startRigServer, tempProject } from '../processes';
import type { Measurement } from '../report';
import { median, nearestRank } from '../stats';

const GIB = 1024 * 1024 * 1024;
/** Tasks in the small project: one default page of `rig task list` and more. */
const SMALL_TASKS = 200;
/** Tasks per bulk call into the large file (about 110 MB each). */
const BULK_CHUNK = 100_000;

interface Timing {
  median: number;
  p90: number;
  n: number;
}

function timing(samples: number[]): Timing {
  return { median: median(samples), p90: nearestRank(samples, 0.9), n: samples.length };
}

/** Milliseconds from spawn to exit of `node ...args`, with stdout and stderr pipes read to the end. */
function spawnMs(args: string[]): number {
  const startedAt = performance.now();
  const result = spawnSync(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RIGGER_LOG_LEVEL: 'warn' },
    maxBuffer: 64 * 1024 * 1024,
  });
  const elapsed = performance.now() - startedAt;
  if (result.status !== 0) throw new Error(`node ${args.join(' ')} exited ${result.status ?? result.signal}: ${String(result.stderr).trim().split('\n')[0]}`);
  return elapsed;
}

function fileBytes(dbFile: string): number {
  const size = (file: string) => (fs.existsSync(file) ? fs.statSync(file).size : 0);
  return size(dbFile) + size(`${dbFile}-wal`);
}

/**
 * A project whose database is at least `bytes`: built by bulk CREATEs through TaskStore.write in the
 * producer worker, kept in the temp dir (keyed by size and schema version) for later runs; a
 * directory without its `complete` marker is a build that did not finish, and is built again.
 */
async function largeProject(bytes: number, log: (line: string) => void): Promise<{ dir: string; tasks: number; bytes: number; built: boolean }> {
  const dir = path.join(os.tmpdir(), `rigger-bench-cli-${Math.round(bytes / (1024 * 1024))}mib-schema${MIGRATIONS.length}`);
  const marker = path.join(dir, 'complete.json');
  if (fs.existsSync(marker)) return { dir, ...(JSON.parse(fs.readFileSync(marker, 'utf8')) as { tasks: number; bytes: number }), built: false };
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir);
  const init = spawnSync(process.execPath, [RIG_BIN, 'init', '-C', dir], { encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`rig init failed: ${init.stderr}`);
  const dbFile = databaseFile(dir);
  const worker = forkWorker(path.join(BENCH_DIST, 'producer-worker.js'));
  const startedAt = performance.now();
  let tasks = 0;
  try {
    while (fileBytes(dbFile) < bytes) {
      await worker.call('bulkWrite', { dbFile, events: BULK_CHUNK, perTransaction: 5000 }, 600_000);
      tasks += BULK_CHUNK;
      log(`cli: building the large database: ${tasks} tasks, ${(fileBytes(dbFile) / GIB).toFixed(2)} GiB`);
    }
  } finally {
    await worker.kill();
  }
  const built = { tasks, bytes: fileBytes(dbFile) };
  fs.writeFileSync(marker, `${JSON.stringify(built)}\n`);
  log(`cli: built ${dir} in ${((performance.now() - startedAt) / 1000).toFixed(0)} s (kept for later runs)`);
  return { dir, ...built, built: true };
}

/** A small file for --quick: the same shape, built in a temp project each run. */
function smallLargeProject(tasks: number): { dir: string; tasks: number; bytes: number; built: boolean } {
  const dir = tempProject();
  writeEvents(databaseFile(dir), tasks, 5000);
  return { dir, tasks, bytes: fileBytes(databaseFile(dir)), built: true };
}

export async function cliRow(config: BenchConfig, log: (line: string) => void): Promise<Measurement[]> {
  const spawns = config.quick ? 2 : 20;
  const largeSpawns = config.quick ? 2 : 10;
  const small = tempProject();
  writeEvents(databaseFile(small), SMALL_TASKS);
  const server = await startRigServer(small);
  const nodeBare = ['-e', '0'];
  const cases: { name: string; args: string[]; target: number | undefined; targetText: string }[] = [
    { name: 'rig --help', args: [RIG_BIN, '--help'], target: 2, targetText: '<= 2x node -e 0' },
    { name: `rig task list (${SMALL_TASKS} tasks)`, args: [RIG_BIN, '-C', small, 'task', 'list'], target: 3, targetText: '<= 3x node -e 0' },
    { name: 'rig task add', args: [RIG_BIN, '-C', small, 'task', 'add', 'bench task from the CLI'], target: 3, targetText: '<= 3x node -e 0' },
    {
      name: 'rig consumers list (gRPC)',
      args: [RIG_BIN, '-C', small, 'consumers', 'list', '--address', server.address],
      target: 4,
      targetText: '<= 4x node -e 0',
    },
  ];
  const samples = new Map<string, number[]>([['node', []], ...cases.map((c) => [c.name, []] as [string, number[]])]);
  try {
    // One uncounted round first: the files and modules into the page cache.
    spawnMs(nodeBare);
    for (const c of cases) spawnMs(c.args);
    for (let i = 0; i < spawns; i++) {
      samples.get('node')!.push(spawnMs(nodeBare));
      for (const c of cases) samples.get(c.name)!.push(spawnMs(c.args));
    }
  } finally {
    await server.stop();
  }
  const node = timing(samples.get('node')!);
  log(`cli: node -e 0 median ${node.median.toFixed(0)} ms, p90 ${node.p90.toFixed(0)} ms`);
  const measurements: Measurement[] = cases.map((c) => {
    const t = timing(samples.get(c.name)!);
    const ratio = t.median / node.median;
    log(`cli: ${c.name} median ${t.median.toFixed(0)} ms, p90 ${t.p90.toFixed(0)} ms (${ratio.toFixed(2)}x node -e 0)`);
    return {
      row: 'cli',
      case: c.name,
      rigger: `${t.median.toFixed(0)} ms median, ${t.p90.toFixed(0)} ms p90`,
      peer: `node -e 0 ${node.median.toFixed(0)} ms`,
      ratio,
      target: c.targetText,
      met: c.target === undefined ? null : ratio <= c.target,
      values: { median_ms: t.median, p90_ms: t.p90, spawns: t.n, node_median_ms: node.median, node_p90_ms: node.p90 },
    };
  });

  // `rig task list` on a large file: what opening it costs (the newest page is read by index).
  const large = config.quick ? smallLargeProject(5000) : await largeProject(GIB, log);
  const listLarge = [RIG_BIN, '-C', large.dir, 'task', 'list'];
  spawnMs(listLarge);
  const largeSamples: number[] = [];
  for (let i = 0; i < largeSpawns; i++) largeSamples.push(spawnMs(listLarge));
  const t = timing(largeSamples);
  const size = large.bytes >= GIB / 2 ? `${(large.bytes / GIB).toFixed(2)} GiB` : `${(large.bytes / (1024 * 1024)).toFixed(1)} MiB`;
  log(`cli: rig task list on ${size} (${large.tasks} tasks) median ${t.median.toFixed(0)} ms, p90 ${t.p90.toFixed(0)} ms`);
  measurements.push({
    row: 'cli',
    case: `rig task list, ${size} database`,
    rigger: `${t.median.toFixed(0)} ms median, ${t.p90.toFixed(0)} ms p90`,
    peer: `node -e 0 ${node.median.toFixed(0)} ms`,
    ratio: t.median / node.median,
    target: '<= 300 ms wall',
    met: t.median <= 300,
    values: { median_ms: t.median, p90_ms: t.p90, spawns: t.n, database_bytes: large.bytes, tasks: large.tasks, node_median_ms: node.median },
    note: `${large.tasks} tasks of bulk CREATEs, warm page cache${large.built ? '' : ', the file kept from an earlier run'}; the time is what opening the database costs, whatever checks it runs`,
  });
  return measurements;
}
