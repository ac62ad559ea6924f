// What the webhook and exec sidecars do with the outcome of one attempt at an event: ack it, nak it
// with a delay (the consumer redelivers it then, and dead-letters it after max_deliver), dead-letter
// it now (a failure another attempt cannot fix), or stop the sidecar (a failure no event can get
// past). The retrying itself is the server's: a nak's delay is all this side decides.
import { backoffDelay, type BackoffOptions } from '../src/client/backoff';

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

export function decide(outcome: Outcome, attempt: number, settings: RetrySettings, random = Math.random): Decision {
  switch (outcome.kind) {
    case 'done':
      return { action: 'ack' };
    case 'permanent':
      return { action: 'dead-letter', reason: outcome.reason };
    case 'fatal':
      return { action: 'stop', reason: outcome.reason };
    case 'retry': {
      const delayMs = outcome.retryAfterMs !== undefined ? Math.min(outcome.retryAfterMs, MAX_RETRY_AFTER_MS) : backoffDelay(attempt - 1, settings.backoff, random);
      return { action: 'nak', delayMs, reason: outcome.reason, last: attempt >= settings.maxAttempts };
    }
  }
}

/** An HTTP Retry-After value (delay-seconds or an HTTP-date) as ms from `now`; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null | undefined, now = Date.now()): number | undefined {
  if (header === null || header === undefined) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}
