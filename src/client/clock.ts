// The time the reconnect loop and the silence watch read and wait on: the system's, or a test's.

export interface Clock {
  now(): number;
  /** Calls `fire` once after `delayMs`, unless the returned function cancels it first. */
  after(delayMs: number, fire: () => void): () => void;
}

export const SYSTEM_CLOCK: Clock = {
  now: () => Date.now(),
  after(delayMs, fire) {
    const timer = setTimeout(fire, delayMs);
    // These timers guard a stream; they never keep a process alive by themselves.
    timer.unref();
    return () => clearTimeout(timer);
  },
};
