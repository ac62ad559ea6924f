// The NATS bridge sidecar: republishes every task event into a JetStream stream, so consumers on
// other hosts read JetStream, not this server. Exactly-once into the stream, whatever NATS does:
// every time the bridge (re)connects to NATS it reads the stream's last message on its subjects
// and resumes the rigger subscription after that message's sequence, so neither a long NATS
// outage (past the duplicate window) nor a NATS crash that lost acknowledged messages leaves a gap
// or a repeat. Each message also carries the sequence as its Nats-Msg-Id, which drops the repeats
// of two bridges running at once (within the stream's duplicate window).
//
// NATS absent, restarted, or without JetStream: the bridge logs the address, the error and a fix
// (pino JSON on stderr) and tries again with the client's backoff (capped, jittered), forever.
// Only what retrying cannot fix ends it with exit 1: the rigger stream's own terminal errors (such as
// OUT_OF_RANGE) and a stream whose last message it did not write.
//
// Bookmarks move the bridge's position (and --checkpoint) past events its filter skips: a bookmark
// reaches the bridge only once everything before it has been acknowledged by JetStream, so the
// stream holds every matching event up to it. A later session resumes after that position when it
// is past the stream's last message, so a filtered bridge does not fall behind retention; only if
// the stream lost messages this process had published (a NATS crash) does it go back to repair.
//
// With --consumer NAME the rigger server keeps the position instead (a durable consumer): each
// delivery is published, then acked; a repeat after a crash is dropped by its Nats-Msg-Id (within
// the duplicate window); several bridges on one name share the events, each task's in order.
//
// Subject: <prefix>.<event type, lowercase>.<task id>, e.g. rigger.tasks.status_changed.6f1c...
// Payload: the TaskEvent as JSON with the proto's field names (snake_case) and enums as numbers:
//   {"sequence": 7, "event_id": "...", "timestamp": "RFC 3339", "event_type": 4,
//    "task": {Task}, "previous_task": {Task} | absent, "changed_fields": ["status"],
//    "actor": "..." | absent, "metadata": {...}}
// Headers: Rigger-Sequence = the sequence; Rigger-Log-Id = the log identity it is of; Nats-Msg-Id =
// "<log id>:<sequence>"; Rigger-Event-Type = e.g. STATUS_CHANGED. After a restore (the rigger log
// starts a new identity that parted from the old one at some sequence) the bridge resumes from the
// stream's last message, is told by the server where the logs parted, and goes on from there with
// the new log's events, whose message ids differ from the lost ones': nothing in the stream is
// overwritten or dropped as a repeat (docs/operations.md#what-subscribers-see-after-a-restore).
import type { Logger } from 'pino';
import type { CommandModule } from 'yargs';
import type { JetStreamClient, NatsConnection } from 'nats';
import { backoffDelay, DEFAULT_BACKOFF } from '../src/client/backoff';
import { CheckpointWriter, readCheckpoint } from '../src/client/checkpoint';
import { furthestResumePoint, LEGACY_LOG_ID, type ResumePoint } from '../src/model/log-lineage';
import type { ConsumedEvent, LogPosition, LogRestore, RiggerClient, StreamStatus } from '../src/client/index';
import type { CommonArgs } from '../src/config/command-line';
import type { TaskEvent } from '../src/model/task';
import { BridgeConfigError, explainNatsFailure, lastPositionInStream, openNats, publishEvent, redactNatsUrls, type NatsFailure } from './nats-jetstream';
import { connect, consumeOptionsOf, continueAfterRestore, logStatus, runStandalone, runUntilStopped, sidecarFlags, sidecarLogger, sidecarOptions, type SidecarArgs, type SidecarOptions } from './shared';

interface NatsBridgeOptions extends SidecarOptions {
  /** NATS server URL(s), comma-separated. */
  nats: string;
  stream: string;
  subjectPrefix: string;
}

/** A session that published, or stayed up this long, was healthy: the next failure starts the backoff over. */
const HEALTHY_SESSION_MS = 10_000;
const CLOSE_TIMEOUT_MS = 3000;

