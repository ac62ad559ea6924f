// The filter and resume flags every event-reading command has (rig events and the sidecars).
import path from 'node:path';
import type { Argv } from 'yargs';
import type { SubscribeOptions } from '../client/subscribe-options';
import { invalidArgument } from '../model/errors';
import { parseEventType, parseStatus, type TaskEventType, type TaskStatus } from '../model/task';

export interface SubscriptionArgs {
  types?: string;
  assignee?: string;
  statuses?: string;
  task?: string[];
  since?: number;
  checkpoint?: string;
}

/** Adds the filter flags, --since, and --checkpoint when `withCheckpoint`. */
export function subscriptionFlags<T>(yargs: Argv<T>, since: string, withCheckpoint: boolean): Argv<T & SubscriptionArgs> {
  const withFilters = yargs
    .option('types', { type: 'string', describe: 'event types, e.g. created,status_changed (default all)' })
    .option('assignee', { type: 'string', describe: 'only tasks assigned (or formerly assigned) to this person' })
    .option('statuses', { type: 'string', describe: 'task statuses, e.g. todo,in_progress' })
    .option('task', { type: 'string', array: true, describe: 'only these task ids' })
    .option('since', { type: 'number', describe: since });
  if (!withCheckpoint) return withFilters as Argv<T & SubscriptionArgs>;
  return withFilters.option('checkpoint', { type: 'string', describe: 'file keeping the last handled sequence; a restart resumes after it' }) as Argv<T & SubscriptionArgs>;
}

/** The flags as RiggerClient.subscribe takes them; throws invalid_argument naming the bad flag. */
export function subscribeOptionsOf(argv: SubscriptionArgs): Omit<SubscribeOptions, 'onStatus'> & { eventTypes: TaskEventType[]; statuses: TaskStatus[] } {
  const eventTypes = list(argv.types).map((name) => {
    const type = parseEventType(name);
    if (type === undefined) throw invalidArgument(`--types: ${JSON.stringify(name)} is not an event type; use e.g. created,updated,deleted,status_changed,assigned`);
    return type;
  });
  const statuses = list(argv.statuses).map((name) => {
    const status = parseStatus(name);
    if (status === undefined) throw invalidArgument(`--statuses: ${JSON.stringify(name)} is not a task status; use e.g. todo,in_progress`);
    return status;
  });
  if (argv.since !== undefined && (!Number.isInteger(argv.since) || argv.since < 0)) throw invalidArgument('--since must be a sequence number, 0 or more');
  return {
    eventTypes,
    statuses,
    taskIds: argv.task ?? [],
    ...(argv.assignee !== undefined && { assignee: argv.assignee }),
    ...(argv.since !== undefined && { sinceSequence: argv.since }),
    ...(argv.checkpoint !== undefined && { checkpoint: path.resolve(argv.checkpoint) }),
  };
}

function list(value: string | undefined): string[] {
  return (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}
