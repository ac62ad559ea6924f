// Restart-to-ready: from spawning `rig grpc` to its ready line (serving), after a clean stop
// (SIGTERM: the clean-stop record lets the start skip quick_check) and after kill -9 (the start
// runs quick_check on a worker thread before it serves). Used by the restart row and the scale run.
import { startRigServer, type RigServer } from './processes';
import { wallClockMs } from './stats';

export interface RestartTimes {
  /** Spawn to ready after SIGTERM, one per run, in ms. */
  cleanMs: number[];
  /** Spawn to ready after kill -9, one per run, in ms. */
  killMs: number[];
  /** quick_check's own time in those starts, from the server's log line, in ms. */
  checkMs: number[];
}

const CHECK_PASSED = 'integrity check (quick_check) passed; serving';

/** The `ms` of the server's check log line, or NaN when it ran none. */
export function checkMsOf(server: RigServer): number {
  for (const line of server.stderr().split('\n')) {
    if (!line.includes(CHECK_PASSED)) continue;
    return (JSON.parse(line) as { ms: number }).ms;
  }
  return NaN;
}

const startTimed = async (project: string, extraArgs: string[]): Promise<{ server: RigServer; ms: number }> => {
  const startedAt = wallClockMs();
  const server = await startRigServer(project, extraArgs, [], { RIGGER_LOG_LEVEL: 'info' });
  return { server, ms: wallClockMs() - startedAt };
};

/** Restarts a server on `project` `runs` times after each kind of stop; the project's database is what it is. */
export async function restartToReady(project: string, runs: number, extraArgs: string[] = []): Promise<RestartTimes> {
  const times: RestartTimes = { cleanMs: [], killMs: [], checkMs: [] };
  let { server } = await startTimed(project, extraArgs);
  try {
    for (let i = 0; i < runs; i++) {
      await server.stop();
      const clean = await startTimed(project, extraArgs);
      server = clean.server;
      if (Number.isFinite(checkMsOf(server))) throw new Error(`the start after a clean stop ran quick_check: ${server.stderr().slice(-500)}`);
      times.cleanMs.push(clean.ms);
    }
    for (let i = 0; i < runs; i++) {
      const exited = new Promise((resolve) => server.child.once('exit', resolve));
      server.child.kill('SIGKILL');
      await exited;
      const killed = await startTimed(project, extraArgs);
      server = killed.server;
      times.killMs.push(killed.ms);
      times.checkMs.push(checkMsOf(server));
    }
  } finally {
    await server.stop();
  }
  return times;
}
