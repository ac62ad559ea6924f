// One POST of one event to the webhook's URL, and what its answer means for the event:
//   2xx                          delivered (ack)
//   408, 409, 425, 429, 5xx      retry, after Retry-After (seconds or an HTTP date) when the answer has one
//   no answer in time, a connection refused, reset or unresolvable, an answer that is not HTTP
//   (garbage, headers over MAX_HEADER_BYTES, a status HTTP does not define, 1xx only): retry
//   410 Gone                     the receiver wants no more deliveries: the sidecar stops
//   3xx (not followed), other 4xx: this event is refused for good: dead letter now
// Whatever the receiver sends, an attempt ends within --timeout-ms and holds at most the headers
// and BODY_IN_REASON bytes of its body: the rest is not read, the connection is destroyed.
import http from 'node:http';
import https from 'node:https';
import { boundedText, retryAfterMs, type Outcome } from './retry-policy';

const RETRYABLE_4XX = new Set([408, 409, 425, 429]);
/** Of a failed answer's body, this much is read, and goes into the reason (logs, the dead letter). */
const BODY_IN_REASON = 200;
/** Of a redirect's Location, this much goes into the reason. */
const LOCATION_IN_REASON = 120;
/** An answer whose status line and headers are longer is not taken (Node's own default). */
const MAX_HEADER_BYTES = 16 * 1024;
/** Of a 2xx answer's body, this much is read so the connection can be kept; past it, the connection is destroyed. */
const DRAIN_BYTES = 64 * 1024;

export interface PostResult {
  outcome: Outcome;
  status?: number;
}

/** The URL as logs show it: the origin only, since a path often holds a secret (Slack's does). */
export function shownUrl(url: URL): string {
  return url.pathname === '/' && url.search === '' ? url.origin : `${url.origin}/…`;
}

export function postEvent(url: URL, body: string, headers: Record<string, string>, timeoutMs: number, stop: AbortSignal): Promise<PostResult> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: PostResult) => {
      if (settled) return;
      settled = true;
      resolve(result);
    };
    /** Set once the status and headers are in: ends the body read with what it has. */
    let endBody: (() => void) | undefined;
    const request = (url.protocol === 'https:' ? https : http).request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), 'user-agent': 'rigger-webhook', ...headers },
      maxHeaderSize: MAX_HEADER_BYTES,
    });
    const timer = setTimeout(() => {
      if (endBody) endBody();
      else finish({ outcome: { kind: 'retry', reason: `no answer within --timeout-ms ${timeoutMs}` } });
      request.destroy();
    }, timeoutMs);
    const onStop = () => {
      finish({ outcome: { kind: 'retry', reason: 'the sidecar is stopping' } });
      request.destroy();
    };
    if (stop.aborted) onStop();
    stop.addEventListener('abort', onStop, { once: true });

    request.on('response', (response) => {
      const status = response.statusCode ?? 0;
      if (status >= 200 && status < 300) {
        finish({ outcome: { kind: 'done' }, status });
        drain(response, () => request.destroy());
        return;
      }
      endBody = bodyStart(response, (text) => {
        finish({ outcome: outcomeOf(status, response.headers, text, url), status });
        request.destroy();
      });
    });
    request.on('error', (error) => finish({ outcome: { kind: 'retry', reason: connectionFailure(error) } }));
    // Closed with no answer and no error: a 101 (an upgrade nobody asked for) ends this way.
    request.on('close', () => {
      clearTimeout(timer);
      stop.removeEventListener('abort', onStop);
      endBody?.();
      finish({ outcome: { kind: 'retry', reason: 'the connection closed without an answer' } });
    });
    request.end(body);
  });
}

function outcomeOf(status: number, headers: http.IncomingHttpHeaders, text: string, url: URL): Outcome {
  const said = `${shownUrl(url)} answered ${status}${text ? `: ${text}` : ''}`;
  if (status < 100 || status > 599) return { kind: 'retry', reason: `${shownUrl(url)} answered status ${status}, which HTTP does not define` };
  if (status === 410)
    return {
      kind: 'fatal',
      reason: `${shownUrl(url)} answered 410 Gone: the receiver wants no more deliveries, so the webhook stopped; fix or replace the URL and start it again (the undelivered events wait in its consumer)`,
    };
  if (status >= 500 || RETRYABLE_4XX.has(status)) {
    const after = retryAfterMs(headers['retry-after']);
    return { kind: 'retry', reason: said, ...(after !== undefined && { retryAfterMs: after }) };
  }
  if (status >= 300 && status < 400) {
    const location = headers.location === undefined ? 'nowhere' : boundedText(headers.location, LOCATION_IN_REASON);
    return { kind: 'permanent', reason: `${shownUrl(url)} answered ${status}, a redirect to ${location}; redirects are not followed: give the final URL` };
  }
  return { kind: 'permanent', reason: said };
}

/**
 * Reads the first BODY_IN_REASON bytes of the answer's body, then calls `done` once with them as
 * one printable line (the rest is never read); the returned function ends the read early.
 */
function bodyStart(response: http.IncomingMessage, done: (text: string) => void): () => void {
  const chunks: Buffer[] = [];
  let size = 0;
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    response.removeListener('data', onData);
    const bytes = Buffer.concat(chunks);
    const cut = bytes.length > BODY_IN_REASON || (bytes.length === BODY_IN_REASON && !response.complete);
    // A character cut in two at the end is left out, not shown as U+FFFD.
    const text = new TextDecoder().decode(bytes.subarray(0, BODY_IN_REASON), { stream: true }).replace(/\s+/g, ' ').trim();
    done(boundedText(text, BODY_IN_REASON, cut));
  };
  const onData = (chunk: Buffer) => {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= BODY_IN_REASON) end();
  };
  response.on('data', onData);
  response.once('end', end);
  response.once('close', end);
  response.once('error', end);
  return end;
}

/** Reads a 2xx answer's body to its end, so the connection can carry the next request; `tooLong` when it passes DRAIN_BYTES. */
function drain(response: http.IncomingMessage, tooLong: () => void): void {
  let size = 0;
  const onData = (chunk: Buffer) => {
    size += chunk.length;
    if (size <= DRAIN_BYTES) return;
    response.removeListener('data', onData);
    tooLong();
  };
  response.on('data', onData);
  response.on('error', () => undefined); // a reset after the status: the event is delivered already
}

const NOT_HTTP: Record<string, string> = {
  HPE_HEADER_OVERFLOW: `its status line and headers are over ${MAX_HEADER_BYTES} bytes`,
};

/** What happened to the connection, from the error's code (ECONNREFUSED, ENOTFOUND, HPE_*). */
function connectionFailure(error: unknown): string {
  const { code, message } = error as { code?: string; message?: string };
  const text = message ?? String(error);
  if (code?.startsWith('HPE_')) return `the answer is not HTTP: ${NOT_HTTP[code] ?? `${code} (${boundedText(text, 100)})`}`;
  if (code) return `connection failed: ${code} (${boundedText(text, 100)})`;
  return `connection failed: ${boundedText(text, 100)}`;
}
