// The NATS bridge sidecar: republishes every task event into a JetStream stream, so consumers on
// other hosts read JetStream, not this server. Exactly once into the stream, whatever NATS does,
// in one of two modes (nats-bridge-modes.ts): the hub stream, resumed after the stream's last
// message of this project every time the bridge (re)connects to NATS (so neither a long NATS
// outage past the duplicate window nor a NATS crash that lost acknowledged messages leaves a gap or
// a repeat); or --consumer NAME, a durable Rigger consumer that keeps the position on the server
// (each delivery published, then acked; a repeat after a crash dropped by its Nats-Msg-Id within
// the duplicate window, which the bridge reads at each connect and warns about when it is shorter
// than its worst retry). Each publish is retried through a cluster's leader change (nats-publisher.ts).
//
// NATS absent, restarted, or without JetStream: the bridge logs the address, the error and a fix
// (pino JSON on stderr) and tries again with the client's backoff (capped, jittered), forever.
// Only what retrying cannot fix ends it with exit 1: the rigger stream's own terminal errors (such as
// OUT_OF_RANGE), a stream that does not take the bridge's subjects, and a last message it did not write.
//
// Subject: rigger.<project>.<event type, lowercase>.<task id> (--subject-prefix replaces
// rigger.<project>), e.g. rigger.billing.status_changed.6f1c...; a subject per task, so a remote
// consumer can keep each task's order. Payload: the TaskEvent as JSON with the proto's field names
// (snake_case) and enums as numbers. Headers: Rigger-Project, Rigger-Log-Id, Rigger-Sequence,
// Rigger-Event-Type; Nats-Msg-Id = "<project>:<log id>:<sequence>". After a restore (the rigger log
// starts a new identity that parted from the old one at some sequence) the new log's events have
// other message ids than the lost ones': nothing in the stream is overwritten or dropped as a repeat.
import type { Logger } from 'pino';
import type { CommandModule } from 'yargs';
import type { NatsConnection } from 'nats';
import { backoffDelay, DEFAULT_BACKOFF } from '../src/client/backoff';
import { CheckpointWriter, readCheckpoint } from '../src/client/checkpoint';
import { furthestResumePoint, type ResumePoint } from '../src/model/log-lineage';
import type { RiggerClient } from '../src/client/index';
import type { CommonArgs } from '../src/config/command-line';
import { ConsumerMode, HubStreamMode, type BridgeMode } from './nats-bridge-modes';
import { BridgeConfigError, explainNatsFailure, openNats, prepareStream, redactNatsUrls, type NatsFailure } from './nats-jetstream';
import { PROJECT_FLAG, projectNameOf, subjectPrefixOf } from './nats-project';
import { NatsFailed, Publisher, WORST_RETRY_MS } from './nats-publisher';
import { connect, runStandalone, runUntilStopped, sidecarFlags, sidecarLogger, sidecarOptions, type SidecarArgs, type SidecarOptions } from './shared';

interface NatsBridgeOptions extends SidecarOptions {
  /** NATS server URL(s), comma-separated. */
  nats: string;
  stream: string;
  /** Replicas of the stream when the bridge creates it. */
  replicas: number;
  project: string;
  subjectPrefix: string;
}

/** A session that published, or stayed up this long, was healthy: the next failure starts the backoff over. */
const HEALTHY_SESSION_MS = 10_000;
const CLOSE_TIMEOUT_MS = 3000;

/** Closes a connection without waiting on a server that may be gone. */
async function closeBounded(nc: NatsConnection): Promise<void> {
  await Promise.race([nc.close().catch(() => undefined), new Promise<void>((resolve) => setTimeout(resolve, CLOSE_TIMEOUT_MS).unref())]);
}

/** One NATS connection after another, each publishing through the bridge's mode, until stop(). */
class Bridge {
  published = 0;
  duplicates = 0;
  private readonly servers: string[];
  /** The NATS address(es) for logs and hints, without a password. */
  private readonly shownNats: string;
  private stopping = false;
  private fatal: unknown;
  private wake: (() => void) | undefined;
  private warnedWindowMs: number | undefined;

  constructor(
    private readonly options: NatsBridgeOptions,
    private readonly mode: BridgeMode,
    private readonly logger: Logger,
  ) {
    this.servers = options.nats
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    this.shownNats = redactNatsUrls(options.nats);
  }

