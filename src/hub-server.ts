// The composition root of `rig grpc`: the store feeds the hub, the hub feeds the gRPC server, and
// the background jobs run beside them. Shutdown runs in the reverse order, so nothing acknowledged
// is lost and every stream ends with UNAVAILABLE, which clients resume from.
import type { Logger } from 'pino';
import { startGrpcServer, type GrpcServerOptions } from './grpc/server';
import { ConsumerRegistry, DEFAULT_MAX_CONSUMERS, DEFAULT_MAX_FILTER_BYTES, DEFAULT_MAX_HELD_BYTES } from './hub/consumer-registry';
import { EventHub } from './hub/event-hub';
import { RiggerError } from './model/errors';
import { startOpsServer, type OpsServer } from './ops/ops-server';
import { createServerMetrics, type ServerMetrics } from './ops/server-metrics';
import { startBackgroundCheck, type BackgroundCheck } from './store/background-check';
import { SERVER_CHECKPOINT_INTERVAL_MS, startCheckpointer } from './store/checkpointer';
import { startCompactor } from './store/compactor';
import { EventBytes } from './store/event-bytes';
import { watchDatabaseFile } from './store/file-watch';
import type { Retention } from './store/event-log';
import { watchLog, type LogWatchOptions } from './store/log-watcher';
import type { Store } from './store/store';

export interface HubServerOptions extends GrpcServerOptions {
  /** Events the replay ring holds in memory. */
  bufferSize: number;
  retention: Retention;
  /** How the log is watched for other processes' commits (log-watcher.ts); the file is the store's. */
  logWatch: Omit<LogWatchOptions, 'file'>;
  compactIntervalMs: number;
  /** How long calls in flight may take to finish at shutdown, in ms. */
  shutdownGraceMs: number;
  /** How long a write waits (on timers, never blocking) for another process's lock before UNAVAILABLE, in ms. */
  busyTimeoutMs: number;
  /** Where task writes run their transactions (TaskStore.neverBlock); default inline. */
  storeWriter?: 'inline' | 'thread';
  /** How far behind the head a durable consumer may hold back compaction, in events (0 = no bound). */
  consumerMaxLag: number;
  /** ... and in bytes of those events (0 = no bound). */
  consumerMaxHeldBytes?: number;
  /** Durable consumers that may exist at once. */
  maxConsumers?: number;
  /** The largest filter a new durable consumer may have, in bytes of its stored JSON. */
  consumerMaxFilterBytes?: number;
  /** Serve /metrics, /healthz and /readyz over HTTP here (src/ops/); absent: no operations endpoint. */
  httpListen?: { host: string; port: number };
  /** The bearer token /metrics requires; absent: none. */
  httpToken?: string;
  /** The store's owed check, when the caller started it early (rig grpc, to overlap its module loading); absent: started here. */
  owedCheck?: BackgroundCheck;
}

export interface HubServer {
  /** The bound addresses, e.g. ["127.0.0.1:50051", "[::1]:50051"]. */
  addresses: string[];
  port: number;
  hub: EventHub;
  /** The operations endpoint's base URL ("http://127.0.0.1:9465"), when httpListen was given. */
  opsUrl?: string;
  /** Stops accepting, ends streams with UNAVAILABLE, lets calls in flight finish (up to the grace period), closes the store. */
  shutdown(): Promise<void>;
}

/** How often the database file's identity is checked when nothing writes (every write checks it too). */
const FILE_WATCH_INTERVAL_MS = 250;

/**
 * Serves `store`, which it owns from now on: it is closed by shutdown, or here if the start fails.
 * When the store owes its full integrity check (a start after an unclean stop), it runs on a worker
 * while the servers start to listen, and they refuse every call with UNAVAILABLE, health and
 * /readyz NOT_SERVING, until it passes; nothing reads or writes the file for serving before. A
 * failed check ends the start with its one-line refusal.
 */
