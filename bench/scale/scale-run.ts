// The scale run (`npm run bench -- --scale`): every curve of issue 18, each measured at several
// sizes through the real server, as one table line per curve with its slope. Parts run one after
// another (each alone on the machine); a part that fails is reported and the others still run.
import { formatMs, formatRate, type Measurement } from '../report';
import { median, wallClockMs } from '../stats';
import { consumerMembers, type ConsumersResult } from './consumer-members';
import { curveMeasurement, formatSize, type CurvePoint } from './curve';
import { measureDatabase, type DatabaseResult, type ListCase } from './database-sizes';
import { idleStreams, type StreamsResult } from './idle-streams';
import { natsCluster, natsMeasurements, type NatsClusterResult } from './nats-cluster';
import type { ScaleConfig } from './scale-config';

export const SCALE_PARTS = ['tasks', 'log', 'streams', 'consumers', 'nats cluster'] as const;

export interface ScaleOutcome {
  measurements: Measurement[];
  errors: { row: string; error: string }[];
  /** Wall-clock time of each part, prefill included, in ms. */
  partMs: Record<string, number>;
  /** How each database was made and how long that took, one line each. */
  prefillNotes: string[];
  raw: { databases: DatabaseResult[]; streams: StreamsResult[]; consumers?: ConsumersResult; nats?: NatsClusterResult };
}

const TASK_TARGET_SIZE = 1_000_000;
const LOG_TARGET_SIZE = 1_000_000;
const STREAMS_TARGET_SIZE = 10_000;
const RESTART_TARGET_SIZE = 10_000_000;

const ms = (value: number) => `${formatMs(value)} ms`;
const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;

export async function runScale(config: ScaleConfig, log: (line: string) => void): Promise<ScaleOutcome> {
  const errors: ScaleOutcome['errors'] = [];
  const partMs: Record<string, number> = {};
  const databases: DatabaseResult[] = [];
  const streams: StreamsResult[] = [];
  let consumers: ConsumersResult | undefined;
  let nats: NatsClusterResult | undefined;
  const attempt = async (part: string, work: () => Promise<void>) => {
    const startedAt = wallClockMs();
    try {
      await work();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      errors.push({ row: `scale ${part}`, error: message });
      process.stderr.write(`  scale ${part} FAILED: ${message}\n`);
    }
    partMs[part] = (partMs[part] ?? 0) + (wallClockMs() - startedAt);
    log(`(${part}: ${((wallClockMs() - startedAt) / 1000).toFixed(1)} s)`);
  };

  for (const size of config.taskSizes) await attempt(`tasks+log ${size}`, async () => void databases.push(await measureDatabase(size, true, config, log)));
  for (const size of config.logOnlySizes) await attempt(`log ${size}`, async () => void databases.push(await measureDatabase(size, false, config, log)));
  for (const size of config.streamSizes) await attempt(`streams ${size}`, async () => void streams.push(await idleStreams(size, config, log)));
  await attempt('consumers', async () => void (consumers = await consumerMembers(config, log)));
  await attempt('nats cluster', async () => void (nats = await natsCluster(config, log)));

  const measurements = [...taskCurves(databases), ...logCurves(databases), ...streamCurves(streams), ...consumerCurves(consumers), ...natsMeasurements(nats)];
  const prefillNotes = databases.map((d) => {
    const made = `${d.prefill.tasks} tasks, ${d.prefill.headSequence} events, ${(d.prefill.bytes / 2 ** 30).toFixed(2)} GiB`;
    return d.cachedCopyMs !== undefined
      ? `${formatSize(d.size)}: copied from bench/results/cache in ${(d.cachedCopyMs / 1000).toFixed(1)} s (${made}; prefilled in ${(d.prefill.elapsedMs / 1000).toFixed(1)} s when the cache was made); server start (quick_check: the copy has no clean-stop record) ${(d.serverStartMs / 1000).toFixed(1)} s`
      : `${formatSize(d.size)}: prefilled through TaskStore.write in ${(d.prefill.elapsedMs / 1000).toFixed(1)} s (${made}); server start (no quick_check: the prefill closed the file cleanly) ${(d.serverStartMs / 1000).toFixed(1)} s`;
  });
  return { measurements, errors, partMs, prefillNotes, raw: { databases, streams, ...(consumers && { consumers }), ...(nats && { nats }) } };
}

