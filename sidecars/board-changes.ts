// Changes from the board page (a card moved to another column), when the sidecar is started with
// --allow-changes: POST /change with JSON {task_id, status, expected_version}. A request is taken
// only from the page itself: its Origin must be the board's own, Sec-Fetch-Site (when the browser
// sends it) same-origin, the body JSON (so a cross-site form cannot send it without a preflight)
// and the x-rigger-board-csrf header the random token written into the page at load.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { parseStatus, TaskStatus } from '../src/model/task';

export const CSRF_HEADER = 'x-rigger-board-csrf';
const MAX_BODY_BYTES = 4096;

/** What the page may change, and how (the sidecar's gRPC client, with its token). */
export interface BoardChanges {
  /** Written into the page as <meta name="rigger-board-csrf">; sent back on every change. */
  csrfToken: string;
  setStatus(taskId: string, status: TaskStatus, expectedVersion: number | undefined): Promise<unknown>;
}

export function newCsrfToken(): string {
  return randomBytes(24).toString('base64url');
}

const HTTP_OF_GRPC: Partial<Record<grpc.status, number>> = {
  [grpc.status.INVALID_ARGUMENT]: 400,
  [grpc.status.NOT_FOUND]: 404,
  [grpc.status.FAILED_PRECONDITION]: 409,
  [grpc.status.ABORTED]: 409,
  [grpc.status.PERMISSION_DENIED]: 403,
  [grpc.status.UNAUTHENTICATED]: 403,
  [grpc.status.UNAVAILABLE]: 503,
  [grpc.status.DEADLINE_EXCEEDED]: 504,
};

function answer(response: http.ServerResponse, status: number, body: Record<string, unknown>): void {
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' }).end(JSON.stringify(body));
}

function sameToken(presented: unknown, expected: string): boolean {
  if (typeof presented !== 'string') return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Why a request did not come from the board's own page, or undefined when it did. */
export function foreignRequest(request: http.IncomingMessage, csrfToken: string): string | undefined {
  const origin = request.headers.origin;
  if (origin !== `http://${request.headers.host ?? ''}`) return `a change must come from the board's own page (Origin ${origin ?? 'missing'})`;
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin') return `a change must come from the board's own page (Sec-Fetch-Site ${String(site)})`;
  if (!sameToken(request.headers[CSRF_HEADER], csrfToken)) return `the change has no valid ${CSRF_HEADER} token; reload the board page`;
  if (!/^application\/json\b/i.test(request.headers['content-type'] ?? '')) return 'a change is sent as application/json';
  return undefined;
}

function readBody(request: http.IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let bytes = 0;
    request.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > MAX_BODY_BYTES) {
        resolve(undefined);
        request.destroy();
        return;
      }
      parts.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    request.on('error', reject);
  });
}

/** Answers POST /change: 403 when changes are off or the request is foreign, else the server's verdict. */
export async function handleChange(
  request: http.IncomingMessage,
  response: http.ServerResponse,
  changes: BoardChanges | undefined,
  logger: Logger,
): Promise<void> {
  if (!changes)
    return answer(response, 403, {
      error: 'the board is read-only; start the sidecar with --allow-changes and a read-write token to change tasks from the page',
    });
  const foreign = foreignRequest(request, changes.csrfToken);
  if (foreign) {
    logger.warn({ peer: request.socket.remoteAddress, origin: request.headers.origin ?? null }, `board change refused: ${foreign}`);
    return answer(response, 403, { error: foreign });
  }
  const text = await readBody(request);
  if (text === undefined) return answer(response, 413, { error: `a change is at most ${MAX_BODY_BYTES} bytes` });
  let body: { task_id?: unknown; status?: unknown; expected_version?: unknown };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    return answer(response, 400, { error: 'the change is not JSON' });
  }
  const status = typeof body.status === 'string' ? parseStatus(body.status) : undefined;
  if (typeof body.task_id !== 'string' || body.task_id === '') return answer(response, 400, { error: 'task_id must name a task' });
  if (status === undefined || status === TaskStatus.UNSPECIFIED || status === TaskStatus.ARCHIVED)
    return answer(response, 400, { error: `status must be one of the board's columns, got ${JSON.stringify(body.status)}` });
  const expected = Number.isSafeInteger(body.expected_version) ? (body.expected_version as number) : undefined;
  try {
    await changes.setStatus(body.task_id, status, expected);
    logger.info({ task_id: body.task_id, status: body.status }, 'task status changed from the board page');
    answer(response, 200, { ok: true });
  } catch (error) {
    const { code, details } = error as { code?: grpc.status; details?: string };
    const httpStatus = (code !== undefined && HTTP_OF_GRPC[code]) || 502;
    logger.warn({ task_id: body.task_id, status: body.status, code }, `board change refused by the server: ${details ?? String(error)}`);
    answer(response, httpStatus, { error: `the server refused the change: ${details ?? String(error)}` });
  }
}