export async function startHubServer(store: Store, options: HubServerOptions, logger: Logger): Promise<HubServer> {
  let hub: EventHub;
  let consumers: ConsumerRegistry;
  let grpcServer: Awaited<ReturnType<typeof startGrpcServer>> | undefined;
  let metrics: ServerMetrics | undefined;
  let ops: OpsServer | undefined;
  const owed = store.fullCheckOwed;
  let checking: BackgroundCheck | undefined;
  // Ready (for /readyz): serving, and the database checked, open and writable (not fenced by file-watch.ts or a failed WAL sync).
  let serving = false;
  let closing: Promise<void> | undefined;
  const notReady = (): string | undefined => {
    if (closing) return 'the server is shutting down';
    if (store.fullCheckOwed) return checking?.status() ?? `the integrity check (quick_check) of the database is starting: ${store.fullCheckOwed.reason}`;
    if (!store.db.open) return 'the database is closed';
    const refused = store.tasks.writeRefusal();
    if (refused) return `the database is not writable: ${refused.message}`;
    if (!serving) return 'the hub is not serving';
    return undefined;
  };
  try {
    // At once: the check runs on its worker while this thread loads the protos and binds.
    if (owed) checking = options.owedCheck ?? startBackgroundCheck(store.db.name, owed.reason, owed.readAheadFd);
    if (options.httpListen) {
      ops = await startOpsServer({
        ...options.httpListen,
        metrics: () => metrics?.exposition(),
        notReady,
        ...(options.httpToken && { token: options.httpToken }),
      });
    }
    grpcServer = await startGrpcServer(options, logger, () => notReady() ?? 'the server is starting');
    if (checking) {
      const { ms } = await checking.passed;
      checking = undefined;
      store.fullCheckPassed();
      logger.info({ ms, reason: owed!.reason }, 'integrity check (quick_check) passed; serving');
    }
    // The event loop never waits inside SQLite, for a lock or the disk (TaskStore.neverBlock).
    store.tasks.neverBlock(
      options.busyTimeoutMs,
      options.storeWriter === 'thread'
        ? { writer: { kind: 'thread', encoderModule: require.resolve('./protocol/event-codec'), encoderExport: 'taskEventEncoder' } }
        : {},
    );
    hub = new EventHub(store.log, options.bufferSize);
    store.tasks.onCommit((events) => hub.publish(events));
    const eventBytes = new EventBytes(store.db);
    consumers = new ConsumerRegistry(store.consumers, hub, logger, {
      maxLag: options.consumerMaxLag,
      oldestSequence: () => store.log.oldestSequence(),
      maxConsumers: options.maxConsumers ?? DEFAULT_MAX_CONSUMERS,
      maxFilterBytes: options.consumerMaxFilterBytes ?? DEFAULT_MAX_FILTER_BYTES,
      maxHeldBytes: options.consumerMaxHeldBytes ?? DEFAULT_MAX_HELD_BYTES,
      heldBytes: (from, to) => {
        eventBytes.forgetBelow(from); // asked furthest behind first: nothing below is asked for again
        return eventBytes.between(from, to);
      },
    });
    if (options.httpListen) {
      metrics = createServerMetrics({ store, hub, consumers, notReady });
      store.tasks.observeCommits(metrics.groupCommitted);
    }
    grpcServer.serve({ store, hub, consumers, ...(metrics && { requestMetrics: metrics.requests }) });
  } catch (error) {
    await checking?.stop();
    await grpcServer?.stop(1000, logger);
    await ops?.close();
    store.close();
    throw error;
  }
  const started = grpcServer;
  const logWatch = watchLog(store.log, { ...options.logWatch, file: store.db.name }, () => hub.syncFromLog());
  const stopCompactor = startCompactor(
    store.log,
    (work) => store.tasks.writeState(work),
    options.retention,
    options.compactIntervalMs,
    logger,
    () => store.tasks.compactionWaits(),
    (wanted) => consumers.keepFrom(wanted),
    metrics?.compactionRan,
  );
  const stopCheckpointer = startCheckpointer(store.db, SERVER_CHECKPOINT_INTERVAL_MS, logger);
  const stopFileWatch = watchDatabaseFile(store, FILE_WATCH_INTERVAL_MS, logger, () => {
    serving = false;
    started.setServing(false);
  });
  started.setServing(true);
  serving = true;
  if (ops) logger.info({ url: ops.url, paths: ['/metrics', '/healthz', '/readyz'] }, 'operations endpoint listening');

  const shutdown = () =>
    (closing ??= (async () => {
      started.setServing(false);
      logWatch.stop();
      stopFileWatch();
      stopCompactor();
      // Consumers' members end now, with the other streams; their last acks are written before the store closes.
      const consumersClosed = consumers.close(new RiggerError('unavailable', 'server shutting down; join again to go on from the acked position'));
      hub.close(new RiggerError('unavailable', 'server shutting down; reconnect and resume with since_sequence'));
      await started.stop(options.shutdownGraceMs, logger);
      await consumersClosed;
      await stopCheckpointer();
      await store.tasks.synced();
      // /readyz answered 503 meanwhile; the metrics read the store, so the endpoint closes before it.
      await ops?.close();
      store.close();
    })());

  return { addresses: started.addresses, port: started.port, hub, ...(ops && { opsUrl: ops.url }), shutdown };
}
