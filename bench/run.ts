// `npm run bench`: every row of the performance table, each measured in the same run as its peers.
//   --quick          small sizes (a harness check, seconds; the figures mean little)
//   --out FILE       where to write the JSON (default bench/results/latest.json)
//   --only a,b       run only these rows: fanout, replay, latency, unary, stalled, flood, cross-process, consumers, consumer-filters, board, ops, store, cli, restart, crash-loop, writer
//   --profile [DIR]  write a V8 CPU profile of the hub server during the fan-out row (default bench/results/profiles)
//   --set K=V        override one size from bench/config.ts, e.g. --set stalledEvents=200000 (repeatable)
//   --docs-dir DIR   where the run's dated document goes (env RIGGER_BENCH_DOCS; default docs/benchmarks,
//                    and for --quick bench/results, git-ignored: a harness check is no benchmark to keep)
//   --scale          the scale run instead (bench/scale/): every curve of issue 18 (bench/README.md);
//                    JSON in bench/results/scale.json, document YYYY-MM-DD-HHMM-scale.md; --set takes
//                    the sizes of bench/scale/scale-config.ts, --only does not apply
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { configFor } from './config';
import { REPO_BENCH_DOCS, SCALE_TABLE_HEADER, writeRunDocument } from './docs';
import { REPO_ROOT } from './processes';
import { machine, renderTable, type Measurement } from './report';
import { boardRow } from './rows/board';
import { cliRow } from './rows/cli';
import { consumerFilters } from './rows/consumer-filters';
import { consumerGroups } from './rows/consumers';
import { crashLoop } from './rows/crash-loop';
import { crossProcess } from './rows/cross-process';
import { fanOut } from './rows/fanout';
import { updateFlood } from './rows/flood';
import { latency } from './rows/latency';
import { opsScrapers } from './rows/ops';
import { replayAndCatchUp } from './rows/replay';
import { restartRow } from './rows/restart';
import { stalledSubscriber } from './rows/stalled';
import { storeAlone } from './rows/store';
import { unary } from './rows/unary';
import { writerRow } from './rows/writer';
import { scaleConfigFor } from './scale/scale-config';
import { runScale } from './scale/scale-run';

const ROWS = [
  'fanout',
  'replay',
  'latency',
  'unary',
  'stalled',
  'flood',
  'cross-process',
  'consumers',
  'consumer-filters',
  'board',
  'ops',
  'store',
  'cli',
  'restart',
  'crash-loop',
  'writer',
] as const;

interface Options {
  quick: boolean;
  scale: boolean;
  /** Absent: bench/results/latest.json (scale.json for --scale). */
  out: string | undefined;
  only: Set<string>;
  profileDir: string | undefined;
  overrides: [string, string][];
  /** Absent: docs/benchmarks (bench/results for --quick). */
  docsDir: string | undefined;
}

function parseOptions(argv: string[]): Options {
  const options: Options = {
    quick: false,
    scale: false,
    out: undefined,
    only: new Set(ROWS),
    profileDir: undefined,
    overrides: [],
    docsDir: process.env.RIGGER_BENCH_DOCS ? path.resolve(process.env.RIGGER_BENCH_DOCS) : undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      return next;
    };
    if (arg === '--quick') options.quick = true;
    else if (arg === '--scale') options.scale = true;
    else if (arg === '--out') options.out = path.resolve(value());
    else if (arg === '--docs-dir') options.docsDir = path.resolve(value());
    else if (arg === '--only') {
      options.only = new Set(value().split(','));
      for (const row of options.only)
        if (!(ROWS as readonly string[]).includes(row)) throw new Error(`--only: unknown row ${row}; rows are ${ROWS.join(', ')}`);
    } else if (arg === '--profile') {
      const next = argv[i + 1];
      options.profileDir = next !== undefined && !next.startsWith('--') ? path.resolve(argv[++i]!) : path.join(REPO_ROOT, 'bench', 'results', 'profiles');
    } else if (arg === '--set') {
      const [key, text] = value().split('=');
      options.overrides.push([key!, text ?? '']);
    } else throw new Error(`unknown option ${arg}; see the comment at the top of bench/run.ts`);
  }
  return options;
}

