// The operations endpoint of `rig grpc --http-listen HOST:PORT` (node:http, plain HTTP):
//   /metrics  Prometheus text exposition of the server's registry (server-metrics.ts), rendered at
//             most once a second whatever the scrape rate; behind the bearer token when one is set
//   /healthz  200 while the process runs and answers (liveness); never asks for the token
//   /readyz   200 when the database is open, checked and writable and the hub serving, else 503 with a one-line reason; never asks for the token
// At most REQUESTS_PER_SECOND are answered a second, whatever the path: more wait their turn
// (request-pacer.ts). Off unless the setting is given; docs/operations.md#operations-endpoint.
import crypto from 'node:crypto';
import http from 'node:http';
import { RequestPacer } from './request-pacer';
import type { Exposition } from './server-metrics';

export interface OpsServer {
  /** The base URL, e.g. "http://127.0.0.1:9465". */
  url: string;
  /** Stops accepting and ends the open connections (scrapers' keep-alives). */
  close(): Promise<void>;
}

export interface OpsServerOptions {
  host: string;
  /** 0 = any free port. */
  port: number;
  /** The metrics text to serve (cached: see ServerMetrics.exposition); undefined while there is none yet (the integrity check at start-up runs): 503 with notReady's reason. */
  metrics(): Promise<Exposition> | undefined;
  /** Why the server is not ready (one line), or undefined when it is. */
  notReady(): string | undefined;
  /** When set, /metrics answers 401 without `Authorization: Bearer <token>`. */
  token?: string;
}

const TEXT = { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' };

/** Connections open at once (scrapers and probes need a handful); more are refused at accept. */
const MAX_CONNECTIONS = 256;
/** A request's headers must arrive within this, and the whole request within twice it, in ms. */
const HEADERS_TIMEOUT_MS = 10_000;
/** Requests answered a second at most (Prometheus scrapes every 15 s); more wait their turn. */
const REQUESTS_PER_SECOND = 100;
/** Requests waiting their turn at most; more get 503 at once. */
const MAX_WAITING = 1024;

export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const { metrics, notReady } = options;
  const refusal = options.token ? bearerCheck(options.token) : () => undefined;
  const pacer = new RequestPacer(REQUESTS_PER_SECOND, MAX_WAITING);
  const serve = (request: http.IncomingMessage, response: http.ServerResponse) => {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { ...TEXT, allow: 'GET, HEAD' }).end('only GET and HEAD\n');
      return;
    }
    if (path === '/healthz') {
      response.writeHead(200, TEXT).end('ok\n');
    } else if (path === '/readyz') {
      const reason = readOrReason(notReady);
      if (reason === undefined) response.writeHead(200, TEXT).end('ready\n');
      else response.writeHead(503, TEXT).end(`not ready: ${reason.replace(/\s*\n\s*/g, ' ')}\n`);
    } else if (path === '/metrics') {
      const refused = refusal(request.headers.authorization);
      if (refused !== undefined) {
        response.writeHead(401, { ...TEXT, 'www-authenticate': 'Bearer realm="rigger"' }).end(`${refused}\n`);
        return;
      }
      const rendering = metrics();
      if (!rendering) {
        response.writeHead(503, { ...TEXT, 'retry-after': '1' }).end(`no metrics yet: ${(readOrReason(notReady) ?? 'starting').replace(/\s*\n\s*/g, ' ')}\n`);
        return;
      }
      rendering.then(
        (exposition) => {
          const gzipped = acceptsGzip(request.headers['accept-encoding']);
          response
            .writeHead(200, {
              'content-type': exposition.contentType,
              'cache-control': 'no-store',
              vary: 'accept-encoding',
              ...(gzipped && { 'content-encoding': 'gzip' }),
            })
            .end(gzipped ? exposition.gzip : exposition.text);
        },
        (error: Error) => response.writeHead(500, TEXT).end(`${error.message}\n`),
      );
    } else {
      response.writeHead(404, TEXT).end('not found; this endpoint serves /metrics, /healthz and /readyz\n');
    }
  };
  const server = http.createServer({ headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: 2 * HEADERS_TIMEOUT_MS }, (request, response) => {
    if (!pacer.admit(() => serve(request, response))) {
      response
        .writeHead(503, { ...TEXT, 'retry-after': '1' })
        .end(`${MAX_WAITING} requests already wait their turn (this endpoint answers ${REQUESTS_PER_SECOND} a second); try again later\n`);
    }
  });
  server.maxConnections = MAX_CONNECTIONS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => reject(listenError(error, options.host, options.port)));
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as { port: number };
  return {
    url: `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        pacer.stop();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const HOW_TO_SEND = 'send the header "Authorization: Bearer <token>" with the server\'s --http-token (RIGGER_HTTP_TOKEN)';

/** Why a request's Authorization header is refused, or undefined when it carries the token. Compares digests, so the time taken says nothing about how much of the token was right. */
function bearerCheck(token: string): (header: string | undefined) => string | undefined {
  const digest = (text: string) => crypto.createHash('sha256').update(text).digest();
  const expected = digest(token);
  return (header) => {
    if (header === undefined) return `/metrics requires a token; ${HOW_TO_SEND}`;
    const match = /^\s*bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) return `the Authorization header is not of the form "Bearer <token>"; ${HOW_TO_SEND}`;
    return crypto.timingSafeEqual(digest(match[1]!), expected)
      ? undefined
      : 'the bearer token is not valid for this endpoint; check --http-token / RIGGER_HTTP_TOKEN';
  };
}

/** Whether Accept-Encoding lists gzip, not at q=0. */
function acceptsGzip(header: string | undefined): boolean {
  return (header ?? '').split(',').some((part) => {
    const [coding, ...params] = part.split(';');
    return coding!.trim().toLowerCase() === 'gzip' && !params.some((param) => /^\s*q=0(?:\.0*)?\s*$/.test(param));
  });
}

function readOrReason(notReady: () => string | undefined): string | undefined {
  try {
    return notReady();
  } catch (error) {
    return `the readiness check failed: ${(error as Error).message}`;
  }
}

/** One line naming the address and what to do. */
function listenError(error: NodeJS.ErrnoException, host: string, port: number): Error {
  const address = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  switch (error.code) {
    case 'EADDRINUSE':
      return new Error(`--http-listen ${address}: the port is already in use; stop the other server or choose another port`);
    case 'EADDRNOTAVAIL':
      return new Error(
        `--http-listen ${address}: this machine has no such address; use one of its own (127.0.0.1 for this machine only, 0.0.0.0 for every interface)`,
      );
    case 'EACCES':
      return new Error(`--http-listen ${address}: not permitted to bind it (ports below 1024 need privileges); choose a port from 1024`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new Error(`--http-listen ${address}: the host name does not resolve; use an IP address`);
    default:
      return new Error(`--http-listen ${address}: ${error.message}`);
  }
}
