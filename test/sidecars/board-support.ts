// The board sidecar in tests: its URL once it has said `ready:`.
import assert from 'node:assert/strict';
import path from 'node:path';
import { REPO_ROOT, tempDir, waitFor } from '../support/processes';
import type { SidecarProcess } from './sidecar-support';

export async function boardUrl(sidecar: SidecarProcess, timeoutMs = 20_000): Promise<string> {
  await waitFor(() => /ready: board on (\S+)/.test(sidecar.stdout()) || sidecar.child.exitCode !== null, timeoutMs, `board ready; stderr: ${sidecar.stderr()}`);
  const match = /ready: board on (\S+)/.exec(sidecar.stdout());
  assert.ok(match, `the board exited before it was ready: ${sidecar.stderr()}`);
  return match[1]!;
}

/** How many times the board has logged that it dropped a page for not reading. */
export function drops(sidecar: SidecarProcess): number {
  return sidecar
    .stderr()
    .split('\n')
    .filter((line) => line.includes('"board page not reading its events')).length;
}

/** Where the board tests' screenshots go: docs/images/ only with RIGGER_WRITE_SCREENSHOTS=1, so a test run leaves the clone clean. */
export function screenshotDir(): string {
  return process.env.RIGGER_WRITE_SCREENSHOTS === '1' ? path.join(REPO_ROOT, 'docs', 'images') : tempDir('rigger-board-shots-');
}
