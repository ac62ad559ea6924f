// The lint check (scripts/lint.js, what `npm run lint` runs) fails on a misformatted file and
// on a lint error, naming the file, and `npm run format`'s --fix restores the file's layout
// exactly: pointed with --dir at a temp copy of a real source file, with the repo's own configs.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT, runAsync, tempDir } from '../support/processes';

const LINT = path.join(REPO_ROOT, 'scripts', 'lint.js');
const SOURCE = path.join(REPO_ROOT, 'src', 'model', 'errors.ts');
const FILE = path.join('src', 'model', 'errors.ts');

const lint = (dir: string, ...args: string[]) => runAsync(process.execPath, [LINT, '--dir', dir, ...args], { timeoutMs: 60_000 });

test('the lint check fails naming the file on bad layout or a lint error, and --fix restores the layout', { timeout: 120_000 }, async () => {
  const dir = tempDir('rigger-lint-');
  const file = path.join(dir, FILE);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.copyFileSync(SOURCE, file);
  const clean = fs.readFileSync(file, 'utf8');

  // Layout only: every line's indentation gone, which prettier puts back and eslint does not mind.
  fs.writeFileSync(file, clean.replace(/^ +/gm, ''));
  const misformatted = await lint(dir);
  assert.equal(misformatted.code, 1, `lint on a misformatted file:\n${misformatted.stdout}${misformatted.stderr}`);
  assert.ok(misformatted.stdout.includes(`not formatted: ${FILE}`), misformatted.stdout);
  assert.match(misformatted.stderr, new RegExp(`^lint: 1 file\\(s\\) not formatted \\(${FILE.replace(/[./]/g, '\\$&')}\\); run npm run format$`, 'm'));
  assert.doesNotMatch(misformatted.stderr, /eslint/);

  // npm run format's --fix puts the file back exactly as it was (the repository's copy passes: the test below).
  const formatted = await lint(dir, '--fix');
  assert.equal(formatted.code, 0, `format on the misformatted copy of ${FILE}:\n${formatted.stdout}${formatted.stderr}`);
  assert.match(formatted.stdout, /^format: eslint --fix and prettier --write done$/m);
  assert.equal(fs.readFileSync(file, 'utf8'), clean, '--fix restores the file prettier laid out');

  // A lint error only, laid out as prettier would: an `any` in shipped code.
  fs.writeFileSync(file, `${clean}\nexport function width(value: any): number {\n  return String(value).length;\n}\n`);
  const linted = await lint(dir);
  assert.equal(linted.code, 1, `lint on a file with a lint error:\n${linted.stdout}${linted.stderr}`);
  assert.ok(linted.stdout.includes(file), `eslint's report names ${file}:\n${linted.stdout}`);
  assert.match(linted.stdout, /@typescript-eslint\/no-explicit-any/);
  assert.match(linted.stderr, /^lint: eslint: 1 problem\(s\) \(listed above\)$/m);
  assert.doesNotMatch(linted.stdout, /not formatted/);
});

// The tree itself: `npm test` (the README's one test command, and CI's) fails on any unformatted file or lint finding.
test('the repository passes the lint check (npm run lint)', { timeout: 240_000 }, async () => {
  const result = await runAsync(process.execPath, [LINT], { timeoutMs: 200_000 });
  assert.equal(result.code, 0, `npm run lint on the repository; fix with npm run format:\n${result.stdout}${result.stderr}`);
  assert.match(result.stdout, /found nothing/);
});
