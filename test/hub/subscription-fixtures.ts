// What the in-process hub tests (subscription*.test.ts) share: a hub over a MemoryLog, commits that
// publish, a scripted stream of events exercising every field, and the filter rule stated
// independently of compileFilter, from which each test's exact expected sequence list is built.
import assert from 'node:assert/strict';
import { EventHub } from '../../src/hub/event-hub';
import type { FilterSpec } from '../../src/hub/event-filter';
import { RiggerError } from '../../src/model/errors';
import type { LoggedEvent } from '../../src/model/logged-event';
import type { TaskEventType, TaskStatus } from '../../src/model/task';
import { MemoryLog, type EventFields } from './memory-log';

export const ALL: FilterSpec = {};

/** A hub over a log that already holds `count` events (all published: the hub starts at the log's tail). */
export function hubWith(count: number, bufferSize: number): { log: MemoryLog; hub: EventHub } {
  const log = new MemoryLog();
  log.append(count);
  return { log, hub: new EventHub(log, bufferSize) };
}

/** This process commits `what` and publishes it. */
export function commit(log: MemoryLog, hub: EventHub, what: number | readonly EventFields[]): LoggedEvent[] {
  const events = log.append(what);
  hub.publish(events);
  return events;
}

/** What `spec` matches, stated independently of compileFilter (see event-filter.ts for the rule). */
export function matches(spec: FilterSpec, event: LoggedEvent): boolean {
  if (spec.eventTypes?.length && !spec.eventTypes.includes(event.eventType)) return false;
  if (spec.taskIds?.length && !spec.taskIds.includes(event.taskId)) return false;
  if (spec.assignee && event.assignee !== spec.assignee && event.previousAssignee !== spec.assignee) return false;
  if (spec.statuses?.length) {
    const before = event.previousStatus;
    if (!spec.statuses.includes(event.status) && (before === undefined || !spec.statuses.includes(before))) return false;
  }
  return true;
}

export function expected(log: MemoryLog, spec: FilterSpec, after: number, upTo = Number.POSITIVE_INFINITY): number[] {
  return log
    .all()
    .filter((e) => e.sequence > after && e.sequence <= upTo && matches(spec, e))
    .map((e) => e.sequence);
}

export function isOutOfRange(details: Record<string, string>) {
  return (error: unknown) => {
    assert.ok(error instanceof RiggerError, `not a RiggerError: ${String(error)}`);
    assert.equal(error.kind, 'out_of_range');
    assert.deepEqual(error.details, details);
    return true;
  };
}

export const PEOPLE = [undefined, 'Alice', 'Bob', 'Carol'] as const;
export const STATUSES: readonly TaskStatus[] = [1, 2, 4, 9];
export const TASKS = ['t0', 't1', 't2', 't3', 't4'];

/** Event i of a fixed script exercising every field (deterministic, no PRNG). */
export function scripted(i: number): EventFields {
  return {
    eventType: (1 + (i % 7)) as TaskEventType,
    taskId: TASKS[i % TASKS.length]!,
    assignee: PEOPLE[i % 4],
    previousAssignee: i % 3 === 0 ? undefined : PEOPLE[(i * 7) % 4],
    status: STATUSES[i % STATUSES.length]!,
    previousStatus: i % 5 === 0 ? undefined : STATUSES[(i * 3) % STATUSES.length],
  };
}

export const SPECS: readonly FilterSpec[] = [
  { eventTypes: [4] },
  { eventTypes: [1, 3, 5] },
  { assignee: 'Alice' },
  { statuses: [2] },
  { statuses: [1, 9] },
  { taskIds: ['t1', 't3'] },
  { assignee: 'Bob', statuses: [4] },
  { eventTypes: [2, 4], taskIds: ['t0'], assignee: 'Carol' },
  { assignee: '' }, // empty means any
  { eventTypes: [], statuses: [], taskIds: [] }, // empty lists mean any
];
