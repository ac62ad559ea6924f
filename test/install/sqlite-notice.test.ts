// The one line npm install prints about better-sqlite3: before its install script (rigger installed
// as a dependency) when no prebuilt binary is reachable, after it (the clone's own install) when it
// was compiled from source; nothing when a prebuilt binary is there or better-sqlite3 is omitted.
// The script runs from a copy laid out as node_modules/rigger beside a stand-in better-sqlite3.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { freePort, REPO_ROOT, runAsync, tempDir } from '../support/processes';

const VERSION = '12.11.1';
const TARGET = `node-v${process.versions.modules}-${process.platform}-${process.arch}`;

function layout(withSqlite: boolean): { script: string; sqlite: string } {
  const root = tempDir('rigger-notice-');
  const scripts = path.join(root, 'node_modules', 'rigger', 'scripts');
  fs.mkdirSync(scripts, { recursive: true });
  fs.copyFileSync(path.join(REPO_ROOT, 'scripts', 'sqlite-notice.js'), path.join(scripts, 'sqlite-notice.js'));
  const sqlite = path.join(root, 'node_modules', 'better-sqlite3');
  if (withSqlite) {
    fs.mkdirSync(sqlite, { recursive: true });
    fs.writeFileSync(path.join(sqlite, 'package.json'), JSON.stringify({ name: 'better-sqlite3', version: VERSION }));
  }
  return { script: path.join(scripts, 'sqlite-notice.js'), sqlite };
}

const notice = (script: string, host: string) =>
  runAsync(process.execPath, [script], {
    env: { ...process.env, npm_config_better_sqlite3_binary_host: host, npm_config_cache: tempDir('rigger-npm-cache-') },
    timeoutMs: 30_000,
  });

test('no prebuilt binary reachable: one line, before the compile, saying why and how to skip it', async () => {
  const { script } = layout(true);
  const port = await freePort(); // nothing listens there
  const run = await notice(script, `http://127.0.0.1:${port}`);
  assert.equal(run.code, 0);
  assert.equal(
    run.stderr,
    `rigger: compiling better-sqlite3 ${VERSION} from source (a few minutes, with python3, make and a C++ compiler) because no prebuilt binary for ${TARGET} is reachable (127.0.0.1:${port} is not reachable: ECONNREFUSED); to skip it: npm install --omit=optional (client library and sidecars only; rig grpc and rig task need it), or install where github.com is reachable\n`,
  );
});

test('a prebuilt binary answers at the host: nothing is said; no better-sqlite3 (--omit=optional): nothing is said', async () => {
  const asked: string[] = [];
  const server = http.createServer((request, response) => (asked.push(`${request.method} ${request.url}`), response.writeHead(200).end()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { script } = layout(true);
    const run = await notice(script, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    assert.equal(run.code, 0);
    assert.equal(run.stderr, '');
    assert.deepEqual(asked, [`HEAD /v${VERSION}/better-sqlite3-v${VERSION}-${TARGET}.tar.gz`], 'the URL prebuild-install downloads');
  } finally {
    server.close();
  }
  const omitted = await notice(layout(false).script, 'http://127.0.0.1:1');
  assert.equal(omitted.code, 0);
  assert.equal(omitted.stderr, '');
});

test("compiled from source just now (the clone's own install): one line after it, with how long it took", async () => {
  const { script, sqlite } = layout(true);
  const release = path.join(sqlite, 'build', 'Release');
  fs.mkdirSync(release, { recursive: true });
  const configured = path.join(sqlite, 'build', 'config.gypi');
  const binary = path.join(release, 'better_sqlite3.node');
  fs.writeFileSync(configured, '');
  fs.writeFileSync(binary, '');
  const now = Date.now() / 1000;
  fs.utimesSync(configured, now - 130, now - 130);
  fs.utimesSync(binary, now - 10, now - 10);
  const run = await notice(script, 'http://127.0.0.1:1');
  assert.equal(
    run.stderr,
    `rigger: better-sqlite3 ${VERSION} was compiled from source (120 s) because no prebuilt binary for ${TARGET} was reachable; to skip it: npm install --omit=optional (client library and sidecars only; rig grpc and rig task need it), or install where github.com is reachable\n`,
  );
  // Long ago: an install that compiled nothing says nothing.
  fs.utimesSync(binary, now - 3600, now - 3600);
  assert.equal((await notice(script, 'http://127.0.0.1:1')).stderr, '');
});
