// Each way of failing to reach the server, made for real (a closed port, a name that does not
// resolve, something that is not a gRPC server, TLS on one side only, a CA that did not sign the
// server's certificate, a certificate for another name, mTLS without a client certificate or with
// one the server does not trust, a missing or wrong token), as the real `rig`
// reports it: one line on stderr naming the fix, nothing on stdout, exit code 1. And a sidecar's
// log record for a lost server carries the same hint.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { after, test } from 'node:test';
import { makeCerts, type CertSet } from '../support/certs';
import { freePort, requireTool, rigAsync, startServer, tempDir, tempProject, waitFor, type ServerProcess } from '../support/processes';
import { startSidecar } from '../sidecars/sidecar-support';

const TOKEN = 'connection-errors-token';
// Nothing the test runner's environment holds may stand in for a flag these cases leave out.
const CLEAN_ENV = { RIGGER_ADDRESS: '', RIGGER_TOKEN: '', RIGGER_SERVER_CA: '', RIGGER_CLIENT_CERT: '', RIGGER_CLIENT_KEY: '' };
const cwd = tempDir('rigger-not-a-project-');
const servers: ServerProcess[] = [];

after(async () => {
  for (const server of servers) await server.stop();
});

async function serve(args: string[]): Promise<ServerProcess> {
  // No --host: both loopbacks, so `localhost` reaches it whichever it resolves to first.
  const server = await startServer(tempProject(), args, {}, { defaultHost: true });
  servers.push(server);
  return server;
}

/** `rig events` and `rig consumers list` with `args`: both must print exactly `line` and exit 1. */
async function bothFailWith(args: string[], line: string): Promise<void> {
  for (const command of [['events'], ['consumers', 'list']]) {
    const result = await rigAsync([...command, ...args], { cwd, env: CLEAN_ENV, timeoutMs: 20_000 });
    const what = `rig ${command.join(' ')} ${args.join(' ')}`;
    assert.equal(result.stderr, `rig: ${line}\n`, what);
    assert.equal(result.stdout, '', what);
    assert.equal(result.code, 1, what);
  }
}

test('a closed port: nothing is listening, start `rig grpc` or fix --address', async () => {
  const port = await freePort();
  await bothFailWith(
    ['--address', `127.0.0.1:${port}`],
    `nothing is listening at 127.0.0.1:${port}; start the server with \`rig grpc\` (or check --address / RIGGER_ADDRESS)`,
  );
});

test('a host name that does not resolve', async () => {
  await bothFailWith(['--address', 'no-such-host.invalid:50051'], 'the host name no-such-host.invalid does not resolve; check --address / RIGGER_ADDRESS');
});

test('a plaintext server asked for a token: none given, then a wrong one', async () => {
  const server = await serve(['--token', TOKEN]);
  const at = `127.0.0.1:${server.port}`;
  await bothFailWith(['--address', at], `the server at ${at} requires a token; give it with --token or RIGGER_TOKEN`);
  await bothFailWith(['--address', at, '--token', 'not-the-token'], `the server at ${at} does not accept this token; check --token / RIGGER_TOKEN`);
  const listed = await rigAsync(['consumers', 'list', '--address', at, '--token', TOKEN, '--json'], { cwd, env: CLEAN_ENV, timeoutMs: 20_000 });
  assert.equal(listed.code, 0, listed.stderr);
  assert.equal(listed.stdout.trim(), '[]', 'the right token gets in: the failures above were the token');
});

test('something that is not a gRPC server: one that closes at once, and an HTTP/1 server', async () => {
  const closing = net.createServer((socket) => socket.destroy());
  const http1 = http.createServer((_request, response) => response.end('not gRPC'));
  const listen = (server: net.Server) =>
    new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
  try {
    const closingPort = await listen(closing);
    await bothFailWith(
      ['--address', `127.0.0.1:${closingPort}`],
      `the server at 127.0.0.1:${closingPort} closed the connection before gRPC began, and it does not serve TLS either; check --address / RIGGER_ADDRESS`,
    );
    const httpPort = await listen(http1);
    await bothFailWith(['--address', `127.0.0.1:${httpPort}`], `what answers at 127.0.0.1:${httpPort} is not a gRPC server; check --address / RIGGER_ADDRESS`);
  } finally {
    closing.close();
    http1.closeAllConnections();
    http1.close();
  }
});

let made: CertSet | undefined;

/** The certificates, made once; undefined (test skipped, or failed under CI) without openssl. */
function certsFor(t: { skip(message?: string): void }): CertSet | undefined {
  if (!requireTool(t, 'openssl', 'apt-get install openssl')) return undefined;
  return (made ??= makeCerts());
}

