// The engine under the webhook and exec sidecars: takes a durable consumer's deliveries, hands up to
// `concurrency` of them at once to a handler, and acks, naks (with the retry policy's delay) or
// dead-letters each by its outcome. Per-task order is the consumer's: it never has two events of one
// task in flight, so running whatever it delivered, in parallel, keeps each task's events in order.
//
// Deliveries waiting here for a free slot, and those running, are kept alive with in_progress every
// third of the consumer's ack wait, so a long queue or a long --timeout-ms is not redelivered behind
// our back. A delivery of a sequence already here (the consumer hands the in-flight events out again
// after a reconnect) is merged into the one here: one run, whose ack or nak settles both.
//
// Stopping abandons what is running (the handler's AbortSignal fires) and acks none of it: the
// consumer delivers it again, to another member or to the next start.
import type { Logger } from 'pino';
import type { Subscription } from 'rxjs';
import type { ConsumedEvent, ConsumeOptions, RiggerClient } from '../src/client/index';
import type { DeliverySettings } from './delivery-flags';
import { decide, type Outcome } from './retry-policy';
import { consumeOptionsOf, runUntilStopped } from './shared';

/** Handles one delivery; `signal` aborts it (the sidecar is stopping). A throw counts as a retryable failure. */
export type DeliveryHandler = (delivery: ConsumedEvent, signal: AbortSignal) => Promise<Outcome>;

interface Job {
  delivery: ConsumedEvent;
  controller?: AbortController;
}

const DEFAULT_ACK_WAIT_MS = 30_000;
/** How long stop() waits for abandoned handlers to return (a killed command to exit). */
const STOP_GRACE_MS = 5000;

export interface DeliveryCounts {
  handled: number;
  retried: number;
  deadLettered: number;
}

export class DeliveryPool {
  readonly counts: DeliveryCounts = { handled: 0, retried: 0, deadLettered: 0 };
  /** Rejects with what ends the sidecar: the consumer stream's terminal error, or a fatal outcome. */
  readonly failed: Promise<never>;
  /** Queued and running, by sequence. */
  private readonly jobs = new Map<number, Job>();
  private readonly queue: number[] = [];
  private readonly runs = new Set<Promise<void>>();
  private running = 0;
  private subscription: Subscription | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private stopping = false;
  private reject!: (error: unknown) => void;

  constructor(
    private readonly client: RiggerClient,
    private readonly settings: DeliverySettings,
    private readonly handler: DeliveryHandler,
    private readonly logger: Logger,
  ) {
    this.failed = new Promise<never>((_, reject) => (this.reject = reject));
    this.failed.catch(() => undefined); // observed by the caller through runUntilStopped
  }

  start(): void {
    const base = consumeOptionsOf(this.settings, this.logger);
    const options: ConsumeOptions = {
      ...base,
      maxDeliver: this.settings.retry.maxAttempts,
      onStatus: (status) => {
        base.onStatus?.(status);
        if (status.state === 'connected') this.beatEvery(status.consumer.config?.ack_wait_ms || DEFAULT_ACK_WAIT_MS);
      },
    };
    this.subscription = this.client.consume$(this.settings.consumer, options).subscribe({
      next: (delivery) => this.accept(delivery),
      error: (error: unknown) => this.reject(error),
    });
  }

  /** Abandons what is running (unacked: delivered again later) and leaves the consumer. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    for (const job of this.jobs.values()) job.controller?.abort();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.runs]), new Promise<void>((resolve) => (timer = setTimeout(resolve, STOP_GRACE_MS)))]);
    clearTimeout(timer);
    this.subscription?.unsubscribe();
    const { handled, retried, deadLettered } = this.counts;
    this.logger.info({ handled, retried, dead_lettered: deadLettered, abandoned: this.jobs.size }, 'delivery totals');
  }

  private accept(delivery: ConsumedEvent): void {
    if (this.stopping) return;
    const here = this.jobs.get(delivery.sequence);
    if (here) {
      here.delivery = delivery; // the same event again (a reconnect): one run settles both
      return;
    }
    this.jobs.set(delivery.sequence, { delivery });
    this.queue.push(delivery.sequence);
    this.pump();
  }

  private pump(): void {
    while (!this.stopping && this.running < this.settings.concurrency && this.queue.length > 0) {
      const job = this.jobs.get(this.queue.shift()!);
      if (job) this.run(job);
    }
  }

  private run(job: Job): void {
    this.running++;
    const controller = new AbortController();
    job.controller = controller;
    const run = (async () => {
      let outcome: Outcome;
      try {
        outcome = await this.handler(job.delivery, controller.signal);
      } catch (error) {
        outcome = { kind: 'retry', reason: error instanceof Error ? error.message : String(error) };
      }
      this.running--;
      this.jobs.delete(job.delivery.sequence);
      if (!this.stopping) this.settle(job.delivery, outcome);
      this.pump();
    })();
    this.runs.add(run);
    void run.finally(() => this.runs.delete(run));
  }

  private settle(delivery: ConsumedEvent, outcome: Outcome): void {
    const decision = decide(outcome, delivery.attempt, this.settings.retry);
    const fields = { sequence: delivery.sequence, task_id: delivery.event.task.id, attempt: delivery.attempt };
    switch (decision.action) {
      case 'ack':
        this.counts.handled++;
        delivery.ack().catch(() => undefined); // unconfirmed (the stream was lost): delivered again
        return;
      case 'nak':
        delivery.nak({ delayMs: decision.delayMs, reason: decision.reason });
        if (decision.last) {
          this.counts.deadLettered++;
          this.logger.error(
            { ...fields, reason: decision.reason, max_attempts: this.settings.retry.maxAttempts },
            'attempt failed; that was the last attempt: the event is a dead letter of the consumer',
          );
        } else {
          this.counts.retried++;
          this.logger.warn({ ...fields, reason: decision.reason, retry_in_ms: decision.delayMs }, 'attempt failed; retrying');
        }
        return;
      case 'dead-letter':
        this.counts.deadLettered++;
        delivery.nak({ deadLetter: true, reason: decision.reason });
        this.logger.error({ ...fields, reason: decision.reason }, 'permanent failure; the event is a dead letter of the consumer (not retried)');
        return;
      case 'stop':
        this.logger.error({ ...fields, reason: decision.reason }, 'stopping: no event can be delivered');
        this.reject(new Error(decision.reason));
        return;
    }
  }

  /** Keeps every delivery held here alive: in_progress each third of the ack wait. */
  private beatEvery(ackWaitMs: number): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = setInterval(
      () => {
        for (const job of this.jobs.values()) job.delivery.inProgress();
      },
      Math.max(50, Math.floor(ackWaitMs / 3)),
    );
    this.heartbeat.unref();
  }
}

/** Runs a pool until SIGINT/SIGTERM or a failure (then exit 1 with its line), then stops it and closes the client. */
export async function runDeliveries(client: RiggerClient, settings: DeliverySettings, handler: DeliveryHandler, logger: Logger): Promise<void> {
  const pool = new DeliveryPool(client, settings, handler, logger);
  pool.start();
  await runUntilStopped(logger, pool.failed, async () => {
    await pool.stop();
    await client.close();
  });
}
