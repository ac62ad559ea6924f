// The one reconnect loop of the client's streams, as client-go's reflector is one ListAndWatch
// loop: open a stream, watch it for silence, sort how it ended (retryable or fatal), back off,
// reopen it from where the strategy says, and cancel it by the rule below when the caller stops.
// What stream to open, the position it resumes from and what a message means are the strategy's
// (event-feed.ts, consumer-feed.ts).
//
// The cancel rule: grpc-js sends no RST_STREAM for a call cancelled before the server has answered
// it on a ready connection, so the server would hold that stream for good; such a call is cancelled
// once the headers are in (or after UNANSWERED_CANCEL_MS, whichever comes first).
import * as grpc from '@grpc/grpc-js';
import { backoffDelay, type BackoffOptions } from './backoff';
import { SYSTEM_CLOCK, type Clock } from './clock';
import { SilenceWatch } from './silence-watch';
import { StreamError } from './stream-error';

/** How long a stream the server has not answered yet may wait for its answer before it is cancelled anyway. */
export const UNANSWERED_CANCEL_MS = 2000;

/** What the loop needs of a call: grpc-js's readable and duplex streams both are one. */
export type StreamCall = Pick<NodeJS.EventEmitter, 'on' | 'once'> & { cancel(): void; pause(): unknown; resume(): unknown };

/** 'ended': the server or the connection ended the stream; 'dead-stream': the silence watch gave up on it. */
export type LossReason = 'ended' | 'dead-stream';

/** A lost stream that will be reopened: after `retryInMs` at the latest, as retry number `attempt` (1-based). */
export interface Disconnect {
  error: StreamError;
  reason: LossReason;
  attempt: number;
  retryInMs: number;
}

export interface StreamStrategy<Call extends StreamCall, Message> {
  /** Opens the next stream, asking to resume from the strategy's position. */
  open(): Call;
  /** The server answered the current stream (its headers are in). */
  answered?(metadata: grpc.Metadata): void;
  message(message: Message): void;
  /** The current stream is over (ended, failed, or given up on as dead): what it held is let go. */
  ended?(): void;
  /** True when the strategy can go on at once from a position it has moved to (the loop reopens without a backoff). */
  recover?(error: StreamError): boolean;
  /** On close: ends `call` itself (true, a graceful leave) rather than have the loop cancel it. */
  leave?(call: Call): boolean;
  disconnected(disconnect: Disconnect): void;
  /** The loop ended for good: a non-retryable status, or retries exhausted. */
  failed(error: StreamError): void;
}

export interface LoopSettings {
  backoff: Required<BackoffOptions>;
  /** Calls `retry` after `delayMs` at the latest (retry-wait.ts: sooner once the channel is back); returns a cancel function. */
  wait(delayMs: number, retry: () => void): () => void;
  /** The details of the UNAVAILABLE error for a stream the server ended without a status. */
  endedDetails: string;
  /** Once a heartbeat was seen (heartbeatSeen()), a stream silent for `limitMs` counts as dead; `describe` says why. */
  silence?: { limitMs: number; describe(silentMs: number): string };
  clock?: Clock;
  /** The backoff's jitter source (Math.random). */
  random?: () => number;
}

export class ReconnectLoop<Call extends StreamCall, Message> {
  private current: Call | undefined;
  /** Cancels the call opened last, by the rule above. */
  private cancelLast: (() => void) | undefined;
  /** Drops the current call as dead (the silence watch's verdict). */
  private abandonCurrent: ((silentMs: number) => void) | undefined;
  private cancelRetry: (() => void) | undefined;
  private attempt = 0;
  private everConnected = false;
  private reconnects = 0;
  private paused = false;
  private isClosed = false;
  /**
   * Set once the server has shown it sends heartbeats (bookmarks). Until then silence proves
   * nothing (a server that ignores the request for them would be given up on every few
   * intervals), so the watch waits for that proof.
   */
  private heartbeat = false;
  private readonly watch: SilenceWatch | undefined;
  private readonly clock: Clock;

