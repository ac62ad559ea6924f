// The metrics sidecar's per-consumer gauges: the server's durable consumers as ListConsumers
// reports them, polled every --consumers-interval-ms. The gauges show the last answer; while the
// server cannot be asked they keep it and rigger_consumers_up says 0.
import type { Logger } from 'pino';
import client from 'prom-client';
import type { RiggerClient } from '../src/client/index';
import type { ConsumerInfo__Output } from '../src/generated/rigger/v1/ConsumerInfo';

const GAUGES: [name: string, help: string, value: (c: ConsumerInfo__Output) => number][] = [
  ['rigger_consumer_lag', 'Events between the head and the consumer\'s acked position', (c) => Number(c.lag ?? 0)],
  ['rigger_consumer_acked_sequence', 'Every matching event up to this sequence is acked or dead-lettered', (c) => Number(c.acked_sequence ?? 0)],
  ['rigger_consumer_in_flight', 'Events delivered to the consumer\'s members and not yet acked', (c) => c.in_flight ?? 0],
  ['rigger_consumer_pending', 'Events read for the consumer and not yet acked (in flight included)', (c) => c.pending ?? 0],
  ['rigger_consumer_members', 'Connections consuming under the name', (c) => c.members ?? 0],
  ['rigger_consumer_dead_letters', 'Dead letters recorded for the consumer', (c) => c.dead_letters ?? 0],
  ['rigger_consumer_redeliveries', 'Deliveries after the first, since the server started', (c) => Number(c.redeliveries ?? 0)],
  ['rigger_consumer_lost', '1 when the consumer fell past --consumer-max-lag and was marked lost', (c) => (c.lost ? 1 : 0)],
];

/** Registers the gauges on `registry` and polls; returns the function that stops polling. */
export function watchConsumers(rigger: RiggerClient, registry: client.Registry, intervalMs: number, logger: Logger): () => void {
  let latest: ConsumerInfo__Output[] = [];
  let up = 0;
  for (const [name, help, value] of GAUGES) {
    new client.Gauge({
      name,
      help,
      labelNames: ['consumer'],
      registers: [registry],
      collect() {
        this.reset();
        for (const consumer of latest) this.set({ consumer: consumer.config?.name ?? '' }, value(consumer));
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
    rigger.listConsumers().then(
      (consumers) => {
        latest = consumers;
        up = 1;
        failedBefore = false;
      },
      (error: { details?: string; message?: string }) => {
        up = 0;
        if (!failedBefore) logger.warn({ error: error.details ?? error.message }, 'listing the consumers failed; the consumer gauges keep their last values');
        failedBefore = true;
      },
    ).finally(() => {
      if (!stopped) (timer = setTimeout(poll, intervalMs)).unref();
    });
  };
  poll();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
