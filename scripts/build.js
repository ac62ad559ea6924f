#!/usr/bin/env node
// `npm run build`: generates from proto/ and compiles into a staging folder, then moves each file
// into dist/ with rename (atomic per file) and removes what the new build no longer has. dist/ and
// every file both builds have are never missing, so a `rig` started during a build (or during
// `npm install -g <clone>`, whose prepare builds) always finds its modules; a stale output of a
// moved or removed source is still removed (the layout test refuses any).
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const dist = path.join(root, 'dist');
/** Written last into dist/: when the build that made it started (scripts/prepare.js compares sources to it). */
const STAMP = 'build-stamp.json';

/** Every file under `dir`, as paths relative to it. */
function filesUnder(dir, prefix = '') {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const rel = path.join(prefix, entry.name);
    return entry.isDirectory() ? filesUnder(path.join(dir, entry.name), rel) : [rel];
  });
}

/** Moves the staged build into dist/ file by file, then drops the files (and folders) it lacks. */
function swapInto(staging, target) {
  const built = filesUnder(staging);
  const keep = new Set([...built, STAMP]);
  for (const rel of built) {
    fs.mkdirSync(path.dirname(path.join(target, rel)), { recursive: true });
    fs.renameSync(path.join(staging, rel), path.join(target, rel));
  }
  for (const rel of filesUnder(target)) if (!keep.has(rel)) fs.rmSync(path.join(target, rel), { force: true });
  removeEmptyFolders(target);
  fs.rmSync(staging, { recursive: true, force: true });
}

function removeEmptyFolders(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const sub = path.join(dir, entry.name);
    removeEmptyFolders(sub);
    if (fs.readdirSync(sub).length === 0) fs.rmdirSync(sub);
  }
}

/**
 * The kind of build RIGGER_BUILD asks for: `full` (the default: everything, what `npm test` needs)
 * or `runtime` (src/ and sidecars/ only, tsconfig.runtime.json: what an image ships).
 */
function buildKind() {
  const kind = process.env.RIGGER_BUILD || 'full';
  if (kind !== 'full' && kind !== 'runtime') throw new Error(`RIGGER_BUILD=${kind}: use full (the default) or runtime`);
  return kind;
}

function build() {
  const startedAt = Date.now();
  const kind = buildKind();
  // Inside the project, so the rename into dist/ stays on one file system.
  const staging = fs.mkdtempSync(path.join(root, '.dist-build-'));
  try {
    const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });
    run(process.execPath, [path.join(__dirname, 'gen-proto.js'), staging]);
    const project = kind === 'runtime' ? 'tsconfig.runtime.json' : '.';
    run(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project, '--outDir', staging]);
    run(process.execPath, [path.join(__dirname, 'gen-man.js'), path.join(staging, 'man', 'rig.1'), staging]);
    fs.mkdirSync(dist, { recursive: true });
    swapInto(staging, dist);
    fs.writeFileSync(path.join(dist, STAMP), `${JSON.stringify({ startedAt, kind })}\n`);
  } catch (error) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw error;
  }
}

if (require.main === module) {
  try {
    build();
  } catch (error) {
    process.stderr.write(`build failed: ${error.message}\n`);
    process.exitCode = 1;
  }
}

module.exports = { build, buildKind, STAMP };
