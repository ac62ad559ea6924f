#!/usr/bin/env node
// Checks deploy/Dockerfile on a machine without a Docker daemon, as far as such a machine allows.
//
//   node deploy/check-dockerfile.js            static checks only (a few seconds)
//   node deploy/check-dockerfile.js --build    also runs the build steps and the container's start
//                                              in a temp directory (about a minute: a real `npm ci`)
//   --keep                                     leave the temp directory for inspection
//   --from-source                              compile better-sqlite3 in `npm ci` (about a minute more)
//
// Static: the Dockerfile parses; every stage is FROM node:20-bookworm-slim; every COPY source from
// the build context exists and is not excluded by .dockerignore; every RUN line passes `sh -n`; the
// entrypoint passes `sh -n` (and shellcheck when installed); the runtime stage has a non-root USER,
// WORKDIR /data, VOLUME /data/.rigger, a node HEALTHCHECK on /readyz, STOPSIGNAL SIGTERM.
//
// --build emulates the stages with the container's paths (/app, /data, /usr/local/bin) mapped into
// a temp directory per stage: the context is copied as Docker would (honouring .dockerignore),
// every RUN is run with sh in its WORKDIR, every COPY --from copies from the build stage's tree,
// then ENTRYPOINT + CMD is started: first start runs `rig init`, the server gets ready, HEALTHCHECK
// passes, a `rig task add` through the entrypoint works, SIGTERM exits 0, a second start keeps the
// project. What it cannot do is printed as "not run" with the reason (apt-get, chown, USER, the
// image's own node); nothing here is a substitute for `docker build` on a machine with Docker.
// better-sqlite3's binary: prebuild-install downloads one for linux-x64 (what a Docker build gets);
// offline it compiles. Unless --from-source, the binary this checkout's own `npm ci` built, for the
// same version and node ABI, is offered as that download (prebuild-install loads it to check it).
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const DOCKERFILE = path.join(ROOT, 'deploy', 'Dockerfile');
const BASE_IMAGE = 'node:20-bookworm-slim';

const results = [];
const ok = (what) => results.push(['ok', what]);
const fail = (what) => results.push(['FAIL', what]);
const notRun = (what) => results.push(['not run', what]);
const ran = (what) => results.push(['ran', what]);
const check = (cond, what, detail = '') => (cond ? ok(what) : fail(detail ? `${what}: ${detail}` : what));

// ---------- parsing ----------

/** The Dockerfile's instructions: { keyword, args, line }; continuation lines joined, comments dropped. */
function parseDockerfile(text) {
  const instructions = [];
  let current = null;
  text.split('\n').forEach((raw, index) => {
    const line = raw.replace(/\r$/, '');
    if (/^\s*#/.test(line) || (current === null && line.trim() === '')) return;
    const continued = /\\\s*$/.test(line);
    const body = continued ? line.replace(/\\\s*$/, '') : line;
    if (current === null) {
      const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(body);
      if (!m) throw new Error(`Dockerfile:${index + 1}: cannot parse ${JSON.stringify(line)}`);
      current = { keyword: m[1].toUpperCase(), args: m[2], line: index + 1 };
    } else current.args += ` ${body.trim()}`;
    if (!continued) {
      current.args = current.args.trim();
      instructions.push(current);
      current = null;
    }
  });
  if (current) throw new Error(`Dockerfile:${current.line}: ends inside a continued line`);
  return instructions;
}

/** Exec form (JSON array) or shell form, as argv. */
function execForm(args) {
  if (args.startsWith('[')) return JSON.parse(args);
  return ['/bin/sh', '-c', args];
}

/** `--flag=value` options at the front of COPY/HEALTHCHECK args. */
function splitFlags(args) {
  const flags = {};
  let rest = args;
  for (let m; (m = /^--([a-z-]+)(?:=(\S+))?\s+/.exec(rest)); rest = rest.slice(m[0].length)) flags[m[1]] = m[2] ?? true;
  return { flags, rest };
}

function substitute(value, vars) {
  return value.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => vars[a ?? b] ?? '');
}

