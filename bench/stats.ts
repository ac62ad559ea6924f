/** Latency percentiles in ms over the first `count` samples (sorts them in place). */
export function percentiles(samples: Float64Array, count: number): { p50: number; p99: number; max: number; n: number } {
  const sorted = samples.subarray(0, count).sort();
  const at = (q: number) => (count === 0 ? NaN : sorted[Math.min(count - 1, Math.floor(q * count))]!);
  return { p50: at(0.5), p99: at(0.99), max: count === 0 ? NaN : sorted[count - 1]!, n: count };
}

/** The nearest-rank `q` quantile of the finite `values` (NaN when there are none); the lower median at 0.5. */
export function nearestRank(values: readonly number[], q: number): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
}

export const median = (values: readonly number[]): number => nearestRank(values, 0.5);

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Milliseconds since the epoch with sub-millisecond precision (the system's wall clock). */
export function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}
