// Soak: a real `rig grpc`, writers and 100 subscribers with varied filters for a few minutes
// (default 180 s; --seconds N). Afterwards every subscriber's stream must equal the event log
// filtered its way (same sequences, in order, no gaps, no duplicates), and the server's RSS must
// have stayed flat. Prints a summary; exits 1 when a check fails. Not part of `npm test`.
//   npm run soak -- --seconds 60 --subscribers 100 --writers 4 --rate 10 [--server-heap-mb 64]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { connectService } from '../../src/client/connect';
import type { RiggerServiceClient } from '../../src/generated/rigger/v1/RiggerService';
import type { SubscribeToTaskEventsRequest } from '../../src/generated/rigger/v1/SubscribeToTaskEventsRequest';
import { compileFilter } from '../../src/hub/event-filter';
import { taskEventEncoder } from '../../src/protocol/event-codec';
import { openStore } from '../../src/store/store';

const REPO_ROOT = path.resolve(__dirname, '../../..');
const RIG = path.join(REPO_ROOT, 'bin', 'rig.js');
const RSS_BOUND_MB = 20;
const WARM_UP_S = 90;
const ASSIGNEES = ['Alice', 'Bob', 'Carol', 'Dan'];

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  if (at === -1) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} needs a positive number`);
  return value;
}

const seconds = option('seconds', 180);
const subscriberCount = option('subscribers', 100);
const writerCount = option('writers', 4);
const ratePerWriter = option('rate', 10);
/** Caps the server's V8 heap (--max-old-space-size): a leak then ends in a crash, not slow growth. */
const serverHeapMb = option('server-heap-mb', Number.POSITIVE_INFINITY);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rssMb = (pid: number) => Number(/^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;
const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;

function unary<T = any>(client: RiggerServiceClient, method: string, request: object): Promise<T> {
  return new Promise((resolve, reject) =>
    (client as any)[method](request, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (e: Error | null, r: T) => (e ? reject(e) : resolve(r))),
  );
}

async function startServer(dir: string): Promise<{ child: ChildProcess; port: number }> {
  const heap = Number.isFinite(serverHeapMb) ? [`--max-old-space-size=${serverHeapMb}`] : [];
  const child = spawn(process.execPath, [...heap, RIG, 'grpc', '-C', dir, '--port', '0', '--host', '127.0.0.1', '--max-subscribers', '1000'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, RIGGER_LOG_LEVEL: 'warn' },
  });
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server not ready in 20 s')), 20_000);
    child.stdout!.on('data', (d) => {
      out += d;
      const match = /ready: listening on port (\d+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.on('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
  return { child, port };
}

interface Subscriber {
  spec: SubscribeToTaskEventsRequest;
  /** Events after this sequence are expected (since_sequence, or the position header when live). */
  after: number;
  sequences: number[];
  error?: grpc.ServiceError;
  call: grpc.ClientReadableStream<unknown>;
}

function filterFor(i: number, taskIds: string[]): SubscribeToTaskEventsRequest {
  const variants: SubscribeToTaskEventsRequest[] = [
    {},
    { event_types: [1] },
    { event_types: [2, 4] },
    { event_types: [5], assignee_filter: ASSIGNEES[i % 4]! },
    { assignee_filter: ASSIGNEES[i % 4]! },
    { statuses: [1] },
    { statuses: [2, 9] },
    { task_ids: taskIds.slice(i % 10, (i % 10) + 3) },
    { event_types: [3], statuses: [10] },
    { assignee_filter: ASSIGNEES[(i + 1) % 4]!, statuses: [1, 2] },
  ];
  const spec = variants[i % variants.length]!;
  // Half replay from the start of the log, half start live.
  return i % 2 === 0 ? { ...spec, since_sequence: 0 } : spec;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rigger-soak-'));
  const init = spawnSync(process.execPath, [RIG, 'init', '-C', dir], { encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`rig init failed: ${init.stderr}`);
  const server = await startServer(dir);
  const pid = server.child.pid!;
  const address = `127.0.0.1:${server.port}`;
  const writerClient = connectService(address);
  const taskIds: string[] = [];
  for (let i = 0; i < 30; i++) taskIds.push((await unary(writerClient, 'AddTask', { title: `seed ${i}`, assignee: pick(ASSIGNEES) })).task.id);

  // 10 connections, each carrying a tenth of the subscribers.
  const channels = Array.from({ length: 10 }, () => connectService(address, { channelOptions: { 'grpc.use_local_subchannel_pool': 1 } }));
  const subscribers: Subscriber[] = [];
  for (let i = 0; i < subscriberCount; i++) {
    const spec = filterFor(i, taskIds);
    const call = channels[i % channels.length]!.SubscribeToTaskEvents(spec);
    const subscriber: Subscriber = { spec, after: Number(spec.since_sequence ?? -1), sequences: [], call };
    call.on('metadata', (metadata: grpc.Metadata) => {
      if (subscriber.after === -1) subscriber.after = Number(metadata.get('x-rigger-position')[0]);
    });
    call.on('data', (event: { sequence: number }) => subscriber.sequences.push(Number(event.sequence)));
    call.on('error', (error: grpc.ServiceError) => {
      if (error.code !== grpc.status.CANCELLED) subscriber.error = error;
    });
    subscribers.push(subscriber);
  }
  const allLive = Date.now() + 20_000;
  while (subscribers.some((s) => s.after === -1 && !s.error) && Date.now() < allLive) await sleep(20);

  const rss: { at: number; mb: number }[] = [{ at: 0, mb: rssMb(pid) }];
  const started = Date.now();
  const deadline = started + seconds * 1000;
  const sampler = setInterval(() => rss.push({ at: (Date.now() - started) / 1000, mb: rssMb(pid) }), 5000);
  let writes = 0;
  let writeErrors = 0;
  const writer = async () => {
    while (Date.now() < deadline) {
      const roll = Math.random();
      try {
        if (roll < 0.3) {
          taskIds.push((await unary(writerClient, 'AddTask', { title: `soak ${writes}`, assignee: pick(ASSIGNEES) })).task.id);
        } else if (roll < 0.95) {
          await unary(writerClient, 'UpdateTask', {
            task_id: pick(taskIds),
            ...(Math.random() < 0.6 ? { status: 1 + Math.floor(Math.random() * 9) } : { assignee: pick(ASSIGNEES) }),
          });
        } else {
          await unary(writerClient, 'DeleteTask', { task_id: pick(taskIds) });
        }
        writes++;
      } catch {
        writeErrors++;
      }
      await sleep(1000 / ratePerWriter);
    }
  };
  await Promise.all(Array.from({ length: writerCount }, writer));
  const writing = (Date.now() - started) / 1000;

  // Expected streams: the log as stored in the file, filtered the way each subscriber asked.
  const store = openStore(path.join(dir, '.rigger', 'tasks.db'), taskEventEncoder);
  const latest = store.log.latestSequence();
  const log = store.log.readAfter(0, latest, latest + 1);
  store.close();
  const expected = subscribers.map((s) => {
    const matches = compileFilter({
      eventTypes: s.spec.event_types as number[] | undefined,
      assignee: s.spec.assignee_filter ?? undefined,
      statuses: s.spec.statuses as number[] | undefined,
      taskIds: s.spec.task_ids ?? undefined,
    });
    return log.filter((e) => e.sequence > s.after && matches(e)).map((e) => e.sequence);
  });
  const drainBy = Date.now() + 60_000;
  while (Date.now() < drainBy && subscribers.some((s, i) => !s.error && s.sequences.length < expected[i]!.length)) await sleep(100);
  clearInterval(sampler);
  rss.push({ at: (Date.now() - started) / 1000, mb: rssMb(pid) });

  const mismatched = subscribers
    .map((s, i) => ({ i, s, want: expected[i]! }))
    .filter(({ s, want }) => s.error || s.sequences.length !== want.length || s.sequences.some((q, k) => q !== want[k]));
  const delivered = subscribers.reduce((n, s) => n + s.sequences.length, 0);
  // The server's RSS climbs for about the first 90 s (V8 heap growth, caches), then stays flat.
  const warm = rss.find((r) => r.at >= Math.min(WARM_UP_S, seconds / 2)) ?? rss[0]!;
  const last = rss.at(-1)!;
  const peak = Math.max(...rss.map((r) => r.mb));
  const growth = last.mb - warm.mb;

  for (const s of subscribers) s.call.cancel();
  for (const c of channels) c.close();
  writerClient.close();
  const crashed = server.child.exitCode !== null || server.child.signalCode !== null;
  if (!crashed) {
    server.child.kill('SIGTERM');
    await new Promise((r) => server.child.once('exit', r));
  }
  fs.rmSync(dir, { recursive: true, force: true });

  const lines = [
    `soak: ${writing.toFixed(0)} s of writes, ${writerCount} writers at ~${ratePerWriter}/s each, ${subscriberCount} subscribers (${subscribers.filter((s) => s.spec.since_sequence === 0).length} replaying from 0, the rest live), 10 connections`,
    `  writes acknowledged: ${writes} (${writeErrors} failed); events in the log: ${log.length} (latest sequence ${latest})`,
    `  events delivered to subscribers: ${delivered}; streams equal to their filtered log: ${subscriberCount - mismatched.length}/${subscriberCount}`,
    `  server RSS: start ${rss[0]!.mb.toFixed(1)} MB, after warm-up (${warm.at.toFixed(0)} s) ${warm.mb.toFixed(1)} MB, peak ${peak.toFixed(1)} MB, end ${last.mb.toFixed(1)} MB (growth after warm-up ${growth.toFixed(1)} MB, bound ${RSS_BOUND_MB} MB)`,
    ...(Number.isFinite(serverHeapMb)
      ? [
          `  server heap capped at ${serverHeapMb} MB (--max-old-space-size); the server ${crashed ? `DIED (exit ${server.child.exitCode}, signal ${server.child.signalCode})` : 'stayed up'}`,
        ]
      : []),
    `  host: ${os.cpus().length} CPUs, load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} (other work on the machine affects rates, not the checks)`,
  ];
  for (const { i, s, want } of mismatched.slice(0, 5)) {
    lines.push(
      `  MISMATCH subscriber ${i} ${JSON.stringify(s.spec)}: got ${s.sequences.length} events, expected ${want.length}${s.error ? `, stream failed: ${s.error.code} ${s.error.details}` : ''}`,
    );
  }
  const ok = mismatched.length === 0 && growth < RSS_BOUND_MB && writes > 0 && !crashed;
  lines.push(ok ? 'soak: PASS' : 'soak: FAIL');
  process.stdout.write(`${lines.join('\n')}\n`);
  process.exitCode = ok ? 0 : 1;
}

main().catch((error) => {
  process.stderr.write(`soak: ${(error as Error).stack ?? error}\n`);
  process.exitCode = 1;
});
