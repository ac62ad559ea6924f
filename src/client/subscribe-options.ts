import { invalidArgument } from '../model/errors';
import { parseEventType, parseStatus, type TaskEventType, type TaskStatus } from '../model/task';
import type { BackoffOptions } from './backoff';
import { readCheckpoint } from './checkpoint';
import type { FeedFilter, FeedStatus } from './event-feed';

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
   * A file holding the last handled sequence. When it exists, the subscription resumes after it
   * (or after sinceSequence, whichever is later); it is rewritten atomically as events are handled.
   */
  checkpoint?: string;
  backoff?: BackoffOptions;
  /** Hears every connect and disconnect (for metrics and logs). */
  onStatus?: (status: FeedStatus) => void;
}

export interface SubscriptionPlan {
  filter: FeedFilter;
  /** The sequence to resume after; undefined = start live. */
  startAfter: number | undefined;
}

/** Validates the options and reads the checkpoint; throws invalid_argument for bad input. */
export function planSubscription(options: SubscribeOptions): SubscriptionPlan {
  const eventTypes = (options.eventTypes ?? []).map((type) => {
    const parsed = typeof type === 'number' ? type : parseEventType(type);
    if (parsed === undefined) throw invalidArgument(`eventTypes: ${JSON.stringify(type)} is not an event type; use e.g. created, updated, deleted, status_changed, assigned`);
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
  const checkpointed = options.checkpoint === undefined ? undefined : readCheckpoint(options.checkpoint);
  return {
    filter: {
      event_types: eventTypes,
      statuses,
      task_ids: [...(options.taskIds ?? [])],
      ...(options.assignee !== undefined && { assignee_filter: options.assignee }),
    },
    startAfter: checkpointed === undefined ? options.sinceSequence : Math.max(checkpointed, options.sinceSequence ?? 0),
  };
}
