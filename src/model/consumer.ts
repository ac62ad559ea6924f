// A durable consumer as the domain sees it: its settings, their defaults and validation, and the
// rule for when a stored consumer and a request name the same thing (docs/consumers.md).
import { invalidArgument, RiggerError } from './errors';

/** The filter fields a consumer takes: those of SubscribeToTaskEventsRequest that select events. */
export interface ConsumerFilter {
  eventTypes: number[];
  assignee?: string;
  statuses: number[];
  taskIds: string[];
}

export interface ConsumerSettings {
  ackWaitMs: number;
  /** 0 = never dead-letter. */
  maxDeliver: number;
  /** Delay before redelivery N is backoffMs[N-1] (the last entry for later ones); empty = at once. */
  backoffMs: number[];
  maxInFlight: number;
}

export interface ConsumerDefinition extends ConsumerSettings {
  name: string;
  filter: ConsumerFilter;
}

/** A consumer as stored. */
export interface ConsumerRecord extends ConsumerDefinition {
  /** Every matching event up to it is acked or dead-lettered, durably. */
  ackedSequence: number;
  /** The start asked for at creation (undefined = new events only). */
  startSequence: number | undefined;
  createdAt: string;
  /** Set when it fell further behind than --consumer-max-lag and stopped holding the log. */
  lostReason: string | undefined;
}

export interface DeadLetterRecord {
  sequence: number;
  taskId: string;
  attempts: number;
  reason: string | undefined;
  deadAt: string;
  /** Asked to be delivered again (redrive); cleared when it is acked or dies again. */
  redrive?: boolean;
}

export const DEFAULT_CONSUMER_SETTINGS: ConsumerSettings = { ackWaitMs: 30_000, maxDeliver: 0, backoffMs: [], maxInFlight: 1000 };

export const MAX_CONSUMER_NAME_LENGTH = 100;
const NAME = /^[A-Za-z0-9._-]+$/;
const MIN_ACK_WAIT_MS = 100;
const MAX_ACK_WAIT_MS = 86_400_000;
export const MAX_IN_FLIGHT = 100_000;
/** A nak's or dead letter's reason, at most (longer ones are cut, with a mark, by client and server alike). */
export const MAX_REASON_CHARS = 1000;

/** `reason` cut to MAX_REASON_CHARS, ending in a mark that says how long it was. */
export function truncateReason(reason: string): string {
  if (reason.length <= MAX_REASON_CHARS) return reason;
  const mark = ` ... (${reason.length} characters, cut)`;
  return reason.slice(0, MAX_REASON_CHARS - mark.length) + mark;
}
const MAX_BACKOFF_ENTRIES = 20;

export function validateConsumerName(name: string | undefined): string {
  if (name === undefined || name === '') throw invalidArgument('the consumer name must not be empty; give one such as "indexer"');
  if (name.length > MAX_CONSUMER_NAME_LENGTH || !NAME.test(name)) {
    throw invalidArgument(
      `consumer name ${JSON.stringify(name.slice(0, MAX_CONSUMER_NAME_LENGTH + 1))} is not valid; use 1-${MAX_CONSUMER_NAME_LENGTH} letters, digits, ".", "_" or "-"`,
    );
  }
  return name;
}

/** Settings given (undefined = not given), checked; throws invalid_argument naming the field. */
export function validateSettings(given: Partial<ConsumerSettings>): Partial<ConsumerSettings> {
  const { ackWaitMs, maxDeliver, backoffMs, maxInFlight } = given;
  if (ackWaitMs !== undefined && (ackWaitMs < MIN_ACK_WAIT_MS || ackWaitMs > MAX_ACK_WAIT_MS)) {
    throw invalidArgument(`ack_wait_ms ${ackWaitMs} is out of range; use ${MIN_ACK_WAIT_MS}-${MAX_ACK_WAIT_MS}`);
  }
  if (maxDeliver !== undefined && maxDeliver > 1000) throw invalidArgument(`max_deliver ${maxDeliver} is over 1000; use 1-1000, or 0 for no limit`);
  if (maxInFlight !== undefined && (maxInFlight < 1 || maxInFlight > MAX_IN_FLIGHT)) {
    throw invalidArgument(`max_in_flight ${maxInFlight} is out of range; use 1-${MAX_IN_FLIGHT}`);
  }
  if (backoffMs !== undefined && backoffMs.length > MAX_BACKOFF_ENTRIES)
    throw invalidArgument(`backoff_ms has ${backoffMs.length} entries; the maximum is ${MAX_BACKOFF_ENTRIES}`);
  if (backoffMs?.some((ms) => ms > MAX_ACK_WAIT_MS)) throw invalidArgument(`backoff_ms entries must be at most ${MAX_ACK_WAIT_MS} ms`);
  return given;
}

