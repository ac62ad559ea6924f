// The board sidecar in tests: its URL once it has said `ready:`.
import assert from 'node:assert/strict';
import { waitFor } from '../support/processes';
import type { SidecarProcess } from './sidecar-support';

export async function boardUrl(sidecar: SidecarProcess, timeoutMs = 20_000): Promise<string> {
  await waitFor(() => /ready: board on (\S+)/.test(sidecar.stdout()) || sidecar.child.exitCode !== null, timeoutMs, `board ready; stderr: ${sidecar.stderr()}`);
  const match = /ready: board on (\S+)/.exec(sidecar.stdout());
  assert.ok(match, `the board exited before it was ready: ${sidecar.stderr()}`);
  return match[1]!;
}

/** How many times the board has logged that it dropped a page for not reading. */
export function drops(sidecar: SidecarProcess): number {
  return sidecar.stderr().split('\n').filter((line) => line.includes('"board page not reading its events')).length;
}
