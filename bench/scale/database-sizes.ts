// One prefilled database per size, measured through the real server: ListTasks by filter and page
// depth, a filtered subscriber's time to reach live from sequence 0, unfiltered catch-up, AddTask,
// and compaction with a writer running beside it. A database of N tasks holds N events, so each
// task size is also a point of the log curves; log-only sizes skip the task measurements.
import fs from 'node:fs';
import path from 'node:path';
import { sqlite } from '../../src/store/database';
import { LATEST_SEQUENCE_SQL } from '../../src/store/rows';
import { MIGRATIONS } from '../../src/store/schema';
import { forkWorker, type WorkerHandle } from '../ipc';
import { BENCH_DIST, databaseFile, REPO_ROOT, startRigServer, tempProject, type RigServer } from '../processes';
import { formatMs, formatRate, rate } from '../report';
import { restartToReady, type RestartTimes } from '../restart';
import { median, sleep, wallClockMs } from '../stats';
import { forkClient, forkProducer, type WindowResult } from '../workers';
import { formatSize } from './curve';
import { COMMON_ASSIGNEE, prefillTasks, SPARSE_ASSIGNEE, type PrefilledTasks } from './prefill-tasks';
import type { ScaleConfig } from './scale-config';

export const forkScaleWorker = (): WorkerHandle => forkWorker(path.join(BENCH_DIST, 'scale', 'scale-worker.js'));

const TODO = 1;

export interface Latency {
  p50: number;
  p99: number;
  max: number;
  n: number;
}

export interface ListCase {
  name: 'unfiltered' | 'status' | 'assignee' | 'deep page token' | 'deep offset';
  latency: Latency | undefined;
  /** Why it was not measured (the server has no keyset pages). */
  missing?: string;
}

export interface LiveRun {
  /** Median of the measured runs; NaN when every run timed out. */
  medianMs: number;
  runs: number[];
  matched: number;
  expected: number;
}

export interface DatabaseResult {
  size: number;
  prefill: PrefilledTasks;
  serverStartMs: number;
  list?: ListCase[];
  walkMs?: number;
  addTaskPerS?: number;
  liveTask: LiveRun;
  liveAssignee: LiveRun;
  catchUp: { events: number; perS: number };
  compaction: { events: number; ms: number; perS: number; writerP99Without: number; writerP99During: number; writerCallsDuring: number };
  /** Spawn to ready after a clean stop and after kill -9 (bench/restart.ts), after the compaction. */
  restart: RestartTimes;
  elapsedMs: number;
  /** Set when the database was copied from bench/results/cache (how long the copy took). */
  cachedCopyMs?: number;
}

/**
 * Prefilled log-only databases kept between runs, keyed by size, schema version and the prefill's
 * own version (bump PREFILL_VERSION when prefill-tasks.ts writes different rows). The measurements
 * write to the database (AddTask, compaction), so each run works on a copy.
 */
const CACHE_ROOT = path.join(REPO_ROOT, 'bench', 'results', 'cache');
const PREFILL_VERSION = 1;
const cacheDir = (size: number) => path.join(CACHE_ROOT, `log-${size}-schema${MIGRATIONS.length}-prefill${PREFILL_VERSION}`);

function fromCache(size: number, dbFile: string): (PrefilledTasks & { copyMs: number }) | undefined {
  const dir = cacheDir(size);
  const meta = path.join(dir, 'prefill.json');
  if (!fs.existsSync(meta)) return undefined;
  const startedAt = wallClockMs();
  for (const suffix of ['-wal', '-shm']) fs.rmSync(`${dbFile}${suffix}`, { force: true });
  fs.copyFileSync(path.join(dir, 'tasks.db'), dbFile);
  return { ...(JSON.parse(fs.readFileSync(meta, 'utf8')) as PrefilledTasks), copyMs: wallClockMs() - startedAt };
}

/** Keeps a prefilled log-only database for later runs (exported for building the cache ahead of a run). */
export function toCache(size: number, dbFile: string, prefill: PrefilledTasks): void {
  // Entries of the same size for another schema or prefill version will never be read again.
  if (fs.existsSync(CACHE_ROOT)) {
    for (const entry of fs.readdirSync(CACHE_ROOT))
      if (entry.startsWith(`log-${size}-`)) fs.rmSync(path.join(CACHE_ROOT, entry), { recursive: true, force: true });
  }
  const dir = cacheDir(size);
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(dbFile, path.join(dir, 'tasks.db'));
  fs.writeFileSync(path.join(dir, 'prefill.json'), `${JSON.stringify(prefill, null, 2)}\n`);
}

