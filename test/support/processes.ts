// Real processes for tests: temp projects, the real `rig` binary, servers on ephemeral loopback
// ports. Every process started here is killed when the test file ends, whatever happened.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { initProject } from '../../src/cli/project-store';

export const REPO_ROOT = path.resolve(__dirname, '../../..');
export const RIG_BIN = path.join(REPO_ROOT, 'bin', 'rig.js');

const started = new Set<ChildProcess>();
const tempDirs: string[] = [];

after(() => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

export function tempDir(prefix = 'rigger-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `rig` CLI to completion. */
export function rig(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): RunResult {
  const result = spawnSync(process.execPath, [RIG_BIN, ...args], {
    cwd: options.cwd ?? REPO_ROOT,
    env: { ...process.env, RIGGER_LOG_LEVEL: 'warn', ...options.env },
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 30_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Runs the real `rig` CLI without blocking the event loop (use while a server in this process must keep serving). */
export function rigAsync(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return runAsync(process.execPath, [RIG_BIN, ...args], {
    ...options,
    env: { ...process.env, RIGGER_LOG_LEVEL: 'warn', ...options.env },
  });
}

/** Runs a command to completion without blocking the event loop; rejects if it outlives `timeoutMs`. */
export function runAsync(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const run = spawnCollected(command, args, { cwd: options.cwd ?? REPO_ROOT, env: options.env ?? process.env });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      run.child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} did not finish in ${timeoutMs} ms`));
    }, timeoutMs);
    void run.exited.then((code) => {
      clearTimeout(timer);
      resolve({ code, stdout: run.stdout(), stderr: run.stderr() });
    });
  });
}

/** A tracked process whose output is collected as it comes. */
export interface CollectedProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
}

export function spawnCollected(command: string, args: string[], options: Parameters<typeof spawn>[2] = {}): CollectedProcess {
  const child = spawnTracked(command, args, options);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

/**
 * A temp directory made a project by the code `rig init` runs, called in this process: a spawned
 * `rig init` per project was about 300 CLI starts a run (test/foundation/cli.test.ts runs the real one).
 */
export function tempProject(): string {
  const dir = tempDir('rigger-project-');
  initProject(dir);
  return dir;
}

export function spawnTracked(command: string, args: string[], options: Parameters<typeof spawn>[2] = {}): ChildProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  started.add(child);
  child.on('exit', () => started.delete(child));
  return child;
}

export interface ServerProcess {
  port: number;
  /** host:port of the loopback it listens on. */
  address: string;
  dir: string;
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Sends `signal` and waits for the exit code. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
}

export interface StartServerOptions {
  /** Pass no --host, so the server binds its default (both loopbacks). */
  defaultHost?: boolean;
}

/** Starts the real `rig grpc` on an ephemeral port of 127.0.0.1 and waits for its ready line. */
export async function startServer(
  dir: string,
  extraArgs: string[] = [],
  env: NodeJS.ProcessEnv = {},
  options: StartServerOptions = {},
): Promise<ServerProcess> {
  const hasHost = extraArgs.includes('--host') || options.defaultHost === true;
  const hasPort = extraArgs.includes('--port');
  const child = spawnTracked(
    process.execPath,
    [RIG_BIN, 'grpc', '-C', dir, ...(hasPort ? [] : ['--port', '0']), ...(hasHost ? [] : ['--host', '127.0.0.1']), ...extraArgs],
    { env: { ...process.env, RIGGER_LOG_LEVEL: 'warn', ...env } },
  );
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not become ready in 20 s; stderr: ${err}`)), 20_000);
    const check = () => {
      const match = /ready: listening on port (\d+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stdout!.on('data', check);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before it was ready; stderr: ${err}`));
    });
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    port,
    address: `127.0.0.1:${port}`,
    dir,
    child,
    stdout: () => out,
    stderr: () => err,
    async stop(signal = 'SIGTERM', timeoutMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/**
 * The path of an external tool the test needs. Absent locally: the test is skipped with a loud
 * reason. Absent under CI=true: the test fails, so CI never passes on a skip.
 */
export function requireTool(t: { skip(message?: string): void }, tool: string, installHint: string): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
  if (found) return found;
  const reason = `${tool} is not installed (${installHint})`;
  if (process.env.CI === 'true') throw new Error(`CI=true and ${reason}`);
  process.stderr.write(`\n*** SKIPPING: ${reason} ***\n\n`);
  t.skip(reason);
  return undefined;
}

/** A loopback port that was free a moment ago (bound to port 0 on 127.0.0.1, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** Debian's Python, which has grpcio and grpc_tools when python3-grpcio python3-grpc-tools are installed. */
export const SYSTEM_PYTHON = '/usr/bin/python3';

/**
 * Python stubs compiled from proto/ (examples/python/generate_stubs.sh) into a temp dir, or
 * undefined when SYSTEM_PYTHON lacks grpcio: then it skips `t` loudly (or only says so, for a test
 * that goes on without Python), and under CI=true it throws instead.
 */
export function pythonGrpcStubs(t: { skip(message?: string): void } | undefined): string | undefined {
  if (spawnSync(SYSTEM_PYTHON, ['-c', 'import grpc, grpc_tools'], { encoding: 'utf8' }).status !== 0) {
    const reason = `${SYSTEM_PYTHON} lacks grpcio/grpc_tools (apt-get install python3-grpcio python3-grpc-tools)`;
    if (process.env.CI === 'true') throw new Error(`CI=true and ${reason}`);
    process.stderr.write(`\n*** SKIPPING${t ? '' : ' the Python part'}: ${reason} ***\n\n`);
    t?.skip(reason);
    return undefined;
  }
  const stubs = tempDir('rigger-py-stubs-');
  const generated = spawnSync('sh', [path.join(REPO_ROOT, 'examples', 'python', 'generate_stubs.sh'), stubs], { encoding: 'utf8' });
  if (generated.status !== 0) throw new Error(`generate_stubs.sh failed: ${generated.stderr}`);
  return stubs;
}

/** Waits until `condition` holds, polling; fails after `timeoutMs`. */
export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
