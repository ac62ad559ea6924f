#!/usr/bin/env node
// Generates everything derived from proto/: the FileDescriptorSet that the server, its reflection
// service and the clients load (dist/proto/rigger.binpb, compiled by buf, never by hand) and the
// TypeScript types for it (src/generated/, from proto-loader-gen-types). Run by scripts/build.js.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });

// The output folder is dist/ unless the build gives its staging folder (scripts/build.js).
const out = path.resolve(process.argv[2] ?? path.join(root, 'dist'));
fs.mkdirSync(path.join(out, 'proto'), { recursive: true });
run(bin('buf'), ['build', '-o', path.join(out, 'proto', 'rigger.binpb')]);

const generated = path.join(root, 'src', 'generated');
fs.rmSync(generated, { recursive: true, force: true });
// The options here must match LOADER_OPTIONS in src/grpc/proto.ts.
run(bin('proto-loader-gen-types'), [
  'rigger/v1/rigger.proto',
  '--grpcLib=@grpc/grpc-js',
  `--outDir=${generated}`,
  '--keepCase',
  '--longs=Number',
  '--arrays',
  '--includeDirs=proto',
]);
