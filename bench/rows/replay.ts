// Reading history: replay fan-out (S subscribers resuming over events held by the replay ring:
// pure fan-out, no production in the way) and catch-up (one subscriber from sequence 0 over the
// log, read from SQLite). The log is prefilled through TaskStore.write before the server starts.
import type { BenchConfig } from '../config';
import { writeEvents } from '../prefill';
import { databaseFile, startRigServer, tempProject } from '../processes';
import { formatRate, rate, type Measurement } from '../report';
import { forkClient, type WindowResult } from '../workers';

export async function replayAndCatchUp(config: BenchConfig, ceilingRates: Map<number, number>, log: (line: string) => void): Promise<Measurement[]> {
  const project = tempProject();
  const total = Math.max(config.catchUpEvents, config.replayEvents);
  const prefill = writeEvents(databaseFile(project), total);
  log(`prefilled ${total} events through TaskStore.write in ${Math.round(prefill.elapsedMs)} ms`);
  const measurements: Measurement[] = [];
  const client = forkClient();
  try {
    // Replay fan-out: the ring holds the last replayEvents events; S streams resume from before them.
    {
      const server = await startRigServer(project, ['--buffer-size', String(config.replayEvents)]);
      try {
        const subscribers = config.replaySubscribers;
        const expected = subscribers * config.replayEvents;
        await client.call('subscribe', { kind: 'hub', address: server.address, streams: subscribers, sinceSequence: total - config.replayEvents });
        const done = await client.call<WindowResult>('waitForCount', { total: expected, timeoutMs: 120_000 }, 130_000);
        await client.call('close');
        const replayRate = rate(expected, done.elapsedMs);
        const ceiling = ceilingRates.get(subscribers);
        log(`replay fan-out S=${subscribers}: ${formatRate(replayRate)}`);
        measurements.push({
          row: 'replay fan-out (ring)',
          case: `S=${subscribers}, ${config.replayEvents} events each`,
          rigger: formatRate(replayRate),
          peer: ceiling === undefined ? '' : `ceiling ${formatRate(ceiling)}`,
          ratio: ceiling ? replayRate / ceiling : null,
          target: '',
          met: null,
          values: {
            subscribers,
            events_each: config.replayEvents,
            events_per_s: replayRate,
            ceiling_events_per_s: ceiling ?? null,
            elapsed_ms: done.elapsedMs,
          },
          note: 'pure fan-out: no producer; includes opening the streams',
        });
      } finally {
        await server.stop();
      }
    }
    // Catch-up: one subscriber over the log from before the default replay ring (1000) holds,
    // receiving as the typed client does (1 MiB flow-control window), then with grpc-js's default.
    // Like every other row, it is measured warm: an uncounted catch-up over the oldest
    // catchUpWarmupEvents first (their pages are long out of the hub's page cache when the
    // measured catch-up starts again from the oldest event).
    {
      const server = await startRigServer(project);
      try {
        const catchUp = async (events: number, defaultWindow: boolean) => {
          await client.call('subscribe', { kind: 'hub', address: server.address, streams: 1, sinceSequence: total - config.catchUpEvents, defaultWindow });
          const done = await client.call<WindowResult>('waitForCount', { total: events, timeoutMs: 120_000 }, 130_000);
          await client.call('close');
          return done;
        };
        const cold = await catchUp(config.catchUpWarmupEvents, false);
        const coldRate = rate(config.catchUpWarmupEvents, cold.elapsedMs);
        log(`catch-up warm-up (just-started server): ${formatRate(coldRate)} over ${config.catchUpWarmupEvents} events`);
        for (const defaultWindow of [false, true]) {
          const events = config.catchUpEvents;
          const done = await catchUp(events, defaultWindow);
          const catchUpRate = rate(events, done.elapsedMs);
          log(`catch-up${defaultWindow ? ' (64 KiB window)' : ''}: ${formatRate(catchUpRate)}`);
          measurements.push({
            row: 'catch-up (log)',
            case: `1 subscriber, ${events} events${defaultWindow ? ', 64 KiB window' : ''}`,
            rigger: formatRate(catchUpRate),
            peer: '',
            ratio: null,
            target: defaultWindow ? '' : '>= 100k/s',
            met: defaultWindow ? null : catchUpRate >= 100_000,
            values: {
              events,
              events_per_s: catchUpRate,
              elapsed_ms: done.elapsedMs,
              prefill_ms: prefill.elapsedMs,
              default_window: defaultWindow ? 1 : 0,
              warmup_events: config.catchUpWarmupEvents,
              warmup_events_per_s: coldRate,
            },
            note: defaultWindow
              ? "a grpc-js client with HTTP/2's default 64 KiB window (not the typed client's 1 MiB): one round trip per 64 KiB"
              : `after an uncounted catch-up over ${config.catchUpWarmupEvents} events on the just-started server, which ran at ${formatRate(coldRate)}`,
          });
        }
      } finally {
        await server.stop();
      }
    }
  } finally {
    await client.kill();
  }
  return measurements;
}
