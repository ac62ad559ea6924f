// The bench harness runs end to end in --quick mode and writes a well-formed report. Speed is never
// asserted here (timed figures belong to `npm run bench`), only that every row produced numbers.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

const REPO_ROOT = path.resolve(__dirname, '../../..');
const RUN = path.join(REPO_ROOT, 'dist', 'bench', 'run.js');

test('npm run bench -- --quick runs every row and writes valid JSON', { timeout: 300_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rigger-bench-test-'));
  const out = path.join(dir, 'result.json');
  try {
    const child = spawn(process.execPath, [RUN, '--quick', '--out', out], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 280_000);
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    clearTimeout(timer);
    assert.equal(code, 0, `bench exited ${code}\nstdout:\n${stdout}\nstderr:\n${stderr}`);

    const report = JSON.parse(fs.readFileSync(out, 'utf8'));
    assert.equal(report.mode, 'quick');
    assert.deepEqual(report.errors, []);
    const rows = new Set(report.measurements.map((m: { row: string }) => m.row));
    for (const row of ['fan-out (live, AddTask)', 'replay fan-out (ring)', 'catch-up (log)', 'latency commit->receipt', 'unary', 'stalled subscriber', 'cross-process']) {
      assert.ok(rows.has(row), `no ${row} row in ${[...rows].join(', ')}`);
    }
    for (const measurement of report.measurements) {
      const numbers = Object.values(measurement.values).filter((v) => typeof v === 'number') as number[];
      assert.ok(numbers.length > 0 && numbers.every(Number.isFinite), `${measurement.row} ${measurement.case}: ${JSON.stringify(measurement.values)}`);
    }
    // Every fan-out line has its transport ceiling, measured in the same run.
    for (const fanOut of report.measurements.filter((m: { row: string }) => m.row.startsWith('fan-out'))) {
      assert.ok(fanOut.values.ceiling_events_per_s > 0, JSON.stringify(fanOut.values));
      assert.ok(fanOut.values.hub_events_per_s > 0, JSON.stringify(fanOut.values));
    }
    // The latency line has both bare relays, measured in the same run, each with receipts.
    const latency = report.measurements.find((m: { row: string }) => m.row === 'latency commit->receipt');
    for (const key of ['receipts', 'relay_packed_receipts', 'relay_grpcjs_receipts', 'relay_packed_p99_ms', 'relay_grpcjs_p99_ms']) {
      assert.ok(latency.values[key] > 0, `${key}: ${JSON.stringify(latency.values)}`);
    }
    assert.match(stdout, /\| row +\| case +\| rigger +\| peer \(same run\)/, 'the table is printed');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