export async function measureDatabase(size: number, withTasks: boolean, config: ScaleConfig, log: (line: string) => void): Promise<DatabaseResult> {
  const startedAt = wallClockMs();
  const project = tempProject();
  const dbFile = databaseFile(project);
  const worker = forkScaleWorker();
  const subscriber = forkClient();
  const producer = forkProducer();
  let server: RigServer | undefined;
  try {
    // Log-only sizes (the largest) come from the cache when it has them; task sizes are prefilled each run.
    const cached = withTasks ? undefined : fromCache(size, dbFile);
    const prefill = cached ?? prefillTasks(dbFile, size);
    if (cached)
      log(
        `${formatSize(size)}: ${size} tasks (${prefill.headSequence} events, ${Math.round(prefill.bytes / 2 ** 20)} MB) copied from ${path.relative(REPO_ROOT, cacheDir(size))} in ${(cached.copyMs / 1000).toFixed(1)} s (prefilled in ${(prefill.elapsedMs / 1000).toFixed(1)} s when it was made)`,
      );
    else {
      log(
        `${formatSize(size)}: prefilled ${size} tasks (${prefill.headSequence} events, ${Math.round(prefill.bytes / 2 ** 20)} MB) in ${(prefill.elapsedMs / 1000).toFixed(1)} s`,
      );
      if (!withTasks) toCache(size, dbFile, prefill);
    }
    const serverStartedAt = wallClockMs();
    server = await startRigServer(project);
    const serverStartMs = wallClockMs() - serverStartedAt;
    const address = server.address;
    const result: Partial<DatabaseResult> = { size, prefill, serverStartMs, ...(cached && { cachedCopyMs: cached.copyMs }) };

    if (withTasks) {
      const list = async (request: object) =>
        worker.call<Latency>('listLatency', { address, request, calls: config.listCalls, maxMs: config.listMs, warmup: 3 }, 300_000);
      const depth = Math.floor(size * config.deepFraction);
      const cases: ListCase[] = [
        { name: 'unfiltered', latency: await list({ limit: 50 }) },
        { name: 'status', latency: await list({ status: TODO, limit: 50 }) },
        { name: 'assignee', latency: await list({ assignee: COMMON_ASSIGNEE, limit: 50 }) },
      ];
      const walk = await worker.call<{ supported: boolean; token?: string; skipped: number; elapsedMs: number }>(
        'walkToDepth',
        { address, request: {}, depth, pageLimit: config.walkPageLimit, timeoutMs: 240_000 },
        250_000,
      );
      if (!walk.supported)
        cases.push({ name: 'deep page token', latency: undefined, missing: 'the server has no keyset pages (no next_page_token in ListTasksResponse)' });
      else if (walk.token === undefined)
        cases.push({ name: 'deep page token', latency: undefined, missing: `the list ended after ${walk.skipped} tasks, before depth ${depth}` });
      else {
        cases.push({ name: 'deep page token', latency: await list({ limit: 50, page_token: walk.token }) });
        result.walkMs = walk.elapsedMs;
      }
      cases.push({ name: 'deep offset', latency: await list({ limit: 50, offset: depth }) });
      result.list = cases;
      log(`${formatSize(size)}: ListTasks p99 ${cases.map((c) => `${c.name} ${c.latency ? formatMs(c.latency.p99) : 'n/a'}`).join(', ')} ms`);
    }

    const head = prefill.headSequence;
    const reach = async (filter: object, expected: number): Promise<LiveRun> => {
      const runs: number[] = [];
      let matched = 0;
      for (let i = 0; i <= config.liveRuns; i++) {
        const run = await worker.call<{ elapsedMs: number | null; matched: number }>(
          'reachLive',
          { address, filter, head, expected, timeoutMs: config.liveTimeoutMs },
          config.liveTimeoutMs + 10_000,
        );
        matched = run.matched;
        const ms = run.elapsedMs ?? NaN;
        // The first run is a warm-up, unless it is slow enough that repeating it would not fit the budget.
        if (i > 0 || !(ms < 2000)) runs.push(ms);
        if (!(ms < 2000)) break;
      }
      const sorted = runs.filter(Number.isFinite).sort((a, b) => a - b);
      return { medianMs: sorted.length ? sorted[Math.floor((sorted.length - 1) / 2)]! : NaN, runs, matched, expected };
    };
    result.liveTask = await reach({ task_ids: [prefill.middleTaskId] }, 1);
    result.liveAssignee = await reach({ assignee_filter: SPARSE_ASSIGNEE }, prefill.sparseAssigneeEvents);
    log(`${formatSize(size)}: reach live from 0: one task ${formatMs(result.liveTask.medianMs)} ms, one assignee ${formatMs(result.liveAssignee.medianMs)} ms`);

    const catchUpEvents = Math.min(config.catchUpEvents, head);
    // An uncounted catch-up over a tenth of it first: the measured one runs warm, as every other figure here.
    await subscriber.call('subscribe', { kind: 'hub', address, streams: 1, sinceSequence: 0 });
    await subscriber.call<WindowResult>('waitForCount', { total: Math.ceil(catchUpEvents / 10), timeoutMs: 120_000 }, 130_000);
    await subscriber.call('close');
    await subscriber.call('subscribe', { kind: 'hub', address, streams: 1, sinceSequence: 0 });
    const caught = await subscriber.call<WindowResult>('waitForCount', { total: catchUpEvents, timeoutMs: 120_000 }, 130_000);
    await subscriber.call('close');
    result.catchUp = { events: catchUpEvents, perS: rate(catchUpEvents, caught.elapsedMs) };
    log(`${formatSize(size)}: unfiltered catch-up ${formatRate(result.catchUp.perS)} over ${catchUpEvents} events`);

    if (withTasks) {
      const load = await producer.call<{ calls: number; errors: number; elapsedMs: number; firstError?: string }>(
        'timedLoad',
        { address, method: 'AddTask', concurrency: config.addTaskConcurrency, durationMs: config.addTaskMs, warmupMs: Math.min(500, config.addTaskMs) },
        120_000,
      );
      if (load.errors > 0) throw new Error(`AddTask failed ${load.errors} times: ${load.firstError}`);
      result.addTaskPerS = rate(load.calls, load.elapsedMs);
      log(`${formatSize(size)}: AddTask ${formatRate(result.addTaskPerS)} (c=${config.addTaskConcurrency})`);
    }

    result.compaction = await compaction(project, dbFile, server, worker, config);
    server = undefined; // stopped by compaction()
    log(
      `${formatSize(size)}: compaction of ${result.compaction.events} events ${formatMs(result.compaction.ms)} ms (${formatRate(result.compaction.perS)}); ` +
        `writer p99 ${formatMs(result.compaction.writerP99During)} ms during, ${formatMs(result.compaction.writerP99Without)} ms without`,
    );
    result.restart = await restartToReady(project, config.restartRuns);
    log(
      `${formatSize(size)}: spawn to ready ${formatMs(median(result.restart.cleanMs))} ms after a clean stop, ${formatMs(median(result.restart.killMs))} ms after kill -9 ` +
        `(quick_check ${formatMs(median(result.restart.checkMs))} ms)`,
    );
    result.elapsedMs = wallClockMs() - startedAt;
    return result as DatabaseResult;
  } finally {
    await Promise.all([worker.kill(), subscriber.kill(), producer.kill(), server?.stop()]);
    fs.rmSync(project, { recursive: true, force: true });
  }
}

