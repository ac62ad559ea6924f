// What every sidecar does the same way: take its flags, connect, log its connection state on
// stderr, stop cleanly. A sidecar is `rig sidecar <name>` or, alone, `node dist/sidecars/<name>.js`.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import yargs, { type Argv, type CommandModule } from 'yargs';
import type { ConsumeOptions, LogRestore, StreamStatus } from '../src/client/index';
import {
  connectionTarget,
  describeConnectionFailure,
  isConnectionFailure,
  RiggerClient,
  StreamError,
  type ConnectionTarget,
  type RiggerClientOptions,
} from '../src/client/index';
import type { SubscribeOptions } from '../src/client/subscribe-options';
import { clientConnection, connectionOptions, projectOrNone } from '../src/config/client-connection';
import { printWarning, runCommandLine, type CommonArgs } from '../src/config/command-line';
import { bookmarkFlag, bookmarkIntervalOf, subscribeOptionsOf, subscriptionFlags, type SubscriptionArgs } from '../src/config/subscription-flags';
import { unknownConfigKeys } from '../src/config/config-keys';
import { logSettings, settingOptions } from '../src/config/settings';
import { createLogger, type LogOptions } from '../src/logging';

/** What each sidecar is given, whichever way it was started (`rig sidecar X` or `node dist/sidecars/X.js`). */
export interface SidecarOptions {
  client: RiggerClientOptions;
  /** Filters and checkpoint, as RiggerClient.subscribe takes them. */
  subscription: Omit<SubscribeOptions, 'onStatus'>;
  /** --consumer: read through this durable consumer instead (the server keeps the position). */
  consumer?: string;
  log: LogOptions;
  /** Keys of the project's config.json that no setting reads, logged as warnings at start. */
  unknownConfigKeys: ReturnType<typeof unknownConfigKeys>;
}

/**
 * For a sidecar that keeps a position of its own (a checkpoint, the logger's file, JetStream's last
 * message): after a restore of the server's log past that position, go on with the new log's events
 * from where the logs parted, and say so once with both logs named. `also` hears it too.
 */
export function continueAfterRestore(logger: Logger, also?: (restore: LogRestore) => void): Pick<SubscribeOptions, 'afterRestore' | 'onRestore'> {
  return {
    afterRestore: 'continue',
    onRestore: (restore) => {
      logger.warn(
        {
          from_log_id: restore.position.logId,
          from_sequence: restore.position.sequence,
          log_id: restore.logId,
          parted_after: restore.partedAfter,
          server_said: restore.message,
        },
        `the server's log ${restore.logId} was restored past this sidecar's position: events ${restore.partedAfter + 1} to ${restore.position.sequence} of log ${restore.position.logId} are not in it; going on with log ${restore.logId}'s events after ${restore.partedAfter}`,
      );
      also?.(restore);
    },
  };
}

/**
 * The sidecar's filter flags (and --since, as the start of a consumer created here) as
 * RiggerClient.consume takes them, for a sidecar run with --consumer.
 */
export function consumeOptionsOf(options: SidecarOptions, logger: Logger): ConsumeOptions {
  const { eventTypes, assignee, statuses, taskIds, sinceSequence } = options.subscription;
  return {
    ...(eventTypes && { eventTypes }),
    ...(assignee !== undefined && { assignee }),
    ...(statuses && { statuses }),
    ...(taskIds && { taskIds }),
    ...(sinceSequence !== undefined && { startSequence: sinceSequence }),
    onStatus: (status) => {
      if (status.state === 'connected')
        logger.info(
          { consumer: status.consumer.config?.name, acked_sequence: status.consumer.acked_sequence, reconnects: status.reconnects },
          'consumer joined',
        );
      else
        logger.warn(
          { error: status.error.message, ...failureFields(status.error), attempt: status.attempt, retry_in_ms: status.retryInMs },
          'consumer stream lost; rejoining',
        );
    },
  };
}

/** The sidecar's log (pretty on a terminal, else JSON, on stderr), after a `rig: warning:` line per unknown config.json key. */
export function sidecarLogger(name: string, options: Pick<SidecarOptions, 'log' | 'unknownConfigKeys'>): Logger {
  for (const { message } of options.unknownConfigKeys) printWarning(message);
  return createLogger(options.log, `rigger-${name}`);
}

/** --log-level and --log-format, which every sidecar takes. */
export const LOG_FLAGS = settingOptions('logLevel', 'logFormat');

// A sidecar talks to one server: the one its client was made for is the one a lost connection names.
let server: ConnectionTarget | undefined;

export function connect(options: SidecarOptions, name: string): RiggerClient {
  // The pid tells two instances of one sidecar apart in `rig status` (their peers may not).
  const client = new RiggerClient({ actor: `sidecar:${name}`, clientName: `${name}/${process.pid}`, ...options.client });
  server = connectionTarget(client.address, options.client.connect);
  return client;
}

