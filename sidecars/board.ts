// The board sidecar: a web page on --host:--http-port (default 127.0.0.1:7464) showing the tasks
// as a board, a column per status, and a feed of recent events, kept live with server-sent events.
// It holds one snapshot-then-stream subscription (include_snapshot): the board is built from the
// snapshot and follows the changes after it; a reconnect resumes from the stream's position, so
// every open page sees each change once, without a second snapshot. The token, if any, is used by
// this process only; the page talks to the sidecar, never to the server.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Subscription } from 'rxjs';
import type { RiggerClient } from '../src/client/index';
import type { CommandModule } from 'yargs';
import type { CommonArgs } from '../src/config/command-line';
import { invalidArgument } from '../src/model/errors';
import { TaskEventType, TaskStatus, type TaskEvent } from '../src/model/task';
import { newCsrfToken, type BoardChanges } from './board-changes';
import { DEFAULT_MAX_PAGES, serveBoard } from './board-http';
import { pollSidecars } from './board-sidecars';
import { BoardState } from './board-state';
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

export const DEFAULT_BOARD_PORT = 7464;

interface BoardOptions extends SidecarOptions {
  host: string;
  /** 0 picks a free port; the URL is printed on stdout either way. */
  httpPort: number;
  /** /events streams open at once. */
  maxPages: number;
  /** --allow-changes: the page may change a task's status, through this sidecar's (read-write) token. */
  allowChanges: boolean;
}

type BoardArgs = SidecarArgs & { host: string; 'http-port': number; 'max-pages': number; 'allow-changes': boolean };

/** How long the start waits for the log's last events (the feed's history) before it goes on without them. */
const HISTORY_TIMEOUT_MS = 10_000;
/** A task id no task has: the write check at start expects NOT_FOUND, or PERMISSION_DENIED for a read-only token. */
const WRITE_CHECK_TASK_ID = 'rigger-board-write-check';

function boardOptions(argv: BoardArgs): BoardOptions {
  const httpPort = argv['http-port'];
  if (!Number.isInteger(httpPort) || httpPort < 0 || httpPort > 65535)
    throw invalidArgument(`--http-port must be a port number from 0 to 65535 (0 = any free port), got ${String(httpPort)}`);
  const maxPages = argv['max-pages'];
  if (!Number.isInteger(maxPages) || maxPages < 1) throw invalidArgument(`--max-pages must be a whole number of pages, 1 or more, got ${String(maxPages)}`);
  if (argv.host.trim() === '') throw invalidArgument('--host must name an address to listen on, e.g. 127.0.0.1');
  // --port is the server's gRPC port, as for every client command; 0 there is a mistaken board port.
  const grpcPort = (argv as unknown as Record<string, unknown>).port;
  if (grpcPort !== undefined && Number(grpcPort) === 0)
    throw invalidArgument("--port is the server's gRPC port (0 cannot be connected to); the board's own port is --http-port");
  return { ...sidecarOptions(argv, false), host: argv.host.trim(), httpPort, maxPages, allowChanges: argv['allow-changes'] };
}

/**
 * With --allow-changes the token must be read-write: a harmless write (a status for a task that
 * does not exist) is refused with PERMISSION_DENIED for a read-only one. An unreachable server is
 * not a verdict: the board waits for it, and the server still refuses each change it must.
 */
async function checkWritable(client: RiggerClient, logger: Logger): Promise<void> {
  try {
    await client.updateTask({ task_id: WRITE_CHECK_TASK_ID, status: TaskStatus.TODO });
  } catch (error) {
    const { code, details } = error as { code?: grpc.status; details?: string };
    if (code === grpc.status.PERMISSION_DENIED || code === grpc.status.UNAUTHENTICATED) {
      throw invalidArgument(
        `--allow-changes needs a read-write token, and the server refused this one for writes (${details ?? ''}); pass a read-write --token or drop --allow-changes`,
      );
    }
    if (code === grpc.status.UNAVAILABLE || code === grpc.status.DEADLINE_EXCEEDED)
      logger.warn({ code }, 'could not check at start that the token may write; changes from the page will say so if it may not');
  }
}

/**
 * The log's last `count` events up to `sequence` (the snapshot's position), for the feed: one
 * bounded read from sequence - count, ended at the first event or bookmark at `sequence`.
 */
