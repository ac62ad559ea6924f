// The filter and resume flags every event-reading command has (rig events and the sidecars).
import path from 'node:path';
import type { Argv } from 'yargs';
import type { SubscribeOptions } from '../client/subscribe-options';
import { invalidArgument } from '../model/errors';
import { parseEventType, parseStatus, type TaskEventType, type TaskStatus } from '../model/task';
import { DEFAULT_BOOKMARK_INTERVAL_MS, MAX_BOOKMARK_INTERVAL_MS, MIN_BOOKMARK_INTERVAL_MS } from '../model/validate';

export interface SubscriptionArgs {
  types?: string;
  assignee?: string;
  statuses?: string;
  task?: string[];
  since?: number;
  checkpoint?: string;
  consumer?: string;
  'bookmark-interval-ms'?: number;
}

/** Adds the filter flags, --since, --bookmark-interval-ms, and --checkpoint when `withCheckpoint`. */
export function subscriptionFlags<T>(yargs: Argv<T>, since: string, withCheckpoint: boolean): Argv<T & SubscriptionArgs> {
  const withFilters = filterFlags(bookmarkFlag(yargs), since);
  if (!withCheckpoint) return withFilters as Argv<T & SubscriptionArgs>;
  return withFilters
    .option('checkpoint', { type: 'string', describe: 'file keeping the last handled sequence; a restart resumes after it' })
    .option('consumer', {
      type: 'string',
      describe:
        'instead of --checkpoint: a durable consumer on the server keeps the position (created on first use, the filter flags and --since apply then); several sidecars with one name share the events',
    })
    .check((argv) => {
      if (argv.consumer !== undefined && argv.checkpoint !== undefined)
        throw invalidArgument('--consumer and --checkpoint are two ways to keep the position; give one of them');
      return true;
    }) as Argv<T & SubscriptionArgs>;
}

/** The filter flags and --since alone, for a reader on a durable consumer (no bookmarks, no checkpoint). */
export function filterFlags<T>(yargs: Argv<T>, since: string): Argv<T & SubscriptionArgs> {
  return yargs
    .option('types', { type: 'string', describe: 'event types, e.g. created,status_changed (default all)' })
    .option('assignee', { type: 'string', describe: 'only tasks assigned (or formerly assigned) to this person' })
    .option('statuses', { type: 'string', describe: 'task statuses, e.g. todo,in_progress' })
    .option('task', { type: 'string', array: true, describe: 'only these task ids' })
    .option('since', { type: 'number', describe: since }) as Argv<T & SubscriptionArgs>;
}

/** --bookmark-interval-ms alone, for a reader that takes no filters (the metrics sidecar). */
export function bookmarkFlag<T>(yargs: Argv<T>): Argv<T & SubscriptionArgs> {
  return yargs.option('bookmark-interval-ms', {
    type: 'number',
    default: DEFAULT_BOOKMARK_INTERVAL_MS,
    describe: 'ask for a bookmark (position + heartbeat) every N ms; nothing heard for 2.5 intervals = dead connection; 0 = none',
  }) as Argv<T & SubscriptionArgs>;
}

/** --bookmark-interval-ms as a number of ms (0 = none); throws invalid_argument naming the flag. */
export function bookmarkIntervalOf(argv: SubscriptionArgs): number {
  const ms = argv['bookmark-interval-ms'] ?? DEFAULT_BOOKMARK_INTERVAL_MS;
  if (ms !== 0 && !(Number.isInteger(ms) && ms >= MIN_BOOKMARK_INTERVAL_MS && ms <= MAX_BOOKMARK_INTERVAL_MS)) {
    throw invalidArgument(
      `--bookmark-interval-ms must be 0 (no bookmarks) or a whole number of ms from ${MIN_BOOKMARK_INTERVAL_MS} to ${MAX_BOOKMARK_INTERVAL_MS}, got ${ms}`,
    );
  }
  return ms;
}

/** The flags as RiggerClient.subscribe takes them; throws invalid_argument naming the bad flag. */
export function subscribeOptionsOf(
  argv: SubscriptionArgs,
): Omit<SubscribeOptions, 'onStatus'> & { eventTypes: TaskEventType[]; statuses: TaskStatus[]; bookmarkIntervalMs: number } {
  const eventTypes = list(argv.types).map((name) => {
    const type = parseEventType(name);
    if (type === undefined)
      throw invalidArgument(`--types: ${JSON.stringify(name)} is not an event type; use e.g. created,updated,deleted,status_changed,assigned`);
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
    bookmarkIntervalMs: bookmarkIntervalOf(argv),
    ...(argv.assignee !== undefined && { assignee: argv.assignee }),
    ...(argv.since !== undefined && { sinceSequence: argv.since }),
    ...(argv.checkpoint !== undefined && { checkpoint: path.resolve(argv.checkpoint) }),
  };
}

function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
