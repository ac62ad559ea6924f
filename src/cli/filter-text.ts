import type { SubscribeToTaskEventsRequest__Output } from '../generated/rigger/v1/SubscribeToTaskEventsRequest';
import { eventTypeName, statusName } from '../model/task';

/** The part of a stream's or a consumer's filter a person reads: only the fields it sets. */
export type FilterFields = Pick<SubscribeToTaskEventsRequest__Output, 'event_types' | 'assignee_filter' | 'statuses' | 'task_ids'>;

/** A filter in one short line ("types=created statuses=todo"), or "all" when it passes every event. */
export function filterText(filter: FilterFields | null | undefined): string {
  const parts = [
    filter?.event_types.length ? `types=${filter.event_types.map(eventTypeName).join(',').toLowerCase()}` : '',
    filter?.assignee_filter !== undefined ? `assignee=${filter.assignee_filter}` : '',
    filter?.statuses.length ? `statuses=${filter.statuses.map(statusName).join(',').toLowerCase()}` : '',
    filter?.task_ids.length ? `tasks=${filter.task_ids.join(',')}` : '',
  ].filter(Boolean);
  return parts.length ? parts.join(' ') : 'all';
}
