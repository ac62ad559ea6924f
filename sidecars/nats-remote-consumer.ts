// The recipe for a consumer on another machine: it reads Rigger events from JetStream, not from
// the hub, through a durable pull consumer (JetStream keeps its position, replicated with the
// stream). Order: with max_ack_pending 1 (the default here) one message is in flight at a time and
// acked before the next, so each project's events (and so each task's) arrive in order through a
// crash of this process and a NATS node's kill; with more in flight a delivery lost in a failure
// comes back after the ack wait, behind later ones. Delivery out of JetStream is at least once:
// a repeat (the same Rigger-Project, Rigger-Log-Id and Rigger-Sequence) is dropped here.
//
//   node dist/sidecars/nats-remote-consumer.js --nats nats://n1:4222,nats://n2:4222 --durable dashboard \
//     [--stream RIGGER_TASKS] [--filter 'rigger.billing.*.*'] [--max-ack-pending 1] [--ack-wait-ms 10000]
// prints one JSON line per event on stdout: {"project","log_id","sequence","event_type","task_id","subject"}.
import { parseArgs } from 'node:util';
import { AckPolicy, connect, DeliverPolicy, nanos, type NatsConnection } from 'nats';
import { LOG_ID_HEADER, PROJECT_HEADER, SEQUENCE_HEADER } from './nats-project';

export interface RemoteConsumerOptions {
  servers: string[];
  stream: string;
  durable: string;
  /** Subjects to read, within the stream's (rigger.*.*.*): rigger.billing.*.* (one project), rigger.*.created.* (one type of every project), rigger.> (all). */
  filter: string;
  maxAckPending: number;
  ackWaitMs: number;
}

/** One event as the consumer hands it on: where it is from and what it is. */
export interface RemoteEvent {
  project: string;
  log_id: string;
  sequence: number;
  subject: string;
  event_type: string;
  task_id: string;
  /** The event's payload (the TaskEvent as the bridge published it, JSON). */
  data: Uint8Array;
}

const RETRY_MS = 500;
/** Message ids remembered for de-duplication when several are in flight. */
const MAX_REMEMBERED = 100_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Creates (or finds) the durable, retrying while the cluster elects a leader; returns it ready to consume. */
async function durableOn(nc: NatsConnection, options: RemoteConsumerOptions, stopped: () => boolean) {
  for (;;) {
    try {
      const jsm = await nc.jetstreamManager();
      await jsm.consumers.add(options.stream, {
        durable_name: options.durable,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        filter_subject: options.filter,
        max_ack_pending: options.maxAckPending,
        ack_wait: nanos(options.ackWaitMs),
      });
      return await nc.jetstream().consumers.get(options.stream, options.durable);
    } catch (error) {
      if (stopped() || !transient(error)) throw error;
      process.stderr.write(
        `${JSON.stringify({ msg: 'durable consumer not ready; retrying', stream: options.stream, durable: options.durable, error: String(error) })}\n`,
      );
      await sleep(RETRY_MS);
    }
  }
}

/** A cluster without a leader yet (or a node going away) answers late or not at all; anything else (a bad filter) is for a person. */
function transient(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  return e.code === 'TIMEOUT' || e.code === '503' || /timeout|no responders|temporarily unavailable|not available|leader/i.test(e.message ?? '');
}

/**
 * Reads until `signal` aborts, calling `handle` once per event in order (a repeat is dropped);
 * an event is acked only after `handle` resolves, so a crash hands it over again.
 */
export async function consumeRemote(options: RemoteConsumerOptions, handle: (event: RemoteEvent) => Promise<void> | void, signal: AbortSignal): Promise<void> {
  const nc = await connect({
    servers: options.servers,
    name: `rigger-remote-${options.durable}`,
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
  });
  const last = new Map<string, { logId: string; sequence: number }>();
  const handled = new Set<string>();
  const isRepeat = (project: string, logId: string, sequence: number): boolean => {
    if (options.maxAckPending > 1) {
      // Several in flight: a lost delivery may come back behind later ones, so only the exact id says "repeat".
      const id = `${project}:${logId}:${sequence}`;
      if (handled.has(id)) return true;
      if (handled.size >= MAX_REMEMBERED) handled.delete(handled.values().next().value as string);
      handled.add(id);
      return false;
    }
    // One in flight: the stream holds each project's events once, in order, so one at or before the last handled is a redelivery.
    const seen = last.get(project);
    return seen !== undefined && seen.logId === logId && sequence <= seen.sequence;
  };
  const stopped = () => signal.aborted;
  try {
    const consumer = await durableOn(nc, options, stopped);
    const messages = await consumer.consume({ max_messages: Math.max(10, options.maxAckPending), expires: 5000 });
    signal.addEventListener('abort', () => void messages.close(), { once: true });
    for await (const message of messages) {
      const project = message.headers?.get(PROJECT_HEADER) ?? '';
      const logId = message.headers?.get(LOG_ID_HEADER) ?? '';
      const sequence = Number(message.headers?.get(SEQUENCE_HEADER));
      if (!isRepeat(project, logId, sequence)) {
        const [, , eventType = '', taskId = ''] = message.subject.split('.');
        await handle({ project, log_id: logId, sequence, subject: message.subject, event_type: eventType, task_id: taskId, data: message.data });
        last.set(project, { logId, sequence });
      }
      // Not waited for: an ack lost with a node comes back as a redelivery after the ack wait, dropped above.
      message.ack();
    }
  } finally {
    await nc.drain().catch(() => nc.close());
  }
}

function main(): void {
  const { values } = parseArgs({
    options: {
      nats: { type: 'string', default: 'nats://127.0.0.1:4222' },
      stream: { type: 'string', default: 'RIGGER_TASKS' },
      durable: { type: 'string' },
      filter: { type: 'string', default: 'rigger.>' },
      'max-ack-pending': { type: 'string', default: '1' },
      'ack-wait-ms': { type: 'string', default: '10000' },
    },
  });
  if (!values.durable) {
    process.stderr.write('nats-remote-consumer: --durable NAME is required (the durable consumer JetStream keeps the position of)\n');
    process.exit(1);
  }
  const stop = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => stop.abort());
  const options: RemoteConsumerOptions = {
    servers: values.nats!.split(','),
    stream: values.stream!,
    durable: values.durable,
    filter: values.filter!,
    maxAckPending: Number(values['max-ack-pending']),
    ackWaitMs: Number(values['ack-wait-ms']),
  };
  consumeRemote(
    options,
    (e) =>
      void process.stdout.write(
        `${JSON.stringify({ project: e.project, log_id: e.log_id, sequence: e.sequence, event_type: e.event_type, task_id: e.task_id, subject: e.subject })}\n`,
      ),
    stop.signal,
  ).then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`nats-remote-consumer: ${String(error)}\n`);
      process.exit(1);
    },
  );
}

if (require.main === module) main();
