// What the in-process consumer tests (consumer-group, consumer-group-model, task-lanes) build their
// cases from: an UPDATED event of a task, and a consumer's record with the default settings.
import { DEFAULT_CONSUMER_SETTINGS, type ConsumerRecord } from '../../src/model/consumer';
import type { LoggedEvent } from '../../src/model/logged-event';
import { TaskEventType, TaskStatus } from '../../src/model/task';

/** An UPDATED event of `taskId` at `sequence`, with no bytes: these tests never encode it. */
export const updatedEvent = (sequence: number, taskId: string): LoggedEvent => ({
  sequence,
  eventType: TaskEventType.UPDATED,
  taskId,
  assignee: undefined,
  previousAssignee: undefined,
  status: TaskStatus.TODO,
  previousStatus: undefined,
  encoded: Buffer.alloc(0),
});

/** A consumer from the start of the log with no filter: the default settings, `overrides` on top. */
export const consumerRecord = (name: string, overrides: Partial<ConsumerRecord> = {}): ConsumerRecord => ({
  ...DEFAULT_CONSUMER_SETTINGS,
  name,
  filter: { eventTypes: [], statuses: [], taskIds: [] },
  ackedSequence: 0,
  startSequence: 0,
  createdAt: '',
  lostReason: undefined,
  ...overrides,
});
