// `rig grpc` as a process: its banner, its settings (flag > env > config.json > default), signals,
// and its one-line failures for a port in use and for invalid settings.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { call, callError, collectEvents, connect } from '../support/client';
import { rig, startServer, tempProject, type RunResult } from '../support/processes';

/** The server's own default log level, so that any log line it writes shows up here. */
const DEFAULT_LOGGING = { RIGGER_LOG_LEVEL: 'info' };

function failsWithOneLine(result: RunResult, ...patterns: RegExp[]): void {
  assert.equal(result.code, 1, `expected exit 1, got ${result.code}; stdout: ${result.stdout}`);
  assert.match(result.stderr, /^rig: [^\n]+\n$/, `not exactly one line: ${JSON.stringify(result.stderr)}`);
  for (const pattern of patterns) assert.match(result.stderr, pattern);
}

function writeConfig(dir: string, change: Record<string, unknown>): void {
  const file = path.join(dir, '.rigger', 'config.json');
  const config = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  for (const [key, value] of Object.entries(change)) {
    if (value === undefined) delete config[key];
    else config[key] = value;
  }
  fs.writeFileSync(file, JSON.stringify(config));
}

function listenOn(host: string): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const holder = net.createServer();
    holder.once('error', reject);
    holder.listen(0, host, () => resolve(holder));
  });
}

