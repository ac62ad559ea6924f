// Fakes for the stream sessions' in-process tests (*-session.test.ts): ports that record what a
// session sends and how its stream ended, and a hub whose unsubscribe and stream registry count
// their calls, so "released exactly once" is a number the test reads.
import type { ConsumerMember, Refusal } from '../../src/hub/consumer-group';
import type { ConsumerStatus } from '../../src/hub/consumer-registry';
import type { ConsumeStreamPort } from '../../src/hub/consume-session';
import { EventHub } from '../../src/hub/event-hub';
import type { EventStreamPort } from '../../src/hub/subscribe-session';
import type { Subscription } from '../../src/hub/subscription';
import type { LoggedEvent } from '../../src/model/logged-event';
import { FakeSink, MemoryLog } from './memory-log';

export const SILENT = { debug: () => {}, warn: () => {}, info: () => {} };

/** An event stream's port: FakeSink's contract checks, plus the headers sent and every end. */
export class FakeEventPort extends FakeSink implements EventStreamPort {
  readonly peer = 'test-peer';
  readonly positions: number[] = [];
  /** Every fail(), in order, whatever it was given (FakeSink's `failures` keeps RiggerErrors only). */
  readonly ends: unknown[] = [];

  get queuedBytes(): number {
    return 0;
  }

  sendPosition(sequence: number): void {
    if (this.ends.length > 0) this.violations.push(`headers after the end (${sequence})`);
    this.positions.push(sequence);
  }

  override fail(error: unknown): void {
    this.ends.push(error);
    if (this.ends.length > 1) this.violations.push(`ended twice: ${(error as Error).message}`);
  }
}

/** A Pausable that records whether it is reading. */
export class FakeInbound {
  reading = true;
  pause(): void {
    this.reading = false;
  }
  resume(): void {
    this.reading = true;
  }
}

/** A hub over an in-memory log holding `count` events, counting unsubscribes per subscription and registry closes. */
export function countingHub(count = 0, bufferSize = 64) {
  const log = new MemoryLog();
  log.append(count);
  const hub = new EventHub(log, bufferSize);
  const unsubscribed = new Map<Subscription, number>();
  const unsubscribe = hub.unsubscribe.bind(hub);
  hub.unsubscribe = (subscription) => {
    unsubscribed.set(subscription, (unsubscribed.get(subscription) ?? 0) + 1);
    unsubscribe(subscription);
  };
  let registryCloses = 0;
  const close = hub.streams.close.bind(hub.streams);
  hub.streams.close = (stream) => {
    registryCloses++;
    close(stream);
  };
  const commit = (n: number): LoggedEvent[] => {
    const events = log.append(n);
    hub.publish(events);
    return events;
  };
  return { log, hub, unsubscribed, commit, registryCloses: () => registryCloses };
}

/** A consumer member stream's port: what it was sent, whether it reads, how it ended. */
export class FakeConsumePort implements ConsumeStreamPort {
  readonly peer = 'member-peer';
  full = false;
  reading = true;
  readonly delivered: { sequence: number; attempt: number; deliveryId: string }[] = [];
  readonly joins: ConsumerStatus[] = [];
  readonly refusals: Refusal[] = [];
  readonly commits: { sequences: number[]; ackedSequence: number }[] = [];
  readonly ends: unknown[] = [];
  finished = 0;
  readonly violations: string[] = [];
  private drains: (() => void)[] = [];

  get queuedBytes(): number {
    return 0;
  }

  private check(what: string): void {
    if (this.ends.length > 0 || this.finished > 0) this.violations.push(`${what} after the end`);
  }

  onDrain(callback: () => void): void {
    if (!this.full) queueMicrotask(callback);
    else this.drains.push(callback);
  }

  /** The client read its stream: full no more, and whoever waited is told. */
  drain(): void {
    this.full = false;
    const waiting = this.drains;
    this.drains = [];
    for (const callback of waiting) callback();
  }

  pause(): void {
    this.reading = false;
  }

  resume(): void {
    this.reading = true;
  }

  deliver(event: LoggedEvent, attempt: number, deliveryId: string): boolean {
    this.check(`delivery of ${event.sequence}`);
    this.delivered.push({ sequence: event.sequence, attempt, deliveryId });
    return !this.full;
  }

  committed(sequences: number[], ackedSequence: number): void {
    this.commits.push({ sequences, ackedSequence });
  }

  joined(status: ConsumerStatus): void {
    this.check('joined');
    this.joins.push(status);
  }

  refused(refusal: Refusal): void {
    this.check('refused');
    this.refusals.push(refusal);
  }

  fail(error: unknown): void {
    this.check(`fail (${(error as Error).message})`);
    this.ends.push(error);
  }

  finish(): void {
    this.check('finish');
    this.finished++;
  }

  /** How many times the stream ended, either way. */
  get endings(): number {
    return this.ends.length + this.finished;
  }
}

/** What a member did to its group, recorded by a fake group (consume-session.test.ts). */
export interface GroupCall {
  call: 'join' | 'ack' | 'nak' | 'in_progress';
  memberId: number;
}

export type { ConsumerMember };
