// The scale run's harness (`npm run bench -- --scale --quick`) end to end: every curve of the
// scale run is in its JSON and its dated document, each with a figure at every size and a slope.
// Speed is never asserted here (the figures of a --quick run mean little), only that each was measured.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT, runBench } from './bench-support';

/** Every curve of the scale run, as row and case. */
const CURVES: [string, string][] = [
  ['scale: tasks', 'ListTasks unfiltered'],
  ['scale: tasks', 'ListTasks status = TODO (7 in 10 tasks)'],
  ['scale: tasks', 'ListTasks assignee (1 in 100 tasks)'],
  ['scale: tasks', 'ListTasks deep page via page_token (half-way)'],
  ['scale: tasks', 'ListTasks deep page via offset (half-way)'],
  ['scale: tasks', 'AddTask rate'],
  ['scale: tasks', 'database bytes per task'],
  ['scale: log', 'one-task subscriber reaches live from 0'],
  ['scale: log', 'one-assignee subscriber reaches live from 0'],
  ['scale: log', 'unfiltered catch-up rate'],
  ['scale: log', 'compaction of the oldest tenth (at most 100k)'],
  ['scale: log', 'restart to ready after a clean stop'],
  ['scale: log', 'restart to ready after kill -9'],
  ['scale: log', "writer's p99 during compaction / without"],
  ['scale: idle streams', 'server RSS per stream'],
  ['scale: idle streams', 'server heap + external per stream'],
  ['scale: idle streams', 'time to open them all'],
  ['scale: idle streams', 'fan-out of one event to all'],
  ['scale: consumers', 'group throughput (lag-free up to it)'],
];

/**
 * Curves whose every point must be a positive measured number. The rest may be n/a (a server without
 * keyset pages, a compaction too quick for a call to overlap it) or, per stream at a handful of
 * streams, below zero (RSS and heap move by more than a few streams' worth between two reads).
 */
const ALWAYS_MEASURED = new Set([
  'ListTasks unfiltered',
  'ListTasks status = TODO (7 in 10 tasks)',
  'ListTasks assignee (1 in 100 tasks)',
  'ListTasks deep page via offset (half-way)',
  'AddTask rate',
  'database bytes per task',
  'one-task subscriber reaches live from 0',
  'one-assignee subscriber reaches live from 0',
  'unfiltered catch-up rate',
  'compaction of the oldest tenth (at most 100k)',
  'restart to ready after a clean stop',
  'restart to ready after kill -9',
  'time to open them all',
  'fan-out of one event to all',
  'group throughput (lag-free up to it)',
]);

test('npm run bench -- --scale --quick measures every curve at every size, writes its JSON and a dated scale document', { timeout: 300_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rigger-scale-test-'));
  const out = path.join(dir, 'scale.json');
  const docsDir = path.join(dir, 'docs');
  const readme = path.join(REPO_ROOT, 'README.md');
  const readmeBefore = fs.readFileSync(readme, 'utf8');
  try {
    await runBench(['--scale', '--quick'], out, docsDir, path.join(dir, 'env-docs'));

    const report = JSON.parse(fs.readFileSync(out, 'utf8'));
    assert.equal(report.mode, 'scale-quick');
    assert.deepEqual(report.errors, []);
    const sizes: Record<string, number[]> = {
      'scale: tasks': report.config.taskSizes,
      'scale: log': [...report.config.taskSizes, ...report.config.logOnlySizes],
      'scale: idle streams': report.config.streamSizes,
      'scale: consumers': report.config.consumerMembers,
    };
    for (const [row, name] of CURVES) {
      const curve = report.measurements.find((m: { row: string; case: string }) => m.row === row && m.case === name);
      assert.ok(curve, `no curve ${row} / ${name} in ${report.measurements.map((m: { case: string }) => m.case).join(', ')}`);
      assert.ok(sizes[row]!.length >= 2, `${row}: at least two sizes`);
      for (const size of sizes[row]!) {
        const value = curve.values[`at_${size}`];
        assert.ok(value === null || (typeof value === 'number' && Number.isFinite(value)), `${name} at ${size}: ${value}`);
        if (ALWAYS_MEASURED.has(name)) assert.ok(typeof value === 'number' && value > 0, `${name} at ${size} measured: ${JSON.stringify(curve.values)}`);
      }
      if (ALWAYS_MEASURED.has(name)) {
        assert.ok(Number.isFinite(curve.values.slope_exponent), `${name} has a slope: ${JSON.stringify(curve.values)}`);
        assert.match(curve.peer, /^(flat|sublinear|linear|superlinear|falling) \(k = -?\d+\.\d\d, x\d+\.\d\d per 10x\)$/, `${name}: ${curve.peer}`);
      }
    }
    // Every one-task run reached live: its one matching event and a bookmark at the head.
    for (const database of report.raw.databases) {
      assert.equal(database.liveTask.matched, 1, JSON.stringify(database.liveTask));
      assert.equal(database.liveAssignee.matched, database.prefill.sparseAssigneeEvents, JSON.stringify(database.liveAssignee));
      assert.equal(database.prefill.headSequence, database.size, 'one event per prefilled task');
    }
    // Targets are stated, and judged only at the size they name (not reached by --quick).
    const targets = report.measurements.filter((m: { target: string }) => m.target !== '');
    assert.ok(targets.length >= 7, `targets: ${targets.map((m: { case: string }) => m.case).join(', ')}`);
    for (const m of targets) assert.equal(m.met, null, `${m.case}: a --quick run reaches no target size`);
    assert.ok(Object.keys(report.part_ms).length >= 4, `time by part: ${JSON.stringify(report.part_ms)}`);

    // Its own dated document, in --docs-dir: title, command, machine, and every curve in the table.
    assert.ok(!fs.existsSync(path.join(dir, 'env-docs')), '--docs-dir wins over RIGGER_BENCH_DOCS');
    const docs = fs.readdirSync(docsDir);
    assert.equal(docs.length, 1, `one document in ${docsDir}: ${docs.join(', ')}`);
    assert.match(docs[0]!, /^\d{4}-\d{2}-\d{2}-\d{4}-scale\.md$/);
    const doc = fs.readFileSync(path.join(docsDir, docs[0]!), 'utf8');
    assert.match(doc, /^# Scale benchmark run \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC\n\n\S.*\n\S.*\n\n/, 'a title and a two-line summary');
    assert.ok(doc.includes(`npm run bench -- --scale --quick --out ${out} --docs-dir ${docsDir}`), `the command line is in the document:\n${doc}`);
    assert.match(doc, /\| curve +\| case +\| by size +\| slope \(log-log, smallest to largest size\)/, 'the curves table');
    for (const [row, name] of CURVES) assert.ok(doc.includes(`| ${row} `) && doc.includes(`| ${name} `), `${row} / ${name} in the document`);
    assert.match(doc, /\| node \| v\d+\./);
    assert.match(doc, /\| CPUs \| \d+ x /);
    assert.match(doc, /time by part \(prefill included\): /);
    assert.equal(fs.readFileSync(readme, 'utf8'), readmeBefore, 'README.md unchanged');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