function taskCurves(databases: DatabaseResult[]): Measurement[] {
  const withTasks = databases.filter((d) => d.list !== undefined).sort((a, b) => a.size - b.size);
  const listCurve = (name: ListCase['name'], label: string): Measurement => {
    const missing = new Set<string>();
    const points: CurvePoint[] = withTasks.map((d) => {
      const c = d.list!.find((x) => x.name === name);
      if (!c?.latency) {
        if (c?.missing) missing.add(c.missing);
        return { size: d.size, value: NaN };
      }
      return { size: d.size, value: c.latency.p99, display: `p50 ${formatMs(c.latency.p50)} / p99 ${formatMs(c.latency.p99)} ms` };
    });
    return curveMeasurement({
      row: 'scale: tasks',
      case: `ListTasks ${label}`,
      axis: 'tasks',
      points,
      format: ms,
      target: { text: 'p99 < 20 ms at 1M tasks', size: TASK_TARGET_SIZE, met: (p99) => p99 < 20 },
      note: [`limit 50, one call at a time; slope of p99`, ...missing].join('; '),
    });
  };
  if (withTasks.length === 0) return [];
  const depth = (d: DatabaseResult) => Math.floor(d.size * 0.5);
  return [
    listCurve('unfiltered', 'unfiltered'),
    listCurve('status', 'status = TODO (7 in 10 tasks)'),
    listCurve('assignee', 'assignee (1 in 100 tasks)'),
    listCurve('deep page token', 'deep page via page_token (half-way)'),
    listCurve('deep offset', 'deep page via offset (half-way)'),
    curveMeasurement({
      row: 'scale: tasks',
      case: 'AddTask rate',
      axis: 'tasks',
      points: withTasks.map((d) => ({ size: d.size, value: d.addTaskPerS ?? NaN })),
      format: (v) => `${formatRate(v)}`,
      note: 'AddTask calls/s at concurrency 64 from one client process, durability full',
    }),
    curveMeasurement({
      row: 'scale: tasks',
      case: 'database bytes per task',
      axis: 'tasks',
      points: withTasks.map((d) => ({ size: d.size, value: d.prefill.bytes / d.prefill.tasks })),
      format: (v) => `${Math.round(v)} B`,
      note: `the checkpointed tasks.db over its tasks, each with its CREATED event (the log is part of the file); deep pages at ${withTasks.map((d) => depth(d)).join(' / ')}`,
    }),
  ];
}

function logCurves(databases: DatabaseResult[]): Measurement[] {
  const sorted = [...databases].sort((a, b) => a.size - b.size);
  if (sorted.length === 0) return [];
  const live = (pick: (d: DatabaseResult) => DatabaseResult['liveTask']) =>
    sorted.map((d) => ({ size: d.size, value: pick(d).medianMs, display: `${ms(pick(d).medianMs)}${pick(d).runs.length > 1 ? '' : ' (1 run)'}` }));
  const liveNote =
    'live = the stream (TaskEventStream, since_sequence 0) has received its matching events and a BOOKMARK at or after the head; ' +
    'the client asks for a bookmark at once and again as soon as each one arrives, so the first one at the head marks the moment; median of the runs after one uncounted';
  return [
    curveMeasurement({
      row: 'scale: log',
      case: 'one-task subscriber reaches live from 0',
      axis: 'events',
      points: live((d) => d.liveTask),
      format: ms,
      target: { text: '< 50 ms at 1M events', size: LOG_TARGET_SIZE, met: (v) => v < 50 },
      note: `task_ids = one task created half-way through the log (1 matching event); ${liveNote}`,
    }),
    curveMeasurement({
      row: 'scale: log',
      case: 'one-assignee subscriber reaches live from 0',
      axis: 'events',
      points: live((d) => d.liveAssignee),
      format: ms,
      note: `assignee_filter = an assignee of ${sorted[0]!.prefill.sparseAssigneeEvents} tasks spread over the log (that many matching events)`,
    }),
    curveMeasurement({
      row: 'scale: log',
      case: 'unfiltered catch-up rate',
      axis: 'events',
      points: sorted.map((d) => ({ size: d.size, value: d.catchUp.perS, display: `${formatRate(d.catchUp.perS)} over ${d.catchUp.events}` })),
      format: formatRate,
      note: 'one SubscribeToTaskEvents stream from sequence 0 over the oldest events of the log (at most 200,000; after an uncounted one over a tenth of them), raw bytes counted, from the subscribe call to the last event',
    }),
    curveMeasurement({
      row: 'scale: log',
      case: 'compaction of the oldest tenth (at most 100k)',
      axis: 'events',
      points: sorted.map((d) => ({
        size: d.size,
        value: d.compaction.perS,
        display: `${(d.compaction.ms / 1000).toFixed(2)} s (${formatRate(d.compaction.perS)})`,
      })),
      format: formatRate,
      note: 'the server restarted with --retain-events = the newest nine tenths of the log; from its ready line until the oldest sequence (read from the file) has moved past the dropped events (a tenth of the log, at most 100,000: the same count at the largest sizes); slope of the rate',
    }),
    ...restartCurves(sorted),
    curveMeasurement({
      row: 'scale: log',
      case: "writer's p99 during compaction / without",
      axis: 'events',
      points: sorted.map((d) => ({
        size: d.size,
        value: d.compaction.writerP99During / d.compaction.writerP99Without,
        display: `${formatMs(d.compaction.writerP99During)} vs ${formatMs(d.compaction.writerP99Without)} ms (${(d.compaction.writerP99During / d.compaction.writerP99Without).toFixed(2)}x, n=${d.compaction.writerCallsDuring})`,
      })),
      format: (v) => `${v.toFixed(2)}x`,
      note: "AddTask at a steady 200/s from another process, from a just-started server's ready line: p99 of the calls in flight during the compaction, against the first 3 s of a server started on the same database without retention",
    }),
  ];
}