  /** Resolves once stopped; rejects only with what retrying cannot fix. */
  async run(): Promise<void> {
    for (let attempt = 0; ;) {
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
    void this.mode.end();
  }

  /** A failed checkpoint write: the bridge stops with it. */
  failWith(error: unknown): void {
    this.fatal ??= error;
    this.stop();
  }

  private async session(): Promise<void> {
    const { stream, project, subjectPrefix } = this.options;
    let nc: NatsConnection;
    try {
      nc = await openNats(this.servers);
    } catch (error) {
      throw new NatsFailed(explainNatsFailure(error, 'connect', this.shownNats));
    }
    const publisher = new Publisher(nc, { project, subjectPrefix, stream, shownNats: this.shownNats }, this.logger);
    let pumping: Promise<void> | undefined;
    try {
      let state;
      try {
        state = await prepareStream(await nc.jetstreamManager(), stream, subjectPrefix, project, this.options.replicas);
      } catch (error) {
        if (error instanceof BridgeConfigError) throw error;
        throw new NatsFailed(explainNatsFailure(error, 'jetstream', this.shownNats));
      }
      this.checkWindow(state.duplicateWindowMs);
      const resume = await this.mode.start(state.last);
      if (this.stopping) return;
      this.logger.info(
        {
          nats: nc.getServer(),
          stream,
          project,
          subjects: `${subjectPrefix}.>`,
          replicas: state.replicas,
          duplicate_window_ms: state.duplicateWindowMs,
          ...resume,
        },
        'NATS connected; publishing',
      );
      pumping = this.mode.pump(publisher);
      const lost = nc.closed().then((error) => {
        throw new NatsFailed(explainNatsFailure(error ?? new Error('the server closed the connection'), 'connection lost', this.shownNats));
      });
      lost.catch(() => undefined);
      pumping.catch(() => undefined);
      await Promise.race([pumping, lost]);
    } finally {
      await this.mode.end();
      await pumping?.catch(() => undefined); // a publish in flight settles before the next session reads the stream
      this.published += publisher.published;
      this.duplicates += publisher.duplicates;
      await closeBounded(nc);
    }
  }

  /** A repeat published later than the duplicate window after the first is stored twice: say so when that can happen. */
  private checkWindow(windowMs: number): void {
    if (windowMs >= WORST_RETRY_MS || this.warnedWindowMs === windowMs) return;
    this.warnedWindowMs = windowMs;
    this.logger.warn(
      {
        stream: this.options.stream,
        duplicate_window_ms: windowMs,
        worst_retry_ms: WORST_RETRY_MS,
        mode: this.options.consumer === undefined ? 'hub stream' : 'consumer',
      },
      `stream ${this.options.stream}'s duplicate window (${windowMs} ms) is shorter than the bridge's worst retry (${WORST_RETRY_MS} ms): ` +
        (this.options.consumer === undefined
          ? 'one bridge per project stays exact (it resumes after the last message), but two bridges racing may store a repeat'
          : 'a delivery published again after a crash may be stored twice') +
        `; raise it (nats stream edit ${this.options.stream} --dupe-window 2m)`,
    );
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

function modeOf(
  options: NatsBridgeOptions,
  client: RiggerClient,
  logger: Logger,
  checkpoint: CheckpointWriter | undefined,
  firstStart: ResumePoint | undefined,
): BridgeMode {
  if (options.consumer !== undefined) return new ConsumerMode({ ...options, consumer: options.consumer }, client, logger);
  return new HubStreamMode(options, client, logger, checkpoint, firstStart);
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
  bridge = new Bridge(options, modeOf(options, client, logger, checkpoint, firstStart), logger);
  logger.info(
    {
      address: client.address,
      nats: redactNatsUrls(options.nats),
      stream: options.stream,
      project: options.project,
      subjects: `${options.subjectPrefix}.>`,
      first_start_after: options.consumer ?? firstStart ?? 'live',
    },
    'nats bridge started',
  );

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

type NatsBridgeArgs = SidecarArgs & { nats: string; stream: string; replicas: number; 'subject-prefix'?: string };

export const natsBridgeCommand: CommandModule<CommonArgs, NatsBridgeArgs> = {
  command: 'nats-bridge',
  describe: 'Republish every task event into NATS JetStream (stream RIGGER_TASKS, subjects rigger.<project>.<event_type>.<task_id>)',
  builder: (yargs) =>
    sidecarFlags(yargs, true)
      .options(PROJECT_FLAG)
      .option('nats', { type: 'string', default: 'nats://127.0.0.1:4222', describe: 'NATS server URL(s), comma-separated (a cluster: several of its nodes)' })
      .option('stream', { type: 'string', default: 'RIGGER_TASKS', describe: 'JetStream stream (created if missing, taking rigger.*.*.*: every project)' })
      .option('replicas', { type: 'number', default: 1, describe: 'replicas of the stream when the bridge creates it (3 on a cluster)' })
      .option('subject-prefix', {
        type: 'string',
        describe: 'subjects are <prefix>.<event_type>.<task_id>; default rigger.<project> (rigger.tasks: the subjects of bridges before projects)',
      })
      .example('$0 sidecar nats-bridge --consumer nats', 'publish every event to JetStream; the server keeps the position')
      .example('$0 sidecar nats-bridge --nats nats://n1:4222,nats://n2:4222 --replicas 3', 'on a cluster (list some of its nodes), an R3 stream') as never,
  handler: (argv) => {
    const project = projectNameOf(argv as unknown as Record<string, unknown>);
    return runNatsBridge({
      ...sidecarOptions(argv, true),
      nats: argv.nats,
      stream: argv.stream,
      replicas: argv.replicas,
      project,
      subjectPrefix: subjectPrefixOf(project, argv['subject-prefix']),
    });
  },
};

if (require.main === module) runStandalone(natsBridgeCommand);
