// One publish of one event into JetStream, acknowledged, through a cluster's leader change: the same
// message (same Nats-Msg-Id) is sent again until the stream acknowledges it or the retry budget is
// spent, so a repeat is dropped by JetStream and the order the bridge publishes in is kept.
import type { Logger } from 'pino';
import type { JetStreamClient, NatsConnection } from 'nats';
import { backoffDelay, DEFAULT_BACKOFF } from '../src/client/backoff';
import type { TaskEvent } from '../src/model/task';
import { eventJson } from './event-json';
import { apiErrorCode, CONNECT_TIMEOUT_MS, explainNatsFailure, type NatsFailure } from './nats-jetstream';
import { headersFor, messageIdOf, subjectFor } from './nats-project';

const PUBLISH_TIMEOUT_MS = 5000;
/** How long one event is retried within a session (a JetStream leader election takes a few seconds). */
export const PUBLISH_RETRY_BUDGET_MS = 30_000;
const PUBLISH_BACKOFF = { ...DEFAULT_BACKOFF, maxDelayMs: 2000 };
/**
 * The longest a repeat of one message can come after its first publish while the bridge runs: the
 * retry budget and one more publish, then a new session (backoff, connect) sending it again.
 */
export const WORST_RETRY_MS = PUBLISH_RETRY_BUDGET_MS + PUBLISH_TIMEOUT_MS + DEFAULT_BACKOFF.maxDelayMs + CONNECT_TIMEOUT_MS + PUBLISH_TIMEOUT_MS;

/** The stream moved away from the bridge's subjects: retrying the same publish cannot help. */
const STREAM_MISMATCH = 10060;

/** NATS failed in a way the next session may not: the session ends and the bridge retries. */
export class NatsFailed extends Error {
  constructor(readonly failure: NatsFailure) {
    super(`${failure.error}; ${failure.hint}`);
  }
}

export interface PublisherTarget {
  project: string;
  subjectPrefix: string;
  stream: string;
  /** The NATS address(es) for logs and hints, without a password. */
  shownNats: string;
}

/** Publishes events one at a time on one connection; counts what JetStream stored and what it dropped as a repeat. */
export class Publisher {
  published = 0;
  duplicates = 0;
  retries = 0;
  private readonly js: JetStreamClient;

  constructor(
    private readonly nc: NatsConnection,
    private readonly target: PublisherTarget,
    private readonly logger: Logger,
  ) {
    this.js = nc.jetstream();
  }

  /** Resolves once JetStream holds the event (stored now or before); throws NatsFailed when the session should end. */
  async publish(event: TaskEvent): Promise<void> {
    const { project, subjectPrefix, stream } = this.target;
    const subject = subjectFor(subjectPrefix, event);
    const data = eventJson(event);
    const msgID = messageIdOf(project, event);
    const giveUpAt = Date.now() + PUBLISH_RETRY_BUDGET_MS;
    for (let attempt = 0; ; attempt++) {
      try {
        // expect streamName: the ack is from the stream the session checked, not one that took the subjects since.
        const ack = await this.js.publish(subject, data, {
          msgID,
          headers: headersFor(project, event),
          timeout: PUBLISH_TIMEOUT_MS,
          expect: { streamName: stream },
        });
        if (ack.duplicate) this.duplicates++;
        else this.published++;
        return;
      } catch (error) {
        const failure = explainNatsFailure(error, 'publish', this.target.shownNats);
        if (this.nc.isClosed() || apiErrorCode(error) === STREAM_MISMATCH || Date.now() >= giveUpAt) throw new NatsFailed(failure);
        const retryInMs = backoffDelay(attempt, PUBLISH_BACKOFF);
        this.retries++;
        this.logger.warn(
          { stream, msg_id: msgID, ...failure, attempt: attempt + 1, retry_in_ms: retryInMs },
          'publish not acknowledged; sending it again (a JetStream leader change?)',
        );
        await new Promise((resolve) => setTimeout(resolve, retryInMs));
        if (this.nc.isClosed()) throw new NatsFailed(failure);
      }
    }
  }
}
