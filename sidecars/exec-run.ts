// One run of the exec sidecar's command for one event: the event JSON on stdin and in a file
// ($RIGGER_EVENT_FILE), a few RIGGER_* variables, its output into the log, and what its end means
// (exit 0 = done, else a retry). It runs detached, in a process group of its own with a cookie in its
// environment (exec-processes.ts), so a timeout or a stop ends everything it started, and so does
// its exit, unless --keep-children: SIGTERM, then SIGKILL 2 s later.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { endRun, markOf, newCookie, RUN_COOKIE_VAR, type Ended } from './exec-processes';
import { newBudget, OutputLines } from './output-lines';
import type { Outcome } from './retry-policy';

export const EVENT_FILE_VAR = 'RIGGER_EVENT_FILE';
/** Names the variables whose value had a NUL, removed (an environment string ends at a NUL). */
export const NUL_REMOVED_VAR = 'RIGGER_NUL_REMOVED';
/** After the command exits, how long output still held by its children is read before it is cut off. */
const DRAIN_AFTER_EXIT_MS = 500;
/** Of a failed run's stderr, its last line (this long at most) goes into the reason. */
const STDERR_IN_REASON = 200;
/** Pids named in the log line about ended processes. */
const PIDS_LOGGED = 20;

export interface RunSpec {
  command: string;
  args: string[];
  input: string;
  env: Record<string, string>;
  timeoutMs: number;
  /** Leave what the command started running once it exits (daemons); a timeout or a stop still ends them. */
  keepChildren: boolean;
  /** Fields of every log line of this run (the sequence, the attempt). */
  fields: Record<string, unknown>;
}

/** Where `command` would be run from (as execvp looks it up), or undefined when it cannot be. */
export function findExecutable(command: string, envPath = process.env.PATH ?? ''): string | undefined {
  const candidates = command.includes('/')
    ? [path.resolve(command)]
    : envPath
        .split(path.delimiter)
        .filter(Boolean)
        .map((dir) => path.join(dir, command));
  return candidates.find((file) => {
    try {
      return fs.statSync(file).isFile() && (fs.accessSync(file, fs.constants.X_OK), true);
    } catch {
      return false;
    }
  });
}

/** `vars` as spawn can pass them: a NUL is removed from each value, and NUL_REMOVED_VAR names the variables that had one. */
export function spawnableEnv(vars: Record<string, string>): Record<string, string> {
  const altered = Object.keys(vars).filter((name) => vars[name]!.includes('\0'));
  if (altered.length === 0) return vars;
  const cleaned = Object.fromEntries(Object.entries(vars).map(([name, value]) => [name, value.replaceAll('\0', '')]));
  return { ...cleaned, [NUL_REMOVED_VAR]: altered.join(' ') };
}

export async function runCommand(spec: RunSpec, signal: AbortSignal, logger: Logger): Promise<Outcome> {
  let dir: string | undefined;
  try {
    dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'rigger-exec-'));
    await fs.promises.writeFile(path.join(dir, 'event.json'), spec.input, { mode: 0o600 });
  } catch (error) {
    // Not this event's fault, and no other event would fare better: stop with the reason.
    if (dir) await fs.promises.rm(dir, { recursive: true, force: true });
    return {
      kind: 'fatal',
      reason: `cannot write the event file under ${os.tmpdir()} (${(error as NodeJS.ErrnoException).code ?? String(error)}); set TMPDIR to a writable directory`,
    };
  }
  try {
    return await run(spec, path.join(dir, 'event.json'), signal, logger);
  } finally {
    await fs.promises.rm(dir, { recursive: true, force: true });
  }
}

function run(spec: RunSpec, eventFile: string, signal: AbortSignal, logger: Logger): Promise<Outcome> {
  return new Promise((resolve) => {
    const cookie = newCookie();
    // Not inherited: a sidecar run by another run's command must not pass that run's markers on.
    const { [NUL_REMOVED_VAR]: _, ...inherited } = process.env;
    const env = { ...inherited, ...spawnableEnv({ ...spec.env, [EVENT_FILE_VAR]: eventFile }), [RUN_COOKIE_VAR]: cookie };
    const child = spawn(spec.command, spec.args, { env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    const mark = child.pid === undefined ? undefined : markOf(child.pid, cookie);
    const budget = newBudget();
    const out = new OutputLines(logger, spec.fields, 'stdout', budget);
    const err = new OutputLines(logger, spec.fields, 'stderr', budget);
    let lastStderr = '';
    let killedBy: 'timeout' | 'stop' | undefined;
    let exited = false;
    let ending: Promise<void> | undefined;
    let settled = false;

    const report = (when: 'exit' | 'timeout' | 'stop', ended: Ended) => {
      const others = ended.signalled.filter((pid) => pid !== child.pid);
      if (others.length > 0)
        logger.info(
          { ...spec.fields, when, count: others.length, pids: others.slice(0, PIDS_LOGGED), sigkill: ended.killed.slice(0, PIDS_LOGGED) },
          'ended processes of the run',
        );
      if (ended.survivors.length > 0)
        logger.error({ ...spec.fields, when, pids: ended.survivors.slice(0, PIDS_LOGGED) }, 'processes of the run still there after SIGKILL');
    };
    // One ending per run, whichever asks first (the timeout, a stop, the exit); the run is over when it is.
    const end = (when: 'exit' | 'timeout' | 'stop'): Promise<void> => (ending ??= mark ? endRun(mark).then((ended) => report(when, ended)) : Promise.resolve());
    const kill = (why: 'timeout' | 'stop') => {
      if (killedBy || exited || settled) return;
      killedBy = why;
      void end(why);
    };
    const timer = setTimeout(() => kill('timeout'), spec.timeoutMs);
    const onAbort = () => kill('stop');
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();

    const finish = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
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
      exited = true;
      clearTimeout(timer);
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
      const ended = killedBy ? end(killedBy) : spec.keepChildren ? Promise.resolve() : end('exit');
      // Output still held open by a process the command left behind is read a little longer, then cut off.
      const drained = new Promise<void>((done) => {
        const cut = setTimeout(() => {
          child.stdout.destroy();
          child.stderr.destroy();
          done();
        }, DRAIN_AFTER_EXIT_MS);
        child.once('close', () => {
          clearTimeout(cut);
          done();
        });
      });
      void Promise.all([ended, drained]).then(() => finish(outcome));
    });
  });
}
