// consumer filters: AddTask calls/s while compaction runs every 100 ms (--retain-events 1000), on
// a server holding as many durable consumers as --max-consumers allows, each with the largest
// filter --consumer-max-filter-bytes allows (task ids of the longest length), against the same
// server without them just before and just after (the consumers deleted). Compaction asks the
// consumers what to keep in every batch; the consumers are lost past --consumer-max-lag 1000 during
// the warm-up, as idle ones would be, so both phases delete the same events.
import type { BenchConfig } from '../config';
import type { LoadResult } from '../steady-load';
import { DEFAULT_MAX_CONSUMERS, DEFAULT_MAX_FILTER_BYTES } from '../../src/hub/consumer-registry';
import { MAX_ID_LENGTH } from '../../src/model/validate';
import { startRigServer, tempProject } from '../processes';
import { formatRate, rate, type Measurement } from '../report';
import { serviceFor, unaryCall } from '../service';
import { forkProducer } from '../workers';

/** The most task ids of MAX_ID_LENGTH characters whose stored filter (JSON) is within the byte limit. */
function largestTaskIds(consumer: number): string[] {
  const ids: string[] = [];
  const size = (list: string[]) => Buffer.byteLength(JSON.stringify({ eventTypes: [], statuses: [], taskIds: list }));
  for (let i = 0; ; i++) {
    const id = `${consumer}-${i}-`.padEnd(MAX_ID_LENGTH, 'x');
    if (size([...ids, id]) > DEFAULT_MAX_FILTER_BYTES) return ids;
    ids.push(id);
  }
}

export async function consumerFilters(config: BenchConfig, log: (line: string) => void): Promise<Measurement[]> {
  const server = await startRigServer(tempProject(), ['--retain-events', '1000', '--compact-interval-ms', '100', '--consumer-max-lag', '1000']);
  const producer = forkProducer();
  const consumers = config.quick ? 20 : DEFAULT_MAX_CONSUMERS;
  const durationMs = config.quick ? config.unaryMs : 5000;
  try {
    const writes = async (): Promise<number> => {
      const result = await producer.call<LoadResult>(
        'timedLoad',
        {
          address: server.address,
          method: 'AddTask',
          concurrency: config.producerConcurrency,
          durationMs,
          warmupMs: config.warmupMs,
        },
        120_000,
      );
      if (result.errors > 0) throw new Error(`AddTask failed ${result.errors} times: ${result.firstError}`);
      return rate(result.calls, result.elapsedMs);
    };
    const client = serviceFor(server.address);
    const names = Array.from({ length: consumers }, (_, i) => `filter-${String(i).padStart(4, '0')}`);
    const ids = largestTaskIds(0);

    const before = await writes();
    for (let i = 0; i < names.length; i += 50) {
      await Promise.all(
        names.slice(i, i + 50).map((name, j) => unaryCall(client, 'CreateConsumer', { config: { name, filter: { task_ids: largestTaskIds(i + j) } } })),
      );
    }
    const during = await writes();
    let lost = 0;
    for (let token = '', page = 0; page === 0 || (token !== '' && page < 100); page++) {
      const reply = await unaryCall<{ consumers: { lost: boolean }[]; next_page_token: string }>(client, 'ListConsumers', { page_token: token });
      lost += reply.consumers.filter((c) => c.lost).length;
      token = reply.next_page_token;
    }
    for (let i = 0; i < names.length; i += 50) await Promise.all(names.slice(i, i + 50).map((name) => unaryCall(client, 'DeleteConsumer', { name })));
    const after = await writes();

    const without = (before + after) / 2;
    const ratio = without > 0 ? during / without : null;
    log(`consumer filters: ${formatRate(during)} AddTask with ${consumers} consumers, ${formatRate(before)} before and ${formatRate(after)} after`);
    return [
      {
        row: 'consumer filters',
        case: `${consumers} consumers x ${ids.length} task ids`,
        rigger: formatRate(during),
        peer: `without ${formatRate(without)}`,
        ratio,
        target: '>= 0.8x without',
        met: ratio === null ? null : ratio >= 0.8,
        values: {
          consumers,
          task_ids_per_filter: ids.length,
          filter_bytes: DEFAULT_MAX_FILTER_BYTES,
          calls_per_s_with: during,
          calls_per_s_before: before,
          calls_per_s_after: after,
          consumers_lost: lost,
          window_ms: durationMs,
        },
        note:
          `AddTask c=${config.producerConcurrency} for ${durationMs / 1000} s (after ${config.warmupMs / 1000} s of warm-up) with compaction every 100 ms at --retain-events 1000; ` +
          `without = the mean of the same load just before the consumers were created and just after they were deleted`,
      },
    ];
  } finally {
    await producer.kill();
    await server.stop();
  }
}
