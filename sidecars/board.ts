// The board sidecar: a web page on --host:--http-port (default 127.0.0.1:7464) showing the tasks
// as a board, a column per status, and a feed of recent events, kept live with server-sent events.
// It holds one snapshot-then-stream subscription (include_snapshot): the board is built from the
// snapshot and follows the changes after it; a reconnect resumes from the stream's position, so
// every open page sees each change once, without a second snapshot. The token, if any, is used by
// this process only; the page talks to the sidecar, never to the server.
import type { Subscription } from 'rxjs';
import type { CommandModule } from 'yargs';
import type { CommonArgs } from '../src/config/command-line';
import { invalidArgument } from '../src/model/errors';
import { TaskEventType } from '../src/model/task';
import { DEFAULT_MAX_PAGES, serveBoard } from './board-http';
import { BoardState } from './board-state';
import { connect, logStatus, runStandalone, runUntilStopped, sidecarFlags, sidecarLogger, sidecarOptions, type SidecarArgs, type SidecarOptions } from './shared';

export const DEFAULT_BOARD_PORT = 7464;

interface BoardOptions extends SidecarOptions {
  host: string;
  /** 0 picks a free port; the URL is printed on stdout either way. */
  httpPort: number;
  /** /events streams open at once. */
  maxPages: number;
}

type BoardArgs = SidecarArgs & { host: string; 'http-port': number; 'max-pages': number };

function boardOptions(argv: BoardArgs): BoardOptions {
  const httpPort = argv['http-port'];
  if (!Number.isInteger(httpPort) || httpPort < 0 || httpPort > 65535) throw invalidArgument(`--http-port must be a port number from 0 to 65535 (0 = any free port), got ${String(httpPort)}`);
  const maxPages = argv['max-pages'];
  if (!Number.isInteger(maxPages) || maxPages < 1) throw invalidArgument(`--max-pages must be a whole number of pages, 1 or more, got ${String(maxPages)}`);
  if (argv.host.trim() === '') throw invalidArgument('--host must name an address to listen on, e.g. 127.0.0.1');
  // --port is the server's gRPC port, as for every client command; 0 there is a mistaken board port.
  const grpcPort = (argv as unknown as Record<string, unknown>).port;
  if (grpcPort !== undefined && Number(grpcPort) === 0) throw invalidArgument("--port is the server's gRPC port (0 cannot be connected to); the board's own port is --http-port");
  return { ...sidecarOptions(argv, false), host: argv.host.trim(), httpPort, maxPages };
}

async function runBoard(options: BoardOptions): Promise<void> {
  const logger = sidecarLogger('board', options);
  const state = new BoardState();
  const board = await serveBoard(state, { host: options.host, port: options.httpPort, maxPages: options.maxPages }, logger);
  logger.info({ url: board.url, address: options.client.address }, 'board listening; waiting for the snapshot');
  if (!['127.0.0.1', 'localhost', '::1'].includes(options.host)) {
    logger.warn({ host: options.host }, 'the board is served beyond loopback without authentication: whoever reaches it reads every task');
  }

  const client = connect(options, 'board');
  let subscription: Subscription | undefined;
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
          // Printed once the board is whole, as the metrics sidecar's ready: line.
          process.stdout.write(`ready: board on ${board.url}\n`);
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
      .option('max-pages', { type: 'number', default: DEFAULT_MAX_PAGES, describe: 'pages open at once; the next one gets 503 until one closes' })
      .example('$0 sidecar board', 'open http://127.0.0.1:7464')
      .example('$0 sidecar board --assignee Alice --http-port 8080', "only Alice's tasks, on port 8080"),
  handler: (argv) => runBoard(boardOptions(argv)),
};

if (require.main === module) runStandalone(boardCommand);
