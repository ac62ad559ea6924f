// No hand-written source file (src, sidecars, bench, scripts, bin; generated code aside) is over 400 lines: a file that long holds more
// than one concept, and the next maintainer should find one concept per file.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../support/processes';

const MAX_LINES = 400;
const ROOTS = ['src', 'sidecars', 'bench', 'scripts', 'bin'];
const SKIP = new Set([path.join('src', 'generated'), 'node_modules']);

function sources(dir: string): string[] {
  return fs.readdirSync(path.join(REPO_ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const relative = path.join(dir, entry.name);
    if (entry.isDirectory()) return SKIP.has(relative) || entry.name === 'results' ? [] : sources(relative);
    return /\.(ts|js)$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [relative] : [];
  });
}

test(`no source file is over ${MAX_LINES} lines`, () => {
  const files = ROOTS.filter((root) => fs.existsSync(path.join(REPO_ROOT, root))).flatMap(sources);
  assert.ok(files.length > 100, `the walk found the sources (${files.length})`);
  const long = files
    .map((file) => ({ file, lines: fs.readFileSync(path.join(REPO_ROOT, file), 'utf8').split('\n').length - 1 }))
    .filter(({ lines }) => lines > MAX_LINES)
    .map(({ file, lines }) => `${file}: ${lines} lines`);
  assert.deepEqual(long, [], `split these by concept:\n${long.join('\n')}`);
});
