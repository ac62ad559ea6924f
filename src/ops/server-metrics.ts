// The server's own Prometheus registry for the operations endpoint (ops-server.ts): Node's and the
// process's default metrics, and the hub's. The hot path stays bare: the few counters are
// incremented where things happen (a group commit, a compaction run, a gRPC call's status, in
// src/grpc/request-metrics.ts), and every gauge is computed when the text is rendered (collect
// callbacks), from state the server keeps anyway. The text is rendered at most once a second and
// served to every scrape meanwhile, and its size does not grow with the consumers. The files are
// stat'ed by path: the server process never opens a descriptor on tasks.db, since closing one
// would drop SQLite's POSIX locks.
// docs/operations.md#operations-endpoint lists every metric.
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import client from 'prom-client';
import { createRequestMetrics, type RequestMetrics } from '../grpc/request-metrics';
import type { ConsumerRegistry, ConsumerStatus, RetentionHold } from '../hub/consumer-registry';
import type { EventHub } from '../hub/event-hub';
import { RenderCache, timed } from '../model/render-cache';
import { compareText, topN } from '../model/top-n';
import { SERVICE_NAME } from '../protocol/proto';
import type { Store } from '../store/store';
import { fileSize } from '../store/file-size';

/** What the metrics are read from. */
export interface MetricSources {
  store: Store;
  hub: EventHub;
  consumers: ConsumerRegistry;
  /** Why the server is not ready (one line), or undefined when it is (the same answer as /readyz). */
  notReady(): string | undefined;
}

/** One rendering of the registry, served to every scrape until the next. */
export interface Exposition {
  contentType: string;
  text: Buffer;
  /** The same, gzip-compressed (for scrapers that accept it, as Prometheus does). */
  gzip: Buffer;
}

export interface ServerMetrics {
  registry: client.Registry;
  /** The registry's text, rendered at most once a second (RENDER_MIN_INTERVAL_MS), shared by the scrapes meanwhile. */
  exposition(): Promise<Exposition>;
  /** For the gRPC server's interceptor (GrpcServerOptions.requestMetrics). */
  requests: RequestMetrics;
  /** A compaction run ended, having deleted `deleted` events. */
  compactionRan(deleted: number): void;
  /** A group commit's COMMIT, holding `writes` writes. */
  groupCommitted(writes: number): void;
}

/** The event stream RPCs, by the `kind` label of rigger_subscribers. */
const STREAM_KINDS: readonly (readonly [kind: string, path: string])[] = [
  ['subscribe', `/${SERVICE_NAME}/SubscribeToTaskEvents`],
  ['task_event_stream', `/${SERVICE_NAME}/TaskEventStream`],
  ['consume', `/${SERVICE_NAME}/ConsumeTaskEvents`],
];

/** prom-client defaults that `promtool check metrics` refuses (non-counters named *_total). */
const LINT_FAILING_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** Writes per group commit: 1 up to the group's maximum (256, MAX_BATCH in write-queue.ts). */
const GROUP_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256];

/** Consumers whose status is read in one turn of the event loop; a render reads them all a slice at a time, so no turn is long. */
const CONSUMER_SLICE = 100;

/** Consumers with series of their own (the most lagging); the rest are in the rigger_consumers_* aggregates. */
export const TOP_CONSUMERS = 20;

/** Renders of /metrics are at least this far apart, in ms: a scrape within it gets the last text. */
export const RENDER_MIN_INTERVAL_MS = 1000;
/** And at least this many times the last render's event-loop time apart, so rendering takes at most 0.5% of the event loop (5 ms a second). */
const RENDER_COST_FACTOR = 200;

const gzip = promisify(zlib.gzip);
const now = (): number => performance.now();

/** The consumers as /metrics shows them: the most lagging few, and totals over all. */
interface ConsumerSummary {
  top: ConsumerStatus[];
  count: number;
  lost: number;
  maxLag: number;
  totalLag: number;
  inFlight: number;
  members: number;
  deadLetters: number;
}

const lagOf = (s: ConsumerStatus): number => Math.max(0, s.headSequence - s.ackedSequence);

/** Most lagging first; by name among equals, so the same consumers keep their series from one render to the next. */
const byLag = (a: ConsumerStatus, b: ConsumerStatus): number => lagOf(b) - lagOf(a) || compareText(a.record.name, b.record.name);

function summarize(statuses: ConsumerStatus[]): ConsumerSummary {
  const summary: ConsumerSummary = {
    top: topN(statuses, TOP_CONSUMERS, byLag),
    count: statuses.length,
    lost: 0,
    maxLag: 0,
    totalLag: 0,
    inFlight: 0,
    members: 0,
    deadLetters: 0,
  };
  for (const status of statuses) {
    const lag = lagOf(status);
    if (status.record.lostReason !== undefined) summary.lost++;
    summary.maxLag = Math.max(summary.maxLag, lag);
    summary.totalLag += lag;
    summary.inFlight += status.inFlight;
    summary.members += status.members;
    summary.deadLetters += status.deadLetters;
  }
  return summary;
}

