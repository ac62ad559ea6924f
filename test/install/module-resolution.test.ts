// The client library from another TypeScript project, as docs/client.md says to set it up: a fresh
// project per moduleResolution (node, node16, bundler) with rigger in node_modules (a symlink to
// this clone, as `npm install <clone>` makes), compiled with strict by the repository's tsc, runs the
// docs' ten-line sidecar against a real server and prints the event a CLI write made.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { addTaskByCli } from '../sidecars/sidecar-support';
import { REPO_ROOT, runAsync, spawnCollected, startServer, tempDir, tempProject, waitFor } from '../support/processes';

const TSC = path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

/** The TypeScript block under "The client library in ten lines" in docs/client.md. */
function docsSidecar(): string {
  const doc = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'client.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## The client library in ten lines'));
  const code = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(code?.includes("from 'rigger/client'"), 'docs/client.md shows the sidecar importing rigger/client');
  return code!;
}

/** Each setting as docs/client.md gives it; bundler output is ES modules, so that project is "type": "module". */
const SETUPS = [
  { resolution: 'node', compilerOptions: { module: 'commonjs', moduleResolution: 'node' }, type: undefined },
  { resolution: 'node16', compilerOptions: { module: 'node16', moduleResolution: 'node16' }, type: undefined },
  { resolution: 'bundler', compilerOptions: { module: 'esnext', moduleResolution: 'bundler' }, type: 'module' },
] as const;

test(
  "a fresh TypeScript project with moduleResolution node, node16 and bundler compiles the docs' sidecar against rigger/client and runs it against a live server",
  { timeout: 180_000 },
  async () => {
    const source = docsSidecar();
    const projects = SETUPS.map(({ resolution, compilerOptions, type }) => {
      const dir = tempDir(`rigger-ts-${resolution}-`);
      fs.writeFileSync(
        path.join(dir, 'package.json'),
        JSON.stringify({
          name: `uses-rigger-${resolution}`,
          version: '1.0.0',
          private: true,
          ...(type && { type }),
          dependencies: { rigger: `file:${REPO_ROOT}` },
        }),
      );
      fs.mkdirSync(path.join(dir, 'node_modules'));
      fs.symlinkSync(REPO_ROOT, path.join(dir, 'node_modules', 'rigger'), 'dir');
      const tsconfig = {
        compilerOptions: {
          target: 'ES2022',
          strict: true,
          types: ['node'],
          typeRoots: [path.join(REPO_ROOT, 'node_modules', '@types')],
          outDir: 'out',
          ...compilerOptions,
        },
        files: ['sidecar.ts'],
      };
      fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
      fs.writeFileSync(path.join(dir, 'sidecar.ts'), source);
      return { resolution, dir };
    });
    // One tsc in build mode for the three projects: each is checked with its own options, and the
    // lib and @types files they share are read once. An error names its file, in rigger-ts-<resolution>-*.
    const compiled = await runAsync(process.execPath, [TSC, '-b', ...projects.map(({ dir }) => dir)], { timeoutMs: 120_000 });
    assert.equal(compiled.code, 0, `tsc -b over the node, node16 and bundler projects:\n${compiled.stdout}${compiled.stderr}`);
    for (const { resolution, dir } of projects) assert.ok(fs.existsSync(path.join(dir, 'out', 'sidecar.js')), `the ${resolution} project was compiled`);

    const project = tempProject();
    const server = await startServer(project);
    try {
      for (const [index, { resolution, dir }] of projects.entries()) {
        const sidecar = spawnCollected(process.execPath, [path.join(dir, 'out', 'sidecar.js'), server.address], { cwd: dir });
        try {
          // A live start writes its checkpoint at once: from then on every write reaches it.
          await waitFor(
            () => fs.existsSync(path.join(dir, 'sidecar-client.checkpoint')) || sidecar.child.exitCode !== null,
            20_000,
            `the ${resolution} sidecar to start`,
          );
          assert.equal(sidecar.child.exitCode, null, `${resolution}: ${sidecar.stderr()}`);
          await addTaskByCli(project, `from ${resolution}`, 'Alice');
          await waitFor(
            () => sidecar.stdout().includes(`#${index + 1} CREATED from ${resolution} (Alice)`),
            20_000,
            `the ${resolution} sidecar to print the event`,
          );
        } finally {
          sidecar.child.kill('SIGINT');
        }
        assert.equal(await sidecar.exited, 0, `${resolution}: ${sidecar.stderr()}`);
      }
    } finally {
      await server.stop();
    }
  },
);
