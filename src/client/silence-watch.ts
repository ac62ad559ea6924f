// Tells a dead stream from a quiet one. A stream that asked for bookmarks hears from the server at
// least once per interval, idle or not (the bookmark is its heartbeat), so a stream that hears
// nothing at all for a few intervals is on a connection that died without closing: a paused or
// frozen server, a black-holed route, a NAT that forgot the flow. TCP and HTTP/2 keepalive notice
// that too, but only after tens of seconds; the bookmark interval is the user's own choice.
import { SYSTEM_CLOCK, type Clock } from './clock';

/** Intervals of silence after which a stream counts as dead: past one late bookmark, and short of three. */
export const DEAD_AFTER_INTERVALS = 2.5;

/** Calls `onSilent(silentMs)` once when touch() has not been called for `limitMs`; re-armed by touch(). */
export class SilenceWatch {
  private cancelTimer: (() => void) | undefined;
  private lastHeard = 0;

  constructor(
    readonly limitMs: number,
    private readonly onSilent: (silentMs: number) => void,
    private readonly clock: Clock = SYSTEM_CLOCK,
  ) {}

  /** Starts (or restarts) the count from now. */
  start(): void {
    this.lastHeard = this.clock.now();
    this.arm(this.limitMs);
  }

  /** Something arrived: the stream is alive. Cheap: no timer is touched per message. */
  touch(): void {
    this.lastHeard = this.clock.now();
  }

  stop(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
  }

  get running(): boolean {
    return this.cancelTimer !== undefined;
  }

  private arm(delayMs: number): void {
    // The clock's timers never keep a process alive by themselves.
    this.cancelTimer = this.clock.after(delayMs, () => this.check());
  }

  private check(): void {
    this.cancelTimer = undefined;
    const silentMs = this.clock.now() - this.lastHeard;
    if (silentMs >= this.limitMs) return this.onSilent(silentMs);
    this.arm(this.limitMs - silentMs);
  }
}
