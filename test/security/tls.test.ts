// TLS and mTLS through the real server with certificates made by the real openssl at test time.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { connectService, type ConnectOptions } from '../../src/client/connect';
import { makeCerts, type CertSet } from '../support/certs';
import { call } from '../support/client';
import { REPO_ROOT, RIG_BIN, requireTool, rig, runAsync, spawnTracked, startServer, tempProject, type ServerProcess } from '../support/processes';

let made: CertSet | undefined;
const clients: grpc.Client[] = [];
const servers: ServerProcess[] = [];

/** The certificates, made once; undefined (test skipped, or failed under CI) without openssl. */
function certsFor(t: { skip(message?: string): void }): CertSet | undefined {
  if (!requireTool(t, 'openssl', 'apt-get install openssl')) return undefined;
  return (made ??= makeCerts());
}

after(async () => {
  for (const c of clients) c.close();
  for (const s of servers) await s.stop();
});

async function serve(args: string[]): Promise<ServerProcess> {
  const server = await startServer(tempProject(), args);
  servers.push(server);
  return server;
}

function client(server: ServerProcess, options: ConnectOptions) {
  const c = connectService(`localhost:${server.port}`, options);
  clients.push(c);
  return c;
}

const failsToConnect = async (server: ServerProcess, options: ConnectOptions) => {
  const c = client(server, options);
  const error = await new Promise<grpc.ServiceError>((resolve, reject) =>
    c.ListTasks({}, new grpc.Metadata(), { deadline: Date.now() + 5000 }, (e, r) => (e ? resolve(e) : reject(new Error(`connected: ${JSON.stringify(r)}`)))),
  );
  assert.ok([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED].includes(error.code), `got ${error.code}: ${error.details}`);
};

test('--tls-cert/--tls-key: a client trusting the CA connects; plaintext and untrusting clients cannot', async (t) => {
  const certs = certsFor(t);
  if (!certs) return;
  const server = await serve(['--tls-cert', certs.serverCert, '--tls-key', certs.serverKey]);
  assert.match(server.stdout(), /protocol: +gRPC over HTTP\/2, TLS/);
  const { task } = await call(client(server, { tls: { ca: certs.ca } }), 'AddTask', { title: 'over TLS' });
  assert.equal(task.title, 'over TLS');
  await failsToConnect(server, {});
  await failsToConnect(server, { tls: { ca: certs.otherCa } });
});

test('--tls-ca requires a client certificate signed by that CA (mTLS)', async (t) => {
  const certs = certsFor(t);
  if (!certs) return;
  const server = await serve(['--tls-cert', certs.serverCert, '--tls-key', certs.serverKey, '--tls-ca', certs.ca]);
  assert.match(server.stdout(), /client certificates required/);
  const ok = await call(client(server, { tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey } }), 'ListTasks', {});
  assert.equal(ok.total_count, 0);
  await failsToConnect(server, { tls: { ca: certs.ca } });
  await failsToConnect(server, { tls: { ca: certs.ca, cert: certs.otherClientCert, key: certs.otherClientKey } });
});

test('TLS + token: a Go client (buf curl, as grpcurl would) calls through reflection with -cacert and the bearer header', async (t) => {
  const certs = certsFor(t);
  if (!certs) return;
  const token = 'tls-and-token-secret';
  const server = await serve(['--tls-cert', certs.serverCert, '--tls-key', certs.serverKey, '--token', token]);
  const buf = path.join(REPO_ROOT, 'node_modules', '.bin', 'buf');
  const url = `https://localhost:${server.port}/rigger.v1.RiggerService/AddTask`;
  const added = await runAsync(buf, [
    'curl',
    '--protocol',
    'grpc',
    '--cacert',
    certs.ca,
    '-H',
    `authorization: Bearer ${token}`,
    '-d',
    '{"title": "via buf curl"}',
    url,
  ]);
  assert.equal(added.code, 0, added.stderr);
  assert.match(added.stdout, /"title": "via buf curl"/);
  const refused = await runAsync(buf, ['curl', '--protocol', 'grpc', '--cacert', certs.ca, '-d', '{"title": "no token"}', url]);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stdout + refused.stderr, /unauthenticated/);

  // And the CLI's own client: rig events --server-ca --token.
  const events = spawnTracked(
    process.execPath,
    [RIG_BIN, 'events', '-C', server.dir, '--address', `localhost:${server.port}`, '--server-ca', certs.ca, '--token', token, '--since', '0'],
    {
      env: { ...process.env, RIGGER_LOG_LEVEL: 'warn' },
    },
  );
  let printed = '';
  events.stdout!.on('data', (d) => (printed += d));
  const deadline = Date.now() + 15_000;
  while (!printed.includes('via buf curl') && Date.now() < deadline && events.exitCode === null) await new Promise((r) => setTimeout(r, 100));
  events.kill('SIGTERM');
  assert.match(printed, /via buf curl/);
});

test('bad TLS settings stop `rig grpc` with one line and exit 1', (t) => {
  const certs = certsFor(t);
  if (!certs) return;
  const project = tempProject();
  const missingKey = rig(['grpc', '-C', project, '--port', '0', '--host', '127.0.0.1', '--tls-cert', certs.serverCert]);
  assert.equal(missingKey.code, 1);
  assert.match(missingKey.stderr, /^rig: TLS needs both --tls-cert and --tls-key$/m);
  const unreadable = rig(['grpc', '-C', project, '--port', '0', '--host', '127.0.0.1', '--tls-cert', '/nonexistent.crt', '--tls-key', certs.serverKey]);
  assert.equal(unreadable.code, 1);
  assert.match(unreadable.stderr, /^rig: --tls-cert: cannot read \/nonexistent\.crt \(ENOENT\)$/m);
});
