// The metrics sidecar: Prometheus text exposition on --listen (default 127.0.0.1:9464) at /metrics.
// Its task gauges come from one stream: it subscribes with include_snapshot, builds the counts from
// the SNAPSHOT entries (every task, archived included, at one sequence), says `ready:` when the
// snapshot is complete, and applies the changes after it. A reconnect resumes from the stream's
// position (no new snapshot); a stream lost before its snapshot was complete starts a new one, and
// the counts start over with it. The durable consumers' gauges (lag, in flight, redeliveries, dead
// letters) come from polling ListConsumers (consumer-metrics.ts). Label sets are bounded: the
// --top-assignees busiest assignees and the --top-consumers most lagging consumers get series of
// their own, the rest are summed. The text is rendered at most once a second whatever the scrape rate.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import client from 'prom-client';
import type { Subscription } from 'rxjs';
import { RenderCache } from '../src/model/render-cache';
import { eventTypeName, statusName, TaskEventType, TaskStatus, type TaskEvent } from '../src/model/task';
import { watchConsumers } from './consumer-metrics';
import { OTHER_ASSIGNEES, TaskCounts } from './metrics-state';
import type { CommandModule } from 'yargs';
import type { CommonArgs } from '../src/config/command-line';
import {
  connect,
  logStatus,
  runStandalone,
  runUntilStopped,
  sidecarFlags,
  sidecarLogger,
  sidecarOptions,
  type SidecarArgs,
  type SidecarOptions,
} from './shared';

interface MetricsOptions extends SidecarOptions {
  /** host:port to serve /metrics on; port 0 picks a free one (printed on stdout). */
  listen: string;
  /** How often the server's durable consumers are listed for their gauges, in ms (0 = never). */
  consumersIntervalMs: number;
  /** Assignees with a rigger_tasks_by_assignee series of their own (the most open tasks); the rest are summed. */
  topAssignees: number;
  /** Consumers with per-consumer series (the most lagging); the rest are in the totals. */
  topConsumers: number;
}

/** Renders are at least this far apart, in ms (and 200 times the last render's event-loop time). */
const RENDER_MIN_INTERVAL_MS = 1000;

function createMetrics(topAssignees: number) {
  const registry = new client.Registry();
  const counts = new TaskCounts();
  const events = new client.Counter({ name: 'rigger_events_total', help: 'Task events received, by type', labelNames: ['type'], registers: [registry] });
  new client.Gauge({
    name: 'rigger_tasks',
    help: 'Tasks by status (archived included)',
    labelNames: ['status'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [status, n] of counts.byStatus()) this.set({ status: statusName(status) }, n);
    },
  });
  // Set by rigger_tasks_by_assignee's collect, which runs first (prom-client collects in registration order).
  let assignees = 0;
  new client.Gauge({
    name: 'rigger_tasks_by_assignee',
    help: `Tasks not archived, by assignee ("" = unassigned), for the ${topAssignees} assignees with the most; "${OTHER_ASSIGNEES}" sums the others`,
    labelNames: ['assignee'],
    registers: [registry],
    collect() {
      this.reset();
      const { top, other, count } = counts.topAssignees(topAssignees);
      for (const [assignee, n] of top) this.set({ assignee }, n);
      if (other > 0) this.set({ assignee: OTHER_ASSIGNEES }, other);
      assignees = count;
    },
  });
  new client.Gauge({
    name: 'rigger_assignees',
    help: 'Assignees with tasks not archived ("" = unassigned counts as one)',
    registers: [registry],
    collect() {
      this.set(assignees);
    },
  });
  const completion = new client.Histogram({
    name: 'rigger_task_completion_seconds',
    help: "Time from a task's creation to its change to COMPLETED",
    buckets: [60, 300, 900, 3600, 4 * 3600, 86400, 3 * 86400, 7 * 86400, 30 * 86400],
    registers: [registry],
  });
  const lastSequence = new client.Gauge({ name: 'rigger_last_event_sequence', help: 'Sequence of the newest event received', registers: [registry] });
  const connected = new client.Gauge({ name: 'rigger_stream_connected', help: '1 while the event stream is open, else 0', registers: [registry] });
  let lastSeen = 0;
  const reconnects = new client.Counter({
    name: 'rigger_stream_reconnects_total',
    help: 'Times the event stream was reopened after a loss',
    registers: [registry],
  });

  return {
    registry,
    counts,
    /** A change (never a snapshot entry: those are state, not events, and go to counts.put). */
    record(event: TaskEvent): void {
      events.inc({ type: eventTypeName(event.event_type) });
      lastSequence.set((lastSeen = event.sequence));
      if (!counts.put(event.task)) return; // the same change as the event before it
      const completedNow =
        event.task.status === TaskStatus.COMPLETED && event.previous_task !== undefined && event.previous_task.status !== TaskStatus.COMPLETED;
      if (completedNow) {
        const seconds = (Date.parse(event.timestamp) - Date.parse(event.task.created_at)) / 1000;
        if (Number.isFinite(seconds) && seconds >= 0) completion.observe(seconds);
      }
    },
    /** The stream is open from `position` on (its header), so that much of the log is seen. */
    setConnected(up: boolean, position?: number): void {
      connected.set(up ? 1 : 0);
      if (position !== undefined) this.passed(position);
    },
    /** The stream has seen the log up to `position`: a bookmark, the stream's start. */
    passed(position: number): void {
      if (position > lastSeen) lastSequence.set((lastSeen = position));
    },
    /** Every count is as of `position`, which may be below an earlier one (a new snapshot after a restore of the log). */
    snapshotComplete(position: number): void {
      lastSequence.set((lastSeen = position));
    },
    countReconnect(): void {
      reconnects.inc();
    },
  };
}

