// A costly text asked for often (a /metrics scrape): rendered at most once per interval, and every
// request in between gets the same value; requests during a render share it. The interval also
// grows with the event-loop time the render took, so rendering takes a bounded share of the event
// loop whatever the request rate and whatever the render costs.

export interface RenderCacheOptions {
  /** The shortest time between two renders' starts, in ms. */
  minIntervalMs: number;
  /** The interval is at least this many times the last render's busy time: rendering takes at most 1/costFactor of the event loop. */
  costFactor: number;
  /** The clock, in ms (monotonic). */
  now: () => number;
}

/** A render's value, and the event-loop time it took (its synchronous parts; waits for other work or other threads excluded), in ms. */
export interface Rendered<T> {
  value: T;
  busyMs: number;
}

export class RenderCache<T> {
  private last: { value: T; nextAt: number } | undefined;
  private pending: Promise<T> | undefined;
  private count = 0;
  private lastBusyMs = 0;

  constructor(
    private readonly render: () => Promise<Rendered<T>>,
    private readonly options: RenderCacheOptions,
  ) {}

  /** The last render's value while it is fresh, else a new render's (shared with every caller meanwhile). */
  get(): Promise<T> {
    const now = this.options.now();
    if (this.last && now < this.last.nextAt) return Promise.resolve(this.last.value);
    if (!this.pending) {
      const rendering = this.renderAt(now).finally(() => {
        if (this.pending === rendering) this.pending = undefined;
      });
      this.pending = rendering;
    }
    return this.pending;
  }

  /** Renders started so far (the one under way included). */
  get renders(): number {
    return this.count;
  }

  /** The event-loop time the last finished render took, in ms. */
  get lastRenderMs(): number {
    return this.lastBusyMs;
  }

  private async renderAt(start: number): Promise<T> {
    this.count++;
    const { value, busyMs } = await this.render();
    this.lastBusyMs = busyMs;
    this.last = { value, nextAt: start + Math.max(this.options.minIntervalMs, busyMs * this.options.costFactor) };
    return value;
  }
}

/** Runs `work` and adds the time it took to `busy.ms` (for a Rendered's busyMs, one synchronous part at a time). */
export function timed<R>(busy: { ms: number }, now: () => number, work: () => R): R {
  const started = now();
  try {
    return work();
  } finally {
    busy.ms += now() - started;
  }
}
