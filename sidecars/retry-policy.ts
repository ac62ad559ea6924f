// What the webhook and exec sidecars do with the outcome of one attempt at an event: ack it, nak it
// with a delay (the consumer redelivers it then, and dead-letters it after max_deliver), dead-letter
// it now (a failure another attempt cannot fix), or stop the sidecar (a failure no event can get
// past). The retrying itself is the server's: a nak's delay is all this side decides.
import { backoffDelay, type BackoffOptions } from '../src/client/backoff';
import { safeErrorLine } from '../src/config/terminal-text';

/** How one attempt went. */
export type Outcome =
  | { kind: 'done' }
  /** Worth trying again; `retryAfterMs` when the other side said when (HTTP Retry-After). */
  | { kind: 'retry'; reason: string; retryAfterMs?: number }
  /** This event will never succeed as it is: a dead letter now. */
  | { kind: 'permanent'; reason: string }
  /** Nothing will succeed: the sidecar stops (exit 1) with this as its one line. */
  | { kind: 'fatal'; reason: string };

export type Decision =
  | { action: 'ack' }
  /** `last`: the consumer's max_deliver is reached, so this nak makes it a dead letter. */
  | { action: 'nak'; delayMs: number; reason: string; last: boolean }
  | { action: 'dead-letter'; reason: string }
  | { action: 'stop'; reason: string };

export interface RetrySettings {
  /** Deliveries of one event before it is a dead letter (the consumer's max_deliver). */
  maxAttempts: number;
  /** The delay before redelivery N: exponential from initialDelayMs, capped at maxDelayMs, with jitter. */
  backoff: Required<BackoffOptions>;
}

/** A Retry-After further out than this is taken as this: an event is not parked for days on one answer. */
export const MAX_RETRY_AFTER_MS = 3_600_000;

/** The longest reason a decision carries (the server takes 1,000 in a nak): logs and dead letters stay readable. */
export const MAX_REASON_CHARS = 300;

/**
 * Text from outside (a receiver's answer, a command's stderr, an error message) as one printable
 * line of at most `max` characters: control, line-separator and bidi characters escaped (\n, \x1b,
 * \u202e), and a longer text cut, ending in `… (N characters)` with its whole length. `partial`:
 * the text is the start of a longer one (a body not read to its end), so it ends in `…` whatever its length.
 */
export function boundedText(text: string, max = MAX_REASON_CHARS, partial = false): string {
  if (!partial && text.length <= max) {
    const escaped = safeErrorLine(text);
    if (escaped.length <= max) return escaped;
  }
  const whole = `… (${text.length} characters)`;
  const end = partial || whole.length >= max ? '…' : whole;
  let kept = '';
  for (const c of text) {
    const shown = safeErrorLine(c);
    if (kept.length + shown.length > max - end.length) break;
    kept += shown;
  }
  return kept + end;
}

export function decide(outcome: Outcome, attempt: number, settings: RetrySettings, random = Math.random): Decision {
  switch (outcome.kind) {
    case 'done':
      return { action: 'ack' };
    case 'permanent':
      return { action: 'dead-letter', reason: boundedText(outcome.reason) };
    case 'fatal':
      return { action: 'stop', reason: boundedText(outcome.reason) };
    case 'retry': {
      // A Retry-After may ask for longer than the backoff (up to MAX_RETRY_AFTER_MS), never for less: no answer makes the retries a tight loop.
      const backoff = backoffDelay(attempt - 1, settings.backoff, random);
      const asked =
        outcome.retryAfterMs !== undefined && Number.isFinite(outcome.retryAfterMs) ? Math.min(Math.max(0, outcome.retryAfterMs), MAX_RETRY_AFTER_MS) : 0;
      return { action: 'nak', delayMs: Math.round(Math.max(backoff, asked)), reason: boundedText(outcome.reason), last: attempt >= settings.maxAttempts };
    }
  }
}

// RFC 9110's HTTP-date: IMF-fixdate, and the obsolete RFC 850 and asctime forms a receiver may still send.
const HTTP_DATES = [
  /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/,
  /^(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), \d{2}-(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)-\d{2} \d{2}:\d{2}:\d{2} GMT$/,
  /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/,
];

/**
 * An HTTP Retry-After value (delay-seconds or an HTTP-date) as ms from `now`, at most
 * MAX_RETRY_AFTER_MS; undefined when absent or not one of those (a negative number, garbage), so
 * the backoff applies.
 */
export function retryAfterMs(header: string | null | undefined, now = Date.now()): number | undefined {
  if (header === null || header === undefined) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Math.min(Number(text) * 1000, MAX_RETRY_AFTER_MS);
  if (!HTTP_DATES.some((form) => form.test(text))) return undefined;
  const at = Date.parse(text.endsWith('GMT') ? text : `${text} GMT`);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(0, at - now), MAX_RETRY_AFTER_MS);
}
