// One run of the exec sidecar's command for one event: the event JSON on stdin, a few RIGGER_*
// variables, its output into the log, and what its end means (exit 0 = done, else a retry). It runs
// in a process group of its own, so a timeout or a stop kills what it started too (a shell's
// children): SIGTERM, then SIGKILL KILL_GRACE_MS later.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { newBudget, OutputLines } from './output-lines';
import type { Outcome } from './retry-policy';

export const KILL_GRACE_MS = 2000;
/** After the command exits, how long output still held by its children is read before it is cut off. */
const DRAIN_AFTER_EXIT_MS = 500;
/** Of a failed run's stderr, its last line (this long at most) goes into the reason. */
const STDERR_IN_REASON = 200;

export interface RunSpec {
  command: string;
  args: string[];
  input: string;
  env: Record<string, string>;
  timeoutMs: number;
  /** Fields of every log line of this run (the sequence, the attempt). */
  fields: Record<string, unknown>;
}

/** Where `command` would be run from (as execvp looks it up), or undefined when it cannot be. */
export function findExecutable(command: string, envPath = process.env.PATH ?? ''): string | undefined {
  const candidates = command.includes('/') ? [path.resolve(command)] : envPath.split(path.delimiter).filter(Boolean).map((dir) => path.join(dir, command));
  return candidates.find((file) => {
    try {
      return fs.statSync(file).isFile() && (fs.accessSync(file, fs.constants.X_OK), true);
    } catch {
      return false;
    }
  });
}

export function runCommand(spec: RunSpec, signal: AbortSignal, logger: Logger): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn(spec.command, spec.args, { env: { ...process.env, ...spec.env }, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    const budget = newBudget();
    const out = new OutputLines(logger, spec.fields, 'stdout', budget);
    const err = new OutputLines(logger, spec.fields, 'stderr', budget);
    let lastStderr = '';
    let killedBy: 'timeout' | 'stop' | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    let settled = false;

    const killGroup = (sig: NodeJS.Signals) => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, sig);
      } catch {
        // already gone
      }
    };
    const kill = (why: 'timeout' | 'stop') => {
      if (killedBy || settled) return;
      killedBy = why;
      killGroup('SIGTERM');
      killTimer = setTimeout(() => killGroup('SIGKILL'), KILL_GRACE_MS);
    };
    const timer = setTimeout(() => kill('timeout'), spec.timeoutMs);
    const onAbort = () => kill('stop');
    signal.addEventListener('abort', onAbort, { once: true });

    const finish = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(killTimer);
      signal.removeEventListener('abort', onAbort);
      out.end();
      err.end();
      resolve(outcome);
    };

    child.stdout.on('data', (chunk: Buffer) => out.write(chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      err.write(chunk);
      const line = chunk.toString('utf8').trimEnd().split('\n').pop();
      if (line) lastStderr = line.slice(-STDERR_IN_REASON);
    });
    // A command that exits without reading its stdin closes the pipe: not a failure of ours.
    child.stdin.on('error', () => undefined);
    child.stdin.end(spec.input);

    child.on('error', (error: NodeJS.ErrnoException) => {
      // Not started at all (removed or made unexecutable since the sidecar checked): no event can run.
      finish({ kind: 'fatal', reason: `cannot run ${JSON.stringify(spec.command)}: ${error.code ?? error.message}` });
    });
    child.on('exit', (code, sig) => {
      const outcome: Outcome =
        code === 0 && !killedBy
          ? { kind: 'done' }
          : {
              kind: 'retry',
              reason:
                killedBy === 'timeout'
                  ? `timed out after --timeout-ms ${spec.timeoutMs} (killed with ${sig ?? 'SIGTERM'})`
                  : `${sig ? `killed by ${sig}` : `exited with code ${code}`}${lastStderr ? `: ${lastStderr}` : ''}`,
            };
      // Output still held open by a child the command left behind is read a little longer, then cut off.
      const drained = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        finish(outcome);
      }, DRAIN_AFTER_EXIT_MS);
      child.once('close', () => {
        clearTimeout(drained);
        finish(outcome);
      });
    });
  });
}
