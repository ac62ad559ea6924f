#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) with node's own test runner.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const testDir = path.join(root, 'dist', 'test');
const filter = process.argv.slice(2);

function find(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'soak' ? [] : find(full);
    return entry.name.endsWith('.test.js') ? [full] : [];
  });
}

// Longest first, so the last files to start are short ones and the run does not end waiting on one
// long file while the other slots sit idle: the files measured slowest (about 25-65 s each), then
// the folders whose files run long (real clusters, installs, the bench harness), then the rest.
const SLOW_FIRST = [
  'reliability/nats-cluster',
  'bench/bench-harness',
  'reliability/update-flood',
  'sidecars/outage',
  'deploy/',
  'reliability/kill-9',
  'consumers/hostile-member',
  'sidecars/board-scale',
  'install/',
  'bench/scale-harness',
  'consumers/group-chaos',
  'sidecars/logger',
  'hub/bookmarks',
  'hub/retention',
  'reliability/',
  'bench/',
  'sidecars/',
  'consumers/',
];
const weight = (file) => {
  const relative = path.relative(testDir, file).split(path.sep).join('/');
  const at = SLOW_FIRST.findIndex((prefix) => relative.startsWith(prefix));
  return at === -1 ? SLOW_FIRST.length : at;
};
const files = find(testDir)
  // Matched against the path under dist/test, so a checkout path that contains the word matches nothing.
  .filter((f) => filter.length === 0 || filter.some((word) => path.relative(testDir, f).includes(word)))
  .sort((a, b) => weight(a) - weight(b) || a.localeCompare(b));
if (files.length === 0) {
  console.error(filter.length ? `no test file under ${testDir} matches ${filter.join(' or ')}` : `no test files under ${testDir}; run \`npm run build\` first`);
  process.exit(1);
}
// Three files at once on two cores: most wait on processes they started, so two left the CPU idle a third of the time.
const CONCURRENCY = 3;
// The usual reporter on stdout (spec on a terminal, TAP otherwise), and the time summary after it.
const reporters = [
  `--test-reporter=${process.stdout.isTTY ? 'spec' : 'tap'}`,
  '--test-reporter-destination=stdout',
  `--test-reporter=${path.join(__dirname, 'test-timing.js')}`,
  '--test-reporter-destination=stdout',
];
const result = spawnSync(process.execPath, ['--test', `--test-concurrency=${CONCURRENCY}`, '--test-timeout=300000', ...reporters, ...files], {
  cwd: root,
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
