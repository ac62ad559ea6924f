// The board sidecar's HTTP side: the static page (plain files from sidecars/board/, no build step,
// no tasks in it, so it is answered at once at any size) and /events, a server-sent-events stream
// that starts with the whole board, sent in pages as the page reads (board-page-stream.ts), and
// then carries every change. Starting each connection from the whole board is what makes
// EventSource's own reconnect safe: whatever a page missed while it was away or dropped, its next
// connection redraws it, so no event ids or replay are needed. The server's token never reaches
// this side: the page reads only what the sidecar already holds, and with --allow-changes asks it
// for a status change (POST /change, board-changes.ts), which the sidecar makes with its own token.
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';
import { handleChange, type BoardChanges } from './board-changes';
import { DEFAULT_PAGE_LIMITS, messageFrame, PageStream } from './board-page-stream';
import type { BoardState } from './board-state';

/** The page's files, from the package root: sidecars/board/ ships as it is, next to dist/. */
export const PAGE_DIR = path.resolve(__dirname, '..', '..', 'sidecars', 'board');
const PAGE_FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/board.css': { file: 'board.css', type: 'text/css; charset=utf-8' },
  '/board-view.js': { file: 'board-view.js', type: 'text/javascript; charset=utf-8' },
  '/board.js': { file: 'board.js', type: 'text/javascript; charset=utf-8' },
};

/** What EventSource waits before it reconnects (the browser's default is about 3 s). */
const RETRY_MS = 1000;
/** A comment line this often keeps idle connections (and proxies) open and finds dead pages. */
const PING_MS = 15_000;
/** What a page refused for --max-pages is told to wait before it tries again. */
const FULL_RETRY_AFTER_S = 5;
/** Refusals are logged at most this often (with how many since), as refused pages keep retrying. */
const REFUSAL_LOG_MS = 10_000;
export const DEFAULT_MAX_PAGES = 500;

export interface BoardHttpOptions {
  host: string;
  port: number;
  /** /events streams open at once; the next one gets 503 until one closes. */
  maxPages: number;
  /** Set with --allow-changes: the page may change a task's status (POST /change). */
  changes?: BoardChanges;
}

/** In index.html, replaced by the CSRF token when changes are allowed (empty: the page is read-only). */
const CSRF_PLACEHOLDER = '{{csrf}}';

const SECURITY_HEADERS = {
  // Only the page's own files and its own /events: no inline script, nothing from elsewhere.
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

export interface BoardServer {
  /** http://host:port/ */
  url: string;
  /** Pages connected to /events right now. */
  pages(): number;
  /** Ends every /events stream and closes the listener. */
  close(): Promise<void>;
}

function loadPage(): Map<string, { body: Buffer; type: string }> {
  const page = new Map<string, { body: Buffer; type: string }>();
  for (const [route, { file, type }] of Object.entries(PAGE_FILES)) {
    const full = path.join(PAGE_DIR, file);
    if (!fs.existsSync(full)) throw new Error(`the board page is missing: ${full} (reinstall the package)`);
    page.set(route, { body: fs.readFileSync(full), type });
  }
  return page;
}

/**
 * A Host header that names an IP address, localhost or the --host we listen on. Anything else is a
 * name someone pointed at this address (DNS rebinding): a site's script must not read the board.
 */
export function hostAllowed(header: string | undefined, listenHost: string): boolean {
  if (!header) return false;
  const name = header
    .replace(/:\d+$/, '')
    .replace(/^\[(.*)\]$/, '$1')
    .toLowerCase();
  return name === 'localhost' || net.isIP(name) !== 0 || name === listenHost.toLowerCase();
}

export async function serveBoard(state: BoardState, options: BoardHttpOptions, logger: Logger): Promise<BoardServer> {
  const { host, port, maxPages, changes } = options;
  const page = loadPage();
  const index = page.get('/')!;
  page.set('/', { ...index, body: Buffer.from(index.body.toString('utf8').replace(CSRF_PLACEHOLDER, changes?.csrfToken ?? '')) });
  const streams = new Map<http.ServerResponse, PageStream>();
  let refused = 0;
  let refusalLoggedAt = -Infinity;

  const stopListening = state.listen((message) => {
    if (message.kind === 'board') {
      for (const stream of streams.values()) stream.startSnapshot();
      return;
    }
    const text = messageFrame(message);
    for (const stream of streams.values()) stream.write(text);
  });
  const ping = setInterval(() => {
    for (const stream of streams.values()) stream.write(': ping\n\n');
  }, PING_MS);
  ping.unref();

  const openStream = (request: http.IncomingMessage, response: http.ServerResponse) => {
    if (streams.size >= maxPages) {
      refused++;
      if (performance.now() - refusalLoggedAt >= REFUSAL_LOG_MS) {
        logger.warn({ pages: streams.size, max_pages: maxPages, refused }, 'board page refused: --max-pages pages are open');
        refusalLoggedAt = performance.now();
        refused = 0;
      }
      response
        .writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'retry-after': String(FULL_RETRY_AFTER_S) })
        .end(`the board has ${maxPages} pages open (--max-pages); close one or start the sidecar with a higher --max-pages\n`);
      return;
    }
    response.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    response.write(`retry: ${RETRY_MS}\n\n`);
    const peer = request.socket.remoteAddress;
    const stream = new PageStream(
      response,
      state,
      DEFAULT_PAGE_LIMITS,
      (reason, queuedBytes) =>
        logger.warn({ peer, reason, queued_bytes: queuedBytes }, 'board page not reading its events; dropped it (it reconnects and is sent the board again)'),
      changes ? { csrf: changes.csrfToken } : {},
    );
    streams.set(response, stream);
    logger.debug({ peer, pages: streams.size }, 'board page connected');
    const forget = () => {
      if (streams.delete(response)) logger.debug({ pages: streams.size }, 'board page disconnected');
    };
    response.on('close', forget);
    response.on('error', forget);
    stream.startSnapshot();
  };

  const server = http.createServer((request, response) => {
    if (!hostAllowed(request.headers.host, host)) {
      response.writeHead(421, { 'content-type': 'text/plain; charset=utf-8' }).end('this board answers only to its address (an IP, localhost or --host)\n');
      return;
    }
    const route = (request.url ?? '/').split('?')[0]!;
    if (route === '/change' && request.method === 'POST') {
      handleChange(request, response, changes, logger).catch((error: unknown) => {
        logger.warn({ err: error }, 'board change failed');
        if (!response.headersSent) response.writeHead(500).end();
      });
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response
        .writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' })
        .end(changes ? 'only POST /change changes the board\n' : 'the board is read-only\n');
      return;
    }
    if (route === '/events') return openStream(request, response);
    const file = page.get(route === '/index.html' ? '/' : route);
    if (!file) {
      response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found; the board is at /\n');
      return;
    }
    response.writeHead(200, { ...SECURITY_HEADERS, 'content-type': file.type, 'content-length': file.body.length, 'cache-control': 'no-cache' });
    response.end(request.method === 'HEAD' ? undefined : file.body);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new Error(
          `cannot listen on ${host}:${port}: ${error.code === 'EADDRINUSE' ? 'the port is in use (pick another --http-port, or 0 for any free one)' : error.message}`,
        ),
      ),
    );
    server.listen(port, host, () => resolve());
  });
  const bound = server.address() as net.AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${bound.port}/`;

  return {
    url,
    pages: () => streams.size,
    async close() {
      stopListening();
      clearInterval(ping);
      for (const response of streams.keys()) response.end();
      streams.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
