// The hand-over between a feed (which calls back) and an async iterator's next() (which awaits):
// items wait here in arrival order, and a failure reaches the loop only after the items before it.
export class PushQueue<T> {
  private readonly items: T[] = [];
  private failure: { error: unknown } | undefined;
  private closedFlag = false;
  private wake: (() => void) | undefined;

  get length(): number {
    return this.items.length;
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  push(item: T): void {
    this.items.push(item);
    this.notify();
  }

  /** The first failure wins: later ones are what the first one caused. */
  fail(error: unknown): void {
    this.failure ??= { error };
    this.notify();
  }

  /** The loop was left or the source ended: a waiting take() returns undefined. */
  close(): void {
    this.closedFlag = true;
    this.notify();
  }

  /** The next item; undefined once closed; throws the failure once no item is left before it. */
  async take(): Promise<T | undefined> {
    for (;;) {
      if (this.closedFlag) return undefined;
      if (this.items.length > 0) return this.items.shift();
      if (this.failure) throw this.failure.error;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private notify(): void {
    const resolve = this.wake;
    this.wake = undefined;
    resolve?.();
  }
}
