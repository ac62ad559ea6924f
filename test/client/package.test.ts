// The package as another project gets it: `npm pack`, installed into an empty project without the
// optional better-sqlite3, imported as `rigger/client` from TypeScript under `strict`, compiled by
// tsc and run against a live `rig grpc`. The consumer reports which modules it loaded.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT, runAsync, startServer, tempDir, tempProject } from '../support/processes';

const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const TSC = path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

const CONSUMER = `import { connectService, eventTypeName, RiggerClient, TaskStatus, type TaskEvent } from 'rigger/client';

async function main(): Promise<void> {
  const address = process.argv[2]!;
  const client = new RiggerClient({ address, actor: 'consumer' });
  const events = client.events({ sinceSequence: 0 });
  const added = await client.addTask({ title: 'from the packed client', assignee: 'Alice' });
  const first = await events.next();
  const event: TaskEvent = first.value;
  console.log(\`event #\${event.sequence} \${eventTypeName(event.event_type)} \${event.task.title} todo=\${event.task.status === TaskStatus.TODO}\`);
  await events.return?.(undefined);
  const service = connectService(address);
  const got = await new Promise<string>((resolve, reject) =>
    service.GetTask({ task_id: added.task!.id }, (error, response) => (error ? reject(error) : resolve(response!.task!.title!))),
  );
  console.log(\`got \${got}\`);
  service.close();
  await client.close();
  const loaded = Object.keys(require.cache);
  console.log(JSON.stringify({
    sqlite: loaded.filter((file) => file.includes('better-sqlite3')),
    server: loaded.filter((file) => /[\\\\/]dist[\\\\/](src[\\\\/](store|grpc|hub|cli|prd)|sidecars)[\\\\/]/.test(file)),
  }));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
`;

// Uses the client with a field the API does not have: must fail to compile, so the types are real.
const MISTYPED = `import { RiggerClient } from 'rigger/client';
void new RiggerClient().addTask({ titel: 'typo' });
`;

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'Node16',
    moduleResolution: 'Node16',
    strict: true,
    skipLibCheck: false,
    types: ['node'],
    typeRoots: [path.join(REPO_ROOT, 'node_modules', '@types')],
    outDir: 'out',
  },
  files: ['index.ts'],
};

test(
  'npm pack -> install without optional deps -> rigger/client type-checks under strict and runs against a live server, without better-sqlite3',
  { timeout: 240_000 },
  async () => {
    const packDir = tempDir('rigger-pack-');
    // --ignore-scripts: the tarball is made from the dist/ already built; prepare would rebuild it under the other tests.
    const packed = await runAsync(NPM, ['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], { cwd: REPO_ROOT, timeoutMs: 60_000 });
    assert.equal(packed.code, 0, packed.stderr);
    const [{ filename, files }] = JSON.parse(packed.stdout) as [{ filename: string; files: { path: string }[] }];
    const paths = files.map((f) => f.path);
    for (const wanted of [
      'dist/src/client/index.js',
      'dist/src/client/index.d.ts',
      'dist/proto/rigger.binpb',
      'proto/rigger/v1/rigger.proto',
      'bin/rig.js',
      'dist/sidecars/logger.js',
    ]) {
      assert.ok(paths.includes(wanted), `the tarball holds ${wanted}`);
    }
    const unwanted = paths.filter((p) => /^(dist\/(test|bench|examples)\/|\.ci\/|test\/|bench\/|src\/)|\.map$/.test(p));
    assert.deepEqual(unwanted, [], 'no tests, bench, sources or source maps in the tarball');

    const consumer = tempDir('rigger-consumer-');
    fs.writeFileSync(path.join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
    const installed = await runAsync(NPM, ['install', '--omit=optional', '--prefer-offline', '--no-audit', '--no-fund', path.join(packDir, filename)], {
      cwd: consumer,
      timeoutMs: 180_000,
    });
    assert.equal(installed.code, 0, installed.stderr);
    assert.ok(fs.existsSync(path.join(consumer, 'node_modules', 'rigger', 'dist', 'src', 'client', 'index.js')));
    assert.ok(!fs.existsSync(path.join(consumer, 'node_modules', 'better-sqlite3')), 'better-sqlite3 (optional) was not installed');

    // One tsc for the consumer and a misspelled use beside it: the consumer compiles (tsc emits
    // despite errors elsewhere) and every error is the misspelling's.
    fs.writeFileSync(path.join(consumer, 'tsconfig.json'), JSON.stringify({ ...TSCONFIG, files: ['index.ts', 'mistyped.ts'] }));
    fs.writeFileSync(path.join(consumer, 'index.ts'), CONSUMER);
    fs.writeFileSync(path.join(consumer, 'mistyped.ts'), MISTYPED);
    const compiled = await runAsync(process.execPath, [TSC, '-p', '.'], { cwd: consumer, timeoutMs: 60_000 });
    assert.notEqual(compiled.code, 0, 'a misspelled field fails to compile');
    const errors = compiled.stdout.split('\n').filter((line) => /error TS\d+/.test(line));
    assert.ok(errors.length > 0 && errors.some((line) => line.includes('titel')), compiled.stdout + compiled.stderr);
    assert.deepEqual(
      errors.filter((line) => !line.startsWith('mistyped.ts(')),
      [],
      `index.ts (the consumer) type-checks under strict:\n${compiled.stdout}`,
    );
    assert.ok(fs.existsSync(path.join(consumer, 'out', 'index.js')), 'the consumer was compiled');

    const deep = await runAsync(process.execPath, ['-e', "require('rigger/dist/src/store/store.js')"], { cwd: consumer });
    assert.match(deep.stderr, /ERR_PACKAGE_PATH_NOT_EXPORTED/, 'internals are not importable: only the exports map is public');

    const dir = tempProject();
    const server = await startServer(dir);
    try {
      const run = await runAsync(process.execPath, [path.join(consumer, 'out', 'index.js'), server.address], { cwd: consumer, timeoutMs: 30_000 });
      assert.equal(run.code, 0, run.stderr);
      const lines = run.stdout.trim().split('\n');
      assert.equal(lines[0], 'event #1 CREATED from the packed client todo=true');
      assert.equal(lines[1], 'got from the packed client');
      assert.deepEqual(JSON.parse(lines[2]!), { sqlite: [], server: [] });
    } finally {
      await server.stop();
    }
  },
);
