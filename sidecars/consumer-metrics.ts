// The metrics sidecar's consumer gauges: the server's durable consumers as ListConsumers reports
// them, polled every --consumers-interval-ms. Per-consumer series for the --top-consumers most
// lagging, totals over all, so the text does not grow with the count. The gauges show the last
// answer; while the server cannot be asked they keep it and rigger_consumers_up says 0.
import type { Logger } from 'pino';
import client from 'prom-client';
import type { RiggerClient } from '../src/client/index';
import type { ConsumerInfo__Output } from '../src/generated/rigger/v1/ConsumerInfo';
import { compareText, topN } from '../src/model/top-n';

const GAUGES: [name: string, help: string, value: (c: ConsumerInfo__Output) => number][] = [
  ['rigger_consumer_lag', "Events between the head and the consumer's acked position", (c) => Number(c.lag ?? 0)],
  ['rigger_consumer_acked_sequence', 'Every matching event up to this sequence is acked or dead-lettered', (c) => Number(c.acked_sequence ?? 0)],
  ['rigger_consumer_in_flight', "Events delivered to the consumer's members and not yet acked", (c) => c.in_flight ?? 0],
  ['rigger_consumer_pending', 'Events read for the consumer and not yet acked (in flight included)', (c) => c.pending ?? 0],
  ['rigger_consumer_members', 'Connections consuming under the name', (c) => c.members ?? 0],
  ['rigger_consumer_dead_letters', 'Dead letters recorded for the consumer', (c) => c.dead_letters ?? 0],
  ['rigger_consumer_redeliveries', 'Deliveries after the first, since the server started', (c) => Number(c.redeliveries ?? 0)],
  ['rigger_consumer_lost', '1 when the consumer fell past --consumer-max-lag and was marked lost', (c) => (c.lost ? 1 : 0)],
];

const lagOf = (c: ConsumerInfo__Output): number => Number(c.lag ?? 0);
const nameOf = (c: ConsumerInfo__Output): string => c.config?.name ?? '';

/** Totals over every consumer listed. */
const TOTALS: [name: string, help: string, value: (all: ConsumerInfo__Output[]) => number][] = [
  ['rigger_consumers', 'Durable consumers listed (lost ones included)', (all) => all.length],
  ['rigger_consumers_lost', 'Durable consumers marked lost', (all) => all.filter((c) => c.lost).length],
  ['rigger_consumers_max_lag', 'The largest lag of any durable consumer', (all) => all.reduce((max, c) => Math.max(max, lagOf(c)), 0)],
  ['rigger_consumers_total_lag', 'The lags of all durable consumers added up', (all) => all.reduce((sum, c) => sum + lagOf(c), 0)],
  ['rigger_consumers_in_flight', 'Events in flight, over all durable consumers', (all) => all.reduce((sum, c) => sum + (c.in_flight ?? 0), 0)],
  ['rigger_consumers_dead_letters', 'Dead letters, over all durable consumers', (all) => all.reduce((sum, c) => sum + (c.dead_letters ?? 0), 0)],
];

/** Registers the gauges on `registry` and polls; returns the function that stops polling. */
export function watchConsumers(rigger: RiggerClient, registry: client.Registry, intervalMs: number, topConsumers: number, logger: Logger): () => void {
  let latest: ConsumerInfo__Output[] = [];
  // Most lagging first, by name among equals: the same consumers keep their series between polls.
  let top: ConsumerInfo__Output[] = [];
  let up = 0;
  for (const [name, help, value] of GAUGES) {
    new client.Gauge({
      name,
      help: `${help} (the ${topConsumers} most lagging consumers)`,
      labelNames: ['consumer'],
      registers: [registry],
      collect() {
        this.reset();
        for (const consumer of top) this.set({ consumer: nameOf(consumer) }, value(consumer));
      },
    });
  }
  for (const [name, help, value] of TOTALS) {
    new client.Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(value(latest));
      },
    });
  }
  new client.Gauge({
    name: 'rigger_consumers_up',
    help: '1 when the last ListConsumers poll succeeded, else 0',
    registers: [registry],
    collect() {
      this.set(up);
    },
  });
  let stopped = false;
  let failedBefore = false;
  let timer: NodeJS.Timeout | undefined;
  const poll = () => {
    rigger
      .listConsumers()
      .then(
        (consumers) => {
          latest = consumers;
          top = topN(consumers, topConsumers, (a, b) => lagOf(b) - lagOf(a) || compareText(nameOf(a), nameOf(b)));
          up = 1;
          failedBefore = false;
        },
        (error: { details?: string; message?: string }) => {
          up = 0;
          if (!failedBefore) logger.warn({ error: error.details ?? error.message }, 'listing the consumers failed; the consumer gauges keep their last values');
          failedBefore = true;
        },
      )
      .finally(() => {
        if (!stopped) (timer = setTimeout(poll, intervalMs)).unref();
      });
  };
  poll();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
