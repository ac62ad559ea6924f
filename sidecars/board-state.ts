// The board the board sidecar serves, kept in memory from one snapshot-then-stream subscription:
// the open tasks as the page shows them, the last events for the feed, and whether the stream is
// up. Every change is handed to the listeners as a message the page applies as it is, so each page
// can start from header() and cards() and then follow the messages without asking the server.
import { statusName, TaskStatus, type Task, type TaskEvent } from '../src/model/task';
import { eventSummary, type EventSummary } from './event-json';

/** A task as a card shows it (archived tasks are not on the board: a deletion takes the card off). */
export interface BoardTask {
  id: string;
  title: string;
  assignee: string | null;
  due_date: string | null;
  /** The status name, e.g. IN_PROGRESS: the column the card is in. */
  status: string;
  version: number;
  updated_at: string;
}

/** One line of the page's feed of recent events. */
export type FeedEntry = EventSummary;

/** Everything a page needs to draw the board from nothing, but the cards (sent in pages after it). */
export interface BoardHeader {
  /** False until the first snapshot is complete: the tasks are then partial. */
  ready: boolean;
  /** Whether the sidecar's event stream to the server is open. */
  connected: boolean;
  /** The log position the board reflects. */
  sequence: number;
  /** The columns, in the order of the status numbers (ARCHIVED left out). */
  statuses: string[];
  /** How many cards follow. */
  tasks: number;
  /** Newest last; at most feed_size entries. */
  feed: FeedEntry[];
  feed_size: number;
  sidecars: SidecarLine[];
}

/** One stream or durable consumer of the hub, as the board's sidecars panel shows it. */
export interface SidecarLine {
  name: string;
  /** "subscribe", "task_event_stream", "consume", or "consumer" for a durable consumer's own line. */
  kind: string;
  lag: number;
  /** A stream on the live path; a consumer with members. */
  live: boolean;
}

export type BoardMessage =
  /** The board was rebuilt (a snapshot completed): every page starts over from header() and cards(). */
  | { kind: 'board' }
  /** One event: `task` is the card as it is now, or null when it left the board. */
  | { kind: 'change'; sequence: number; task_id: string; task: BoardTask | null; entry: FeedEntry }
  | { kind: 'status'; connected: boolean }
  /** Every stream and durable consumer the hub has open (GetHubStatus), as the page lists them. */
  | { kind: 'sidecars'; sidecars: SidecarLine[] }
  /** The feed as a whole, after the events from before the sidecar started were read from the log. */
  | { kind: 'feed'; feed: FeedEntry[] };

const COLUMNS = Object.values(TaskStatus)
  .filter((status) => status !== TaskStatus.UNSPECIFIED && status !== TaskStatus.ARCHIVED)
  .map(statusName);

export const DEFAULT_FEED_SIZE = 50;

function card(task: Task): BoardTask {
  return {
    id: task.id,
    title: task.title,
    assignee: task.assignee ?? null,
    due_date: task.due_date ?? null,
    status: statusName(task.status),
    version: Number(task.version ?? 0),
    updated_at: task.updated_at,
  };
}

interface Cards {
  tasks: Map<string, BoardTask>;
  /** Versions of archived tasks too, so an older event never brings back a deleted card. */
  versions: Map<string, number>;
}

const emptyCards = (): Cards => ({ tasks: new Map(), versions: new Map() });

export class BoardState {
  private board = emptyCards();
  /** A snapshot being received: built apart, so pages keep reading the whole board until it completes. */
  private building: Cards | undefined;
  private readonly feed: FeedEntry[] = [];
  private sidecars: SidecarLine[] = [];
  private readonly listeners = new Set<(message: BoardMessage) => void>();
  private ready = false;
  private connected = false;
  private sequence = 0;

  constructor(private readonly feedSize = DEFAULT_FEED_SIZE) {}

  /** Calls `listener` with every message from now on; returns the function that stops it. */
  listen(listener: (message: BoardMessage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  header(): BoardHeader {
    return {
      ready: this.ready,
      connected: this.connected,
      sequence: this.sequence,
      statuses: COLUMNS,
      tasks: this.board.tasks.size,
      feed: [...this.feed],
      feed_size: this.feedSize,
      sidecars: this.sidecars,
    };
  }

  /**
   * The cards, live: a Map iterator, so a page can be sent them a few at a time without a copy of
   * the board. A card changed before it is reached is yielded as it is then, one removed is skipped.
   */
  cards(): IterableIterator<BoardTask> {
    return this.board.tasks.values();
  }

  /** A snapshot begins: what was built from an earlier, cut-off one is dropped. */
  snapshotStarted(): void {
    this.building = emptyCards();
  }

  /** One SNAPSHOT entry: state, not an event, so nothing goes to the feed or the pages yet. */
  snapshotEntry(task: Task): void {
    this.put(task, this.building ?? this.board);
  }

  /** The board is whole as of `sequence`: it replaces the one before, and every page redraws from it. */
  snapshotComplete(sequence: number): void {
    if (this.building) this.board = this.building;
    this.building = undefined;
    this.ready = true;
    this.sequence = sequence; // may be below an earlier one: a new snapshot after a restore of the log
    this.publish({ kind: 'board' });
  }

  /** A change after the snapshot. */
  apply(event: TaskEvent): void {
    this.put(event.task, this.board);
    this.sequence = Math.max(this.sequence, event.sequence);
    const entry: FeedEntry = eventSummary(event);
    this.feed.push(entry);
    if (this.feed.length > this.feedSize) this.feed.splice(0, this.feed.length - this.feedSize);
    this.publish({ kind: 'change', sequence: event.sequence, task_id: event.task.id, task: this.board.tasks.get(event.task.id) ?? null, entry });
  }

  /**
   * Events read back from the log at start (the feed would otherwise hold only what happened after
   * it): the ones older than what the feed holds go before it, the newest feedSize are kept.
   */
  history(events: readonly TaskEvent[]): void {
    const oldest = this.feed[0]?.sequence ?? Infinity;
    const earlier = events.filter((event) => event.sequence < oldest).map(eventSummary);
    if (earlier.length === 0) return;
    this.feed.unshift(...earlier);
    if (this.feed.length > this.feedSize) this.feed.splice(0, this.feed.length - this.feedSize);
    this.publish({ kind: 'feed', feed: [...this.feed] });
  }

  get feedCapacity(): number {
    return this.feedSize;
  }

  /** A bookmark: the log moved on without a change to show. */
  passed(sequence: number): void {
    this.sequence = Math.max(this.sequence, sequence);
  }

  /** The hub's streams and consumers, as last read (board.ts polls them); every page is sent them. */
  setSidecars(sidecars: SidecarLine[]): void {
    this.sidecars = sidecars;
    this.publish({ kind: 'sidecars', sidecars });
  }

  setConnected(connected: boolean): void {
    if (connected === this.connected) return;
    this.connected = connected;
    this.publish({ kind: 'status', connected });
  }

  /** Keeps the newest version of a task; UPDATED and its STATUS_CHANGED carry the same one. */
  private put(task: Task, into: Cards): void {
    const version = Number(task.version ?? 0);
    if ((into.versions.get(task.id) ?? -1) > version) return;
    into.versions.set(task.id, version);
    if (task.status === TaskStatus.ARCHIVED) into.tasks.delete(task.id);
    else into.tasks.set(task.id, card(task));
  }

  private publish(message: BoardMessage): void {
    for (const listener of this.listeners) listener(message);
  }
}