/** Stages: { name, image, instructions, env, workdir } with ARG defaults substituted in FROM. */
function stagesOf(instructions) {
  const globalArgs = {};
  const stages = [];
  for (const ins of instructions) {
    if (ins.keyword === 'ARG' && stages.length === 0) {
      const [name, value = ''] = ins.args.split('=');
      globalArgs[name] = value;
    } else if (ins.keyword === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      stages.push({ name: m[2] ?? String(stages.length), image: substitute(m[1], globalArgs), instructions: [], line: ins.line });
    } else if (stages.length === 0) throw new Error(`Dockerfile:${ins.line}: ${ins.keyword} before FROM`);
    else stages.at(-1).instructions.push(ins);
  }
  return stages;
}

/** ENV args: `A=1 B=2` (or the old `A 1`) as an object. */
function envOf(args) {
  const env = {};
  const pairs = args.match(/(\w+)=("[^"]*"|\S*)/g);
  if (pairs) for (const p of pairs) env[p.slice(0, p.indexOf('='))] = p.slice(p.indexOf('=') + 1).replace(/^"|"$/g, '');
  else {
    const [k, ...v] = args.split(/\s+/);
    env[k] = v.join(' ');
  }
  return env;
}

// ---------- .dockerignore ----------

function globToRegex(pattern) {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*' && pattern[i + 1] === '*') {
      if (pattern[i + 2] === '/') {
        re += '(?:.*/)?';
        i += 2;
      } else {
        re += '.*';
        i += 1;
      }
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

function loadDockerignore() {
  const file = path.join(ROOT, '.dockerignore');
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const p = path.posix.normalize((negate ? l.slice(1) : l).replace(/^\/+/, ''));
      return { negate, re: globToRegex(p) };
    });
}

/** Whether a context-relative path (posix) is excluded: a pattern matching it or a parent excludes it; last match wins. */
function isIgnored(rel, rules) {
  const parts = rel.split('/');
  let ignored = false;
  for (const rule of rules) {
    for (let n = 1; n <= parts.length; n++) {
      if (rule.re.test(parts.slice(0, n).join('/'))) {
        ignored = !rule.negate;
        break;
      }
    }
  }
  return ignored;
}

/** Copies the build context (ROOT minus .dockerignore) from `rel` to `dest`, as Docker's COPY would. */
function copyFromContext(rel, dest, rules) {
  const src = path.join(ROOT, rel);
  const stat = fs.statSync(src);
  if (!stat.isDirectory()) {
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.copyFileSync(src, dest);
    fs.chmodSync(dest, stat.mode & 0o7777);
    return;
  }
  fs.mkdirSync(dest, { recursive: true });
  for (const entry of fs.readdirSync(src, { withFileTypes: true })) {
    const childRel = path.posix.join(rel === '.' ? '' : rel, entry.name);
    if (isIgnored(childRel, rules)) continue;
    if (entry.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(path.join(src, entry.name)), path.join(dest, entry.name));
    else copyFromContext(childRel, path.join(dest, entry.name), rules);
  }
}

// ---------- static checks ----------

