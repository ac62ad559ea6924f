// A scale curve: one figure per size, and how it grows with the size. The slope is the log-log
// slope between the smallest and the largest size (0 = flat, 1 = linear in the size), also given as
// the factor per 10x of the size, so "flat" and "linear" are claims with a number behind them.
import type { Measurement } from '../report';

export interface CurvePoint {
  /** The size on the curve's axis: tasks, logged events, idle streams or group members. */
  size: number;
  /** The figure at that size; NaN when it could not be measured. */
  value: number;
  /** The figure as printed, when it says more than format(value) (e.g. "p50 1.2 / p99 3.4 ms"). */
  display?: string;
}

export interface Slope {
  /** d log(value) / d log(size) between the smallest and the largest measured size. */
  exponent: number;
  /** value(10 x size) / value(size) at that exponent. */
  per10x: number;
  /** "flat", "sublinear", "linear", "superlinear", or "falling" (for a rate, getting slower). */
  shape: string;
}

export function slopeOf(points: readonly CurvePoint[]): Slope | undefined {
  const measured = points.filter((p) => Number.isFinite(p.value) && p.value > 0 && p.size > 0).sort((a, b) => a.size - b.size);
  if (measured.length < 2) return undefined;
  const first = measured[0]!;
  const last = measured[measured.length - 1]!;
  if (last.size === first.size) return undefined;
  const exponent = Math.log(last.value / first.value) / Math.log(last.size / first.size);
  return { exponent, per10x: 10 ** exponent, shape: shapeOf(exponent) };
}

function shapeOf(exponent: number): string {
  if (exponent < -0.15) return 'falling';
  if (exponent <= 0.15) return 'flat';
  if (exponent < 0.7) return 'sublinear';
  if (exponent <= 1.3) return 'linear';
  return 'superlinear';
}

/** "flat (k = 0.04, x1.10 per 10x)" */
export function formatSlope(slope: Slope | undefined): string {
  if (!slope) return 'n/a (fewer than two sizes measured)';
  return `${slope.shape} (k = ${slope.exponent.toFixed(2)}, x${slope.per10x.toFixed(2)} per 10x)`;
}

/** 10000 -> "10k", 1000000 -> "1M" */
export function formatSize(size: number): string {
  if (size >= 1_000_000 && size % 100_000 === 0) return `${size / 1_000_000}M`;
  if (size >= 1000 && size % 100 === 0) return `${size / 1000}k`;
  return String(size);
}

export interface CurveSpec {
  /** The curve's row: "scale: tasks", "scale: log", "scale: idle streams", "scale: consumers". */
  row: string;
  /** What is measured along it: "ListTasks unfiltered p99". */
  case: string;
  /** The unit the sizes count ("tasks", "events", "streams", "members"). */
  axis: string;
  points: CurvePoint[];
  /** Formats one point's figure for the table. */
  format: (value: number) => string;
  /** The target and, when the size it names was measured, whether it was met. */
  target?: { text: string; size: number; met: (value: number) => boolean };
  note?: string;
  /** More numbers for the JSON. */
  extra?: Record<string, number | string | null>;
}

/** A curve as one line of the table: figures by size in the rigger column, the slope beside them. */
export function curveMeasurement(spec: CurveSpec): Measurement {
  const slope = slopeOf(spec.points);
  const atTarget = spec.target ? spec.points.find((p) => p.size === spec.target!.size) : undefined;
  const met = spec.target && atTarget && Number.isFinite(atTarget.value) ? spec.target.met(atTarget.value) : null;
  const values: Record<string, number | string | null> = { axis: spec.axis };
  for (const point of spec.points) values[`at_${point.size}`] = Number.isFinite(point.value) ? point.value : null;
  values.slope_exponent = slope ? slope.exponent : null;
  values.slope_per_10x = slope ? slope.per10x : null;
  values.slope_shape = slope ? slope.shape : null;
  return {
    row: spec.row,
    case: spec.case,
    rigger: spec.points.map((p) => `${formatSize(p.size)}: ${p.display ?? (Number.isFinite(p.value) ? spec.format(p.value) : 'n/a')}`).join('; '),
    peer: formatSlope(slope),
    ratio: slope ? slope.per10x : null,
    target: spec.target?.text ?? '',
    met,
    values: { ...values, ...spec.extra },
    ...(spec.note && { note: spec.note }),
  };
}
