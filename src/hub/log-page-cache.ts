import type { LoggedEvent } from '../model/logged-event';

/**
 * The last few pages of the log read for subscribers that are behind the replay ring. Pages are
 * aligned to fixed sequence boundaries, so subscribers catching up over the same stretch of history
 * (every sidecar resuming after a restart, or many falling behind one burst) read it from SQLite
 * once between them instead of once each. Only complete pages are kept.
 */
export class LogPageCache {
  /** Page index -> its events; a Map iterates in insertion order, so the first key is the least recently used. */
  private readonly pages = new Map<number, readonly LoggedEvent[]>();

  constructor(
    readonly pageSize: number,
    private readonly maxPages: number,
  ) {}

  /** The page holding sequences index * pageSize + 1 ... (index + 1) * pageSize, from the cache or `load`. */
  page(index: number, load: () => readonly LoggedEvent[]): readonly LoggedEvent[] {
    let page = this.pages.get(index);
    if (page !== undefined) {
      this.pages.delete(index);
    } else {
      page = load();
      if (page.length < this.pageSize) return page;
      if (this.pages.size >= this.maxPages) this.pages.delete(this.pages.keys().next().value!);
    }
    this.pages.set(index, page);
    return page;
  }
}
