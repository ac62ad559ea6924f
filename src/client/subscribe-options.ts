import { invalidArgument } from '../model/errors';
import { furthestResumePoint, LEGACY_LOG_ID, LOG_ID_PATTERN, type LogPosition, type ResumePoint } from '../model/log-lineage';
import { parseEventType, parseStatus, type TaskEventType, type TaskStatus } from '../model/task';
import { DEFAULT_BOOKMARK_INTERVAL_MS, MAX_BOOKMARK_INTERVAL_MS, MIN_BOOKMARK_INTERVAL_MS } from '../model/validate';
import type { BackoffOptions } from './backoff';
import { readCheckpoint } from './checkpoint';
import type { AfterRestore, FeedFilter, FeedStatus, LogRestore, SnapshotMarker } from './event-feed';

export interface SubscribeOptions {
  /** Event types (numbers or names such as "created", "STATUS_CHANGED"); empty or absent = all. */
  eventTypes?: readonly (TaskEventType | string)[];
  /** Only tasks assigned (or formerly assigned) to this person. */
  assignee?: string;
  /** Task statuses (numbers or names such as "todo"); matches the task before or after the change. */
  statuses?: readonly (TaskStatus | string)[];
  taskIds?: readonly string[];
  /** Deliver every matching event after this sequence first (0 = all retained history); absent = live. */
  sinceSequence?: number;
  /**
   * The log identity sinceSequence is of (an event's or a bookmark's `log_id`); absent = the
   * server's current log. The server refuses a position past where its log parted from this one.
   */
  sinceLogId?: string;
  /**
   * A file holding the last handled position (sequence and log identity). When it exists, the
   * subscription resumes after it (or after sinceSequence, when that is later); it is rewritten
   * atomically as events are handled and as bookmarks arrive.
   */
  checkpoint?: string;
  /**
   * When the server refuses the position because its log was restored past it (FAILED_PRECONDITION):
   * 'fail' (default) ends the subscription with that error; 'continue' goes on from the point where
   * the logs parted, telling onRestore. With includeSnapshot, a new snapshot is taken instead.
   */
  afterRestore?: AfterRestore;
  /** With afterRestore 'continue': hears the refused position, the new log and where they parted. */
  onRestore?: (restore: LogRestore) => void;
  backoff?: BackoffOptions;
  /**
   * Ask the server for a bookmark every N ms (100 to 3,600,000; default 5000; 0 = none). Bookmarks
   * move the position and the checkpoint to the head while the filter skips events, and a stream
   * that hears nothing for 2.5 intervals is treated as dead and reopened.
   */
  bookmarkIntervalMs?: number;
  /** Hears each bookmark's sequence and the log it is of, in order with the events (never as an event). */
  onBookmark?: (sequence: number, logId: string) => void;
  /**
   * Start with the matching tasks as they are now: SNAPSHOT events (each with its `task`), then the
   * changes after them. Only when there is no position to resume from (no sinceSequence; a
   * checkpoint file, once written, resumes instead); onSnapshot hears where the snapshot stands.
   */
  includeSnapshot?: boolean;
  /** With includeSnapshot: 'started' before its entries (restart: drop a cut-off earlier one), 'complete' after them. */
  onSnapshot?: (marker: SnapshotMarker) => void;
  /** Hears every connect and disconnect (for metrics and logs). */
  onStatus?: (status: FeedStatus) => void;
}

export interface SubscriptionPlan {
  filter: FeedFilter;
  /** The position to resume after (logId absent: the server's current log); undefined = start live (or with the snapshot). */
  startAfter: ResumePoint | undefined;
  /** The checkpoint file's position, which its writer starts from. */
  checkpointed: LogPosition | undefined;
  afterRestore: AfterRestore;
  bookmarkIntervalMs: number;
  includeSnapshot: boolean;
}

/** Validates the options and reads the checkpoint; throws invalid_argument for bad input. */
export function planSubscription(options: SubscribeOptions): SubscriptionPlan {
  const eventTypes = (options.eventTypes ?? []).map((type) => {
    const parsed = typeof type === 'number' ? type : parseEventType(type);
    if (parsed === undefined)
      throw invalidArgument(`eventTypes: ${JSON.stringify(type)} is not an event type; use e.g. created, updated, deleted, status_changed, assigned`);
    return parsed;
  });
  const statuses = (options.statuses ?? []).map((status) => {
    const parsed = typeof status === 'number' ? status : parseStatus(status);
    if (parsed === undefined) throw invalidArgument(`statuses: ${JSON.stringify(status)} is not a task status; use e.g. todo, in_progress, completed`);
    return parsed;
  });
  if (options.sinceSequence !== undefined && (!Number.isSafeInteger(options.sinceSequence) || options.sinceSequence < 0)) {
    throw invalidArgument(`sinceSequence must be a sequence number, 0 or more, got ${options.sinceSequence}`);
  }
  if (options.sinceLogId !== undefined && options.sinceLogId !== LEGACY_LOG_ID && !LOG_ID_PATTERN.test(options.sinceLogId)) {
    throw invalidArgument(`sinceLogId must be a log id (16 hex digits, an event's log_id), got ${JSON.stringify(options.sinceLogId)}`);
  }
  if (options.sinceLogId !== undefined && options.sinceSequence === undefined) throw invalidArgument('sinceLogId names the log of sinceSequence: pass both');
  const bookmarkIntervalMs = options.bookmarkIntervalMs ?? DEFAULT_BOOKMARK_INTERVAL_MS;
  checkBookmarkInterval(bookmarkIntervalMs, 'bookmarkIntervalMs');
  if (options.includeSnapshot === true && options.sinceSequence !== undefined) {
    throw invalidArgument('includeSnapshot starts from the current state; it cannot be combined with sinceSequence');
  }
  const checkpointed = options.checkpoint === undefined ? undefined : readCheckpoint(options.checkpoint);
  return {
    filter: {
      event_types: eventTypes,
      statuses,
      task_ids: [...(options.taskIds ?? [])],
      ...(options.assignee !== undefined && { assignee_filter: options.assignee }),
    },
    startAfter: furthestResumePoint(checkpointed, sinceOf(options)),
    checkpointed,
    afterRestore: options.afterRestore ?? 'fail',
    bookmarkIntervalMs,
    includeSnapshot: options.includeSnapshot === true,
  };
}

function sinceOf(options: SubscribeOptions): SubscriptionPlan['startAfter'] {
  if (options.sinceSequence === undefined) return undefined;
  return { sequence: options.sinceSequence, ...(options.sinceLogId !== undefined && { logId: options.sinceLogId }) };
}

/** Throws invalid_argument unless `ms` is 0 (none) or within the server's limits; `what` names the option or flag. */
export function checkBookmarkInterval(ms: number, what: string): void {
  if (ms === 0) return;
  if (!Number.isInteger(ms) || ms < MIN_BOOKMARK_INTERVAL_MS || ms > MAX_BOOKMARK_INTERVAL_MS) {
    throw invalidArgument(
      `${what} must be 0 (no bookmarks) or a whole number of ms from ${MIN_BOOKMARK_INTERVAL_MS} to ${MAX_BOOKMARK_INTERVAL_MS}, got ${ms}`,
    );
  }
}