function applyOverride(config: object, key: string, text: string): void {
  const current = (config as unknown as Record<string, unknown>)[key];
  if (Array.isArray(current) && text === '') {
    (config as unknown as Record<string, unknown>)[key] = []; // `--set logOnlySizes=`: none
    return;
  }
  const numbers = text.split(',').map(Number);
  if (typeof current === 'number' && numbers.length === 1 && Number.isFinite(numbers[0])) {
    (config as unknown as Record<string, unknown>)[key] = numbers[0];
  } else if (Array.isArray(current) && numbers.every((n) => Number.isInteger(n) && n > 0)) {
    (config as unknown as Record<string, unknown>)[key] = numbers;
  } else {
    const sizes = Object.entries(config)
      .filter(([, v]) => typeof v === 'number' || Array.isArray(v))
      .map(([k]) => k);
    throw new Error(`--set ${key}=${text}: not a size; sizes are ${sizes.join(', ')}`);
  }
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (options.scale) return scaleMain(options);
  const out = options.out ?? path.join(REPO_ROOT, 'bench', 'results', 'latest.json');
  const config = configFor(options.quick, options.profileDir);
  for (const [key, text] of options.overrides) applyOverride(config, key, text);
  const log = (line: string) => process.stderr.write(`  ${line}\n`);
  const startedAt = Date.now();
  const machineBefore = machine();
  const loadBefore = os.loadavg();
  const measurements: Measurement[] = [];
  const errors: { row: string; error: string }[] = [];
  let ceilingRates = new Map<number, number>();
  let addTaskRate = 0;

  const attempt = async (row: (typeof ROWS)[number], work: () => Promise<Measurement[]>) => {
    if (!options.only.has(row)) return;
    process.stderr.write(`${row}...\n`);
    const rowStartedAt = Date.now();
    try {
      measurements.push(...(await work()));
      log(`(${((Date.now() - rowStartedAt) / 1000).toFixed(1)} s)`);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      errors.push({ row, error: message });
      process.stderr.write(`  ${row} FAILED: ${message}\n`);
    }
  };

  await attempt('fanout', async () => {
    const result = await fanOut(config, log);
    ceilingRates = result.ceilingRates;
    addTaskRate = result.addTaskRate;
    return result.measurements;
  });
  await attempt('replay', () => replayAndCatchUp(config, ceilingRates, log));
  await attempt('latency', () => latency(config, log));
  await attempt('unary', () => unary(config, log));
  await attempt('stalled', () => stalledSubscriber(config, addTaskRate, log));
  await attempt('flood', () => updateFlood(config, log));
  await attempt('cross-process', () => crossProcess(config, log));
  await attempt('consumers', () => consumerGroups(config, log));
  await attempt('consumer-filters', () => consumerFilters(config, log));
  await attempt('board', () => boardRow(config, log));
  await attempt('ops', () => opsScrapers(config, log));
  await attempt('store', () => storeAlone(config, log));
  await attempt('cli', () => cliRow(config, log));
  await attempt('restart', () => restartRow(config, log));
  await attempt('crash-loop', () => crashLoop(config, log));
  await attempt('writer', () => writerRow(config, log));

  const durationMs = Date.now() - startedAt;
  const report = {
    date: new Date().toISOString(),
    mode: options.quick ? 'quick' : 'full',
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    machine: machineBefore,
    duration_ms: durationMs,
    config,
    measurements,
    errors,
  };
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);

  const m = report.machine;
  process.stdout.write(`\nRigger benchmark (${report.mode}), ${report.date}, ${m.cpus} x ${m.cpu_model}, node ${m.node}, load ${m.load_average_1m}\n\n`);
  process.stdout.write(`${renderTable(measurements)}\n\n`);
  for (const measurement of measurements) {
    if (measurement.note) process.stdout.write(`- ${measurement.row} ${measurement.case}: ${measurement.note}\n`);
  }
  for (const { row, error } of errors) process.stdout.write(`- ${row} FAILED: ${error}\n`);
  const docsDir = options.docsDir ?? (options.quick ? path.join(REPO_ROOT, 'bench', 'results') : REPO_BENCH_DOCS);
  const doc = writeRunDocument(docsDir, {
    startedAt: new Date(startedAt),
    mode: report.mode === 'quick' ? 'quick' : 'full',
    command: report.command,
    machine: machineBefore,
    loadBefore,
    durationMs,
    measurements,
    errors,
    jsonFile: out,
  });
  process.stdout.write(
    `\n${(durationMs / 1000).toFixed(0)} s; JSON in ${path.relative(process.cwd(), out) || out}; report in ${path.relative(process.cwd(), doc) || doc}\n`,
  );
  process.exit(errors.length > 0 ? 1 : 0);
}