/** NATS failed in a way the next attempt may not: the session ends and the bridge retries. */
class NatsFailed extends Error {
  constructor(readonly failure: NatsFailure) {
    super(`${failure.error}; ${failure.hint}`);
  }
}

/** Closes a connection without waiting on a server that may be gone. */
async function closeBounded(nc: NatsConnection): Promise<void> {
  await Promise.race([nc.close().catch(() => undefined), new Promise<void>((resolve) => setTimeout(resolve, CLOSE_TIMEOUT_MS).unref())]);
}

/** One NATS connection after another, each resuming after the stream's last message, until stop(). */
class Bridge {
  published = 0;
  duplicates = 0;
  private readonly servers: string[];
  /** The NATS address(es) for logs and hints, without a password. */
  private readonly shownNats: string;
  private readonly filters: NatsBridgeOptions['subscription'];
  private readonly onStatus: (status: StreamStatus) => void;
  /** Everything matching up to here is in JetStream as far as this bridge knows: --checkpoint/--since, a live start's head, the last acknowledged, a bookmark. */
  private position: ResumePoint | undefined;
  /** The last position this process saw acknowledged by JetStream (published or dropped as a repeat). */
  private lastAcknowledged: LogPosition | undefined;
  private current: AsyncIterableIterator<unknown> | undefined;
  private stopping = false;
  private fatal: unknown;
  private wake: (() => void) | undefined;

  constructor(
    private readonly options: NatsBridgeOptions,
    private readonly client: RiggerClient,
    private readonly logger: Logger,
    private readonly checkpoint: CheckpointWriter | undefined,
    firstStart: ResumePoint | undefined,
  ) {
    this.servers = options.nats.split(',').map((s) => s.trim()).filter(Boolean);
    this.shownNats = redactNatsUrls(options.nats);
    const { checkpoint: _file, sinceSequence: _since, ...filters } = options.subscription;
    this.filters = filters;
    this.position = firstStart;
    this.onStatus = logStatus(logger, (status) => {
      // A live start (nothing in the stream, no --since): its head is where a later session resumes.
      if (status.state === 'connected' && this.position === undefined && status.position !== undefined && status.logId !== undefined) {
        this.position = { sequence: status.position, logId: status.logId };
      }
    });
  }

  /** Resolves once stopped; rejects only with what retrying cannot fix. */
  async run(): Promise<void> {
    for (let attempt = 0; ; ) {
      const startedAt = Date.now();
      const before = this.published + this.duplicates;
      let failure: NatsFailure | undefined;
      try {
        await this.session();
      } catch (error) {
        if (!(error instanceof NatsFailed)) throw error;
        failure = error.failure;
      }
      if (this.fatal !== undefined) throw this.fatal;
      if (this.stopping || failure === undefined) return;
      if (this.published + this.duplicates > before || Date.now() - startedAt >= HEALTHY_SESSION_MS) attempt = 0;
      const retryInMs = backoffDelay(attempt++, DEFAULT_BACKOFF);
      this.logger.warn({ nats: this.shownNats, stream: this.options.stream, ...failure, attempt, retry_in_ms: retryInMs }, 'NATS unavailable; retrying');
      await this.sleep(retryInMs);
      if (this.stopping) return;
    }
  }

  /** Ends the current session after the publish in flight, if any. */
  stop(): void {
    this.stopping = true;
    this.wake?.();
    void this.current?.return?.();
  }

  /** A failed checkpoint write: the bridge stops with it. */
  failWith(error: unknown): void {
    this.fatal ??= error;
    this.stop();
  }

