// The operations endpoint of `rig grpc --http-listen HOST:PORT` (node:http, plain HTTP):
//   /metrics  Prometheus text exposition of the server's registry (server-metrics.ts)
//   /healthz  200 while the process runs and answers (liveness)
//   /readyz   200 when the database is open and writable and the hub serving, else 503 with a one-line reason
// Off unless the setting is given; docs/operations.md#operations-endpoint.
import http from 'node:http';
import type { Registry } from 'prom-client';

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
  registry: Registry;
  /** Why the server is not ready (one line), or undefined when it is. */
  notReady(): string | undefined;
}

const TEXT = { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' };

export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const { registry, notReady } = options;
  const server = http.createServer((request, response) => {
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
      registry.metrics().then(
        (text) => response.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' }).end(text),
        (error: Error) => response.writeHead(500, TEXT).end(`${error.message}\n`),
      );
    } else {
      response.writeHead(404, TEXT).end('not found; this endpoint serves /metrics, /healthz and /readyz\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => reject(listenError(error, options.host, options.port)));
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as { port: number };
  return {
    url: `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
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
      return new Error(`--http-listen ${address}: this machine has no such address; use one of its own (127.0.0.1 for this machine only, 0.0.0.0 for every interface)`);
    case 'EACCES':
      return new Error(`--http-listen ${address}: not permitted to bind it (ports below 1024 need privileges); choose a port from 1024`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new Error(`--http-listen ${address}: the host name does not resolve; use an IP address`);
    default:
      return new Error(`--http-listen ${address}: ${error.message}`);
  }
}
