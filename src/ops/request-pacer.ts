// Paces the operations endpoint's requests: a token bucket of `perSecond`, and a request beyond it
// waits for its turn (its answer is held, so a client that waits for each answer, as scrapers and
// probes do, is slowed to the pace) instead of being served at once. Every request costs the
// event loop that serves gRPC too, whatever it asks for: this bounds that cost per second.
import { performance } from 'node:perf_hooks';

export class RequestPacer {
  private tokens: number;
  private last: number;
  private readonly waiting: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly perSecond: number,
    private readonly maxWaiting: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = perSecond;
    this.last = now();
  }

  /** Runs `serve` now, or in its turn; false (and `serve` never runs) when maxWaiting already wait. */
  admit(serve: () => void): boolean {
    this.refill();
    if (this.waiting.length === 0 && this.tokens >= 1) {
      this.tokens--;
      serve();
      return true;
    }
    if (this.waiting.length >= this.maxWaiting) return false;
    this.waiting.push(serve);
    this.schedule();
    return true;
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.waiting.length = 0;
  }

  private refill(): void {
    const at = this.now();
    this.tokens = Math.min(this.perSecond, this.tokens + ((at - this.last) * this.perSecond) / 1000);
    this.last = at;
  }

  private schedule(): void {
    if (this.timer) return;
    const ms = Math.max(1, Math.ceil(((1 - this.tokens) * 1000) / this.perSecond));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.refill();
      while (this.waiting.length > 0 && this.tokens >= 1) {
        this.tokens--;
        this.waiting.shift()!();
      }
      if (this.waiting.length > 0) this.schedule();
    }, ms);
    this.timer.unref();
  }
}
