#!/usr/bin/env node
// The container's HEALTHCHECK: GET /readyz on the operations endpoint of `rig grpc --http-listen`
// (RIGGER_HTTP_LISTEN, or the first argument: HOST:PORT, [IPv6]:PORT or PORT) and exit 0 on 200, else 1. Node itself, because
// slim images have no curl. A wildcard host (0.0.0.0, ::, empty) is asked on its loopback.
'use strict';
const http = require('node:http');

const listen = process.argv[2] || process.env.RIGGER_HTTP_LISTEN || '';
const match = /^(?:(?:\[([^\]]*)\]|([^:]*)):)?(\d{1,5})$/.exec(listen.trim());
if (!match) {
  console.error(`healthcheck: RIGGER_HTTP_LISTEN must be HOST:PORT, [IPv6]:PORT or PORT, got ${JSON.stringify(listen)}`);
  process.exit(1);
}
let host = match[1] ?? match[2] ?? '';
if (host === '' || host === '0.0.0.0') host = '127.0.0.1';
else if (host === '::') host = '::1';
const timeoutMs = Number(process.env.RIGGER_HEALTHCHECK_TIMEOUT_MS || 3000);

const request = http.get({ host, port: Number(match[3]), path: '/readyz', timeout: timeoutMs }, (response) => {
  response.resume();
  const ok = response.statusCode === 200;
  if (!ok) console.error(`healthcheck: /readyz answered ${response.statusCode}`);
  process.exit(ok ? 0 : 1);
});
request.on('timeout', () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
request.on('error', (error) => {
  console.error(`healthcheck: http://${host.includes(':') ? `[${host}]` : host}:${match[3]}/readyz: ${error.message}`);
  process.exit(1);
});