/** The filter in one canonical form (sorted, deduplicated), so two spellings of one filter compare equal. */
export function canonicalFilter(filter: ConsumerFilter): ConsumerFilter {
  const sortedNumbers = (list: number[]) => [...new Set(list)].sort((a, b) => a - b);
  return {
    eventTypes: sortedNumbers(filter.eventTypes),
    statuses: sortedNumbers(filter.statuses),
    taskIds: [...new Set(filter.taskIds)].sort(),
    ...(filter.assignee !== undefined && filter.assignee !== '' && { assignee: filter.assignee }),
  };
}

export function sameFilter(a: ConsumerFilter, b: ConsumerFilter): boolean {
  return JSON.stringify(canonicalFilter(a)) === JSON.stringify(canonicalFilter(b));
}

/**
 * Refuses a request naming an existing consumer with a filter or settings other than it has:
 * a consumer never changes silently (FAILED_PRECONDITION). Fields not given are not compared.
 */
export function checkMatches(record: ConsumerRecord, filter: ConsumerFilter | undefined, settings: Partial<ConsumerSettings>): void {
  const mismatch = (what: string, stored: unknown, asked: unknown) =>
    new RiggerError(
      'conflict',
      `consumer ${JSON.stringify(record.name)} exists with ${what} ${JSON.stringify(stored)}, not ${JSON.stringify(asked)}; use the same settings, or delete it (rig consumers delete ${record.name}) and create it again`,
    );
  if (filter !== undefined && !sameFilter(record.filter, filter)) throw mismatch('filter', canonicalFilter(record.filter), canonicalFilter(filter));
  for (const key of ['ackWaitMs', 'maxDeliver', 'maxInFlight'] as const) {
    if (settings[key] !== undefined && settings[key] !== record[key]) throw mismatch(key, record[key], settings[key]);
  }
  if (settings.backoffMs !== undefined && settings.backoffMs.length > 0 && JSON.stringify(settings.backoffMs) !== JSON.stringify(record.backoffMs)) {
    throw mismatch('backoffMs', record.backoffMs, settings.backoffMs);
  }
}

/** The delay before redelivering an event delivered `attempts` times so far. */
export function redeliveryDelay(settings: ConsumerSettings, attempts: number): number {
  const { backoffMs } = settings;
  if (backoffMs.length === 0) return 0;
  return backoffMs[Math.min(attempts, backoffMs.length) - 1] ?? 0;
}

export function lostError(record: Pick<ConsumerRecord, 'name' | 'lostReason'>, oldest: number): RiggerError {
  return new RiggerError(
    'out_of_range',
    `consumer ${JSON.stringify(record.name)} is lost: ${record.lostReason ?? 'the events it had not acked are gone from the log'}; ` +
      `reset it to the oldest event still kept (rig consumers reset ${record.name} --to ${Math.max(0, oldest - 1)}), or delete and create it again`,
    { oldest_sequence: String(oldest) },
  );
}

/** What one write of a consumer's progress records (a batch of acks, delivery counts and dead letters). */
export interface ConsumerProgress {
  ackedSequence: number;
  /** Acked since the last write (those above ackedSequence are kept as acks). */
  acks: number[];
  /** Delivery counts of events delivered more than once, so max_deliver holds across restarts. */
  attempts: Map<number, number>;
  deadLetters: DeadLetterRecord[];
  /** Dead letters acked after a redrive. */
  removedDeadLetters: number[];
}

/** Where consumers are stored (the store's ConsumerStore); writes resolve once durable. */
export interface ConsumerRepository {
  get(name: string): ConsumerRecord | undefined;
  /** Every consumer, ordered by name. */
  list(): readonly ConsumerRecord[];
  count(): number;
  /** At most `limit` consumers named after `after` (from the first when undefined), ordered by name. */
  page(after: string | undefined, limit: number): ConsumerRecord[];
  progressOf(name: string): { acks: number[]; attempts: Map<number, number>; deadLetters: DeadLetterRecord[] };
  deadLetters(name: string): DeadLetterRecord[];
  deadLetterCount(name: string): number;
  create(record: ConsumerRecord): Promise<ConsumerRecord>;
  delete(name: string): Promise<boolean>;
  reset(name: string, to: number): Promise<void>;
  markLost(name: string, reason: string): Promise<void>;
  redrive(name: string, sequences: readonly number[]): Promise<number[]>;
  drop(name: string, sequences: readonly number[]): Promise<number[]>;
  /** Writes the progress `take` gives, called inside the write's transaction (so it takes all made until then). */
  saveProgress(name: string, take: () => ConsumerProgress): Promise<void>;
}
