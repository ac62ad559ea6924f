// One page's /events stream. It starts with the board as a snapshot in pages of cards: a `board`
// header, `tasks` messages of about chunkBytes each, then `board-end`. Each page of cards is
// serialized from the live board only when the connection has drained, so no page holds a copy of
// the board and a page that does not read costs one page of cards. Changes are written as they
// come, in order with the pages, so what the page applies in order is the board as it is. A page
// that stops reading (more than maxQueuedBytes waiting, or not drained within drainTimeoutMs) is
// dropped; its EventSource reconnects and is sent the snapshot again.
import type http from 'node:http';
import type { BoardMessage, BoardState, BoardTask } from './board-state';

export interface PageLimits {
  /** Bytes waiting for one page, beyond what its socket took, past which it is dropped. */
  maxQueuedBytes: number;
  /** How long a page may leave its socket full before it is dropped. */
  drainTimeoutMs: number;
  /** About how many bytes of cards one `tasks` message carries. */
  chunkBytes: number;
}

export const DEFAULT_PAGE_LIMITS: PageLimits = { maxQueuedBytes: 256 * 1024, drainTimeoutMs: 5_000, chunkBytes: 32 * 1024 };

export type DropReason = 'queued too much' | 'not drained';

/** One server-sent event; JSON.stringify leaves no raw line break, so one data: line carries it. */
export function sseFrame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** The frame of a message every page is sent alike (a `board` message restarts each page's snapshot instead). */
export function messageFrame(message: Exclude<BoardMessage, { kind: 'board' }>): string {
  const { kind, ...body } = message;
  return sseFrame(kind, body);
}

export class PageStream {
  /** The cards still to send, while a snapshot is under way. */
  private pending: Iterator<BoardTask> | undefined;
  private drainTimer: NodeJS.Timeout | undefined;
  private dropped = false;

  constructor(
    private readonly response: http.ServerResponse,
    private readonly state: BoardState,
    private readonly limits: PageLimits,
    private readonly onDrop: (reason: DropReason, queuedBytes: number) => void,
    /** Sent in every `board` header besides the state's (the CSRF token, so a page kept open across a sidecar restart has the new one). */
    private readonly headerExtra: Record<string, unknown> = {},
  ) {
    response.on('drain', () => {
      clearTimeout(this.drainTimer);
      this.drainTimer = undefined;
      this.pump();
    });
    response.on('close', () => {
      clearTimeout(this.drainTimer);
      this.pending = undefined;
    });
  }

  /**
   * Sends the board from its start: at connect, and again each time the board is rebuilt. Before
   * the sidecar's first snapshot is complete only the header goes (ready: false); the cards follow
   * when it completes, so a page never takes a partial board for the whole one.
   */
  startSnapshot(): void {
    const header = this.state.header();
    this.pending = header.ready ? this.state.cards() : undefined;
    this.write(sseFrame('board', { ...header, ...this.headerExtra }));
    this.pump();
  }

  /** Writes one frame now, unless the page is dropped for not reading. */
  write(text: string): void {
    if (this.dropped || this.response.writableEnded || this.response.destroyed) return;
    if (this.response.writableLength + text.length > this.limits.maxQueuedBytes) return this.drop('queued too much');
    if (!this.response.write(text) && this.drainTimer === undefined) {
      this.drainTimer = setTimeout(() => this.drop('not drained'), this.limits.drainTimeoutMs);
    }
  }

  /** Writes pages of cards while the connection takes them, each serialized just before it is written. */
  private pump(): void {
    while (this.pending && !this.dropped && !this.response.writableEnded && !this.response.destroyed && !this.response.writableNeedDrain) {
      const parts: string[] = [];
      let bytes = 0;
      for (;;) {
        const next = this.pending.next();
        if (next.done) {
          this.pending = undefined;
          break;
        }
        const json = JSON.stringify(next.value);
        parts.push(json);
        bytes += json.length;
        if (bytes >= this.limits.chunkBytes) break;
      }
      if (parts.length > 0) this.write(`event: tasks\ndata: [${parts.join(',')}]\n\n`);
      if (!this.pending) this.write('event: board-end\ndata: {}\n\n');
    }
  }

  private drop(reason: DropReason): void {
    if (this.dropped) return;
    this.dropped = true;
    this.pending = undefined;
    clearTimeout(this.drainTimer);
    this.onDrop(reason, this.response.writableLength);
    this.response.destroy();
  }
}
