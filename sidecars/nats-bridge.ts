// The NATS bridge sidecar: republishes every task event into a JetStream stream, so consumers on
// other hosts read JetStream, not this server. Exactly-once into the stream: each message carries
// the event's sequence as its Nats-Msg-Id (JetStream drops a repeat within the stream's duplicate
// window), and on start the bridge resumes after the newest event the stream already holds.
//
// Subject: <prefix>.<event type, lowercase>.<task id>, e.g. rigger.tasks.status_changed.6f1c...
// Payload: the TaskEvent as JSON with the proto's field names (snake_case) and enums as numbers:
//   {"sequence": 7, "event_id": "...", "timestamp": "RFC 3339", "event_type": 4,
//    "task": {Task}, "previous_task": {Task} | absent, "changed_fields": ["status"],
//    "actor": "..." | absent, "metadata": {...}}
// Headers: Nats-Msg-Id = Rigger-Sequence = the sequence; Rigger-Event-Type = e.g. STATUS_CHANGED.
import { connect as connectNats, headers, type JetStreamManager, type NatsConnection } from 'nats';
import { eventTypeName, type TaskEvent } from '../src/model/task';
import type { CommandModule } from 'yargs';
import type { CommonArgs } from '../src/config/command-line';
import { connect, logStatus, runStandalone, runUntilStopped, sidecarFlags, sidecarLogger, sidecarOptions, type SidecarArgs, type SidecarOptions } from './shared';

interface NatsBridgeOptions extends SidecarOptions {
  /** NATS server URL(s), comma-separated. */
  nats: string;
  stream: string;
  subjectPrefix: string;
}

const SEQUENCE_HEADER = 'Rigger-Sequence';
const DRAIN_TIMEOUT_MS = 3000;

/** A task id made safe as one subject token (ids are UUIDs; this guards against anything else). */
function subjectFor(prefix: string, event: TaskEvent): string {
  const token = event.task.id.replace(/[.*>\s]/g, '_') || '_';
  return `${prefix}.${eventTypeName(event.event_type).toLowerCase()}.${token}`;
}

/** The payload: the event as the wire delivers it, as JSON. */
function eventJson(event: TaskEvent): string {
  return JSON.stringify(event);
}

/** Creates the stream when it is missing; returns the sequence of the newest event it holds. */
async function prepareStream(jsm: JetStreamManager, stream: string, subjectPrefix: string): Promise<number | undefined> {
  let lastSeq: number;
  try {
    lastSeq = (await jsm.streams.info(stream)).state.last_seq;
  } catch (error) {
    if (!/stream not found/i.test((error as Error).message)) throw error;
    await jsm.streams.add({ name: stream, subjects: [`${subjectPrefix}.>`] });
    return undefined;
  }
  if (lastSeq === 0) return undefined;
  const message = await jsm.streams.getMessage(stream, { seq: lastSeq });
  const sequence = Number(message.header?.get(SEQUENCE_HEADER) || message.header?.get('Nats-Msg-Id'));
  return Number.isSafeInteger(sequence) ? sequence : undefined;
}

async function runNatsBridge(options: NatsBridgeOptions): Promise<void> {
  const logger = sidecarLogger('nats-bridge');
  const nc: NatsConnection = await connectNats({ servers: options.nats.split(',').map((s) => s.trim()), name: 'rigger-nats-bridge', maxReconnectAttempts: -1 });
  const inStream = await prepareStream(await nc.jetstreamManager(), options.stream, options.subjectPrefix);
  const js = nc.jetstream();
  const client = connect(options, 'nats-bridge');
  const since = [inStream, options.subscription.sinceSequence].filter((n): n is number => n !== undefined);
  const events = client.events({ ...options.subscription, ...(since.length > 0 && { sinceSequence: Math.max(...since) }), onStatus: logStatus(logger) });
  logger.info({ address: client.address, nats: options.nats, stream: options.stream, resume_after: since.length ? Math.max(...since) : 'live' }, 'nats bridge started');

  let published = 0;
  let duplicates = 0;
  // One publish at a time, each acknowledged by JetStream before the next: order in the stream is
  // sequence order, and the checkpoint (if any) only moves past what JetStream has stored.
  const pump = (async (): Promise<never> => {
    for await (const event of events) {
      const h = headers();
      h.set(SEQUENCE_HEADER, String(event.sequence));
      h.set('Rigger-Event-Type', eventTypeName(event.event_type));
      const ack = await js.publish(subjectFor(options.subjectPrefix, event), eventJson(event), { msgID: String(event.sequence), headers: h });
      if (ack.duplicate) duplicates++;
      else published++;
    }
    throw new Error('the event stream ended');
  })();
  await runUntilStopped(logger, pump, async () => {
    await events.return?.();
    await pump.catch(() => undefined); // lets a publish in flight finish
    logger.info({ published, duplicates_dropped_by_jetstream: duplicates }, 'bridge totals');
    await client.close();
    // Bounded: with the NATS server gone, drain() would wait for a reconnect that may never come.
    const drained = await Promise.race([nc.drain().then(() => true), new Promise<false>((resolve) => setTimeout(() => resolve(false), DRAIN_TIMEOUT_MS).unref())]);
    if (!drained) await nc.close();
  }, options.subscription.checkpoint);
}

export const natsBridgeCommand: CommandModule<CommonArgs, SidecarArgs & { nats: string; stream: string; 'subject-prefix': string }> = {
  command: 'nats-bridge',
  describe: 'Republish every task event into NATS JetStream (stream RIGGER_TASKS)',
  builder: (yargs) =>
    sidecarFlags(yargs, true)
      .option('nats', { type: 'string', default: 'nats://127.0.0.1:4222', describe: 'NATS server URL(s), comma-separated' })
      .option('stream', { type: 'string', default: 'RIGGER_TASKS', describe: 'JetStream stream (created if missing)' })
      .option('subject-prefix', { type: 'string', default: 'rigger.tasks', describe: 'subjects are <prefix>.<event_type>.<task_id>' }),
  handler: (argv) => runNatsBridge({ ...sidecarOptions(argv, true), nats: argv.nats, stream: argv.stream, subjectPrefix: argv['subject-prefix'] }),
};

if (require.main === module) runStandalone(natsBridgeCommand);
