// In-process stand-ins for what the reconnect loop drives: a gRPC call the test answers, ends and
// fails by hand, a clock whose time moves only when the test says, and a retry wait the test fires.
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import type { Clock } from '../../src/client/clock';

/** A call as grpc-js's streams behave for the loop: events in, cancel/pause/resume/write/end out. */
export class FakeCall<Message = unknown> extends EventEmitter {
  cancels = 0;
  paused = false;
  ended = false;
  readonly written: unknown[] = [];

  constructor(readonly request: unknown) {
    super();
  }

  cancel(): void {
    this.cancels++;
  }

  pause(): this {
    this.paused = true;
    return this;
  }

  resume(): this {
    this.paused = false;
    return this;
  }

  write(message: unknown): boolean {
    this.written.push(message);
    return true;
  }

  end(): this {
    this.ended = true;
    return this;
  }

  /** The server's response headers. */
  answer(entries: Record<string, string> = {}): void {
    const metadata = new grpc.Metadata();
    for (const [key, value] of Object.entries(entries)) metadata.set(key, value);
    this.emit('metadata', metadata);
  }

  send(message: Message): void {
    this.emit('data', message);
  }

  /** The call ends with a status other than OK (trailers in `trailers`). */
  fail(code: grpc.status, details: string, trailers: Record<string, string> = {}): void {
    const metadata = new grpc.Metadata();
    for (const [key, value] of Object.entries(trailers)) metadata.set(key, value);
    this.emit('error', Object.assign(new Error(`${code} ${grpc.status[code]}: ${details}`), { code, details, metadata }));
  }

  /** The server ended the stream with OK. */
  finish(): void {
    this.emit('end');
  }
}

/** Time that moves only by advance(); timers fire in due order. */
export class FakeClock implements Clock {
  private time = 1_000_000;
  private timers: { at: number; fire: () => void; id: number }[] = [];
  private nextId = 0;

  now(): number {
    return this.time;
  }

  after(delayMs: number, fire: () => void): () => void {
    const id = this.nextId++;
    this.timers.push({ at: this.time + delayMs, fire, id });
    return () => {
      this.timers = this.timers.filter((timer) => timer.id !== id);
    };
  }

  get pending(): number {
    return this.timers.length;
  }

  /** Moves time forward by `ms`, firing each timer due on the way at its own time (at most 10,000). */
  advance(ms: number): void {
    const until = this.time + ms;
    for (let fired = 0; fired < 10_000; fired++) {
      const due = this.timers.filter((timer) => timer.at <= until).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.timers = this.timers.filter((timer) => timer !== due);
      this.time = due.at;
      due.fire();
    }
    this.time = until;
  }
}

/** A retry wait the test fires by hand: each wait's announced delay, whether it was cancelled. */
export class FakeWait {
  readonly waits: { delayMs: number; retry: () => void; cancelled: boolean; fired: boolean }[] = [];

  readonly wait = (delayMs: number, retry: () => void): (() => void) => {
    const entry = { delayMs, retry, cancelled: false, fired: false };
    this.waits.push(entry);
    return () => {
      entry.cancelled = true;
    };
  };

  /** Fires the newest wait (as its timer or the channel coming back would). */
  fire(): void {
    const entry = this.waits.at(-1);
    if (!entry) throw new Error('no retry is waiting');
    if (entry.cancelled || entry.fired) throw new Error('the newest retry was cancelled or has fired already');
    entry.fired = true;
    entry.retry();
  }
}
