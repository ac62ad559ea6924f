// The bench harness runs end to end in --quick mode and writes a well-formed report. Speed is never
// asserted here (timed figures belong to `npm run bench`), only that every row produced numbers.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT, runBench } from './bench-support';

test('npm run bench -- --quick runs every row, writes valid JSON and a dated report', { timeout: 300_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rigger-bench-test-'));
  const out = path.join(dir, 'result.json');
  const docsDir = path.join(dir, 'docs');
  const readme = path.join(REPO_ROOT, 'README.md');
  const readmeBefore = fs.readFileSync(readme, 'utf8');
  try {
    const stdout = await runBench(['--quick'], out, docsDir, path.join(dir, 'env-docs'));

    const report = JSON.parse(fs.readFileSync(out, 'utf8'));
    assert.equal(report.mode, 'quick');
    assert.deepEqual(report.errors, []);
    const rows = new Set(report.measurements.map((m: { row: string }) => m.row));
    for (const row of [
      'fan-out (live, AddTask)',
      'replay fan-out (ring)',
      'catch-up (log)',
      'latency commit->receipt',
      'unary',
      'stalled subscriber',
      'cross-process',
      'idle server',
    ]) {
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
    // The peers a user would pick instead, each started by the bench and measured in the same run (installed here and under CI).
    const peerLines = (row: string) => report.measurements.filter((m: { row: string }) => m.row === row);
    const writes = peerLines('durable writes, 64 in flight');
    // Three Rigger cases (AddTask unary, pipelined 64 and 256 in flight), each against every peer.
    assert.deepEqual(
      writes.map((m: { values: { peer: string } }) => m.values.peer),
      Array(3).fill(['jetstream', 'redis', 'etcd']).flat(),
      'one durable-writes line per peer and case',
    );
    for (const line of writes) {
      assert.ok(line.values.peer_calls_per_s > 0 && Number.isFinite(line.values.peer_calls_per_s), `${line.case}: ${JSON.stringify(line.values)}`);
      assert.ok(Number.isFinite(line.ratio) && line.ratio > 0, `${line.case}: ratio ${line.ratio}`);
      assert.match(line.note, /fsync before the ack: /, `${line.case} says what the peer syncs`);
    }
    const groups = peerLines('consumer group vs peers');
    assert.equal(groups.length, 2 * 3, 'JetStream and Redis with 1, 2 and 4 members');
    for (const line of groups) assert.ok(line.values.peer_rate > 0 && Number.isFinite(line.ratio), `${line.case}: ${JSON.stringify(line.values)}`);
    const acks = peerLines('consumer ack round trip vs peers');
    assert.deepEqual(
      acks.map((m: { values: { peer: string } }) => m.values.peer),
      ['jetstream', 'redis'],
    );
    for (const line of acks)
      assert.ok(
        line.values.peer_p50_ms > 0 && Number.isFinite(line.values.peer_p99_ms) && Number.isFinite(line.ratio),
        `${line.case}: ${JSON.stringify(line.values)}`,
      );
    const jetStreamLatency = report.measurements.find(
      (m: { row: string; case: string }) => m.row === 'latency commit->receipt' && m.case.includes('JetStream'),
    );
    assert.ok(jetStreamLatency, 'a JetStream latency line');
    assert.ok(
      jetStreamLatency.values.jetstream_receipts > 0 && Number.isFinite(jetStreamLatency.values.jetstream_p99_ms) && Number.isFinite(jetStreamLatency.ratio),
      JSON.stringify(jetStreamLatency.values),
    );
    // The CLI row: each command's spawns against node -e 0's in the same run, and the large-file list.
    const cli = report.measurements.filter((m: { row: string }) => m.row === 'cli');
    assert.deepEqual(
      cli.map((m: { case: string }) => m.case.replace(/, [\d.]+ [MG]iB database$/, ', N database')),
      ['rig --help', 'rig task list (200 tasks)', 'rig task add', 'rig consumers list (gRPC)', 'rig task list, N database'],
    );
    for (const line of cli)
      assert.ok(
        line.values.median_ms > 0 && line.values.p90_ms >= line.values.median_ms && line.values.node_median_ms > 0 && Number.isFinite(line.ratio),
        `${line.case}: ${JSON.stringify(line.values)}`,
      );
    // Restart-to-ready after each kind of stop, and the crash loop against the same writers without kills.
    const restarts = peerLines('restart');
    assert.deepEqual(
      restarts.map((m: { case: string }) => m.case.replace(/,.*/, '')),
      ['spawn to ready after a clean stop', 'spawn to ready after kill -9'],
    );
    for (const line of restarts)
      assert.ok(line.values.clean_ms > 0 && line.values.kill_ms > 0 && line.values.check_ms > 0, `${line.case}: ${JSON.stringify(line.values)}`);
    const [crashLoop] = peerLines('crash-loop');
    assert.ok(crashLoop, 'a crash-loop line');
    assert.ok(
      crashLoop.values.kills >= 1 && crashLoop.values.steady_acked_per_s > 0 && crashLoop.values.restart_median_ms > 0 && Number.isFinite(crashLoop.ratio),
      JSON.stringify(crashLoop.values),
    );
    assert.match(stdout, /\| durable writes, 64 in flight +\| AddTask FULL c=64 \/ Redis XADD, appendfsync always /, 'the peer lines are in the table');
    assert.match(stdout, /\| row +\| case +\| rigger +\| peer \(same run\)/, 'the table is printed');

    // The run's own dated document: the table, the command line and the machine, in --docs-dir.
    assert.ok(!fs.existsSync(path.join(dir, 'env-docs')), '--docs-dir wins over RIGGER_BENCH_DOCS');
    const docs = fs.readdirSync(docsDir);
    assert.equal(docs.length, 1, `one document in ${docsDir}: ${docs.join(', ')}`);
    assert.match(docs[0]!, /^\d{4}-\d{2}-\d{2}-\d{4}\.md$/);
    const doc = fs.readFileSync(path.join(docsDir, docs[0]!), 'utf8');
    assert.match(doc, /^# Benchmark run \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC\n\n\S.*\n\S.*\n\n/, 'a title and a two-line summary');
    assert.ok(doc.includes(`npm run bench -- --quick --out ${out} --docs-dir ${docsDir}`), `the command line is in the document:\n${doc}`);
    assert.match(doc, /\| row +\| case +\| rigger +\| peer \(same run\)/, 'the table is in the document');
    for (const row of ['fan-out (live, AddTask)', 'latency commit->receipt', 'cross-process']) assert.ok(doc.includes(`| ${row} `), `${row} in the table`);
    assert.match(doc, /\| node \| v\d+\./);
    assert.match(doc, /\| load average before \(1, 5, 15 min\) \| [\d.]+ [\d.]+ [\d.]+ \|/);
    assert.match(doc, /\| CPUs \| \d+ x /);
    assert.match(stdout, new RegExp(`report in .*${docs[0]!.replace('.', '\\.')}`), 'the report path is printed');
    // A run outside the repository's docs/benchmarks leaves README.md's link to the newest run alone.
    assert.equal(fs.readFileSync(readme, 'utf8'), readmeBefore, 'README.md unchanged');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
