// Real sidecar processes for tests: `node dist/sidecars/<name>.js`, restartable servers on a fixed
// port (so a client's address stays valid across a server restart), and event assertions.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { rigAsync, REPO_ROOT, RIG_BIN, spawnCollected, startServer, waitFor, type ServerProcess } from '../support/processes';

export interface SidecarProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Sends `signal` and waits for the exit code (SIGKILL after 10 s). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Runs `node dist/sidecars/<name>.js args`, or `rig sidecar <name> args` with via 'rig'. */
export function startSidecar(
  name: 'logger' | 'metrics' | 'nats-bridge' | 'board' | 'webhook' | 'exec',
  args: string[],
  via: 'node' | 'rig' = 'node',
): SidecarProcess {
  const entry = via === 'node' ? [path.join(REPO_ROOT, 'dist', 'sidecars', `${name}.js`)] : [RIG_BIN, 'sidecar', name];
  const { child, stdout, stderr, exited } = spawnCollected(process.execPath, [...entry, ...args], {
    env: { ...process.env, RIGGER_LOG_LEVEL: 'info' },
  });
  return {
    child,
    stdout,
    stderr,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** waitFor, failing with the end of the sidecar's log (read when it fails, not when it starts). */
export async function waitLogged(sidecar: SidecarProcess, condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  try {
    await waitFor(condition, timeoutMs, what);
  } catch (error) {
    throw new Error(`${(error as Error).message}; sidecar stderr ends: ${sidecar.stderr().slice(-3000)}`);
  }
}

/** Starts `rig grpc` again on the port it had, so clients keep their address. */
export function restartServer(previous: ServerProcess): Promise<ServerProcess> {
  return startServer(previous.dir, ['--port', String(previous.port)]);
}

/** Adds a task through the real CLI (works with the server up or down: both write the same database). */
export async function addTaskByCli(dir: string, title: string, assignee?: string): Promise<string> {
  const result = await rigAsync(['task', 'add', title, '--json', '-C', dir, ...(assignee ? ['--assignee', assignee] : [])]);
  assert.equal(result.code, 0, result.stderr);
  return (JSON.parse(result.stdout) as { id: string }).id;
}

/** Asserts that `sequences` is exactly 1..n: every event once, in order. */
export function assertExactlyOnceInOrder(sequences: number[], n: number): void {
  assert.deepEqual(
    sequences,
    Array.from({ length: n }, (_, i) => i + 1),
  );
}

/** The metrics sidecar's /metrics URL, once it has said `ready:`. */
export async function metricsUrl(sidecar: SidecarProcess): Promise<string> {
  await waitFor(() => /ready: metrics on (\S+)/.test(sidecar.stdout()), 20_000, `metrics ready; stderr: ${sidecar.stderr()}`);
  return /ready: metrics on (\S+)/.exec(sidecar.stdout())![1]!;
}

export async function scrape(url: string): Promise<string> {
  const response = await fetch(url);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return response.text();
}

/** The value of one sample (`name{labels}` exactly as exposed), or undefined when absent. */
export function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}