/** For a stream that could not reach the server: `failure` (its kind) and `hint` (what fixes it), for the log record. */
function failureFields(error: StreamError): { failure?: string; hint?: string } {
  if (!server || !isConnectionFailure(error)) return {};
  const { kind, message } = describeConnectionFailure(error, server);
  // The server's own message (a shutdown, a busy database) is in `error` already.
  if (kind === 'other' && message === error.details) return {};
  return { failure: kind, hint: message };
}

/** An onStatus callback that logs connects and disconnects (JSON on stderr). */
export function logStatus(logger: Logger, also?: (status: StreamStatus) => void): (status: StreamStatus) => void {
  return (status) => {
    if (status.state === 'connected') logger.info({ position: status.position, reconnects: status.reconnects }, 'event stream connected');
    else if (status.reason === 'dead-stream')
      logger.warn(
        { error: status.error.message, attempt: status.attempt, retry_in_ms: status.retryInMs },
        'event stream silent (dead connection); reconnecting',
      );
    else
      logger.warn(
        { error: status.error.message, ...failureFields(status.error), attempt: status.attempt, retry_in_ms: status.retryInMs },
        'event stream lost; reconnecting',
      );
    also?.(status);
  };
}

const EXIT_GRACE_MS = 1000;

/** An OUT_OF_RANGE error or a connection failure, with what a sidecar's user can do about it. */
function explain(error: unknown, checkpoint: string | undefined): unknown {
  if (!(error instanceof StreamError)) return error;
  const { hint } = failureFields(error);
  if (hint !== undefined) return new StreamError(error.code, hint, error.metadata);
  if (error.code !== grpc.status.OUT_OF_RANGE) return error;
  if (/^consumer /.test(error.details)) return error; // a lost consumer: its message names the fix
  const how = checkpoint
    ? `the events after the checkpoint ${checkpoint} are gone from the server's log; delete it to start from the live stream (or with --since ${Math.max(0, (error.oldestSequence ?? 1) - 1)})`
    : 'start from the live stream (no --since) or from a sequence the server still holds';
  return new StreamError(error.code, `${error.details}; ${how}`, error.metadata);
}

/** Resolves with the first SIGINT or SIGTERM. */
function nextSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(signal);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

/**
 * Runs until a signal arrives or the subscription fails for good (`failed` rejects); then calls
 * `stop` (which must flush checkpoints). A failure is rethrown so the CLI prints it and exits 1.
 */
export async function runUntilStopped(logger: Logger, failed: Promise<never>, stop: () => Promise<void>, checkpoint?: string): Promise<void> {
  // A failure after the signal is the shutdown itself (the stream closing), not an error.
  const outcome = await Promise.race([
    nextSignal().then((signal) => ({ signal })),
    failed.then(
      () => ({}),
      (error: unknown) => ({ error }),
    ),
  ]);
  if ('signal' in outcome) logger.info({ signal: outcome.signal }, 'stopping');
  await stop();
  // Everything is flushed; a library that still holds a handle (a NATS client reconnecting to a
  // server that is gone) must not keep the process alive. Unref'd: a clean exit comes first.
  setTimeout(() => process.exit(), EXIT_GRACE_MS).unref();
  if ('error' in outcome) throw explain(outcome.error, checkpoint);
  logger.info('stopped');
}

export type SidecarArgs = CommonArgs & SubscriptionArgs;

/** The connection flags and --bookmark-interval-ms, and the filter and checkpoint flags when the sidecar reads a filtered stream. */
export function sidecarFlags<T extends CommonArgs>(yargs: Argv<T>, withFilters: boolean): Argv<T & SubscriptionArgs> {
  // The connection flags are strings that resolveSetting parses; yargs' inferred types add nothing.
  const connected = yargs.options(connectionOptions()).options(LOG_FLAGS) as unknown as Argv<T>;
  if (!withFilters) return bookmarkFlag(connected);
  return subscriptionFlags(connected, 'on first start, replay every event after this sequence (0 = all history); default live', true);
}

/** The parsed flags as SidecarOptions: the project's settings when run inside one, else the flags and environment alone. */
export function sidecarOptions(argv: SidecarArgs, withFilters: boolean): SidecarOptions {
  const subscription = withFilters ? subscribeOptionsOf(argv) : { bookmarkIntervalMs: bookmarkIntervalOf(argv) };
  const project = projectOrNone(argv.C ?? '.');
  const args = argv as unknown as Record<string, unknown>;
  return {
    client: clientConnection(project, args),
    log: logSettings(args, project.config),
    unknownConfigKeys: unknownConfigKeys(project),
    subscription,
    ...(withFilters && argv.consumer !== undefined && { consumer: argv.consumer }),
  };
}

/** `node dist/sidecars/<name>.js [flags]` is `rig sidecar <name> [flags]`: the same command, without the CLI around it. */
export function runStandalone<T extends SidecarArgs>(command: CommandModule<CommonArgs, T>): void {
  // The name becomes $0; positionals after it (exec's [command..]) stay declared.
  const [name, ...positionals] = String(command.command).split(' ');
  void runCommandLine(
    yargs(process.argv.slice(2))
      .scriptName(`rig sidecar ${name}`)
      .command({ ...command, command: ['$0', ...positionals].join(' ') } as CommandModule),
    `rig sidecar ${name}`,
  );
}