  constructor(
    private readonly strategy: StreamStrategy<Call, Message>,
    private readonly settings: LoopSettings,
  ) {
    this.clock = settings.clock ?? SYSTEM_CLOCK;
    if (settings.silence) this.watch = new SilenceWatch(settings.silence.limitMs, (silentMs) => this.abandonCurrent?.(silentMs), this.clock);
  }

  /** The stream open now, if any. */
  get call(): Call | undefined {
    return this.current;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  start(): void {
    this.open();
  }

  /** The strategy's word that the current stream is established: the backoff starts over. Returns the reconnect count. */
  connected(): number {
    if (this.everConnected) this.reconnects++;
    this.everConnected = true;
    this.attempt = 0;
    return this.reconnects;
  }

  /** The server sends heartbeats: from now on the silence watch runs while a stream is open and read. */
  heartbeatSeen(): void {
    if (this.heartbeat) return;
    this.heartbeat = true;
    this.watchIfDue();
  }

  /** Stops reading from the network (the server then holds back); silence is expected then. */
  pause(): void {
    this.paused = true;
    this.watch?.stop();
    this.current?.pause();
  }

  resume(): void {
    this.paused = false;
    this.current?.resume();
    this.watchIfDue();
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.watch?.stop();
    this.cancelRetry?.();
    const call = this.current;
    if (!(call && this.strategy.leave?.(call))) this.cancelLast?.();
    this.current = undefined;
  }

  private watchIfDue(): void {
    if (this.watch && this.heartbeat && this.current && !this.paused && !this.isClosed && !this.watch.running) this.watch.start();
  }

  private open(): void {
    if (this.isClosed) return;
    const call = this.strategy.open();
    this.current = call;
    let answered = false;
    const cancel = () => {
      if (answered) return call.cancel();
      const cancelNow = () => call.cancel();
      call.once('metadata', cancelNow);
      this.clock.after(UNANSWERED_CANCEL_MS, cancelNow);
    };
    this.cancelLast = cancel;
    let finished = false;
    const finish = (error?: grpc.ServiceError) => {
      if (finished) return;
      finished = true;
      this.watch?.stop();
      if (this.current === call) this.current = undefined;
      this.strategy.ended?.();
      if (!this.isClosed) this.lost(error ? StreamError.from(error) : new StreamError(grpc.status.UNAVAILABLE, this.settings.endedDetails), 'ended');
    };
    this.abandonCurrent = (silentMs) => {
      if (finished || this.isClosed) return;
      finished = true;
      if (this.current === call) this.current = undefined;
      cancel();
      this.strategy.ended?.();
      this.lost(new StreamError(grpc.status.UNAVAILABLE, this.settings.silence!.describe(silentMs)), 'dead-stream');
    };
    call.on('metadata', (metadata: grpc.Metadata) => {
      answered = true;
      if (this.isClosed || finished) return;
      this.watch?.touch();
      this.strategy.answered?.(metadata);
    });
    call.on('data', (message: Message) => {
      if (this.isClosed || finished) return;
      this.watch?.touch();
      this.strategy.message(message);
    });
    call.on('error', (error: grpc.ServiceError) => finish(error));
    call.on('end', () => finish());
    if (this.paused) call.pause();
    this.watchIfDue();
  }

  private lost(error: StreamError, reason: LossReason): void {
    if (this.strategy.recover?.(error)) return this.open();
    if (!error.retryable) return this.fail(error);
    const { backoff } = this.settings;
    if (this.attempt >= backoff.maxAttempts) {
      return this.fail(new StreamError(error.code, `gave up after ${this.attempt} reconnect attempts: ${error.details}`, error.metadata));
    }
    const retryInMs = backoffDelay(this.attempt, backoff, this.settings.random);
    this.attempt++;
    this.strategy.disconnected({ error, reason, attempt: this.attempt, retryInMs });
    this.cancelRetry = this.settings.wait(retryInMs, () => this.open());
  }

  /** The call is over already (ended, or abandoned and cancelled) and no retry is waiting. */
  private fail(error: StreamError): void {
    this.isClosed = true;
    this.watch?.stop();
    this.strategy.failed(error);
  }
}
