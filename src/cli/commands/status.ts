// `rig status`: the running server, its log, and every sidecar's stream and durable consumer with
// its lag, from GetHubStatus. Loads the gRPC client only (no RxJS, no SQLite).
import * as grpc from '@grpc/grpc-js';
import { connectService } from '../../client/connect';
import { connectionTarget, diagnoseConnectionFailure, isConnectionFailure } from '../../client/connection-failure';
import { clientConnection, clientProject, connectionOptions } from '../../config/client-connection';
import type { ConsumerInfo__Output } from '../../generated/rigger/v1/ConsumerInfo';
import type { HubStatus__Output } from '../../generated/rigger/v1/HubStatus';
import type { RiggerServiceClient } from '../../generated/rigger/v1/RiggerService';
import type { StreamStatus__Output } from '../../generated/rigger/v1/StreamStatus';
import type { SubscribeToTaskEventsRequest__Output } from '../../generated/rigger/v1/SubscribeToTaskEventsRequest';
import { invalidArgument, RiggerError } from '../../model/errors';
import { eventTypeName, statusName } from '../../model/task';
import { onBrokenPipe } from '../broken-pipe';
import type { CommandBody, GlobalArgs } from '../command-body';
import { filterText } from '../filter-text';
import { printJson, printTable } from '../output';

type StatusArgs = GlobalArgs & { watch?: boolean; interval?: number; limit?: number };

const DEFAULT_INTERVAL_S = 2;
/** A server that accepts the call and never answers ends the command rather than hanging it (and --watch's Ctrl-C). */
const CALL_DEADLINE_MS = 15_000;

