// deploy/: the systemd units pass `systemd-analyze verify` (and its offline security review), the
// Dockerfile is built and run with Docker when a daemon answers, else checked and its build steps
// run by deploy/check-dockerfile.js --build; the HEALTHCHECK script against a real `rig grpc
// --http-listen` and against a stand-in answering 200, 503 and nothing.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { freePort, REPO_ROOT, RIG_BIN, requireTool, runAsync, startServer, tempDir, tempProject } from '../support/processes';

const DEPLOY = path.join(REPO_ROOT, 'deploy');
const UNITS = ['rigger.service', 'rigger-sidecar@.service'];
const HEALTHCHECK = path.join(DEPLOY, 'healthcheck.js');

/** The units in a temp dir, their ExecStart pointed at this machine's node and this repository's bin/rig.js. */
function unitsForThisMachine(): string {
  const dir = tempDir('rigger-units-');
  for (const unit of UNITS) {
    const text = fs
      .readFileSync(path.join(DEPLOY, 'systemd', unit), 'utf8')
      .replaceAll('/usr/bin/node ', `${process.execPath} `)
      .replaceAll('/opt/rigger/bin/rig.js', RIG_BIN);
    fs.writeFileSync(path.join(dir, unit), text);
  }
  return dir;
}

function verify(systemdAnalyze: string, dir: string, units: string[]) {
  // verify exits 0 on unknown keys and unparsable values (it only warns), so any output is a failure.
  const r = spawnSync(systemdAnalyze, ['verify', ...units.map((u) => path.join(dir, u))], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

test('the systemd units pass systemd-analyze verify with no warning', (t) => {
  const systemdAnalyze = requireTool(t, 'systemd-analyze', 'apt-get install systemd');
  if (!systemdAnalyze) return;
  const dir = unitsForThisMachine();
  // The template as itself and as an instance (the name a user enables), with the server beside it.
  const result = verify(systemdAnalyze, dir, ['rigger.service', 'rigger-sidecar@.service', 'rigger-sidecar@logger.service']);
  assert.deepEqual(result, { status: 0, output: '' });

  // The harness sees what verify complains about: a bad key and a missing ExecStart binary.
  fs.appendFileSync(path.join(dir, 'rigger.service'), 'NoSuchHardening=yes\n');
  const warned = verify(systemdAnalyze, dir, ['rigger.service']);
  assert.match(warned.output, /Unknown key 'NoSuchHardening'/);
  // verify checks only that ExecStart's argv[0] exists and is executable (not rig.js, not User=):
  const missing = tempDir('rigger-units-');
  fs.writeFileSync(
    path.join(missing, 'rigger.service'),
    fs.readFileSync(path.join(DEPLOY, 'systemd', 'rigger.service'), 'utf8').replace('/usr/bin/node ', '/nonexistent/node '),
  );
  const absent = verify(systemdAnalyze, missing, ['rigger.service']);
  assert.notEqual(absent.status, 0, 'verify should refuse an ExecStart binary that does not exist');
  assert.match(absent.output, /Command \/nonexistent\/node is not executable/);
  // ... so the test checks the rest of each ExecStart itself, in the copies verify passed.
  for (const unit of UNITS) {
    const execStart = /^ExecStart=(.*)$/m.exec(fs.readFileSync(path.join(dir, unit), 'utf8'))![1]!;
    for (const word of execStart.split(/\s+/).filter((w) => w.startsWith('/'))) assert.ok(fs.existsSync(word), `${unit}: ${word} does not exist`);
  }
});

test('the units carry the hardening documented in docs/deployment.md, and systemd rates it OK', (t) => {
  const server = fs.readFileSync(path.join(DEPLOY, 'systemd', 'rigger.service'), 'utf8');
  const sidecar = fs.readFileSync(path.join(DEPLOY, 'systemd', 'rigger-sidecar@.service'), 'utf8');
  const settings = (text: string) =>
    new Map(
      text
        .split('\n')
        .filter((l) => /^\w+=/.test(l))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as [string, string]),
    );
  for (const [name, text] of [
    ['rigger.service', server],
    ['rigger-sidecar@.service', sidecar],
  ] as const) {
    const s = settings(text);
    const expect: Record<string, string> = {
      Restart: 'on-failure',
      NoNewPrivileges: 'yes',
      ProtectSystem: 'strict',
      ReadWritePaths: '/var/lib/rigger',
      WorkingDirectory: '/var/lib/rigger',
      ProtectHome: 'yes',
      PrivateTmp: 'yes',
      PrivateDevices: 'yes',
      RestrictAddressFamilies: 'AF_INET AF_INET6 AF_UNIX',
      SystemCallFilter: '@system-service',
      UMask: '0077',
      User: 'rigger',
    };
    for (const [key, value] of Object.entries(expect)) assert.equal(s.get(key), value, `${name}: ${key}`);
    assert.equal(s.has('MemoryDenyWriteExecute'), false, `${name} must not set MemoryDenyWriteExecute (V8's JIT)`);
    assert.match(text, /MemoryDenyWriteExecute= is deliberately NOT set: V8's JIT/, `${name} says why`);
  }
  assert.equal(settings(server).get('ExecStart'), '/usr/bin/node /opt/rigger/bin/rig.js grpc');
  const sc = settings(sidecar);
  assert.equal(sc.get('ExecStart'), '/usr/bin/node /opt/rigger/bin/rig.js sidecar %i $RIGGER_SIDECAR_ARGS');
  assert.equal(sc.get('EnvironmentFile'), '/etc/rigger/sidecar-%i.env');
  assert.equal(sc.get('After'), 'rigger.service network-online.target');
  assert.equal(sc.get('Wants'), 'rigger.service network-online.target');

  const systemdAnalyze = requireTool(t, 'systemd-analyze', 'apt-get install systemd');
  if (!systemdAnalyze) return;
  const dir = unitsForThisMachine();
  // Exposure is scored 0-100 internally (shown as 0.0-10.0); 30 = "OK" or better.
  const r = spawnSync(systemdAnalyze, ['security', '--offline=true', '--threshold=30', 'rigger.service', 'rigger-sidecar@logger.service'], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 60_000,
  });
  const levels = r.stdout.split('\n').filter((l) => l.includes('Overall exposure level'));
  t.diagnostic(levels.join('; '));
  assert.equal(r.status, 0, `systemd-analyze security above 3.0:\n${levels.join('\n')}\n${r.stderr}`);
  assert.equal(levels.length, 2);
});

test('healthcheck.js: exit 0 on 200 from /readyz, 1 on 503, on no answer and on a bad address', async () => {
  let status = 200;
  const paths: string[] = [];
  const server = http.createServer((req, res) => {
    paths.push(req.url ?? '');
    res.writeHead(status).end('x\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  try {
    const run = (listen: string) => runAsync(process.execPath, [HEALTHCHECK], { env: { ...process.env, RIGGER_HTTP_LISTEN: listen }, timeoutMs: 15_000 });
    assert.equal((await run(`0.0.0.0:${port}`)).code, 0, 'a wildcard host is asked on its loopback');
    assert.equal((await run(`127.0.0.1:${port}`)).code, 0);
    assert.equal((await run(String(port))).code, 0, 'a bare port, as --http-listen takes it');
    status = 503;
    const unready = await run(`127.0.0.1:${port}`);
    assert.deepEqual([unready.code, unready.stderr.trim()], [1, 'healthcheck: /readyz answered 503']);
    assert.deepEqual(paths, ['/readyz', '/readyz', '/readyz', '/readyz']);
    const closed = await freePort();
    const refused = await run(`127.0.0.1:${closed}`);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /ECONNREFUSED/);
    const bad = await run('nonsense');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /RIGGER_HTTP_LISTEN must be HOST:PORT/);
  } finally {
    server.close();
  }
});

/** Whether this build's `rig grpc` has --http-listen; absent: skip loudly, or fail under CI=true. */
function requireHttpListen(t: { skip(message?: string): void }): boolean {
  const help = spawnSync(process.execPath, [RIG_BIN, 'grpc', '--help'], { encoding: 'utf8' });
  if (help.stdout.includes('--http-listen')) return true;
  const reason = '`rig grpc` has no --http-listen in this build (the operations endpoint, issue 17 point 1)';
  if (process.env.CI === 'true') throw new Error(`CI=true and ${reason}`);
  process.stderr.write(`\n*** SKIPPING: ${reason} ***\n\n`);
  t.skip(reason);
  return false;
}

test('healthcheck.js passes against a real `rig grpc --http-listen` /readyz', async (t) => {
  if (!requireHttpListen(t)) return;
  const httpPort = await freePort();
  const server = await startServer(tempProject(), ['--http-listen', `127.0.0.1:${httpPort}`]);
  try {
    const r = await runAsync(process.execPath, [HEALTHCHECK], { env: { ...process.env, RIGGER_HTTP_LISTEN: `0.0.0.0:${httpPort}` }, timeoutMs: 15_000 });
    assert.equal(r.code, 0, r.stderr);
  } finally {
    assert.equal(await server.stop('SIGTERM'), 0);
  }
});

function dockerWorks(): boolean {
  return spawnSync('docker', ['info'], { encoding: 'utf8', timeout: 20_000 }).status === 0;
}

test('the Dockerfile: built and run with Docker when a daemon answers, else its steps run by check-dockerfile.js --build', { timeout: 900_000 }, async (t) => {
  if (dockerWorks()) {
    const tag = `rigger-deploy-test:${process.pid}`;
    const build = await runAsync('docker', ['build', '-f', path.join(DEPLOY, 'Dockerfile'), '-t', tag, REPO_ROOT], { timeoutMs: 600_000 });
    assert.equal(build.code, 0, build.stderr.slice(-4000));
    const name = `rigger-deploy-test-${process.pid}`;
    try {
      const run = await runAsync(
        'docker',
        ['run', '-d', '--name', name, '--health-interval=1s', '--health-start-period=2s', '-e', 'RIGGER_TOKEN=deploy-test-token', tag],
        { timeoutMs: 60_000 },
      );
      assert.equal(run.code, 0, run.stderr);
      const deadline = Date.now() + 90_000;
      let health = '';
      while (Date.now() < deadline && health !== 'healthy') {
        health = (await runAsync('docker', ['inspect', '-f', '{{.State.Health.Status}}', name])).stdout.trim();
        if (health === 'unhealthy') break;
        await new Promise((r) => setTimeout(r, 1000));
      }
      assert.equal(health, 'healthy', (await runAsync('docker', ['logs', name])).stderr.slice(-4000));
      const stop = await runAsync('docker', ['stop', name], { timeoutMs: 30_000 });
      assert.equal(stop.code, 0);
      assert.equal((await runAsync('docker', ['inspect', '-f', '{{.State.ExitCode}}', name])).stdout.trim(), '0');
    } finally {
      await runAsync('docker', ['rm', '-f', name]).catch(() => undefined);
      await runAsync('docker', ['rmi', '-f', tag]).catch(() => undefined);
    }
    return;
  }
  process.stderr.write('\n*** No Docker daemon (`docker info` fails): checking deploy/Dockerfile with deploy/check-dockerfile.js --build instead ***\n\n');
  const r = await runAsync(process.execPath, [path.join(DEPLOY, 'check-dockerfile.js'), '--build'], { timeoutMs: 840_000 });
  t.diagnostic(
    r.stdout
      .split('\n')
      .filter((l) => l.startsWith('not run'))
      .join('\n'),
  );
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /^ok +first start \(rigger-entrypoint grpc\): rig init, then the server is ready$/m);
  assert.match(r.stdout, /^ok +SIGTERM \(STOPSIGNAL\): the server exits 0/m);
  if (requireHttpListenQuiet()) assert.match(r.stdout, /^ok +HEALTHCHECK .* exits 0 against the running server's \/readyz$/m);
});

function requireHttpListenQuiet(): boolean {
  return spawnSync(process.execPath, [RIG_BIN, 'grpc', '--help'], { encoding: 'utf8' }).stdout.includes('--http-listen');
}

test('check-dockerfile.js (static) passes, and shellcheck accepts the entrypoint', (t) => {
  const r = spawnSync(process.execPath, [path.join(DEPLOY, 'check-dockerfile.js')], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const shellcheck = requireTool(t, 'shellcheck', 'apt-get install shellcheck');
  if (!shellcheck) return;
  const sc = spawnSync(shellcheck, ['--shell=sh', path.join(DEPLOY, 'docker-entrypoint.sh')], { encoding: 'utf8' });
  assert.equal(sc.status, 0, sc.stdout);
});
