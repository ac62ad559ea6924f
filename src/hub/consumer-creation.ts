// Creating a durable consumer: at most --max-consumers of them (creations on their way count),
// each filter at most --consumer-max-filter-bytes, starting where start_sequence says; a create or
// join naming an existing consumer checks that it has what the request gives.
import {
  canonicalFilter,
  checkMatches,
  DEFAULT_CONSUMER_SETTINGS,
  validateConsumerName,
  validateSettings,
  type ConsumerFilter,
  type ConsumerRecord,
  type ConsumerRepository,
  type ConsumerSettings,
} from '../model/consumer';
import { RiggerError } from '../model/errors';
import { compileFilter, type FilterSpec } from './event-filter';

export interface ConsumerRequest {
  name: string;
  /** Undefined: not given (a join may name an existing consumer by name alone). */
  filter: ConsumerFilter | undefined;
  settings: Partial<ConsumerSettings>;
  /** Where a new consumer starts: after this sequence (0 = all retained history); undefined = new events only. */
  startSequence: number | undefined;
}

export interface CreationLimits {
  /** The oldest sequence the log still holds. */
  oldestSequence(): number;
  /** Consumers that may exist at once; a create past it gets RESOURCE_EXHAUSTED. */
  maxConsumers?: number;
  /** The largest filter a new consumer may have, in bytes of its stored JSON. */
  maxFilterBytes?: number;
}

export const DEFAULT_MAX_CONSUMERS = 1000;
export const DEFAULT_MAX_FILTER_BYTES = 64 * 1024;

export class ConsumerCreator {
  /** Creations on their way to the store: they count against --max-consumers already. */
  private readonly creating = new Map<string, Promise<ConsumerRecord>>();

  constructor(
    private readonly repository: ConsumerRepository,
    private readonly head: () => number,
    private readonly logger: { info(fields: object, message: string): void },
    private readonly limits: CreationLimits,
  ) {}

  /** Creates the consumer, or checks that the existing one has what `request` gives (FAILED_PRECONDITION if not). */
  async create(request: ConsumerRequest): Promise<ConsumerRecord> {
    validateConsumerName(request.name);
    validateSettings(request.settings);
    const filter = canonicalFilter(request.filter ?? { eventTypes: [], statuses: [], taskIds: [] });
    compileFilter(filterSpecOf(filter)); // refuses a bad filter before anything is written
    // No await unless a creation is on its way: the count below and the reservation after it happen in one turn.
    const pending = this.creating.get(request.name);
    const existing = this.repository.get(request.name) ?? (pending && (await pending));
    if (existing) {
      checkMatches(existing, request.filter, request.settings);
      return existing;
    }
    this.checkFilterSize(filter);
    const max = this.limits.maxConsumers ?? DEFAULT_MAX_CONSUMERS;
    if (this.repository.count() + this.creating.size >= max) {
      throw new RiggerError(
        'resource_exhausted',
        `this server already has ${max} consumers (its --max-consumers limit); delete unused ones (rig consumers list, then rig consumers delete NAME) or raise --max-consumers`,
      );
    }
    const creation = this.repository.create({
      ...DEFAULT_CONSUMER_SETTINGS,
      ...definedOnly(request.settings),
      name: request.name,
      filter,
      startSequence: request.startSequence,
      ackedSequence: this.startPosition(request.startSequence),
      createdAt: new Date().toISOString(),
      lostReason: undefined,
    });
    this.creating.set(request.name, creation);
    let stored: ConsumerRecord;
    try {
      stored = await creation;
    } finally {
      this.creating.delete(request.name);
    }
    checkMatches(stored, request.filter, request.settings); // another caller created it meanwhile
    this.logger.info({ consumer: stored.name, acked_sequence: stored.ackedSequence }, 'consumer created');
    return stored;
  }

  /** Refuses a new consumer's filter over the byte limit (its stored JSON); entries are bounded per list already (MAX_LIST_ENTRIES). */
  private checkFilterSize(filter: ConsumerFilter): void {
    const max = this.limits.maxFilterBytes ?? DEFAULT_MAX_FILTER_BYTES;
    const bytes = Buffer.byteLength(JSON.stringify(filter));
    if (bytes > max) {
      throw new RiggerError(
        'invalid_argument',
        `the consumer's filter is ${bytes} bytes stored (as JSON), over the ${max}-byte limit (the server's --consumer-max-filter-bytes); name fewer or shorter task_ids, or select by assignee_filter or statuses instead`,
      );
    }
  }

  private startPosition(start: number | undefined): number {
    const head = this.head();
    if (start === undefined) return head;
    if (start > head)
      throw new RiggerError(
        'out_of_range',
        `start_sequence ${start} is ahead of the newest event (${head}); use 0-${head}, or leave it unset for new events only`,
      );
    const oldest = this.limits.oldestSequence();
    if (start === 0) return Math.max(0, oldest - 1);
    if (start + 1 < oldest) {
      throw new RiggerError(
        'out_of_range',
        `start_sequence ${start} is older than the retained history; the oldest event kept is ${oldest}, so start at ${oldest - 1} or later (0 = all that is kept)`,
        { oldest_sequence: String(oldest) },
      );
    }
    return start;
  }
}

/** A consumer's stored filter as the hub's filter. */
export function filterSpecOf(filter: ConsumerFilter): FilterSpec {
  return {
    eventTypes: filter.eventTypes,
    statuses: filter.statuses,
    taskIds: filter.taskIds,
    ...(filter.assignee !== undefined && { assignee: filter.assignee }),
  };
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
