// Idle streams: S live SubscribeToTaskEvents streams held open on one server, from a few client
// processes over several HTTP/2 connections each (a connection carries at most
// streamsPerConnection, below the server's per-connection limits). The server's RSS is read from
// /proc after a full garbage collection (a preload of the bench's, gc-on-signal.ts) before and
// after they open; then one AddTask at a time, and the time until the last stream received it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { WorkerHandle } from '../ipc';
import { BENCH_DIST, rssBytes, startRigServer, tempProject } from '../processes';
import { formatMs } from '../report';
import { sleep } from '../stats';
import { formatSize } from './curve';
import { forkScaleWorker } from './database-sizes';
import type { ScaleConfig } from './scale-config';

export interface StreamsResult {
  streams: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  rssPerStreamBytes: number;
  heapPerStreamBytes: number;
  openMs: number;
  /** Median over the rounds: AddTask sent -> the last stream's receipt. */
  fanOutMs: number;
  fanOutRounds: number[];
  gc: boolean;
}

interface HeapFigures {
  gc: boolean;
  used_heap_size: number;
  external: number;
  rss: number;
}

/** A full GC in the server, then its RSS (from /proc) and heap figures. */
async function settledMemory(pid: number, heapFile: string): Promise<{ rss: number; heap: HeapFigures | undefined }> {
  fs.rmSync(heapFile, { force: true });
  process.kill(pid, 'SIGUSR2');
  let heap: HeapFigures | undefined;
  for (let i = 0; i < 200 && !heap; i++) {
    await sleep(10);
    if (fs.existsSync(heapFile)) heap = JSON.parse(fs.readFileSync(heapFile, 'utf8')) as HeapFigures;
  }
  await sleep(300);
  return { rss: rssBytes(pid), heap };
}

export async function idleStreams(streams: number, config: ScaleConfig, log: (line: string) => void): Promise<StreamsResult> {
  const project = tempProject();
  const heapFile = path.join(os.tmpdir(), `rigger-bench-heap-${process.pid}-${streams}.json`);
  const preload = path.join(BENCH_DIST, 'scale', 'gc-on-signal.js');
  const server = await startRigServer(project, ['--max-subscribers', String(streams * 2 + 100)], [], {
    NODE_OPTIONS: `--expose-gc --require ${preload}`,
    RIGGER_BENCH_HEAP_FILE: heapFile,
  });
  const processes = Math.max(1, Math.min(config.streamProcesses, streams));
  const clients: WorkerHandle[] = Array.from({ length: processes }, forkScaleWorker);
  const writer = forkScaleWorker();
  try {
    // One call first, so the server's lazily made state (the AddTask path, the encoder) is in the "before".
    await writer.call('addTask', { address: server.address });
    await sleep(500);
    // Twice: the first collection after start-up returns memory to the system for a while after it.
    await settledMemory(server.pid, heapFile);
    const before = await settledMemory(server.pid, heapFile);
    const each = Array.from({ length: processes }, (_, i) => Math.floor(streams / processes) + (i < streams % processes ? 1 : 0));
    const opened = await Promise.all(
      clients.map((client, i) =>
        client.call<{ elapsedMs: number }>(
          'openIdle',
          { address: server.address, streams: each[i], connections: Math.ceil(each[i]! / config.streamsPerConnection) },
          300_000,
        ),
      ),
    );
    const openMs = Math.max(...opened.map((o) => o.elapsedMs));
    await sleep(1000);
    const after = await settledMemory(server.pid, heapFile);
    const rounds: number[] = [];
    for (let round = 1; round <= config.fanOutRounds; round++) {
      const waits = clients.map((client) => client.call<{ lastReceiptAt: number }>('fanOutDone', { count: round, timeoutMs: 120_000 }, 130_000));
      const { sentAt } = await writer.call<{ sentAt: number }>('addTask', { address: server.address });
      const last = Math.max(...(await Promise.all(waits)).map((w) => w.lastReceiptAt));
      rounds.push(last - sentAt);
    }
    const sorted = [...rounds].sort((a, b) => a - b);
    const result: StreamsResult = {
      streams,
      rssBeforeBytes: before.rss,
      rssAfterBytes: after.rss,
      rssPerStreamBytes: (after.rss - before.rss) / streams,
      heapPerStreamBytes:
        before.heap && after.heap ? (after.heap.used_heap_size + after.heap.external - before.heap.used_heap_size - before.heap.external) / streams : NaN,
      openMs,
      fanOutMs: sorted[Math.floor((sorted.length - 1) / 2)]!,
      fanOutRounds: rounds,
      gc: (before.heap?.gc ?? false) && (after.heap?.gc ?? false),
    };
    log(
      `${formatSize(streams)} idle streams: RSS ${(result.rssPerStreamBytes / 1024).toFixed(1)} KB/stream, heap ${(result.heapPerStreamBytes / 1024).toFixed(1)} KB/stream, ` +
        `opened in ${formatMs(openMs)} ms, fan-out ${formatMs(result.fanOutMs)} ms`,
    );
    await Promise.all(clients.map((client) => client.call('closeIdle')));
    return result;
  } finally {
    await Promise.all([...clients.map((c) => c.kill()), writer.kill()]);
    await server.stop();
    fs.rmSync(heapFile, { force: true });
    fs.rmSync(project, { recursive: true, force: true });
  }
}