/** A server certificate signed by the test CA for a name nobody connects to. */
function certificateForAnotherName(set: CertSet): { cert: string; key: string } {
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: set.dir, stdio: ['ignore', 'ignore', 'pipe'] });
  fs.writeFileSync(path.join(set.dir, 'elsewhere.ext'), 'subjectAltName=DNS:elsewhere.example\nextendedKeyUsage=serverAuth\n');
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=elsewhere.example', '-keyout', 'elsewhere.key', '-out', 'elsewhere.csr']);
  run([
    'x509',
    '-req',
    '-in',
    'elsewhere.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    'elsewhere.ext',
    '-out',
    'elsewhere.crt',
  ]);
  return { cert: path.join(set.dir, 'elsewhere.crt'), key: path.join(set.dir, 'elsewhere.key') };
}

// TLS clients connect to `localhost`: Node warns on stderr when TLS is given an IP address as the
// server name (DEP0123), which is a line that is not ours.
test('TLS on one side only, in both directions', async (t) => {
  const certs = certsFor(t);
  if (!certs) return;
  const tlsServer = await serve(['--tls-cert', certs.serverCert, '--tls-key', certs.serverKey]);
  const plainServer = await serve([]);
  await bothFailWith(
    ['--address', `localhost:${tlsServer.port}`],
    `the server at localhost:${tlsServer.port} serves TLS and this client connected without it; give --server-ca CA.pem (or RIGGER_SERVER_CA) with the CA that signed the server's certificate`,
  );
  await bothFailWith(
    ['--address', `localhost:${plainServer.port}`, '--server-ca', certs.ca],
    `the server at localhost:${plainServer.port} does not serve TLS; connect without --server-ca (and RIGGER_SERVER_CA), or start \`rig grpc\` with --tls-cert and --tls-key`,
  );
});

test('a server certificate the client does not trust, or that names another host', async (t) => {
  const certs = certsFor(t);
  if (!certs) return;
  const tlsServer = await serve(['--tls-cert', certs.serverCert, '--tls-key', certs.serverKey]);
  await bothFailWith(
    ['--address', `localhost:${tlsServer.port}`, '--server-ca', certs.otherCa],
    `the server's certificate at localhost:${tlsServer.port} is not signed by the CA in --server-ca / RIGGER_SERVER_CA (unable to verify the first certificate); give the CA that signed it`,
  );
  // By IP address: node's DEP0123 warning about an IP as the TLS server name must not add lines.
  await bothFailWith(
    ['--address', `127.0.0.1:${tlsServer.port}`, '--server-ca', certs.otherCa],
    `the server's certificate at 127.0.0.1:${tlsServer.port} is not signed by the CA in --server-ca / RIGGER_SERVER_CA (unable to verify the first certificate); give the CA that signed it`,
  );
  const elsewhere = certificateForAnotherName(certs);
  const misnamed = await serve(['--tls-cert', elsewhere.cert, '--tls-key', elsewhere.key]);
  await bothFailWith(
    ['--address', `localhost:${misnamed.port}`, '--server-ca', certs.ca],
    "the server's certificate does not name localhost; connect with --address to a name the certificate holds, or reissue it with localhost in its subjectAltName",
  );
});

test('mTLS: no client certificate, then one from a CA the server does not trust', async (t) => {
  const certs = certsFor(t);
  if (!certs) return;
  const server = await serve(['--tls-cert', certs.serverCert, '--tls-key', certs.serverKey, '--tls-ca', certs.ca]);
  const at = `localhost:${server.port}`;
  await bothFailWith(
    ['--address', at, '--server-ca', certs.ca],
    `the server at ${at} requires a client certificate (mTLS); give --client-cert and --client-key`,
  );
  await bothFailWith(
    ['--address', at, '--server-ca', certs.ca, '--client-cert', certs.otherClientCert, '--client-key', certs.otherClientKey],
    `the server at ${at} closed the connection after the TLS handshake: it refused the client certificate; give one signed by the CA it trusts (its --tls-ca) with --client-cert and --client-key`,
  );
});

test('a sidecar that cannot reach the server logs the hint in its JSON record and keeps retrying', async () => {
  const port = await freePort();
  const sidecar = startSidecar('logger', ['--address', `127.0.0.1:${port}`]);
  try {
    const records = () =>
      sidecar
        .stderr()
        .split('\n')
        .filter((line) => line !== '');
    await waitFor(() => records().some((line) => line.includes('"hint"')), 15_000, 'a log record with the hint');
    const parsed = records().map((line) => JSON.parse(line) as Record<string, unknown>); // every line is JSON
    const lost = parsed.find((r) => r.hint !== undefined)!;
    assert.equal(lost.msg, 'event stream lost; reconnecting');
    assert.equal(lost.failure, 'refused');
    assert.equal(lost.hint, `nothing is listening at 127.0.0.1:${port}; start the server with \`rig grpc\` (or check --address / RIGGER_ADDRESS)`);
    assert.equal(sidecar.child.exitCode, null, 'a refused connection is retried, not fatal');
  } finally {
    await sidecar.stop();
  }
});