function staticChecks(stages, rules) {
  for (const stage of stages) check(stage.image === BASE_IMAGE, `stage ${stage.name} is FROM ${BASE_IMAGE}`, `it is FROM ${stage.image}`);
  const final = stages.at(-1);
  const names = new Set(stages.map((s) => s.name));
  for (const stage of stages) {
    for (const ins of stage.instructions) {
      if (ins.keyword === 'COPY' || ins.keyword === 'ADD') {
        const { flags, rest } = splitFlags(ins.args);
        const parts = rest.startsWith('[') ? JSON.parse(rest) : rest.split(/\s+/);
        const sources = parts.slice(0, -1);
        if (flags.from) {
          check(names.has(flags.from), `Dockerfile:${ins.line}: COPY --from=${flags.from} names an earlier stage`);
          continue;
        }
        for (const s of sources) {
          const rel = path.posix.normalize(s).replace(/\/$/, '') || '.';
          const exists = fs.existsSync(path.join(ROOT, rel));
          const ignored = rel !== '.' && isIgnored(rel, rules);
          check(exists && !ignored, `Dockerfile:${ins.line}: COPY source ${s} is in the build context`, exists ? 'excluded by .dockerignore' : 'no such file');
        }
      } else if (ins.keyword === 'RUN') {
        const r = spawnSync('sh', ['-n', '-c', ins.args], { encoding: 'utf8' });
        check(r.status === 0, `Dockerfile:${ins.line}: RUN passes sh -n`, r.stderr.trim());
      }
    }
  }
  // What a checkout makes as it is used stays out of the context (a scale run's database cache alone is gigabytes).
  for (const made of ['node_modules', 'dist', '.rigger', 'bench/results/cache', 'bench/results/latest.json']) {
    check(isIgnored(made, rules), `.dockerignore leaves ${made} out of the build context`);
  }
  const last = (kw) => final.instructions.filter((i) => i.keyword === kw).at(-1);
  const user = last('USER');
  check(user && !/^(root|0)(:|$)/.test(user.args), 'the runtime stage runs as a non-root USER', user ? user.args : 'no USER');
  check(last('WORKDIR')?.args === '/data', 'the runtime stage ends in WORKDIR /data');
  const volume = last('VOLUME');
  check(
    volume && execForm(volume.args.startsWith('[') ? volume.args : JSON.stringify(volume.args.split(/\s+/))).includes('/data/.rigger'),
    'VOLUME /data/.rigger',
  );
  check(last('STOPSIGNAL')?.args === 'SIGTERM', 'STOPSIGNAL SIGTERM');
  const hc = last('HEALTHCHECK');
  const hcArgv = hc ? execForm(splitFlags(hc.args).rest.replace(/^CMD\s+/, '')) : [];
  check(hcArgv[0] === 'node', 'HEALTHCHECK runs node (slim images have no curl)', hcArgv.join(' '));
  const hcScript = hcArgv.find((a) => a.startsWith('/app/'));
  const hcSource =
    hcScript && fs.existsSync(path.join(ROOT, 'deploy', path.basename(hcScript)))
      ? fs.readFileSync(path.join(ROOT, 'deploy', path.basename(hcScript)), 'utf8')
      : '';
  check(hcSource.includes("'/readyz'") && hcSource.includes('RIGGER_HTTP_LISTEN'), 'the HEALTHCHECK script asks /readyz on RIGGER_HTTP_LISTEN');
  const env = final.instructions.filter((i) => i.keyword === 'ENV').reduce((acc, i) => ({ ...acc, ...envOf(i.args) }), {});
  check(env.RIGGER_HOST === '0.0.0.0', 'the runtime stage listens on 0.0.0.0 (RIGGER_HOST)');
  check(/^0\.0\.0\.0:\d+$/.test(env.RIGGER_HTTP_LISTEN ?? ''), 'the runtime stage sets RIGGER_HTTP_LISTEN=0.0.0.0:PORT');

  const entrypoint = path.join(ROOT, 'deploy', 'docker-entrypoint.sh');
  const n = spawnSync('sh', ['-n', entrypoint], { encoding: 'utf8' });
  check(n.status === 0, 'deploy/docker-entrypoint.sh passes sh -n', n.stderr.trim());
  const b = spawnSync('bash', ['-n', entrypoint], { encoding: 'utf8' });
  check(b.status === 0, 'deploy/docker-entrypoint.sh passes bash -n', b.stderr.trim());
  check((fs.statSync(entrypoint).mode & 0o111) !== 0, 'deploy/docker-entrypoint.sh is executable (COPY keeps the mode)');
  const sc = spawnSync('shellcheck', ['--shell=sh', entrypoint], { encoding: 'utf8' });
  if (sc.error) notRun('shellcheck deploy/docker-entrypoint.sh: shellcheck is not installed (apt-get install shellcheck)');
  else check(sc.status === 0, 'shellcheck deploy/docker-entrypoint.sh', sc.stdout.trim());
}

// ---------- --build: the stages run in a temp directory ----------

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * A local prebuild for prebuild-install made from this checkout's better-sqlite3 binary, or why
 * there is none; `env` points prebuild-install at it.
 */
function localSqlitePrebuild(temp) {
  if (process.argv.includes('--from-source')) return { why: '--from-source' };
  const pkgDir = path.join(ROOT, 'node_modules', 'better-sqlite3');
  const binary = path.join(pkgDir, 'build', 'Release', 'better_sqlite3.node');
  if (!fs.existsSync(binary)) return { why: `no ${path.relative(ROOT, binary)} in this checkout` };
  const version = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')).version;
  const locked = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')).packages?.['node_modules/better-sqlite3']?.version;
  if (version !== locked) return { why: `this checkout has better-sqlite3 ${version}, package-lock.json ${locked}` };
  const dir = path.join(temp, 'prebuilds');
  fs.mkdirSync(dir);
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  const tar = spawnSync('tar', ['-czf', path.join(dir, name), '-C', pkgDir, 'build/Release/better_sqlite3.node'], { encoding: 'utf8' });
  if (tar.status !== 0) return { why: `tar failed: ${tar.stderr}` };
  return { name, env: { npm_config_better_sqlite3_local_prebuilds: dir } };
}