async function readHistory(client: RiggerClient, options: BoardOptions, sequence: number, count: number): Promise<TaskEvent[]> {
  if (sequence <= 0) return [];
  // Not from before the oldest event the log still holds (a pruned log refuses such a position).
  const oldest = Number((await client.getLog()).oldest_sequence ?? 0);
  const from = Math.max(0, sequence - count, oldest - 1);
  if (from >= sequence) return [];
  const events: TaskEvent[] = [];
  return new Promise((resolve, reject) => {
    let subscription: Subscription | undefined;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      queueMicrotask(() => subscription?.unsubscribe());
      resolve(events);
    };
    const timer = setTimeout(finish, HISTORY_TIMEOUT_MS);
    subscription = client
      .subscribe({ ...options.subscription, sinceSequence: from, bookmarkIntervalMs: 100, onBookmark: (at) => at >= sequence && finish() })
      .subscribe({
        next: (event) => {
          if (event.sequence <= sequence) events.push(event);
          if (event.sequence >= sequence) finish();
        },
        error: (error: unknown) => {
          clearTimeout(timer);
          if (!done) reject(error);
          done = true;
        },
        complete: finish,
      });
    if (done) subscription.unsubscribe();
  });
}

async function runBoard(options: BoardOptions): Promise<void> {
  const logger = sidecarLogger('board', options);
  const state = new BoardState();
  const client = connect(options, 'board');
  let changes: BoardChanges | undefined;
  if (options.allowChanges) {
    await checkWritable(client, logger).catch(async (error: unknown) => {
      await client.close();
      throw error;
    });
    changes = {
      csrfToken: newCsrfToken(),
      setStatus: (taskId, status, expectedVersion) =>
        client.updateTask({ task_id: taskId, status, ...(expectedVersion !== undefined && { expected_version: expectedVersion }) }),
    };
  }
  const board = await serveBoard(state, { host: options.host, port: options.httpPort, maxPages: options.maxPages, ...(changes && { changes }) }, logger).catch(
    async (error: unknown) => {
      await client.close();
      throw error;
    },
  );
  logger.info({ url: board.url, address: options.client.address }, 'board listening; waiting for the snapshot');
  if (!['127.0.0.1', 'localhost', '::1'].includes(options.host)) {
    logger.warn({ host: options.host }, 'the board is served beyond loopback without authentication: whoever reaches it reads every task');
  }

  let subscription: Subscription | undefined;
  let stopPolling: (() => void) | undefined;
  let announced = false;
  const failed = new Promise<never>((_, reject) => {
    subscription = client
      .subscribe({
        ...options.subscription,
        includeSnapshot: true,
        onSnapshot: (marker) => {
          if (marker.state === 'started') return state.snapshotStarted();
          state.snapshotComplete(marker.sequence);
          logger.info({ sequence: marker.sequence, tasks: marker.tasks }, 'snapshot complete');
          if (announced) return;
          announced = true;
          // Printed once the board is whole and its feed holds the log's last events, as the metrics sidecar's ready: line.
          readHistory(client, options, marker.sequence, state.feedCapacity)
            .then((events) => state.history(events))
            .catch((error: unknown) => logger.warn({ err: error }, "could not read the log's last events for the feed; it shows the events from now on"))
            .finally(() => {
              stopPolling = pollSidecars(client, state, logger, () => board.pages() > 0);
              process.stdout.write(`ready: board on ${board.url}\n`);
            });
        },
        onBookmark: (sequence) => state.passed(sequence),
        onStatus: logStatus(logger, (status) => state.setConnected(status.state === 'connected')),
      })
      .subscribe({
        next: (event) => (event.event_type === TaskEventType.SNAPSHOT ? state.snapshotEntry(event.task) : state.apply(event)),
        error: reject,
      });
  });
  await runUntilStopped(logger, failed, async () => {
    subscription?.unsubscribe();
    stopPolling?.();
    await board.close();
    await client.close();
  });
}

export const boardCommand: CommandModule<CommonArgs, BoardArgs> = {
  command: 'board',
  describe: 'A live board of the tasks in the browser, at http://<host>:<http-port>/',
  builder: (yargs) =>
    sidecarFlags(yargs, false)
      .option('host', { type: 'string', default: '127.0.0.1', describe: 'address to serve the page on' })
      .option('http-port', { type: 'number', default: DEFAULT_BOARD_PORT, describe: 'port to serve the page on (0 = any free port)' })
      .option('allow-changes', { type: 'boolean', default: false, describe: "let the page change a task's status (drag a card); needs a read-write token" })
      .option('max-pages', { type: 'number', default: DEFAULT_MAX_PAGES, describe: 'pages open at once; the next one gets 503 until one closes' })
      .example('$0 sidecar board', 'open http://127.0.0.1:7464')
      .example('$0 sidecar board --allow-changes', 'cards can be moved to another column from the page')
      .example('$0 sidecar board --assignee Alice --http-port 8080', "only Alice's tasks, on port 8080"),
  handler: (argv) => runBoard(boardOptions(argv)),
};

if (require.main === module) runStandalone(boardCommand);