  private async session(): Promise<void> {
    let nc: NatsConnection;
    try {
      nc = await openNats(this.servers);
    } catch (error) {
      throw new NatsFailed(explainNatsFailure(error, 'connect', this.shownNats));
    }
    let events: AsyncIterableIterator<TaskEvent> | undefined;
    let pumping: Promise<void> | undefined;
    try {
      let inStream: LogPosition | undefined;
      try {
        inStream = await lastPositionInStream(await nc.jetstreamManager(), this.options.stream, this.options.subjectPrefix);
      } catch (error) {
        if (error instanceof BridgeConfigError) throw error;
        throw new NatsFailed(explainNatsFailure(error, 'jetstream', this.shownNats));
      }
      if (this.stopping) return;
      if (this.options.consumer !== undefined) {
        // The server keeps the position: publish each delivery, then ack it (JetStream drops a repeat by its msg id).
        this.logger.info({ nats: nc.getServer(), stream: this.options.stream, consumer: this.options.consumer }, 'NATS connected; publishing');
        const deliveries = this.client.consume(this.options.consumer, consumeOptionsOf(this.options, this.logger));
        this.current = deliveries;
        events = deliveries as unknown as AsyncIterableIterator<TaskEvent>;
        pumping = this.pumpConsumer(deliveries, nc.jetstream());
      }
      const resumeAfter = this.options.consumer !== undefined ? undefined : await this.resumePoint(inStream);
      this.logger.info(
        {
          nats: nc.getServer(),
          stream: this.options.stream,
          resume_after: resumeAfter?.sequence ?? 'live',
          ...(resumeAfter && { resume_log_id: resumeAfter.logId }),
          decided_by: resumeAfter === undefined ? 'live start' : resumeAfter === inStream ? 'last message in the stream' : 'position',
        },
        'NATS connected; publishing',
      );
      if (!pumping) {
        events = this.client.events({
          ...this.filters,
          ...(resumeAfter !== undefined && { sinceSequence: resumeAfter.sequence, ...(resumeAfter.logId !== undefined && { sinceLogId: resumeAfter.logId }) }),
          ...continueAfterRestore(this.logger, (restore) => this.restored(restore)),
          onStatus: this.onStatus,
          onBookmark: (sequence, logId) => this.passed({ sequence, logId }),
        });
        this.current = events;
        pumping = this.pump(events, nc.jetstream());
      }
      const lost = nc.closed().then((error) => {
        throw new NatsFailed(explainNatsFailure(error ?? new Error('the server closed the connection'), 'connection lost', this.shownNats));
      });
      lost.catch(() => undefined);
      pumping.catch(() => undefined);
      await Promise.race([pumping, lost]);
    } finally {
      this.current = undefined;
      await events?.return?.();
      await pumping?.catch(() => undefined); // a publish in flight settles before the next session reads the stream
      await closeBounded(nc);
    }
  }

  /** Where a session resumes, given the position of the stream's last message of ours (if any). */
  private async resumePoint(inStream: LogPosition | undefined): Promise<ResumePoint | undefined> {
    const position = this.position;
    if (inStream === undefined || position === undefined) return inStream ?? position;
    if (position.logId === undefined || inStream.logId === position.logId) {
      // The stream lost messages this process had published (a NATS crash): publish them again.
      if (this.lastAcknowledged?.logId === inStream.logId && inStream.sequence < this.lastAcknowledged.sequence) return inStream;
      return inStream.sequence >= position.sequence ? inStream : position;
    }
    // Positions of two logs (a restore between them): the one of the server's log now is the newer.
    const current = (await this.client.getLog()).log_id;
    return position.logId === current ? position : inStream;
  }

  /** A bookmark: every matching event up to it is acknowledged (the iterator hands it on only after them). */
  private passed(position: LogPosition): void {
    if (this.position !== undefined && (this.position.logId ?? position.logId) === position.logId && position.sequence <= this.position.sequence) return;
    this.position = position;
    this.checkpoint?.advance(position);
  }

  /** The rigger log was restored past the position: the new log's events after the parting point follow. */
  private restored(restore: LogRestore): void {
    const position = { sequence: restore.partedAfter, logId: restore.logId };
    this.position = position;
    this.checkpoint?.advance(position);
  }

