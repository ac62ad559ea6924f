#!/usr/bin/env node
// `npm run lint`: prettier --check and eslint over the tree; exits 1 on any finding, with one summary
// line naming what failed and how to fix it. `npm run format` (--fix): eslint --fix, then prettier
// --write, so prettier has the last word on layout. --dir DIR checks DIR with this repo's configs
// (test/layout/format.test.ts points it at a temp dir).
'use strict';
const { spawn } = require('node:child_process');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const args = process.argv.slice(2);
const fix = args.includes('--fix');
const dirAt = args.indexOf('--dir');
const dir = dirAt === -1 ? root : path.resolve(args[dirAt + 1] ?? '.');
const unknown = args.filter((arg, i) => arg !== '--fix' && !(dirAt !== -1 && (i === dirAt || i === dirAt + 1)));
if (unknown.length > 0) {
  console.error(`scripts/lint.js: unknown argument ${JSON.stringify(unknown[0])}; use [--fix] [--dir DIR]`);
  process.exit(2);
}

const bin = (pkg, file) => path.join(path.dirname(require.resolve(`${pkg}/package.json`, { paths: [root] })), file);
/** Runs a tool's CLI in `dir`; resolves with its exit code and stdout (its stderr goes straight through). */
const run = (file, argv) =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, [file, ...argv], { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => (stdout += chunk));
    child.on('close', (status) => resolve({ status, stdout }));
  });
// The ignore files are the ones in `dir` (prettier's default: .gitignore and .prettierignore).
const prettier = (mode) =>
  run(bin('prettier', 'bin/prettier.cjs'), [mode, '--config', path.join(root, '.prettierrc.json'), '--no-error-on-unmatched-pattern', '.']);
const eslint = (extra) =>
  run(bin('eslint', 'bin/eslint.js'), ['--config', path.join(root, 'eslint.config.js'), '--max-warnings', '0', '--no-warn-ignored', ...extra, '.']);

async function format() {
  const problems = [];
  const linted = await eslint(['--fix']);
  process.stdout.write(linted.stdout);
  if (linted.status !== 0) problems.push('eslint found what --fix cannot fix (listed above; fix it by hand)');
  const formatted = await prettier('--write');
  if (formatted.status !== 0) problems.push(`prettier --write failed (exit ${formatted.status}; its error is above)`);
  return problems;
}

async function check() {
  const problems = [];
  // Both at once: two cores, and neither waits on the other.
  const [unformatted, linted] = await Promise.all([prettier('--list-different'), eslint([])]);
  const files = unformatted.stdout.split('\n').filter(Boolean);
  for (const file of files) console.log(`not formatted: ${file}`);
  if (files.length > 0) {
    const named = files.length <= 5 ? files.join(', ') : `${files.slice(0, 5).join(', ')} and ${files.length - 5} more`;
    problems.push(`${files.length} file(s) not formatted (${named}); run npm run format`);
  } else if (unformatted.status !== 0) problems.push(`prettier failed (exit ${unformatted.status}; its error is above)`);
  process.stdout.write(linted.stdout);
  if (linted.status !== 0) {
    const counts = /✖ (\d+) problems? \(/.exec(linted.stdout);
    problems.push(counts ? `eslint: ${counts[1]} problem(s) (listed above)` : `eslint failed (exit ${linted.status}; its error is above)`);
  }
  return problems;
}

(fix ? format() : check()).then((problems) => {
  if (problems.length > 0) {
    console.error(`lint: ${problems.join('; ')}`);
    process.exit(1);
  }
  console.log(fix ? 'format: eslint --fix and prettier --write done' : 'lint: prettier and eslint found nothing');
});