export function createServerMetrics(sources: MetricSources): ServerMetrics {
  const { store, hub, consumers } = sources;
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  // Gauges whose names end in _total, which promtool refuses; the same counts are in
  // nodejs_active_handles, nodejs_active_requests and nodejs_active_resources (by type).
  for (const name of LINT_FAILING_DEFAULTS) registry.removeSingleMetric(name);
  const requests = createRequestMetrics(registry);
  const gauge = (name: string, help: string, collect: (this: client.Gauge) => void, labelNames: readonly string[] = []) =>
    new client.Gauge({ name, help, labelNames, registers: [registry], collect });

  gauge(
    'rigger_log_info',
    "1, labelled with the log's identity (the log_id every position is of; docs/operations.md#log-identity)",
    function () {
      this.set({ log_id: store.lineage.logId }, 1);
    },
    ['log_id'],
  );
  gauge('rigger_ready', '1 while /readyz answers 200 (database open and writable, hub serving), else 0', function () {
    this.set(sources.notReady() === undefined ? 1 : 0);
  });

  // Subscribers.
  gauge(
    'rigger_subscribers',
    'Event streams open, by kind: subscribe (SubscribeToTaskEvents), task_event_stream (TaskEventStream), consume (ConsumeTaskEvents members)',
    function () {
      for (const [kind, path] of STREAM_KINDS) this.set({ kind }, requests.openCalls(path));
    },
    ['kind'],
  );
  gauge(
    'rigger_hub_subscriptions',
    "The hub's subscriptions, by state: live (on the live path) or catching_up (from the replay ring or the log, or waiting for a full stream to drain); one per stream that has subscribed, one per active consumer",
    function () {
      const live = hub.liveCount;
      this.set({ state: 'live' }, live);
      this.set({ state: 'catching_up' }, hub.subscriberCount - live);
    },
    ['state'],
  );
  // Streams by the client name they sent (x-rigger-client-name, its part before "/"), at most 20 names.
  gauge(
    'rigger_streams_by_client',
    'Event streams open (consumer members included), by the kind of client (x-rigger-client-name up to its first "/"; "unnamed" when none was sent; the 19 kinds with the most streams, the rest as "other")',
    function () {
      this.reset();
      for (const [client, entry] of hub.streams.byClient(hub.lastSequence)) this.set({ client }, entry.streams);
    },
    ['client'],
  );
  gauge(
    'rigger_stream_max_lag_events_by_client',
    'Events between the newest published event and the furthest-behind stream of that kind of client (consumer members: see rigger_consumer_lag_events)',
    function () {
      this.reset();
      for (const [client, entry] of hub.streams.byClient(hub.lastSequence)) this.set({ client }, entry.maxLag);
    },
    ['client'],
  );
  gauge(
    'rigger_hub_subscription_max_lag_events',
    'Events between the newest published event and the furthest-behind hub subscription (0 when none is behind)',
    function () {
      this.set(hub.maxSubscriberLag());
    },
  );

  // Events.
  const startSequence = hub.lastSequence;
  new client.Counter({
    name: 'rigger_events_published_total',
    help: "Events the hub published since the server started (its own commits and other processes')",
    registers: [registry],
    collect() {
      // The hub publishes each sequence once, in order: the count is the distance from the start.
      this.reset();
      this.inc(Math.max(0, hub.lastSequence - startSequence));
    },
  });
  gauge('rigger_last_event_sequence', 'Sequence of the newest event published', function () {
    this.set(hub.lastSequence);
  });
  gauge('rigger_oldest_event_sequence', 'Oldest sequence the event log still holds (retention and compaction move it)', function () {
    this.set(readOr(() => store.log.oldestSequence(), 0));
  });

  // Durable consumers: per-consumer series for the most lagging few, aggregates over all (the rest
  // are on ListConsumers), so the text stays small whatever the count. Read before each render
  // (readConsumers), a slice per turn of the event loop; the gauges show that reading.
  let consumerRead: ConsumerSummary = summarize([]);
  const consumerSummary = (): ConsumerSummary => consumerRead;
  const readConsumers = async (busy: { ms: number }): Promise<void> => {
    const records = timed(busy, now, () => readOr(() => store.consumers.list(), []));
    const statuses: ConsumerStatus[] = [];
    for (let at = 0; at < records.length; at += CONSUMER_SLICE) {
      if (at > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      timed(busy, now, () => {
        for (const record of records.slice(at, at + CONSUMER_SLICE)) {
          const status = readOr<ConsumerStatus | undefined>(() => consumers.status(record.name), undefined); // undefined: deleted meanwhile
          if (status) statuses.push(status);
        }
      });
    }
    consumerRead = timed(busy, now, () => summarize(statuses));
  };
  const perConsumer = (name: string, help: string, value: (s: ConsumerStatus) => number) =>
    gauge(
      name,
      `${help} (the ${TOP_CONSUMERS} most lagging consumers)`,
      function () {
        this.reset();
        for (const status of consumerSummary().top) this.set({ consumer: status.record.name }, value(status));
      },
      ['consumer'],
    );
  perConsumer('rigger_consumer_lag_events', "Events between the newest event and the consumer's acked position", lagOf);
  perConsumer('rigger_consumer_in_flight', "Deliveries sent to the consumer's members and not yet acked", (s) => s.inFlight);
  perConsumer('rigger_consumer_members', 'Members of the consumer connected now', (s) => s.members);
  perConsumer('rigger_consumer_dead_letters', 'Dead letters the consumer holds', (s) => s.deadLetters);
  const overall = (name: string, help: string, value: (s: ConsumerSummary) => number) =>
    gauge(name, help, function () {
      this.set(value(consumerSummary()));
    });
  overall('rigger_consumers', 'Durable consumers that exist (lost ones included)', (s) => s.count);
  overall('rigger_consumers_lost', 'Durable consumers marked lost (fell past --consumer-max-lag)', (s) => s.lost);
  overall('rigger_consumers_max_lag_events', 'The largest lag of any durable consumer, in events', (s) => s.maxLag);
  overall('rigger_consumers_total_lag_events', 'The lags of all durable consumers added up, in events', (s) => s.totalLag);
  overall('rigger_consumers_in_flight', 'Deliveries sent and not yet acked, over all durable consumers', (s) => s.inFlight);
  overall('rigger_consumers_members', 'Members connected, over all durable consumers', (s) => s.members);
  overall('rigger_consumers_dead_letters', 'Dead letters held, over all durable consumers', (s) => s.deadLetters);
  // The consumer holding the event log back the most past the retention (as of the last compaction): one series at most.
  for (const [name, help, value] of [
    [
      'rigger_retention_hold_events',
      'Events past the retention kept for the durable consumer that holds the most (label: that consumer)',
      (h: RetentionHold) => h.events,
    ],
    [
      'rigger_retention_hold_bytes',
      'Bytes of events past the retention kept for the durable consumer that holds the most (bounded by --consumer-max-held-bytes)',
      (h: RetentionHold) => h.bytes,
    ],
  ] as const) {
    gauge(
      name,
      help,
      function () {
        this.reset();
        const hold = consumers.retentionHold();
        if (hold) this.set({ consumer: hold.consumer }, value(hold));
      },
      ['consumer'],
    );
  }

  // Files, by path (stat only; see the top of this file).
  const file = store.db.name;
  gauge('rigger_database_bytes', 'Size of the database file (tasks.db)', function () {
    this.set(fileSize(file));
  });
  gauge('rigger_wal_bytes', 'Size of the write-ahead log (tasks.db-wal)', function () {
    this.set(fileSize(`${file}-wal`));
  });

  // Background work and commits: counted inline.
  const compactionRuns = new client.Counter({
    name: 'rigger_compaction_runs_total',
    help: 'Compaction runs finished (at start-up, then every --compact-interval-ms; none without retention)',
    registers: [registry],
  });
  const compactionDeleted = new client.Counter({
    name: 'rigger_compaction_deleted_events_total',
    help: 'Events deleted from the log by compaction',
    registers: [registry],
  });
  const groupWrites = new client.Histogram({
    name: 'rigger_group_commit_writes',
    help: 'Writes per group commit transaction (its _count is the transactions committed)',
    buckets: GROUP_BUCKETS,
    registers: [registry],
  });
  const unlabelledGroup = groupWrites.labels();

  // The exposition itself: how often it is rendered and what that costs.
  const rendered = new RenderCache<Exposition>(
    async () => {
      const busy = { ms: 0 };
      await readConsumers(busy);
      // The registry's collect callbacks and formatting run in one go (microtasks, no I/O between): the wait is the event loop's time.
      const started = now();
      const text = Buffer.from(await registry.metrics());
      busy.ms += now() - started;
      // Compressed on libuv's thread pool, off the event loop.
      return { value: { contentType: registry.contentType, text, gzip: await gzip(text) }, busyMs: busy.ms };
    },
    { minIntervalMs: RENDER_MIN_INTERVAL_MS, costFactor: RENDER_COST_FACTOR, now },
  );
  new client.Counter({
    name: 'rigger_metrics_renders_total',
    help: `Times this text was rendered (this one included): at most once a second, longer apart when a render is slow (${RENDER_COST_FACTOR} times its event-loop time); scrapes in between get the same text`,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(rendered.renders);
    },
  });
  gauge('rigger_metrics_render_seconds', 'Event-loop time the previous render of this text took', function () {
    this.set(rendered.lastRenderMs / 1000);
  });

  return {
    registry,
    exposition: () => rendered.get(),
    requests,
    compactionRan(deleted) {
      compactionRuns.inc();
      if (deleted > 0) compactionDeleted.inc(deleted);
    },
    groupCommitted(writes) {
      unlabelledGroup.observe(writes);
    },
  };
}

/** `read()`, or `fallback` when it throws (the database closing under a scrape at shutdown). */
function readOr<T>(read: () => T, fallback: T): T {
  try {
    return read();
  } catch {
    return fallback;
  }
}