  /** One publish at a time, each acknowledged before the next: the stream's order is sequence order. */
  private async pump(events: AsyncIterableIterator<TaskEvent>, js: JetStreamClient): Promise<void> {
    for (;;) {
      const next = await events.next(); // a rejection here is the rigger stream's terminal error
      if (next.done) return;
      const event = next.value;
      let duplicate: boolean;
      try {
        duplicate = await publishEvent(js, this.options.subjectPrefix, event);
      } catch (error) {
        throw new NatsFailed(explainNatsFailure(error, 'publish', this.shownNats));
      }
      if (duplicate) this.duplicates++;
      else this.published++;
      const position = { sequence: event.sequence, logId: event.log_id ?? LEGACY_LOG_ID };
      this.position = this.lastAcknowledged = position;
      this.checkpoint?.advance(position);
    }
  }

  /** --consumer: each delivery published and acknowledged by JetStream, then acked to rigger. */
  private async pumpConsumer(deliveries: AsyncIterableIterator<ConsumedEvent>, js: JetStreamClient): Promise<void> {
    for (;;) {
      const next = await deliveries.next();
      if (next.done) return;
      let duplicate: boolean;
      try {
        duplicate = await publishEvent(js, this.options.subjectPrefix, next.value.event);
      } catch (error) {
        throw new NatsFailed(explainNatsFailure(error, 'publish', this.shownNats));
      }
      if (duplicate) this.duplicates++;
      else this.published++;
      next.value.ack().catch(() => undefined); // unconfirmed: delivered again, dropped by JetStream as a repeat
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }
}

async function runNatsBridge(options: NatsBridgeOptions): Promise<void> {
  const logger = sidecarLogger('nats-bridge', options);
  const file = options.subscription.checkpoint;
  // The checkpoint is the last sequence JetStream acknowledged. It (or --since, whichever is later)
  // decides where to start only while the stream holds no message of the bridge's.
  const checkpointed = file === undefined ? undefined : readCheckpoint(file);
  const since = options.subscription.sinceSequence;
  // --since is a sequence of the server's log now (no identity of its own).
  const firstStart = furthestResumePoint(checkpointed, since === undefined ? undefined : { sequence: since });
  const client = connect(options, 'nats-bridge');
  let bridge: Bridge | undefined;
  const checkpoint = file === undefined ? undefined : new CheckpointWriter(file, checkpointed, (error) => bridge?.failWith(error));
  bridge = new Bridge(options, client, logger, checkpoint, firstStart);
  logger.info({ address: client.address, nats: redactNatsUrls(options.nats), stream: options.stream, first_start_after: firstStart ?? 'live' }, 'nats bridge started');

  const running = bridge.run();
  const failed = running.then(() => new Promise<never>(() => undefined));
  await runUntilStopped(
    logger,
    failed,
    async () => {
      bridge.stop();
      await running.catch(() => undefined);
      await checkpoint?.flush().catch(() => undefined); // a failed write was reported when it happened
      logger.info({ published: bridge.published, duplicates_dropped_by_jetstream: bridge.duplicates }, 'bridge totals');
      await client.close();
    },
    file,
  );
}

export const natsBridgeCommand: CommandModule<CommonArgs, SidecarArgs & { nats: string; stream: string; 'subject-prefix': string }> = {
  command: 'nats-bridge',
  describe: 'Republish every task event into NATS JetStream (stream RIGGER_TASKS)',
  builder: (yargs) =>
    sidecarFlags(yargs, true)
      .option('nats', { type: 'string', default: 'nats://127.0.0.1:4222', describe: 'NATS server URL(s), comma-separated' })
      .option('stream', { type: 'string', default: 'RIGGER_TASKS', describe: 'JetStream stream (created if missing)' })
      .option('subject-prefix', { type: 'string', default: 'rigger.tasks', describe: 'subjects are <prefix>.<event_type>.<task_id>' })
      .example('$0 sidecar nats-bridge --consumer nats', 'publish every event to JetStream; the server keeps the position')
      .example('$0 sidecar nats-bridge --nats nats://n1:4222,nats://n2:4222 --stream TASKS', 'another stream, on a cluster'),
  handler: (argv) => runNatsBridge({ ...sidecarOptions(argv, true), nats: argv.nats, stream: argv.stream, subjectPrefix: argv['subject-prefix'] }),
};

if (require.main === module) runStandalone(natsBridgeCommand);