describe('rig grpc as a process', () => {
  test('the banner names protocol, address, database and broadcast buffer, then the ready line', async () => {
    const dir = tempProject();
    const server = await startServer(dir);
    try {
      const out = server.stdout();
      assert.match(out, /^ +protocol: +gRPC over HTTP\/2, plaintext$/m);
      assert.match(out, new RegExp(`^ +address: +127\\.0\\.0\\.1:${server.port}$`, 'm'));
      assert.ok(out.includes(`database:          ${path.join(dir, '.rigger', 'tasks.db')}\n`), out);
      assert.match(out, /^ +broadcast buffer: +1000 events$/m);
      assert.match(out, new RegExp(`^ready: listening on port ${server.port} \\(127\\.0\\.0\\.1:${server.port}\\)$`, 'm'));
      assert.ok(out.indexOf('broadcast buffer') < out.indexOf('ready:'));
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });

  test('the broadcast buffer setting: flag > RIGGER_BUFFER_SIZE > config.json > default', async () => {
    const dir = tempProject();
    const bannerBuffer = async (args: string[], env: NodeJS.ProcessEnv) => {
      const server = await startServer(dir, args, { RIGGER_BUFFER_SIZE: '', ...env });
      try {
        return Number(/broadcast buffer: +(\d+) events/.exec(server.stdout())?.[1]);
      } finally {
        assert.equal(await server.stop(), 0);
      }
    };
    writeConfig(dir, { bufferSize: undefined });
    assert.equal(await bannerBuffer([], {}), 1000, 'default');
    writeConfig(dir, { bufferSize: 111 });
    assert.equal(await bannerBuffer([], {}), 111, 'config.json');
    assert.equal(await bannerBuffer([], { RIGGER_BUFFER_SIZE: '222' }), 222, 'env over config.json');
    assert.equal(await bannerBuffer(['--buffer-size', '333'], { RIGGER_BUFFER_SIZE: '222' }), 333, 'flag over env');
  });

  test('an invalid setting: exit 1 with one line naming where the value came from', () => {
    const dir = tempProject();
    const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
      rig(['grpc', '-C', dir, '--host', '127.0.0.1', ...args], { env: { ...DEFAULT_LOGGING, RIGGER_PORT: '', RIGGER_BUFFER_SIZE: '', ...env } });
    failsWithOneLine(run(['--port', 'abc']), /--port must be a whole number from 0 to 65535, got "abc"/);
    failsWithOneLine(run([], { RIGGER_PORT: '70000' }), /RIGGER_PORT must be a whole number from 0 to 65535, got "70000"/);
    failsWithOneLine(run(['--port', '0'], { RIGGER_BUFFER_SIZE: '0' }), /RIGGER_BUFFER_SIZE must be a whole number/);
    failsWithOneLine(run(['--port', '0', '--buffer-size', '-5']), /--buffer-size must be a whole number/);
    writeConfig(dir, { port: 'fifty' });
    failsWithOneLine(run([]), /"port" in \.rigger\/config\.json must be a whole number from 0 to 65535, got "fifty"/);
    fs.writeFileSync(path.join(dir, '.rigger', 'config.json'), '{"port": ');
    failsWithOneLine(run(['--port', '0']), /config\.json is not valid JSON/);
  });

  for (const [label, hostArgs] of [
    ['--host 127.0.0.1', ['--host', '127.0.0.1']],
    ['the default bind', []],
  ] as const) {
    test(`port in use (${label}): exit 1, one line naming the port and suggesting --port`, async () => {
      const holder = await listenOn('127.0.0.1');
      const port = (holder.address() as net.AddressInfo).port;
      try {
        const result = rig(['grpc', '-C', tempProject(), '--port', String(port), ...hostArgs], { env: DEFAULT_LOGGING });
        failsWithOneLine(result, new RegExp(`port ${port} is already in use`), /--port/);
        assert.equal(result.stdout, '');
      } finally {
        holder.close();
      }
    });
  }

  test('SIGTERM with calls in flight: every acknowledged AddTask is in the database afterwards', async (t) => {
    const dir = tempProject();
    const server = await startServer(dir);
    const client = connect(server.address);
    try {
      await call(client, 'ListTasks', {}); // connected before the burst
      const calls = Array.from({ length: 200 }, (_, i) =>
        call(client, 'AddTask', { title: `in flight ${i}` }).then(
          (response) => ({ id: response.task.id as string }),
          (error: grpc.ServiceError) => ({ error }),
        ),
      );
      // stop() below signals again: a repeated signal during the shutdown must not kill the process.
      setImmediate(() => server.child.kill('SIGTERM'));
      const results = await Promise.all(calls);
      assert.equal(await server.stop(), 0);
      const acknowledged = results.flatMap((r) => ('id' in r ? [r.id] : []));
      t.diagnostic(`${acknowledged.length} of ${results.length} calls acknowledged, the rest UNAVAILABLE`);
      for (const r of results) if ('error' in r) assert.equal(r.error.code, grpc.status.UNAVAILABLE, r.error.details);
      const stored = JSON.parse(rig(['task', 'list', '--limit', '1000', '--json', '-C', dir]).stdout) as { tasks: { id: string }[] };
      const storedIds = new Set(stored.tasks.map((t) => t.id));
      for (const id of acknowledged) assert.ok(storedIds.has(id), `acknowledged task ${id} is missing`);
    } finally {
      client.close();
    }
  });

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    test(`${signal}: the server stops accepting, ends streams, closes the database and exits 0`, async () => {
      const dir = tempProject();
      const server = await startServer(dir);
      const client = connect(server.address);
      try {
        await call(client, 'AddTask', { title: `before ${signal}` });
        const stream = collectEvents(client, {});
        await stream.ready;
        assert.equal(await server.stop(signal), 0);
        const ended = await stream.ended;
        assert.equal(ended?.code, grpc.status.UNAVAILABLE);
        const after = await callError(client, 'ListTasks', {});
        assert.equal(after.code, grpc.status.UNAVAILABLE);
        // A clean close checkpoints the WAL and removes it; the task is in the main file.
        assert.ok(!fs.existsSync(path.join(dir, '.rigger', 'tasks.db-wal')), 'tasks.db-wal left behind');
        const listed = rig(['task', 'list', '--json', '-C', dir]);
        assert.equal(JSON.parse(listed.stdout).total_count, 1);
      } finally {
        client.close();
      }
    });
  }
});
