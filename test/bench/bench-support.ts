// Runs the real bench (dist/bench/run.js) the way the harness tests need it: into a temp dir, with
// RIGGER_BENCH_DOCS pointing elsewhere too, so even a --docs-dir that was ignored cannot reach the
// repo's docs/.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '../../..');
const RUN = path.join(REPO_ROOT, 'dist', 'bench', 'run.js');

/** Runs the bench with `args` plus --out and --docs-dir; asserts it exited 0 (within 280 s) and returns its stdout. */
export async function runBench(args: string[], out: string, docsDir: string, envDocs: string): Promise<string> {
  const child = spawn(process.execPath, [RUN, ...args, '--out', out, '--docs-dir', docsDir], {
    cwd: REPO_ROOT,
    env: { ...process.env, RIGGER_BENCH_DOCS: envDocs },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 280_000);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  clearTimeout(timer);
  assert.equal(code, 0, `bench exited ${code}\nstdout:\n${stdout}\nstderr:\n${stderr}`);
  return stdout;
}
