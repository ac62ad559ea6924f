// A reader that stops early (`rig task list | head -3`, `rig events | head -2`) closes the pipe,
// and the next write to stdout fails with EPIPE. That ends the output, not the command as a
// failure: the error is swallowed (no stack, no message), a long-running command stops through
// the listener it registered, and the process exits 0 once its work is done, as git and gh stop
// quietly. Writes after that are dropped: a destroyed stream emits no second error.

const listeners = new Set<() => void>();
let broken = false;

/** Installs the handlers; called once, before any command runs. */
export function endQuietlyOnBrokenPipe(): void {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    if (broken) return;
    broken = true;
    for (const listener of [...listeners]) listener();
  });
  // A closed stderr (`rig ... 2>&1 | head -1`) has no one to tell.
  process.stderr.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });
}

/** Calls `stop` when stdout's reader has gone (at once if it already has); returns the unsubscribe. */
export function onBrokenPipe(stop: () => void): () => void {
  if (broken) {
    stop();
    return () => {};
  }
  listeners.add(stop);
  return () => listeners.delete(stop);
}