function parseListen(listen: string): { host: string; port: number } {
  const match = /^\[?([^\]]*?)\]?:(\d+)$/.exec(listen.trim());
  if (!match || Number(match[2]) > 65535) throw new Error(`--listen must be host:port (e.g. 127.0.0.1:9464), got ${JSON.stringify(listen)}`);
  return { host: match[1] || '127.0.0.1', port: Number(match[2]) };
}

async function runMetrics(options: MetricsOptions): Promise<void> {
  const logger = sidecarLogger('metrics', options);
  const { host, port } = parseListen(options.listen);
  const metrics = createMetrics(options.topAssignees);
  metrics.setConnected(false);
  const now = () => performance.now();
  // The registry's collect callbacks and formatting run in one go (microtasks, no I/O between): the wait for the text is the event loop's time.
  const rendered = new RenderCache(
    async () => {
      const started = now();
      const value = await metrics.registry.metrics();
      return { value, busyMs: now() - started };
    },
    { minIntervalMs: RENDER_MIN_INTERVAL_MS, costFactor: 200, now },
  );

  const httpServer = http.createServer((request, response) => {
    if (request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found; metrics are at /metrics\n');
      return;
    }
    rendered.get().then(
      (text) => response.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      (error: Error) => response.writeHead(500, { 'content-type': 'text/plain' }).end(`${error.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(port, host, () => resolve());
  });
  const bound = httpServer.address() as { port: number };
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${bound.port}/metrics`;

  const client = connect(options, 'metrics');
  const stopConsumers =
    options.consumersIntervalMs > 0 ? watchConsumers(client, metrics.registry, options.consumersIntervalMs, options.topConsumers, logger) : () => undefined;
  let subscription: Subscription | undefined;
  let snapshotComplete: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (snapshotComplete = resolve));
  const failed = new Promise<never>((_, reject) => {
    subscription = client
      .subscribe({
        ...options.subscription,
        includeSnapshot: true,
        onSnapshot: (marker) => {
          if (marker.state === 'started') metrics.counts.reset();
          else {
            metrics.snapshotComplete(marker.sequence);
            logger.info({ sequence: marker.sequence, tasks: marker.tasks }, 'snapshot complete');
            snapshotComplete();
          }
        },
        onBookmark: (sequence) => metrics.passed(sequence),
        onStatus: logStatus(logger, (status) => {
          metrics.setConnected(status.state === 'connected', status.state === 'connected' ? status.position : undefined);
          if (status.state === 'connected' && status.reconnects > 0) metrics.countReconnect();
        }),
      })
      .subscribe({
        next: (event) => (event.event_type === TaskEventType.SNAPSHOT ? void metrics.counts.put(event.task) : metrics.record(event)),
        error: reject,
      });
  });
  const stop = async () => {
    stopConsumers();
    subscription?.unsubscribe();
    await new Promise<void>((resolve) => {
      httpServer.close(() => resolve());
      httpServer.closeAllConnections();
    });
    await client.close();
  };
  // Until the snapshot is complete the gauges are partial: `ready:` waits for it (and a signal
  // meanwhile still stops the sidecar cleanly).
  void ready.then(() => {
    process.stdout.write(`ready: metrics on ${url}\n`);
    logger.info({ url, address: client.address }, 'metrics sidecar started');
  });
  await runUntilStopped(logger, failed, stop);
}

export const metricsCommand: CommandModule<
  CommonArgs,
  SidecarArgs & { listen: string; 'consumers-interval-ms': number; 'top-assignees': number; 'top-consumers': number }
> = {
  command: 'metrics',
  describe: 'Prometheus metrics of tasks and events at http://<listen>/metrics',
  builder: (yargs) =>
    sidecarFlags(yargs, false)
      .option('listen', { type: 'string', default: '127.0.0.1:9464', describe: 'host:port to serve /metrics on' })
      .option('consumers-interval-ms', {
        type: 'number',
        default: 5000,
        describe: "how often the durable consumers' lag, in-flight, redeliveries and dead letters are read from the server (0 = never)",
      })
      .option('top-assignees', {
        type: 'number',
        default: 50,
        describe: `assignees with a rigger_tasks_by_assignee series of their own (those with the most open tasks); the others are summed as assignee="${OTHER_ASSIGNEES}"`,
      })
      .option('top-consumers', {
        type: 'number',
        default: 20,
        describe: 'durable consumers with per-consumer series (the most lagging); all are in the rigger_consumers_* totals',
      })
      .example('$0 sidecar metrics', 'Prometheus metrics of the event stream at http://127.0.0.1:9464/metrics'),
  handler: (argv) => {
    const interval = argv['consumers-interval-ms'];
    if (!Number.isInteger(interval) || interval < 0) throw new Error(`--consumers-interval-ms must be a whole number of ms, 0 or more, got ${interval}`);
    for (const flag of ['top-assignees', 'top-consumers'] as const) {
      const n = argv[flag];
      if (!Number.isInteger(n) || n < 0 || n > 10_000) throw new Error(`--${flag} must be a whole number from 0 to 10000, got ${n}`);
    }
    return runMetrics({
      ...sidecarOptions(argv, false),
      listen: argv.listen,
      consumersIntervalMs: interval,
      topAssignees: argv['top-assignees'],
      topConsumers: argv['top-consumers'],
    });
  },
};

if (require.main === module) runStandalone(metricsCommand);
