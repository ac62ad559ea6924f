// The real processes a bench row runs against: temp projects made by `rig init`, the real
// `rig grpc` on an ephemeral loopback port, the real `rig` CLI, and Debian's nats-server.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { stopChild, track } from './ipc';

export const REPO_ROOT = path.resolve(__dirname, '../..');
export const RIG_BIN = path.join(REPO_ROOT, 'bin', 'rig.js');
/** The compiled bench directory (dist/bench), where the worker modules live. */
export const BENCH_DIST = __dirname;

const tempDirs: string[] = [];
process.on('exit', () => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** A new project directory made by the real `rig init`; removed when the bench exits. */
export function tempProject(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rigger-bench-'));
  tempDirs.push(dir);
  const result = spawnSync(process.execPath, [RIG_BIN, 'init', '-C', dir], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`rig init failed: ${result.stderr}`);
  return dir;
}

export function databaseFile(projectDir: string): string {
  return path.join(projectDir, '.rigger', 'tasks.db');
}

export interface RigServer {
  address: string;
  pid: number;
  child: ChildProcess;
  /** What the server wrote on stderr so far (its JSON log). */
  stderr(): string;
  stop(): Promise<void>;
}

/**
 * Starts the real `rig grpc` on 127.0.0.1, port 0, and waits for its ready line. `nodeArgs` go to
 * node itself (e.g. --cpu-prof), `env` is added to the server's environment; the log is never
 * compacted during a run unless `extraArgs` sets --retain-events.
 */
export async function startRigServer(
  projectDir: string,
  extraArgs: string[] = [],
  nodeArgs: string[] = [],
  env: Record<string, string> = {},
): Promise<RigServer> {
  const retention = extraArgs.includes('--retain-events') ? [] : ['--retain-events', '0'];
  const child = track(
    spawn(
      process.execPath,
      [
        ...nodeArgs,
        RIG_BIN,
        'grpc',
        '-C',
        projectDir,
        ...(extraArgs.includes('--port') ? [] : ['--port', '0']),
        '--host',
        '127.0.0.1',
        ...retention,
        ...extraArgs,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RIGGER_LOG_LEVEL: 'warn', ...env } },
    ),
  );
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`rig grpc not ready in 30 s: ${err}`)), 30_000);
    child.stdout!.on('data', () => {
      const match = /ready: listening on port (\d+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`rig grpc exited with ${code} before ready: ${err}`));
    });
  });
  return { address: `127.0.0.1:${port}`, pid: child.pid!, child, stderr: () => err, stop: () => stopChild(child, 15_000) };
}

/** Resident set size of a process in bytes (VmRSS from /proc). */
export function rssBytes(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+)\s+kB/.exec(status);
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

/** CPU time (user + system) a process has used so far, in ms, from /proc/<pid>/stat. */
/** Samples `pid`'s RSS every 50 ms until stop(); peak() is the largest seen, the first sample included. */
export function sampleRssPeak(pid: number): { peak(): number; stop(): void } {
  let peak = rssBytes(pid);
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssBytes(pid));
    } catch {
      // the process is gone; its row fails on its own
    }
  }, 50);
  return { peak: () => peak, stop: () => clearInterval(timer) };
}

export function cpuTimeMs(pid: number, thread?: number): number {
  // Fields after the command name, which is in parentheses and may contain spaces.
  const fields = fs
    .readFileSync(thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`, 'utf8')
    .split(') ')[1]!
    .split(' ');
  const ticksPerSecond = 100; // USER_HZ on Linux
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond;
}

/** CPU time of a process's main thread (the one whose id is the process's), which runs its event loop, in ms. */
export function mainThreadCpuTimeMs(pid: number): number {
  return cpuTimeMs(pid, pid);
}

/** Measures the share of one core each process used while `work` ran, e.g. { server: 0.74 }. */
export async function cpuShares<T>(pids: Record<string, number>, work: () => Promise<T>): Promise<{ result: T; shares: Record<string, number> }> {
  const before = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuTimeMs(pid)]));
  const startedAt = performance.now();
  const result = await work();
  const elapsedMs = performance.now() - startedAt;
  const shares = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, (cpuTimeMs(pid) - before[name]!) / elapsedMs]));
  return { result, shares };
}

/** "server 74%, subscribers 58%, producer 51% of a core" */
export function formatShares(shares: Record<string, number>): string {
  return `${Object.entries(shares)
    .map(([name, share]) => `${name} ${Math.round(share * 100)}%`)
    .join(', ')} of a core`;
}

/** Runs the real `rig` CLI without blocking this process's event loop. */
export function rigAsync(args: string[], timeoutMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = track(spawn(process.execPath, [RIG_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RIGGER_LOG_LEVEL: 'warn' } }));
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`rig ${args.join(' ')} did not finish in ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export function commandPath(tool: string): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
  return found === '' ? undefined : found;
}

/** A free TCP port on 127.0.0.1 (for nats-server, which takes a port number rather than 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface NatsServer {
  url: string;
  stop(): Promise<void>;
}

/** Starts Debian's nats-server on a loopback port; undefined when it is not installed. */
export async function startNatsServer(): Promise<NatsServer | undefined> {
  const binary = commandPath('nats-server');
  if (!binary) return undefined;
  const port = await freePort();
  const child = track(spawn(binary, ['-a', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] }));
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`nats-server not ready in 10 s: ${log}`)), 10_000);
    const check = () => {
      if (/Server is ready/.test(log)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`nats-server exited with ${code}: ${log}`));
    });
  });
  return { url: `nats://127.0.0.1:${port}`, stop: () => stopChild(child) };
}