export const statusCommand: CommandBody<StatusArgs> = {
  builder: (yargs) =>
    yargs
      .options(connectionOptions())
      .option('watch', { type: 'boolean', describe: 'print it again every --interval seconds until Ctrl-C' })
      .option('interval', { type: 'number', default: DEFAULT_INTERVAL_S, describe: 'seconds between refreshes with --watch (0.5 to 3600)' })
      .option('limit', { type: 'number', describe: 'list at most this many streams and consumers (1-5000; default 500; the counts are always whole)' })
      .example('$0 status', 'the server, its log, and one line per sidecar stream and consumer with its lag')
      .example('$0 status --json', 'the same as one JSON document (GetHubStatus), for scripts')
      .example('$0 status --watch --interval 1', 'refreshed every second until Ctrl-C') as never,
  handler: async (argv) => {
    const interval = argv.interval ?? DEFAULT_INTERVAL_S;
    if (!(interval >= 0.5 && interval <= 3600)) throw invalidArgument(`--interval takes 0.5 to 3600 seconds, got ${argv.interval}`);
    const project = clientProject(argv.C ?? '.', argv as unknown as Record<string, unknown>);
    const { address, connect } = clientConnection(project, argv as unknown as Record<string, unknown>);
    const client = connectService(address, connect);
    let stopped = false;
    let wake: (() => void) | undefined;
    const stop = () => {
      stopped = true;
      wake?.();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    onBrokenPipe(stop);
    try {
      for (let first = true; !stopped; first = false) {
        const status = statusOf(
          await fetchStatus(client, argv.limit).catch(async (error: grpc.ServiceError) => {
            if (!isConnectionFailure(error)) throw error;
            const { message } = await diagnoseConnectionFailure(error, connectionTarget(address, connect));
            throw new RiggerError(error.code === grpc.status.UNAUTHENTICATED ? 'unauthenticated' : 'unavailable', message);
          }),
        );
        if (stopped) break;
        if (argv.json) printJson(statusForDisplay(status));
        else {
          if (argv.watch && process.stdout.isTTY) process.stdout.write('\x1b[H\x1b[2J');
          else if (!first) process.stdout.write('\n');
          printStatus(status);
        }
        if (!argv.watch) break;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, interval * 1000);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      client.close();
    }
  },
};

function fetchStatus(client: RiggerServiceClient, limit: number | undefined): Promise<HubStatus__Output> {
  return new Promise((resolve, reject) =>
    client.GetHubStatus(limit === undefined ? {} : { limit }, { deadline: Date.now() + CALL_DEADLINE_MS }, (error, response) =>
      error ? reject(error) : resolve(response!),
    ),
  );
}

function filterForDisplay(filter: SubscribeToTaskEventsRequest__Output | undefined): Record<string, unknown> {
  return {
    event_types: (filter?.event_types ?? []).map(eventTypeName),
    statuses: (filter?.statuses ?? []).map(statusName),
    task_ids: filter?.task_ids ?? [],
    ...(filter?.assignee_filter !== undefined && { assignee_filter: filter.assignee_filter }),
  };
}

/** Every field of one stream (the wire leaves out zeros and empty strings), its position null when it has none yet. */
function streamOf(s: StreamStatus__Output) {
  return {
    stream_id: s.stream_id ?? 0,
    kind: s.kind ?? '',
    peer: s.peer ?? '',
    client_name: s.client_name ?? '',
    opened_at: s.opened_at ?? '',
    filter: s.filter,
    position: s.position ?? null,
    lag: s.lag ?? 0,
    bookmark_interval_ms: s.bookmark_interval_ms ?? 0,
    bytes_queued: s.bytes_queued ?? 0,
    consumer: s.consumer ?? '',
    live: s.live ?? false,
  };
}
type Stream = ReturnType<typeof streamOf>;

function consumerOf(c: ConsumerInfo__Output) {
  return {
    name: c.config?.name ?? '',
    filter: c.config?.filter,
    acked_sequence: c.acked_sequence ?? 0,
    head_sequence: c.head_sequence ?? 0,
    lag: c.lag ?? 0,
    in_flight: c.in_flight ?? 0,
    pending: c.pending ?? 0,
    members: c.members ?? 0,
    dead_letters: c.dead_letters ?? 0,
    redeliveries: c.redeliveries ?? 0,
    lost: c.lost ?? false,
    lost_reason: c.lost_reason ?? '',
    created_at: c.created_at ?? '',
  };
}
type Consumer = ReturnType<typeof consumerOf>;

/** The answer with every field present, as both outputs use it. */
function statusOf(status: HubStatus__Output) {
  const log = status.log;
  return {
    server: {
      version: status.server?.version ?? '',
      started_at: status.server?.started_at ?? '',
      uptime_ms: status.server?.uptime_ms ?? 0,
      pid: status.server?.pid ?? 0,
    },
    log: { log_id: log?.log_id ?? '', newest_sequence: log?.newest_sequence ?? 0, oldest_sequence: log?.oldest_sequence ?? 0, lineage: log?.lineage ?? [] },
    head_sequence: status.head_sequence ?? 0,
    database_bytes: status.database_bytes ?? 0,
    wal_bytes: status.wal_bytes ?? 0,
    streams: status.streams.map(streamOf),
    stream_count: status.stream_count ?? 0,
    consumers: status.consumers.map(consumerOf),
    consumer_count: status.consumer_count ?? 0,
  };
}
type Status = ReturnType<typeof statusOf>;

/** For --json: every field, enums by name. */
function statusForDisplay(status: Status): Record<string, unknown> {
  return {
    ...status,
    streams: status.streams.map((s) => ({ ...s, filter: filterForDisplay(s.filter) })),
    consumers: status.consumers.map((c) => ({ ...c, filter: filterForDisplay(c.filter) })),
  };
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n / 1024;
  let unit = 0;
  for (; value >= 1024 && unit < units.length - 1; unit++) value /= 1024;
  return `${value.toFixed(1)} ${units[unit]}`;
}

function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  const [d, h, m] = [Math.floor(s / 86400), Math.floor((s % 86400) / 3600), Math.floor((s % 3600) / 60)];
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

function streamRow(s: Stream): string[] {
  return [
    s.client_name || '(unnamed)',
    s.kind === 'consume' ? `consume ${s.consumer}` : s.kind,
    s.peer,
    filterText(s.filter),
    s.position === null ? '-' : String(s.position),
    String(s.lag),
    s.bookmark_interval_ms ? `${s.bookmark_interval_ms} ms` : '-',
    bytes(s.bytes_queued),
    s.kind === 'consume' ? 'member' : s.position === null ? 'not subscribed' : s.live ? 'live' : 'catching up',
  ];
}

function consumerRow(c: Consumer): string[] {
  return [
    c.name,
    filterText(c.filter),
    String(c.acked_sequence),
    String(c.lag),
    String(c.members),
    String(c.in_flight),
    String(c.dead_letters),
    c.lost ? `LOST: ${c.lost_reason}` : 'ok',
  ];
}

function printStatus(status: Status): void {
  const { server, log } = status;
  process.stdout.write(
    `server  rigger ${server.version} (pid ${server.pid}), up ${duration(server.uptime_ms)}; log ${log.log_id}, head ${status.head_sequence}, oldest ${log.oldest_sequence}; tasks.db ${bytes(status.database_bytes)}, WAL ${bytes(status.wal_bytes)}\n\n`,
  );
  const more = (shown: number, count: number) => (count > shown ? ` (${shown} shown; --limit for more)` : '');
  process.stdout.write(`${status.stream_count} stream(s) open${more(status.streams.length, status.stream_count)}\n`);
  if (status.streams.length) printTable(['CLIENT', 'KIND', 'PEER', 'FILTER', 'POSITION', 'LAG', 'BOOKMARKS', 'QUEUED', 'STATE'], status.streams.map(streamRow));
  process.stdout.write(`\n${status.consumer_count} durable consumer(s)${more(status.consumers.length, status.consumer_count)}\n`);
  if (status.consumers.length) printTable(['CONSUMER', 'FILTER', 'ACKED', 'LAG', 'MEMBERS', 'IN FLIGHT', 'DEAD', 'STATE'], status.consumers.map(consumerRow));
}