/**
 * The writer's p99 at a steady AddTask rate from a server's ready line, twice: on a server
 * restarted without retention (nothing to compact), then on one restarted with a retention that
 * drops the oldest compactFraction of the log (at most compactMaxEvents). Compaction starts with the server, so both writers
 * meet a server just started (cold caches, code not yet optimised) and differ only by it. It is
 * done when the oldest sequence (read from the file by a connection of this process) has moved
 * past the dropped events.
 */
async function compaction(project: string, dbFile: string, running: RigServer, worker: WorkerHandle, config: ScaleConfig) {
  await running.stop();
  const quiet = await startRigServer(project);
  let without: Latency;
  try {
    without = await worker.call<Latency>('steadyWrites', { address: quiet.address, rate: config.writerRate, durationMs: config.writerBaselineMs }, 120_000);
  } finally {
    await quiet.stop();
  }
  const reader = new (sqlite())(dbFile, { readonly: true, fileMustExist: true });
  try {
    const head = (reader.prepare(LATEST_SEQUENCE_SQL).get() as { seq: number }).seq;
    const oldest = reader.prepare('SELECT min(sequence) AS s FROM events');
    const from = (oldest.get() as { s: number }).s;
    const events = Math.min(config.compactMaxEvents, Math.floor((head - from + 1) * config.compactFraction));
    const retain = head - from + 1 - events;
    const server = await startRigServer(project, ['--retain-events', String(retain)]);
    const readyAt = wallClockMs();
    try {
      const writes = worker.call<Latency & { windowFrom: number }>(
        'steadyWrites',
        { address: server.address, rate: config.writerRate, durationMs: 600_000 },
        700_000,
      );
      let doneAt = NaN;
      for (const deadline = readyAt + 600_000; wallClockMs() < deadline;) {
        if ((oldest.get() as { s: number }).s >= from + events) {
          doneAt = wallClockMs();
          break;
        }
        await sleep(5);
      }
      const during = await worker.call<Latency>('stopWrites', { from: readyAt, to: doneAt }, 30_000);
      await writes;
      const ms = doneAt - readyAt;
      // Percentiles of no calls cross the IPC channel as null.
      const p99 = (latency: Latency) => (latency.n > 0 ? latency.p99 : NaN);
      return { events, ms, perS: rate(events, ms), writerP99Without: p99(without), writerP99During: p99(during), writerCallsDuring: during.n };
    } finally {
      await server.stop();
    }
  } finally {
    reader.close();
  }
}
