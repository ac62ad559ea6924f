// stalled subscriber: server RSS growth while many events flow past one client that stopped
// reading, and the other subscribers' delivery rate then vs without it. Events are written
// straight into the database through TaskStore.write by a producer process (1000 CREATED events
// per transaction) and published by the server's log tailer: a million AddTask calls would take
// far longer than the bench's budget (see the fan-out row's AddTask rate).
import type { BenchConfig } from '../config';
import { databaseFile, rssBytes, sampleRssPeak, startRigServer, tempProject } from '../processes';
import { formatRate, rate, type Measurement } from '../report';
import { forkClient, forkProducer, type WindowResult } from '../workers';

const MB = 1024 * 1024;

export async function stalledSubscriber(config: BenchConfig, addTaskRate: number, log: (line: string) => void): Promise<Measurement[]> {
  const project = tempProject();
  const dbFile = databaseFile(project);
  const server = await startRigServer(project);
  const others = forkClient();
  const stalled = forkClient();
  const producer = forkProducer();
  try {
    const streams = config.stalledOthers;
    await others.call('subscribe', { kind: 'hub', address: server.address, streams });
    const deliver = async (events: number) => {
      await others.call('reset');
      const write = await producer.call<{ elapsedMs: number }>('bulkWrite', { dbFile, events, perTransaction: 1000 }, 600_000);
      const done = await others.call<WindowResult>('waitForCount', { total: events * streams, timeoutMs: 600_000 }, 610_000);
      return { writeMs: write.elapsedMs, deliverMs: done.elapsedMs };
    };

    const without = await deliver(config.stalledBaselineEvents);
    const rateWithout = rate(config.stalledBaselineEvents * streams, without.deliverMs);
    log(`stalled: without a stalled client ${formatRate(rateWithout)} to ${streams} others`);

    await stalled.call('subscribe', { kind: 'hub', address: server.address, streams: 1, paused: true });
    const rssBefore = rssBytes(server.pid);
    const rss = sampleRssPeak(server.pid);
    let withStalled;
    try {
      withStalled = await deliver(config.stalledEvents);
    } finally {
      rss.stop();
    }
    const rssAfter = rssBytes(server.pid);
    const rssPeak = Math.max(rss.peak(), rssAfter);
    const stalledGot = (await stalled.call<{ count: number }>('counts')).count;
    const rateWith = rate(config.stalledEvents * streams, withStalled.deliverMs);
    const growthMb = (rssPeak - rssBefore) / MB;
    // The others can only be as fast as the events are written, and the writer slows as the
    // database grows (the stalled phase writes ten times as many). So each phase's rate is taken
    // relative to its own write rate (1.0 = the others kept pace with the writer), and those compared.
    const paceWithout = without.writeMs / without.deliverMs;
    const paceWith = withStalled.writeMs / withStalled.deliverMs;
    const ratio = paceWithout > 0 ? paceWith / paceWithout : null;
    log(`stalled: RSS ${Math.round(rssBefore / MB)} -> peak ${Math.round(rssPeak / MB)} MB; others ${formatRate(rateWith)}; stalled client got ${stalledGot}`);
    const production = `${config.stalledEvents} CREATED events written via TaskStore.write (1000/transaction) in ${(withStalled.writeMs / 1000).toFixed(1)} s by a producer process`;
    const addTaskEstimate =
      addTaskRate > 0 ? `; through AddTask at ${formatRate(addTaskRate)} they would take ${Math.round(config.stalledEvents / addTaskRate)} s` : '';
    return [
      {
        row: 'stalled subscriber',
        case: `RSS growth, ${config.stalledEvents} events`,
        rigger: `${growthMb.toFixed(1)} MB`,
        peer: '',
        ratio: null,
        target: '< 100 MB',
        met: growthMb < 100,
        values: {
          events: config.stalledEvents,
          rss_before_mb: rssBefore / MB,
          rss_peak_mb: rssPeak / MB,
          rss_after_mb: rssAfter / MB,
          rss_growth_mb: growthMb,
          stalled_client_received: stalledGot,
          write_ms: withStalled.writeMs,
        },
        note: production + addTaskEstimate,
      },
      {
        row: 'stalled subscriber',
        case: `others' rate (${streams} subs)`,
        rigger: formatRate(rateWith),
        peer: `without stalled ${formatRate(rateWithout)}`,
        ratio,
        target: '>= 0.8x without',
        met: ratio === null ? null : ratio >= 0.8,
        values: {
          others: streams,
          events_per_s_with: rateWith,
          events_per_s_without: rateWithout,
          baseline_events: config.stalledBaselineEvents,
          deliver_ms_with: withStalled.deliverMs,
          deliver_ms_without: without.deliverMs,
          write_ms_with: withStalled.writeMs,
          write_ms_without: without.writeMs,
          pace_with: paceWith,
          pace_without: paceWithout,
        },
        note:
          `rate = events x others / time from the first write until the last delivery; ratio = (write time / delivery time) ` +
          `with the stalled client (${paceWith.toFixed(2)}) over the same without it (${paceWithout.toFixed(2)}), as the writer's speed differs between the phases`,
      },
    ];
  } finally {
    await Promise.all([others.kill(), stalled.kill(), producer.kill()]);
    await server.stop();
  }
}
