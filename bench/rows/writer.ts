// writer: where the server's task writes run their SQLite transactions, `--store-writer thread` (a
// writer thread with its own connection, src/store/writer-thread.ts) against `inline` (the thread
// that serves gRPC), both FULL, in the same run: AddTask unary at the unary concurrency and
// pipelined on one WriteTasks stream (256 in flight). The machine is shared, so the two servers
// take turns, thread/inline/thread/inline (after one uncounted run on each), and each pair gives a
// ratio; the row reports the median.
import type { BenchConfig } from '../config';
import type { LoadResult } from '../steady-load';
import { cpuShares, mainThreadCpuTimeMs, startRigServer, tempProject } from '../processes';
import { formatRate, rate, type Measurement } from '../report';
import { median } from '../stats';
import { forkProducer } from '../workers';

const IN_FLIGHT = 256;

interface Run {
  writer: 'thread' | 'inline';
  calls_per_s: number;
  server_cpu: number;
  /** Of server_cpu, the main thread's: the event loop that serves gRPC. */
  main_cpu: number;
  client_cpu: number;
}

export async function writerRow(config: BenchConfig, log: (line: string) => void): Promise<Measurement[]> {
  const servers = {
    thread: await startRigServer(tempProject(), ['--store-writer', 'thread']),
    inline: await startRigServer(tempProject(), ['--store-writer', 'inline']),
  };
  const producer = forkProducer();
  const pairs = config.quick ? 1 : 3;
  const measurements: Measurement[] = [];
  try {
    const loads = [
      { name: `AddTask c=${config.unaryConcurrency}`, method: 'timedLoad', args: { method: 'AddTask', concurrency: config.unaryConcurrency, taskIds: [] } },
      { name: `AddTask pipelined, one client, ${IN_FLIGHT} in flight`, method: 'pipelinedLoad', args: { inFlight: IN_FLIGHT } },
    ] as const;
    for (const load of loads) {
      // One uncounted run on each server first: the writer thread is a second V8 isolate, with its own JIT to warm.
      for (const server of [servers.thread, servers.inline]) {
        await producer.call<LoadResult>(load.method, { address: server.address, ...load.args, durationMs: config.unaryMs, warmupMs: 0 });
      }
      const runs: Run[] = [];
      for (let pair = 0; pair < pairs; pair++) {
        for (const writer of ['thread', 'inline'] as const) {
          const server = servers[writer];
          const mainBefore = mainThreadCpuTimeMs(server.pid);
          const startedAt = performance.now();
          const { result, shares } = await cpuShares({ server: server.pid, client: producer.pid }, () =>
            producer.call<LoadResult>(load.method, { address: server.address, ...load.args, durationMs: config.unaryMs, warmupMs: config.warmupMs }),
          );
          const mainShare = (mainThreadCpuTimeMs(server.pid) - mainBefore) / (performance.now() - startedAt);
          if (result.errors > 0) throw new Error(`${load.name} (${writer}) failed ${result.errors} times: ${result.firstError}`);
          const run: Run = {
            writer,
            calls_per_s: rate(result.calls, result.elapsedMs),
            server_cpu: shares.server!,
            main_cpu: mainShare,
            client_cpu: shares.client!,
          };
          runs.push(run);
          log(
            `writer ${load.name} ${writer}: ${formatRate(run.calls_per_s)} (server CPU ${(run.server_cpu * 100).toFixed(0)}%, client ${(run.client_cpu * 100).toFixed(0)}%)`,
          );
        }
      }
      const of = (writer: Run['writer']) => runs.filter((r) => r.writer === writer);
      const ratios = of('thread').map((r, i) => r.calls_per_s / of('inline')[i]!.calls_per_s);
      const threadRate = median(of('thread').map((r) => r.calls_per_s));
      const inlineRate = median(of('inline').map((r) => r.calls_per_s));
      // Server CPU per write (both threads of the server process): the cost, apart from whether a core was free.
      // Main thread CPU per write: the event loop's cost, which bounds the rate when a core is free for the writer thread.
      const usPerWrite = (r: Run) => (r.server_cpu / r.calls_per_s) * 1e6;
      const mainUsPerWrite = (r: Run) => (r.main_cpu / r.calls_per_s) * 1e6;
      const cpu = (writer: Run['writer']) =>
        `${writer} ${of(writer)
          .map(
            (r) =>
              `${formatRate(r.calls_per_s)} (server ${usPerWrite(r).toFixed(0)} us/write, main thread ${mainUsPerWrite(r).toFixed(0)}; server ${(r.server_cpu * 100).toFixed(0)}%, client ${(r.client_cpu * 100).toFixed(0)}%)`,
          )
          .join(', ')}`;
      measurements.push({
        row: 'writer',
        case: `${load.name}, FULL: thread / inline`,
        rigger: `thread ${formatRate(threadRate)}`,
        peer: `inline ${formatRate(inlineRate)}`,
        ratio: median(ratios),
        target: '',
        met: null,
        values: {
          thread_calls_per_s: threadRate,
          inline_calls_per_s: inlineRate,
          pairs,
          thread_server_us_per_write: median(of('thread').map(usPerWrite)),
          inline_server_us_per_write: median(of('inline').map(usPerWrite)),
          thread_main_us_per_write: median(of('thread').map(mainUsPerWrite)),
          inline_main_us_per_write: median(of('inline').map(mainUsPerWrite)),
          ratios: ratios.map((r) => r.toFixed(3)).join(' '),
          runs: runs
            .map((r) => `${r.writer}:${Math.round(r.calls_per_s)}:${r.server_cpu.toFixed(2)}:${r.main_cpu.toFixed(2)}:${r.client_cpu.toFixed(2)}`)
            .join(' '),
        },
        note: `runs in turn, per-pair ratios ${ratios.map((r) => r.toFixed(2)).join(', ')}; ${cpu('thread')}; ${cpu('inline')}`,
      });
    }
  } finally {
    await producer.kill();
    await Promise.all([servers.thread.stop(), servers.inline.stop()]);
  }
  return measurements;
}
