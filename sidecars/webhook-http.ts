// One POST of one event to the webhook's URL, and what its answer means for the event:
//   2xx                          delivered (ack)
//   408, 409, 425, 429, 5xx      retry, after Retry-After (seconds or an HTTP date) when the answer has one
//   no answer in time, a connection refused, reset or unresolvable: retry
//   410 Gone                     the receiver wants no more deliveries: the sidecar stops
//   3xx (not followed), other 4xx: this event is refused for good: dead letter now
import { retryAfterMs, type Outcome } from './retry-policy';

const RETRYABLE_4XX = new Set([408, 409, 425, 429]);
/** Of a failed answer's body, this much goes into the reason (logs, the dead letter). */
const BODY_IN_REASON = 200;

export interface PostResult {
  outcome: Outcome;
  status?: number;
}

/** The URL as logs show it: the origin only, since a path often holds a secret (Slack's does). */
export function shownUrl(url: URL): string {
  return url.pathname === '/' && url.search === '' ? url.origin : `${url.origin}/…`;
}

export async function postEvent(url: URL, body: string, headers: Record<string, string>, timeoutMs: number, stop: AbortSignal): Promise<PostResult> {
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    const response = await fetch(url, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', 'user-agent': 'rigger-webhook', ...headers },
      redirect: 'manual',
      signal: AbortSignal.any([stop, timeout]),
    });
    const text = await bodyStart(response);
    return { outcome: outcomeOf(response.status, response.headers, text, url), status: response.status };
  } catch (error) {
    if (timeout.aborted) return { outcome: { kind: 'retry', reason: `no answer within --timeout-ms ${timeoutMs}` } };
    return { outcome: { kind: 'retry', reason: connectionFailure(error) } };
  }
}

function outcomeOf(status: number, headers: Headers, text: string, url: URL): Outcome {
  if (status >= 200 && status < 300) return { kind: 'done' };
  const said = `${shownUrl(url)} answered ${status}${text ? `: ${text}` : ''}`;
  if (status === 410) return { kind: 'fatal', reason: `${shownUrl(url)} answered 410 Gone: the receiver wants no more deliveries, so the webhook stopped; fix or replace the URL and start it again (the undelivered events wait in its consumer)` };
  if (status >= 500 || RETRYABLE_4XX.has(status)) {
    const after = retryAfterMs(headers.get('retry-after'));
    return { kind: 'retry', reason: said, ...(after !== undefined && { retryAfterMs: after }) };
  }
  if (status >= 300 && status < 400) return { kind: 'permanent', reason: `${said} (a redirect, to ${headers.get('location') ?? 'nowhere'}; redirects are not followed: give the final URL)` };
  return { kind: 'permanent', reason: said };
}

/** The first bytes of the answer's body, as one line; the rest is not read. */
async function bodyStart(response: Response): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < BODY_IN_REASON) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.length;
    }
  } finally {
    void reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).toString('utf8').slice(0, BODY_IN_REASON).replace(/\s+/g, ' ').trim();
}

/** fetch's "fetch failed" with the cause that says what happened (ECONNREFUSED, ENOTFOUND, ...). */
function connectionFailure(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code) return `connection failed: ${cause.code}${cause.message ? ` (${cause.message})` : ''}`;
  return `connection failed: ${error instanceof Error ? error.message : String(error)}`;
}
