/** How a subscription waits between reconnect attempts. */
export interface BackoffOptions {
  /** Delay before the first retry, in ms (default 100). */
  initialDelayMs?: number;
  /** Upper bound of any delay, in ms (default 5000). */
  maxDelayMs?: number;
  /** Growth factor per failed attempt (default 2). */
  multiplier?: number;
  /** Failed attempts in a row before the subscription gives up with the last error (default: never). */
  maxAttempts?: number;
}

export const DEFAULT_BACKOFF: Required<BackoffOptions> = {
  initialDelayMs: 100,
  maxDelayMs: 5000,
  multiplier: 2,
  maxAttempts: Number.POSITIVE_INFINITY,
};

/**
 * The delay before retry number `attempt` (0-based): exponential, capped, with "equal jitter"
 * (half fixed, half random) so that many sidecars restarted together do not reconnect in lockstep.
 */
export function backoffDelay(attempt: number, options: Required<BackoffOptions>, random = Math.random): number {
  const exponential = Math.min(options.maxDelayMs, options.initialDelayMs * options.multiplier ** attempt);
  return Math.round(exponential / 2 + random() * (exponential / 2));
}