function containerPaths(stages) {
  // Every absolute directory the Dockerfile puts things in, as the top-level prefixes to map.
  const prefixes = new Set();
  for (const stage of stages) {
    for (const ins of stage.instructions) {
      let p;
      if (ins.keyword === 'WORKDIR') p = ins.args;
      else if (ins.keyword === 'VOLUME') p = ins.args.replace(/[[\]"]/g, '').split(/[\s,]+/)[0];
      else if (ins.keyword === 'COPY') p = splitFlags(ins.args).rest.split(/\s+/).at(-1);
      if (p && p.startsWith('/'))
        prefixes.add(
          p
            .split('/')
            .slice(0, p.startsWith('/usr/') ? 4 : 2)
            .join('/'),
        );
    }
  }
  return [...prefixes].sort((a, b) => b.length - a.length);
}

async function emulate(stages) {
  const temp = fs.mkdtempSync(path.join(os.tmpdir(), 'rigger-dockerfile-'));
  const keep = process.argv.includes('--keep');
  const prefixes = containerPaths(stages);
  const roots = {};
  const mapIn = (stageName, p) => path.join(roots[stageName], p);
  const rewrite = (stageName, text) =>
    text.replace(
      new RegExp(`(^|[\\s="'])(${prefixes.map((p) => p.replace(/[.]/g, '\\.')).join('|')})(?=/|\\s|$|["'])`, 'g'),
      (_, lead, p) => lead + mapIn(stageName, p),
    );
  const rules = loadDockerignore();
  let final;
  try {
    const prebuild = localSqlitePrebuild(temp);
    const buildEnv = prebuild.env ?? {};
    for (const stage of stages) {
      roots[stage.name] = path.join(temp, stage.name);
      fs.mkdirSync(roots[stage.name], { recursive: true });
      let workdir = '/';
      const env = {};
      for (const ins of stage.instructions) {
        const where = `Dockerfile:${ins.line} (${stage.name})`;
        if (ins.keyword === 'WORKDIR') {
          workdir = path.posix.resolve(workdir, ins.args);
          fs.mkdirSync(mapIn(stage.name, workdir), { recursive: true });
        } else if (ins.keyword === 'ENV') Object.assign(env, envOf(ins.args));
        else if (ins.keyword === 'COPY') {
          const { flags, rest } = splitFlags(ins.args);
          const parts = rest.split(/\s+/);
          const dest = parts.at(-1);
          for (const src of parts.slice(0, -1)) {
            const destAbs = path.posix.resolve(workdir, dest);
            const target = mapIn(stage.name, destAbs.endsWith('/') || parts.length > 2 ? path.posix.join(destAbs, path.posix.basename(src)) : destAbs);
            if (flags.from) {
              const from = mapIn(flags.from, src);
              if (!fs.existsSync(from)) {
                fail(`${where}: COPY --from=${flags.from} ${src}: the build stage did not produce it`);
                continue;
              }
              fs.cpSync(from, src === '.' || dest.endsWith('/') ? mapIn(stage.name, destAbs) : target, { recursive: true, verbatimSymlinks: true });
            } else if (src === '.') copyFromContext('.', mapIn(stage.name, destAbs), rules);
            else copyFromContext(path.posix.normalize(src).replace(/\/$/, ''), dest.endsWith('/') ? mapIn(stage.name, destAbs) : target, rules);
          }
          ran(`${where}: COPY ${ins.args}`);
        } else if (ins.keyword === 'RUN') {
          if (/^\s*apt-get\b/.test(ins.args)) {
            notRun(
              `${where}: RUN apt-get ... (installs into the image; this machine's own toolchain was used: ${['python3', 'make', 'g++'].filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status === 0).join(', ') || 'none'})`,
            );
            continue;
          }
          const steps = ins.args.split(/\s*&&\s*/);
          const kept = steps.filter((s) => !/^chown\b/.test(s));
          if (kept.length < steps.length)
            notRun(
              `${where}: ${steps.filter((s) => /^chown\b/.test(s)).join(' && ')} (the image's user does not exist here; everything runs as uid ${process.getuid()})`,
            );
          const command = rewrite(stage.name, kept.join(' && '));
          const started = Date.now();
          const r = spawnSync('sh', ['-c', command], {
            cwd: mapIn(stage.name, workdir),
            env: { ...process.env, ...buildEnv, ...env },
            encoding: 'utf8',
            maxBuffer: 64 << 20,
          });
          if (r.status !== 0) {
            fail(`${where}: RUN ${ins.args} exited ${r.status}:\n${(r.stdout + r.stderr).split('\n').slice(-30).join('\n')}`);
            throw new Error('build step failed');
          }
          ran(`${where}: RUN ${ins.args} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
          if (/\bnpm ci\b/.test(ins.args)) {
            const built = path.join(mapIn(stage.name, workdir), 'dist');
            check(
              fs.existsSync(path.join(built, 'src', 'cli', 'main.js')) && !fs.existsSync(path.join(built, 'test')),
              `${where}: the build compiles what the image ships (dist/src), not the tests`,
              fs.existsSync(path.join(built, 'test')) ? 'dist/test was built (RIGGER_BUILD=runtime not set?)' : 'no dist/src/cli/main.js',
            );
          }
          const sqlite = path.join(mapIn(stage.name, workdir), 'node_modules', 'better-sqlite3', 'build');
          if (/\bnpm ci\b/.test(ins.args) && fs.existsSync(sqlite)) {
            const compiled = fs.existsSync(path.join(sqlite, 'Release', 'obj.target'));
            if (compiled) ran(`${where}: better-sqlite3 compiled from source${prebuild.env ? ' (the local prebuild was refused)' : ` (${prebuild.why})`}`);
            else
              notRun(
                `${where}: compiling better-sqlite3 (prebuild-install took and loaded ${prebuild.name}, made from this checkout's binary, as it would a downloaded one; --from-source compiles)`,
              );
          }
        } else if (ins.keyword === 'USER') notRun(`${where}: USER ${ins.args} (the processes below run as uid ${process.getuid()})`);
        else if (ins.keyword === 'VOLUME') fs.mkdirSync(mapIn(stage.name, ins.args.replace(/[[\]"]/g, '').split(/[\s,]+/)[0]), { recursive: true });
      }
      stage.env = env;
      stage.workdir = workdir;
      final = stage;
    }
    notRun(`the image's own node (the stages ran with this machine's node ${process.version} and its libc)`);
    await runContainer(final, mapIn, rewrite);
  } finally {
    if (keep) console.log(`kept ${temp}`);
    else fs.rmSync(temp, { recursive: true, force: true });
  }
}

function start(argv, options) {
  const child = spawn(argv[0], argv.slice(1), { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, exited, out: () => out, err: () => err };
}

async function waitReady(proc, ms) {
  const deadline = Date.now() + ms;
  let done = false;
  void proc.exited.then(() => (done = true));
  while (!/ready: listening on port \d+/.test(proc.out())) {
    if (done || Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

async function stop(proc, ms) {
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), ms);
  const result = await proc.exited;
  clearTimeout(timer);
  return result;
}

async function runContainer(stage, mapIn, rewrite) {
  const ins = (kw) => stage.instructions.filter((i) => i.keyword === kw).at(-1);
  const entry = execForm(ins('ENTRYPOINT').args).map((a) => rewrite(stage.name, a));
  const cmd = execForm(ins('CMD').args);
  const hc = execForm(splitFlags(ins('HEALTHCHECK').args).rest.replace(/^CMD\s+/, '')).map((a) => rewrite(stage.name, a));
  const cwd = mapIn(stage.name, stage.workdir);
  const grpcPort = await freePort();
  const httpPort = await freePort();
  // Loopback instead of 0.0.0.0: here the "container" shares this machine's network.
  const env = {
    ...process.env,
    ...stage.env,
    PATH: `${path.dirname(process.execPath)}:${process.env.PATH}`,
    RIGGER_APP_DIR: mapIn(stage.name, '/app'),
    RIGGER_HOST: '127.0.0.1',
    RIGGER_PORT: String(grpcPort),
    RIGGER_HTTP_LISTEN: `127.0.0.1:${httpPort}`,
  };
  notRun(`binding ${stage.env.RIGGER_HOST} and ${stage.env.RIGGER_HTTP_LISTEN} (the emulation binds 127.0.0.1 on free ports instead)`);
  const app = mapIn(stage.name, '/app');
  const help = spawnSync(process.execPath, [path.join(app, 'bin', 'rig.js'), 'grpc', '--help'], { encoding: 'utf8', cwd });
  const hasHttpListen = help.stdout.includes('--http-listen');

  const first = start([...entry, ...cmd], { cwd, env });
  const ready = await waitReady(first, 30_000);
  check(
    ready,
    `first start (${[...entry.map((a) => path.basename(a)), ...cmd].join(' ')}): rig init, then the server is ready`,
    `stdout: ${first.out()} stderr: ${first.err()}`,
  );
  if (!ready) {
    await stop(first, 5_000);
    return;
  }
  check(first.out().includes('Initialized rigger project in'), 'the first start ran rig init');
  const riggerDir = path.join(cwd, '.rigger');
  check(
    fs.existsSync(path.join(riggerDir, 'config.json')) && fs.existsSync(path.join(riggerDir, 'tasks.db')),
    'the volume /data/.rigger holds config.json and tasks.db',
  );
  check((fs.statSync(riggerDir).mode & 0o777) === 0o700, '/data/.rigger is mode 0700');
  if (hasHttpListen) {
    const h = spawnSync(hc[0] === 'node' ? process.execPath : hc[0], hc.slice(1), { env, encoding: 'utf8', timeout: 10_000 });
    check(h.status === 0, `HEALTHCHECK ${hc.map((a) => path.basename(a)).join(' ')} exits 0 against the running server's /readyz`, h.stderr.trim());
  } else {
    notRun('HEALTHCHECK against /readyz: this build of `rig grpc` has no --http-listen yet');
  }
  const add = spawnSync(entry[0], [...entry.slice(1), 'task', 'add', 'made through the entrypoint'], {
    cwd,
    env: { ...env, RIGGER_LOG_LEVEL: 'warn' },
    encoding: 'utf8',
    timeout: 30_000,
  });
  check(add.status === 0, 'rigger-entrypoint task add (a second command in the running "container") exits 0', add.stderr.trim());
  const stopStarted = Date.now();
  const stopped = await stop(first, 10_000);
  check(stopped.code === 0, `SIGTERM (STOPSIGNAL): the server exits 0 within docker stop's 10 s (${Date.now() - stopStarted} ms)`, JSON.stringify(stopped));

  const second = start([...entry, ...cmd], { cwd, env });
  const ready2 = await waitReady(second, 30_000);
  check(ready2 && !second.out().includes('Initialized rigger project'), 'a second start keeps the existing project (no rig init)', second.err());
  if (ready2) {
    const list = spawnSync(entry[0], [...entry.slice(1), 'task', 'list', '--json'], {
      cwd,
      env: { ...env, RIGGER_LOG_LEVEL: 'warn' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    check(list.status === 0 && list.stdout.includes('made through the entrypoint'), 'the task made before the restart is still there', list.stderr.trim());
  }
  const stopped2 = await stop(second, 10_000);
  check(stopped2.code === 0, 'the second server exits 0 on SIGTERM', JSON.stringify(stopped2));
}

async function main() {
  const stages = stagesOf(parseDockerfile(fs.readFileSync(DOCKERFILE, 'utf8')));
  ok(`deploy/Dockerfile parses: ${stages.length} stages (${stages.map((s) => s.name).join(', ')})`);
  staticChecks(stages, loadDockerignore());
  if (process.argv.includes('--build')) {
    if (results.some(([k]) => k === 'FAIL')) notRun('--build: the static checks failed');
    else
      await emulate(stages).catch((error) => {
        if (error.message !== 'build step failed') fail(`--build: ${error.stack}`);
      });
  } else notRun('the build steps and the container start (run with --build)');
  for (const [kind, what] of results) console.log(`${kind.padEnd(7)}  ${what}`);
  const failed = results.filter(([k]) => k === 'FAIL').length;
  console.log(
    `\n${failed === 0 ? 'PASS' : 'FAIL'}: ${results.filter(([k]) => k !== 'not run').length - failed} checked, ${failed} failed, ${results.filter(([k]) => k === 'not run').length} not run (Docker itself was not used)`,
  );
  process.exit(failed === 0 ? 0 : 1);
}

void main();
