// A steady load: calls issued on a fixed schedule, each without waiting for the ones before it
// (the latency rows' producers, for the hub and for JetStream alike).
import { sleep, wallClockMs } from './stats';

export interface LoadResult {
  calls: number;
  errors: number;
  elapsedMs: number;
  firstError?: string;
}

/** Issues `issue()` `rate` times a second for `durationMs`, then waits for every answer. */
export async function steadyCalls(rate: number, durationMs: number, issue: () => Promise<unknown>): Promise<LoadResult> {
  const result: LoadResult = { calls: 0, errors: 0, elapsedMs: 0 };
  const inFlight = new Set<Promise<void>>();
  const startedAt = wallClockMs();
  const total = Math.round((rate * durationMs) / 1000);
  let issued = 0;
  while (issued < total) {
    // Always yield to the event loop (never spin): the answers come in on it.
    await sleep(Math.max(1, startedAt + (issued * 1000) / rate - wallClockMs()));
    while (issued < total && startedAt + (issued * 1000) / rate <= wallClockMs()) {
      issued++;
      const pending: Promise<void> = issue().then(
        () => void result.calls++,
        (error: Error) => {
          result.errors++;
          result.firstError ??= error.message;
        },
      );
      inFlight.add(pending);
      void pending.finally(() => inFlight.delete(pending));
    }
  }
  await Promise.all(inFlight);
  return { ...result, elapsedMs: wallClockMs() - startedAt };
}
