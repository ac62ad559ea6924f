// Each run of `npm run bench` writes its own dated document, docs/benchmarks/YYYY-MM-DD-HHMM.md (UTC):
// the table, the command line, the machine and the notes. Into the repository's own docs/benchmarks
// it also points README.md's "newest run" line (between the bench:latest markers) at that document.
// Elsewhere (`--docs-dir DIR` or RIGGER_BENCH_DOCS=DIR, as the tests do) README.md is left alone.
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './processes';
import { renderTable, type Measurement } from './report';

export const REPO_BENCH_DOCS = path.join(REPO_ROOT, 'docs', 'benchmarks');
export const LATEST_BEGIN = '<!-- bench:latest -->';
export const LATEST_END = '<!-- /bench:latest -->';

export interface BenchRun {
  startedAt: Date;
  /** The scale run's modes (`--scale`, `--scale --quick`) write their own kind of document. */
  mode: 'quick' | 'full' | 'scale' | 'scale-quick';
  command: string;
  /** machine() taken before the first row: cpus, cpu_model, memory_gb, os, node, load_average_1m. */
  machine: Record<string, string | number>;
  /** os.loadavg() before the first row (1, 5, 15 minutes). */
  loadBefore: number[];
  durationMs: number;
  measurements: Measurement[];
  errors: { row: string; error: string }[];
  jsonFile: string;
  /** Lines added before the notes (the scale run: how long each part took). */
  extraNotes?: string[];
}

export const isScale = (run: Pick<BenchRun, 'mode'>) => run.mode === 'scale' || run.mode === 'scale-quick';

/** The scale run's table: each line a curve, its figures by size, and the slope. */
export const SCALE_TABLE_HEADER = ['curve', 'case', 'by size', 'slope (log-log, smallest to largest size)', 'per 10x', 'target', 'met'];

const pad = (n: number) => String(n).padStart(2, '0');

/** `2026-11-23-1708` for a run started at 17:08 UTC on 2026-11-23. */
export function runName(date: Date): string {
  return `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}-${pad(date.getUTCHours())}${pad(date.getUTCMinutes())}`;
}

export function renderRunDocument(run: BenchRun): string {
  const m = run.machine;
  const when = `${run.startedAt.toISOString().slice(0, 10)} ${pad(run.startedAt.getUTCHours())}:${pad(run.startedAt.getUTCMinutes())} UTC`;
  const met = run.measurements.filter((x) => x.met === true).length;
  const missed = run.measurements.filter((x) => x.met === false).length;
  const notes = run.measurements.filter((x) => x.note).map((x) => `- ${x.row} ${x.case}: ${x.note}`);
  const failures = run.errors.map(({ row, error }) => `- ${row} FAILED: ${error}`);
  const scale = isScale(run);
  return [
    scale ? `# Scale benchmark run ${when}` : `# Benchmark run ${when}`,
    '',
    scale
      ? `One ${run.mode === 'scale' ? 'full' : 'quick'} scale run of the bench (\`--scale\`: every curve of issue 18) on ${m.cpus} CPUs, node ${m.node}: ${met} target(s) met, ${missed} missed, ${run.errors.length} part(s) failed.`
      : `One ${run.mode} run of the bench on ${m.cpus} CPUs, node ${m.node}: ${met} target(s) met, ${missed} missed, ${run.errors.length} row(s) failed.`,
    scale
      ? 'Written by `npm run bench -- --scale` itself; how to read the curves: [bench/README.md](../../bench/README.md#the-scale-run).'
      : 'Written by `npm run bench` itself; how to read the rows: [bench/README.md](../../bench/README.md).',
    '',
    '## Command',
    '',
    '```sh',
    run.command,
    '```',
    '',
    '## Machine',
    '',
    '| fact | value |',
    '|---|---|',
    `| CPUs | ${m.cpus} x ${m.cpu_model} |`,
    `| memory | ${m.memory_gb} GiB |`,
    `| OS | ${m.os} |`,
    `| node | ${m.node} |`,
    `| load average before (1, 5, 15 min) | ${run.loadBefore.map((l) => l.toFixed(2)).join(' ')} |`,
    `| run time | ${(run.durationMs / 1000).toFixed(0)} s |`,
    '',
    '## Results',
    '',
    renderTable(run.measurements, scale ? SCALE_TABLE_HEADER : undefined),
    '',
    ...(notes.length + failures.length + (run.extraNotes?.length ?? 0) > 0 ? ['## Notes', '', ...(run.extraNotes ?? []), ...notes, ...failures, ''] : []),
    `Every number behind the table is in the run's JSON (\`${path.relative(REPO_ROOT, run.jsonFile) || run.jsonFile}\`, git-ignored).`,
    '',
  ].join('\n');
}

/** Writes the run's document into `dir` (a new name if one from the same minute is there) and returns its path. */
export function writeRunDocument(dir: string, run: BenchRun): string {
  fs.mkdirSync(dir, { recursive: true });
  const base = `${runName(run.startedAt)}${isScale(run) ? '-scale' : ''}`;
  let file = path.join(dir, `${base}.md`);
  for (let n = 2; fs.existsSync(file); n++) file = path.join(dir, `${base}-${n}.md`);
  fs.writeFileSync(file, renderRunDocument(run));
  // The README links the newest run of the default rows; a scale run is listed in docs/benchmarks/README.md.
  if (path.resolve(dir) === REPO_BENCH_DOCS && !isScale(run)) pointReadmeAt(file);
  return file;
}

/** Rewrites the single line between README.md's bench:latest markers to link the given document. */
export function pointReadmeAt(file: string, readme = path.join(REPO_ROOT, 'README.md')): void {
  if (!fs.existsSync(readme)) return;
  const text = fs.readFileSync(readme, 'utf8');
  const begin = text.indexOf(LATEST_BEGIN);
  const end = text.indexOf(LATEST_END, begin);
  if (begin < 0 || end < 0) {
    process.stderr.write(`bench: ${readme} has no ${LATEST_BEGIN} ... ${LATEST_END} markers; its link to the newest run was not updated\n`);
    return;
  }
  const link = path.relative(path.dirname(readme), file).split(path.sep).join('/');
  const line = `Newest benchmark run: [${path.basename(file, '.md')}](${link}).`;
  fs.writeFileSync(readme, `${text.slice(0, begin + LATEST_BEGIN.length)}\n${line}\n${text.slice(end)}`);
}
