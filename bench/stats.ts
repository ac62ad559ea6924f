/** Latency percentiles in ms over the first `count` samples (sorts them in place). */
export function percentiles(samples: Float64Array, count: number): { p50: number; p99: number; max: number; n: number } {
  const sorted = samples.subarray(0, count).sort();
  const at = (q: number) => (count === 0 ? NaN : sorted[Math.min(count - 1, Math.floor(q * count))]!);
  return { p50: at(0.5), p99: at(0.99), max: count === 0 ? NaN : sorted[count - 1]!, n: count };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Milliseconds since the epoch with sub-millisecond precision (the system's wall clock). */
export function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}
