#!/usr/bin/env node
// npm's `preinstall`: one line about better-sqlite3 (an optional dependency), which compiles from
// source, silently for minutes, when no prebuilt binary for this Node and platform is reachable.
// Installed as a dependency, rigger's preinstall runs before better-sqlite3's install, so the line
// says it is about to happen; in the clone, npm runs the project's own scripts after its
// dependencies, so the line says it happened and how long it took. Never fails the install.
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const AVOID =
  'to skip it: npm install --omit=optional (client library and sidecars only; rig grpc and rig task need it), or install where github.com is reachable';
const RECENT_MS = 15 * 60_000;

function sqlitePackageDir() {
  try {
    return path.dirname(require.resolve('better-sqlite3/package.json', { paths: [path.join(__dirname, '..')] }));
  } catch {
    return undefined; // --omit=optional: nothing will be compiled
  }
}

/** The prebuilt binary prebuild-install would fetch (its URL rules: env mirror, else GitHub releases). */
function prebuiltUrl(pkg) {
  const prefix = `npm_config_${pkg.name.replace(/[^a-zA-Z0-9]/g, '_')}_binary_host`;
  const host = process.env[prefix] || process.env[`${prefix}_mirror`] || 'https://github.com/WiseLibs/better-sqlite3/releases/download';
  const file = `${pkg.name}-v${pkg.version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  return `${host.replace(/\/$/, '')}/v${pkg.version}/${file}`;
}

/** Whether prebuild-install will find the binary: in its cache, or at the URL (any HTTP answer within 5 s). */
async function prebuiltReachable(url) {
  const digest = crypto.createHash('sha512').update(url).digest('hex').slice(0, 6);
  const cached = path.join(
    process.env.npm_config_cache || path.join(os.homedir(), '.npm'),
    '_prebuilds',
    `${digest}-${path.basename(url).replace(/[^a-zA-Z0-9.]+/g, '-')}`,
  );
  if (fs.existsSync(cached)) return { reachable: true };
  try {
    const response = await fetch(url, { method: 'HEAD', redirect: 'manual', signal: AbortSignal.timeout(5000) });
    return response.status < 400 ? { reachable: true } : { reachable: false, why: `${new URL(url).host} answered ${response.status}` };
  } catch (error) {
    const cause = error.cause?.code ?? error.name ?? error.message;
    return { reachable: false, why: `${new URL(url).host} is not reachable: ${cause}` };
  }
}

/** npm runs a dependency's scripts with their output piped and shown only on failure; a terminal still hears this. */
function say(line) {
  process.stderr.write(`${line}\n`);
  if (process.stderr.isTTY || !process.env.npm_lifecycle_event) return;
  try {
    const tty = fs.openSync('/dev/tty', 'w');
    fs.writeSync(tty, `${line}\n`);
    fs.closeSync(tty);
  } catch {
    // no terminal: the piped stderr is all there is
  }
}

async function main() {
  const dir = sqlitePackageDir();
  if (!dir) return;
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  const binary = path.join(dir, 'build', 'Release', 'better_sqlite3.node');
  const built = fs.statSync(binary, { throwIfNoEntry: false });
  if (built) {
    // Built already (the clone's own install): say so only if it was compiled here, just now.
    const started = fs.statSync(path.join(dir, 'build', 'config.gypi'), { throwIfNoEntry: false });
    if (!started || Date.now() - built.mtimeMs > RECENT_MS) return;
    const seconds = Math.max(1, Math.round((built.mtimeMs - started.mtimeMs) / 1000));
    say(
      `rigger: better-sqlite3 ${pkg.version} was compiled from source (${seconds} s) because no prebuilt binary for node-v${process.versions.modules}-${process.platform}-${process.arch} was reachable; ${AVOID}`,
    );
    return;
  }
  const { reachable, why } = await prebuiltReachable(prebuiltUrl(pkg));
  if (reachable) return;
  say(
    `rigger: compiling better-sqlite3 ${pkg.version} from source (a few minutes, with python3, make and a C++ compiler) because no prebuilt binary for node-v${process.versions.modules}-${process.platform}-${process.arch} is reachable (${why}); ${AVOID}`,
  );
}

main().catch(() => {});