/** `--scale`: the curves of bench/scale/, their own JSON and dated document. */
async function scaleMain(options: Options): Promise<void> {
  const out = options.out ?? path.join(REPO_ROOT, 'bench', 'results', 'scale.json');
  const config = scaleConfigFor(options.quick);
  for (const [key, text] of options.overrides) applyOverride(config, key, text);
  const startedAt = Date.now();
  const machineBefore = machine();
  const loadBefore = os.loadavg();
  const outcome = await runScale(config, (line) => process.stderr.write(`  ${line}\n`));
  const durationMs = Date.now() - startedAt;
  const mode = options.quick ? 'scale-quick' : 'scale';
  const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`;
  const report = {
    date: new Date().toISOString(),
    mode,
    command,
    machine: machineBefore,
    duration_ms: durationMs,
    part_ms: outcome.partMs,
    config,
    measurements: outcome.measurements,
    errors: outcome.errors,
    raw: outcome.raw,
  };
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  const m = machineBefore;
  process.stdout.write(`\nRigger scale benchmark (${mode}), ${report.date}, ${m.cpus} x ${m.cpu_model}, node ${m.node}, load ${m.load_average_1m}\n\n`);
  process.stdout.write(`${renderTable(outcome.measurements, SCALE_TABLE_HEADER)}\n\n`);
  for (const measurement of outcome.measurements) {
    if (measurement.note) process.stdout.write(`- ${measurement.row} ${measurement.case}: ${measurement.note}\n`);
  }
  for (const { row, error } of outcome.errors) process.stdout.write(`- ${row} FAILED: ${error}\n`);
  const parts = `time by part (prefill included): ${Object.entries(outcome.partMs)
    .map(([part, ms]) => `${part} ${(ms / 1000).toFixed(1)} s`)
    .join(', ')}`;
  const docsDir = options.docsDir ?? (options.quick ? path.join(REPO_ROOT, 'bench', 'results') : REPO_BENCH_DOCS);
  const doc = writeRunDocument(docsDir, {
    startedAt: new Date(startedAt),
    mode,
    command,
    machine: machineBefore,
    loadBefore,
    durationMs,
    measurements: outcome.measurements,
    errors: outcome.errors,
    jsonFile: out,
    extraNotes: [`- ${parts}`, ...outcome.prefillNotes.map((line) => `- ${line}`)],
  });
  process.stdout.write(
    `\n${parts}\n${(durationMs / 1000).toFixed(0)} s; JSON in ${path.relative(process.cwd(), out) || out}; report in ${path.relative(process.cwd(), doc) || doc}\n`,
  );
  process.exit(outcome.errors.length > 0 ? 1 : 0);
}

// Interrupted: exit through process.exit so the exit hooks kill the started processes and remove the temp projects.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