function streamCurves(results: StreamsResult[]): Measurement[] {
  const sorted = [...results].sort((a, b) => a.streams - b.streams);
  if (sorted.length === 0) return [];
  const gc = sorted.every((r) => r.gc) ? 'after a full GC (--expose-gc, the bench preload only)' : 'WITHOUT a forced GC (gc() was not available)';
  return [
    curveMeasurement({
      row: 'scale: idle streams',
      case: 'server RSS per stream',
      axis: 'streams',
      points: sorted.map((r) => ({ size: r.streams, value: r.rssPerStreamBytes })),
      format: kb,
      target: { text: '< 30 KB at 10,000 streams', size: STREAMS_TARGET_SIZE, met: (v) => v < 30 * 1024 },
      note: `(VmRSS after - before) / streams, each read ${gc} and a settle; live SubscribeToTaskEvents streams, no bookmarks`,
    }),
    curveMeasurement({
      row: 'scale: idle streams',
      case: 'server heap + external per stream',
      axis: 'streams',
      points: sorted.map((r) => ({ size: r.streams, value: r.heapPerStreamBytes })),
      format: kb,
      note: 'v8 used_heap_size + external after - before, over the streams: the part of the RSS that is JavaScript objects and buffers',
    }),
    curveMeasurement({
      row: 'scale: idle streams',
      case: 'time to open them all',
      axis: 'streams',
      points: sorted.map((r) => ({ size: r.streams, value: r.openMs })),
      format: ms,
      note: 'from the first call (connections already made) until every stream has its response headers (the subscription is registered), all client processes at once; the slowest process counts',
    }),
    curveMeasurement({
      row: 'scale: idle streams',
      case: 'fan-out of one event to all',
      axis: 'streams',
      points: sorted.map((r) => ({
        size: r.streams,
        value: r.fanOutMs,
        display: `${ms(r.fanOutMs)} (${formatRate((r.streams * 1000) / r.fanOutMs)} deliveries)`,
      })),
      format: ms,
      note: 'AddTask sent -> the last stream received its event (wall clock, one machine); median of the rounds',
    }),
  ];
}

function consumerCurves(result: ConsumersResult | undefined): Measurement[] {
  if (!result) return [];
  return [
    curveMeasurement({
      row: 'scale: consumers',
      case: 'group throughput (lag-free up to it)',
      axis: 'members',
      points: result.byMembers.map((m) => ({
        size: m.members,
        value: m.perS,
        display: `${formatRate(m.perS)}${m.received < result.events ? ` (${m.received} of ${result.events})` : ''}`,
      })),
      format: formatRate,
      note: `${result.events} prefilled events, every delivery acked at once; a plain subscriber read them at ${formatRate(result.plainPerS)}; k = 1 would be throughput in proportion to the members`,
    }),
  ];
}

/** Spawn to ready after a clean stop (the same at every size, within 2x of the smallest) and after kill -9 (quick_check: linear). */
function restartCurves(sorted: DatabaseResult[]): Measurement[] {
  const smallest = sorted[0]!;
  const clean = (d: DatabaseResult) => median(d.restart.cleanMs);
  const runs = (values: number[]) => (values.length > 1 ? ` (median of ${values.length})` : '');
  return [
    curveMeasurement({
      row: 'scale: log',
      case: 'restart to ready after a clean stop',
      axis: 'events',
      points: sorted.map((d) => ({ size: d.size, value: clean(d), display: `${ms(clean(d))}${runs(d.restart.cleanMs)}` })),
      format: ms,
      target: { text: `<= 2x the ${formatSize(smallest.size)} figure at 10M`, size: RESTART_TARGET_SIZE, met: (v) => v <= 2 * clean(smallest) },
      note: 'rig grpc from spawn to its ready line after SIGTERM: the clean-stop record lets it skip quick_check (header, application_id, schema and WAL checked only)',
    }),
    curveMeasurement({
      row: 'scale: log',
      case: 'restart to ready after kill -9',
      axis: 'events',
      points: sorted.map((d) => ({
        size: d.size,
        value: median(d.restart.killMs),
        display: `${ms(median(d.restart.killMs))}, quick_check ${ms(median(d.restart.checkMs))}${runs(d.restart.killMs)}`,
      })),
      format: ms,
      note: 'rig grpc from spawn to its ready line after SIGKILL: no clean-stop record, so quick_check (every page) runs on a worker thread while /readyz and health say NOT_SERVING; the file is in the page cache',
    }),
  ];
}
