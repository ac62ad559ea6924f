// board: the board sidecar (`rig sidecar board`, a real process) over a project prefilled with
// 15,000 tasks through TaskStore.write: `GET /` latency; then 200 /events pages that read their
// first bytes and never again, and while they are open the time for a page that reads to see a
// change made by UpdateTask, and the sidecar's RSS peak (until it has dropped them all) against
// its RSS before they opened.
import { spawn } from 'node:child_process';
import { BoardReader, openStuckPages, prefillBoard } from '../../test/sidecars/board-pages';
import type { BenchConfig } from '../config';
import { stopChild, track } from '../ipc';
import { databaseFile, REPO_ROOT, RIG_BIN, rssBytes, sampleRssPeak, startRigServer, tempProject } from '../processes';
import { formatMs, type Measurement } from '../report';
import { connectService } from '../../src/client/connect';
import { unaryCall } from '../service';
import { percentiles, sleep } from '../stats';

const p50 = (samples: number[]) => percentiles(Float64Array.from(samples), samples.length).p50;

const MB = 1024 * 1024;
const GET_TARGET_MS = 200;
const CHANGE_TARGET_MS = 1000;
const RSS_TARGET_MB = 100;

async function startBoard(address: string): Promise<{ url: string; pid: number; drops(): number; stop(): Promise<void> }> {
  const child = track(
    spawn(process.execPath, [RIG_BIN, 'sidecar', 'board', '--address', address, '--http-port', '0'], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, RIGGER_LOG_LEVEL: 'warn' },
    }),
  );
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const drops = () => err.split('\n').filter((line) => line.includes('"board page not reading its events')).length;
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the board sidecar was not ready in 120 s: ${err}`)), 120_000);
    child.stdout!.on('data', (d) => {
      out += d;
      const match = /ready: board on (\S+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the board sidecar exited with ${code} before ready: ${err}`));
    });
  });
  return { url, pid: child.pid!, drops, stop: () => stopChild(child, 15_000) };
}

/** Milliseconds until `GET /` has its whole body. */
async function timedGet(url: string): Promise<number> {
  const startedAt = performance.now();
  const response = await fetch(url);
  await response.arrayBuffer();
  if (response.status !== 200) throw new Error(`GET ${url}: ${response.status}`);
  return performance.now() - startedAt;
}

