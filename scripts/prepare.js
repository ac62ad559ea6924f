#!/usr/bin/env node
// npm's `prepare` (run by `npm install` in the clone, `npm install -g <clone>`, `npm pack`): builds
// only when dist/ is missing or older than a source, so installing from a clone that is built
// leaves its dist/ alone; a build, when one is needed, never empties dist/ (scripts/build.js).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { build, buildKind, STAMP } = require('./build');

const root = path.resolve(__dirname, '..');
const SOURCES = ['src', 'sidecars', 'bench', 'test', 'examples', 'proto', 'scripts', 'tsconfig.json', 'tsconfig.runtime.json', 'package.json'];
const GENERATED = path.join(root, 'src', 'generated');

/** The newest modification time (ms) of the files the build reads; src/generated is its own output. */
function newestSource(file = root, top = true) {
  if (!top && file === GENERATED) return 0;
  const stat = fs.statSync(file, { throwIfNoEntry: false });
  if (!stat) return 0;
  if (!stat.isDirectory()) return stat.mtimeMs;
  const entries = top ? SOURCES : fs.readdirSync(file);
  return Math.max(0, ...entries.map((name) => newestSource(path.join(file, name), false)));
}

/** Why dist/ needs building, or undefined when it is up to date. */
function reasonToBuild() {
  const stamp = path.join(root, 'dist', STAMP);
  if (!fs.existsSync(stamp)) return 'dist/ has not been built';
  const built = JSON.parse(fs.readFileSync(stamp, 'utf8'));
  // A stamp from before builds had kinds is a full build's.
  if ((built.kind ?? 'full') !== buildKind()) return `dist/ holds a ${built.kind ?? 'full'} build and RIGGER_BUILD asks for ${buildKind()}`;
  if (!(newestSource() <= Number(built.startedAt))) return 'a source changed since dist/ was built';
  return undefined;
}

try {
  buildKind();
} catch (error) {
  process.stderr.write(`rigger: ${error.message}\n`);
  process.exit(1);
}
const reason = process.env.RIGGER_FORCE_BUILD ? 'RIGGER_FORCE_BUILD is set' : reasonToBuild();
if (reason === undefined) {
  process.stderr.write('rigger: dist/ is up to date with the sources; not rebuilding (npm run build forces it)\n');
} else {
  process.stderr.write(`rigger: building dist/ (${reason})\n`);
  try {
    build();
  } catch (error) {
    process.stderr.write(`build failed: ${error.message}\n`);
    process.exitCode = 1;
  }
}
