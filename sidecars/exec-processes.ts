// The processes of one exec run, and ending them. A run is its process group (the command is spawned
// detached, so it leads a group of its own) and, on Linux, every process whose environment carries
// the run's cookie (RIGGER_EXEC_RUN=<random id>), the way Jenkins' ProcessTreeKiller finds a build's:
// that also catches a daemon that left the group with setsid(). A process exec'd with a new
// environment (env -i) escapes the cookie. Ending them: SIGTERM, then SIGKILL after the grace period
// to whatever is still there, whatever the command itself did in between.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export const RUN_COOKIE_VAR = 'RIGGER_EXEC_RUN';
/** How long the processes of a run have, after SIGTERM, before SIGKILL. */
export const KILL_GRACE_MS = 2000;
/** After SIGKILL, how long the processes are watched for before they are reported as survivors. */
const AFTER_KILL_MS = 1000;
const FIRST_POLL_MS = 10;
const MAX_POLL_MS = 100;

/** What tells the processes of one run: its group and its cookie. */
export interface RunMark {
  pgid: number;
  cookie: string;
  /** The command's start in clock ticks since boot: an older process cannot be the run's, its environment is not read. */
  startTicks: number;
}

export interface Ended {
  /** Every process that got a signal (SIGTERM, or SIGKILL for one found late). */
  signalled: number[];
  /** Those still there at the end of the grace period, sent SIGKILL. */
  killed: number[];
  /** Still alive after SIGKILL (stuck in the kernel): nothing more can be done. */
  survivors: number[];
}

export function newCookie(): string {
  return randomBytes(16).toString('hex');
}

const PROC = fs.existsSync('/proc/self/stat');

interface ProcStat {
  state: string;
  pgrp: number;
  startTicks: number;
}

function procStat(pid: number | string): ProcStat | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // The command name, in parentheses, may hold spaces and parentheses: the fields start after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0]!, pgrp: Number(fields[2]), startTicks: Number(fields[19]) };
}

/** The mark of a run whose command was just spawned (detached) as `pid`. */
export function markOf(pid: number, cookie: string): RunMark {
  return { pgid: pid, cookie, startTicks: procStat(pid)?.startTicks ?? 0 };
}

/** The run's live processes. Zombies are dead: they wait for a parent (or an init that may never reap them). */
export function runProcesses(mark: RunMark): { group: number[]; escaped: number[] } {
  if (!PROC) return { group: groupAlive(mark.pgid) ? [mark.pgid] : [], escaped: [] };
  const needle = Buffer.from(`${RUN_COOKIE_VAR}=${mark.cookie}\0`);
  const group: number[] = [];
  const escaped: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    const stat = procStat(name);
    if (!stat || stat.state === 'Z' || stat.state === 'X') continue;
    if (stat.pgrp === mark.pgid) group.push(Number(name));
    else if (stat.startTicks >= mark.startTicks && environOf(name)?.includes(needle)) escaped.push(Number(name));
  }
  return { group, escaped };
}

function environOf(pid: string): Buffer | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/environ`);
  } catch {
    return undefined; // another user's, or gone
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function send(target: number, sig: NodeJS.Signals): void {
  try {
    process.kill(target, sig);
  } catch {
    // gone meanwhile, or not ours
  }
}

const pidsOf = (found: { group: number[]; escaped: number[] }) => [...found.group, ...found.escaped];

/** Ends every process of the run: SIGTERM, and SIGKILL to what is left after `graceMs`. */
export async function endRun(mark: RunMark, graceMs = KILL_GRACE_MS): Promise<Ended> {
  const signalled = new Set<number>();
  let found = runProcesses(mark);
  if (pidsOf(found).length === 0) return { signalled: [], killed: [], survivors: [] };
  // The whole group at once, so a member forked since the scan gets it too.
  if (found.group.length > 0) send(-mark.pgid, 'SIGTERM');
  for (const pid of found.escaped) send(pid, 'SIGTERM');
  for (const pid of pidsOf(found)) signalled.add(pid);
  const deadline = Date.now() + graceMs;
  let pollMs = FIRST_POLL_MS;
  while (Date.now() < deadline) {
    await sleep(Math.min(pollMs, Math.max(1, deadline - Date.now())));
    pollMs = Math.min(pollMs * 2, MAX_POLL_MS);
    found = runProcesses(mark);
    if (pidsOf(found).length === 0) return { signalled: [...signalled], killed: [], survivors: [] };
    // One that appeared since (forked by a process that ignores SIGTERM) gets it too, once.
    for (const pid of pidsOf(found).filter((p) => !signalled.has(p))) {
      send(pid, 'SIGTERM');
      signalled.add(pid);
    }
  }
  const killed = pidsOf(found);
  const killUntil = Date.now() + AFTER_KILL_MS;
  while (pidsOf(found).length > 0 && Date.now() < killUntil) {
    if (found.group.length > 0) send(-mark.pgid, 'SIGKILL');
    for (const pid of found.escaped) send(pid, 'SIGKILL');
    for (const pid of pidsOf(found)) signalled.add(pid);
    await sleep(MAX_POLL_MS / 4);
    found = runProcesses(mark);
  }
  return { signalled: [...signalled], killed, survivors: pidsOf(found) };
}