export async function boardRow(config: BenchConfig, log: (line: string) => void): Promise<Measurement[]> {
  const tasks = config.quick ? 2000 : 15_000;
  const stuckPages = config.quick ? 20 : 200;
  const changes = 5;
  const gets = 20;
  const project = tempProject();
  const prefillStartedAt = performance.now();
  prefillBoard(databaseFile(project), tasks);
  const prefillMs = performance.now() - prefillStartedAt;
  const server = await startRigServer(project);
  const board = await startBoard(server.address);
  const client = connectService(server.address);
  const reader = await BoardReader.open(board.url);
  let stuck: Awaited<ReturnType<typeof openStuckPages>> = [];
  try {
    await reader.waitUntil(() => reader.snapshotsCompleted === 1, 120_000, 'the reading page has the board');
    if (reader.board.size !== tasks) throw new Error(`the reading page has ${reader.board.size} cards, not ${tasks}`);
    const getMs: number[] = [];
    for (let i = 0; i < gets; i++) getMs.push(await timedGet(board.url));
    const rssWithout = rssBytes(board.pid);
    log(`board: GET / p50 ${formatMs(p50(getMs))} ms at ${tasks} tasks; RSS ${Math.round(rssWithout / MB)} MB with one reading page`);

    const rss = sampleRssPeak(board.pid);
    const seenMs: number[] = [];
    let getWithStuckMs = Number.NaN;
    try {
      stuck = await openStuckPages(board.url, stuckPages);
      getWithStuckMs = await timedGet(board.url);
      const ids = [...reader.board.keys()].slice(0, changes);
      for (const [i, id] of ids.entries()) {
        const assignee = `bench change ${i}`;
        const sentAt = performance.now();
        await unaryCall(client, 'UpdateTask', { task_id: id, assignee });
        const seen = () => reader.changes.find((change) => change.task?.assignee === assignee);
        await reader.waitUntil(() => seen() !== undefined, 30_000, `the reading page sees change ${i}`);
        seenMs.push(seen()!.at - sentAt);
      }
      // The peak counts until the sidecar has dropped every stuck page (each after 5 s undrained);
      // --quick's small board fits in the sockets' kernel buffers, so nothing there waits to drop.
      const deadline = Date.now() + 60_000;
      while (!config.quick && board.drops() < stuckPages && Date.now() < deadline) await sleep(50);
      if (!config.quick && board.drops() < stuckPages) throw new Error(`the sidecar dropped ${board.drops()} of ${stuckPages} stuck pages in 60 s`);
    } finally {
      rss.stop();
    }
    const rssPeak = Math.max(rss.peak(), rssBytes(board.pid));
    const rssAfterDrops = rssBytes(board.pid);
    const growthMb = (rssPeak - rssWithout) / MB;
    const worstSeen = Math.max(...seenMs);
    log(`board: with ${stuckPages} stuck pages a change is seen in ${seenMs.map((ms) => formatMs(ms)).join(', ')} ms; RSS peak ${Math.round(rssPeak / MB)} MB`);
    const how = `${tasks} tasks (300-character titles, 12 assignees) written via TaskStore.write in ${(prefillMs / 1000).toFixed(1)} s; a real \`rig sidecar board\``;
    return [
      {
        row: 'board',
        case: `GET / at ${tasks} tasks`,
        rigger: `${formatMs(p50(getMs))} ms`,
        peer: '',
        ratio: null,
        target: `< ${GET_TARGET_MS} ms`,
        met: p50(getMs) < GET_TARGET_MS,
        values: { tasks, gets, p50_ms: p50(getMs), max_ms: Math.max(...getMs), with_stuck_pages_ms: getWithStuckMs },
        note: `${how}; p50 of ${gets} sequential fetches with one page reading /events, max ${formatMs(Math.max(...getMs))} ms; one more with ${stuckPages} stuck pages just opened: ${formatMs(getWithStuckMs)} ms`,
      },
      {
        row: 'board',
        case: `change seen, ${stuckPages} stuck pages`,
        rigger: `${formatMs(worstSeen)} ms`,
        peer: '',
        ratio: null,
        target: `< ${CHANGE_TARGET_MS} ms`,
        met: worstSeen < CHANGE_TARGET_MS,
        values: { stuck_pages: stuckPages, changes, worst_ms: worstSeen, median_ms: p50(seenMs) },
        note: `the worst of ${changes} UpdateTask calls one after another, from the call until a page reading /events (raw socket) has the change; the stuck pages read their first bytes, then never again`,
      },
      {
        row: 'board',
        case: `sidecar RSS, ${stuckPages} stuck pages`,
        rigger: `${(rssPeak / MB).toFixed(0)} MB`,
        peer: `without ${(rssWithout / MB).toFixed(0)} MB`,
        ratio: rssWithout > 0 ? rssPeak / rssWithout : null,
        target: `< +${RSS_TARGET_MB} MB`,
        met: growthMb < RSS_TARGET_MB,
        values: {
          rss_without_mb: rssWithout / MB,
          rss_peak_mb: rssPeak / MB,
          rss_growth_mb: growthMb,
          rss_after_drops_mb: rssAfterDrops / MB,
          dropped: board.drops(),
        },
        note: `VmRSS sampled every 50 ms from before the stuck pages opened until the sidecar had dropped them all; "without" is the same sidecar just before, with one reading page; ${(rssAfterDrops / MB).toFixed(0)} MB ${config.quick ? 'after the changes (--quick: the small board fits in the kernel buffers, none is dropped)' : 'once they were dropped'}`,
      },
    ];
  } finally {
    for (const socket of stuck) socket.destroy();
    reader.close();
    client.close();
    await board.stop();
    await server.stop();
  }
}
