// One measurement per table line, the printed table, and the JSON written to bench/results.
import os from 'node:os';

export interface Measurement {
  /** The row of the issue: fan-out, replay fan-out, latency, unary, catch-up, stalled, cross-process. */
  row: string;
  /** What was measured in that row (e.g. "S=100", "AddTask c=64"). */
  case: string;
  /** The hub's figure, as printed. */
  rigger: string;
  /** The peer's figure from the same run, as printed ('' when the row has no peer). */
  peer: string;
  /** rigger / peer (or with / without for the stalled row); null when not a ratio. */
  ratio: number | null;
  /** The target for this line ('' when it sets none). */
  target: string;
  /** Whether the target was met; null when there is no target or it could not be measured. */
  met: boolean | null;
  /** Every number behind the line, for the JSON. */
  values: Record<string, number | string | null>;
  note?: string;
}

export function rate(count: number, elapsedMs: number): number {
  return elapsedMs > 0 ? (count * 1000) / elapsedMs : 0;
}

export function formatRate(perSecond: number): string {
  if (perSecond >= 1_000_000) return `${(perSecond / 1_000_000).toFixed(2)}M/s`;
  if (perSecond >= 10_000) return `${Math.round(perSecond / 1000)}k/s`;
  if (perSecond >= 1000) return `${(perSecond / 1000).toFixed(1)}k/s`;
  return `${Math.round(perSecond)}/s`;
}

export function formatMs(ms: number): string {
  return Number.isFinite(ms) ? (ms < 10 ? ms.toFixed(2) : ms.toFixed(1)) : 'n/a';
}

export function formatRatio(ratio: number | null): string {
  return ratio === null || !Number.isFinite(ratio) ? '' : `${ratio.toFixed(2)}x`;
}

/** The default header; the scale run names the same columns for its curves (docs.ts). */
export const TABLE_HEADER = ['row', 'case', 'rigger', 'peer (same run)', 'ratio', 'target', 'met'];

export function renderTable(measurements: Measurement[], header: string[] = TABLE_HEADER): string {
  const lines = measurements.map((m) => [m.row, m.case, m.rigger, m.peer, formatRatio(m.ratio), m.target, m.met === null ? '' : m.met ? 'yes' : 'NO']);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const format = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [format(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.map(format)].join('\n');
}

export function machine(): Record<string, string | number> {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpu_model: cpus[0]?.model ?? 'unknown',
    memory_gb: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    load_average_1m: Number(os.loadavg()[0]!.toFixed(2)),
  };
}
