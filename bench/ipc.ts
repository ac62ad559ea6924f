// Request/response over the IPC channel of a forked process: the bench's orchestrator drives its
// client, producer and peer processes with named commands and awaits their replies.
import { fork, type ChildProcess } from 'node:child_process';

interface Request {
  id: number;
  command: string;
  args: unknown;
}

interface Reply {
  id: number;
  result?: unknown;
  error?: string;
}

export interface WorkerHandle {
  readonly child: ChildProcess;
  readonly pid: number;
  call<T = unknown>(command: string, args?: unknown, timeoutMs?: number): Promise<T>;
  kill(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** Every process the bench started that is still running; killed when the bench exits. */
export function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.on('exit', () => live.delete(child));
  return child;
}

/** Forks a compiled worker module (a path under dist/bench) and returns a handle to command it. */
export function forkWorker(modulePath: string, execArgv: string[] = []): WorkerHandle {
  const child = track(fork(modulePath, [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  let nextId = 1;
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  child.on('message', (message: Reply) => {
    const waiter = pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id);
    if (message.error !== undefined) waiter.reject(new Error(`${modulePath}: ${message.error}`));
    else waiter.resolve(message.result);
  });
  child.on('exit', (code, signal) => {
    for (const waiter of pending.values()) waiter.reject(new Error(`${modulePath} exited (${code ?? signal})`));
    pending.clear();
  });
  return {
    child,
    pid: child.pid!,
    call<T>(command: string, args: unknown = {}, timeoutMs = 120_000) {
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${modulePath}: ${command} did not answer in ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, {
          resolve: (v) => {
            clearTimeout(timer);
            resolve(v as T);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        });
        child.send({ id, command, args } satisfies Request);
      });
    },
    kill: () => stopChild(child),
  };
}

/** Sends SIGTERM and waits for the exit (SIGKILL after `graceMs`). */
export function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

type Handler = (args: any) => unknown | Promise<unknown>;

/** In a worker: answers the orchestrator's commands with `handlers`; exits when the parent goes away. */
export function serveCommands(handlers: Record<string, Handler>): void {
  process.on('message', (request: Request) => {
    const handler = handlers[request.command];
    const reply = (body: Omit<Reply, 'id'>) => process.send?.({ id: request.id, ...body });
    if (!handler) {
      reply({ error: `unknown command ${request.command}` });
      return;
    }
    Promise.resolve()
      .then(() => handler(request.args))
      .then(
        (result) => reply({ result: result ?? null }),
        (error: unknown) => reply({ error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
      );
  });
  process.on('disconnect', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
}
