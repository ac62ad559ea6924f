// The flags of the sidecars that hand each event to something outside (webhook, exec): the filters,
// the durable consumer they run on, how long one attempt may take, how many run at once, and how
// failures are retried. They always run on a durable consumer (at least once, in order per task,
// dead letters), so there is no --checkpoint and no bookmark interval.
import { createHash } from 'node:crypto';
import type { Argv } from 'yargs';
import type { CommonArgs } from '../src/config/command-line';
import { connectionOptions } from '../src/config/client-connection';
import { filterFlags } from '../src/config/subscription-flags';
import { validateConsumerName } from '../src/model/consumer';
import { invalidArgument } from '../src/model/errors';
import type { RetrySettings } from './retry-policy';
import { LOG_FLAGS, sidecarOptions, type SidecarArgs, type SidecarOptions } from './shared';

export interface DeliveryArgs extends SidecarArgs {
  'max-attempts': number;
  'retry-initial-ms': number;
  'retry-max-ms': number;
  'timeout-ms': number;
  concurrency: number;
}

export interface DeliverySettings extends SidecarOptions {
  consumer: string;
  retry: RetrySettings;
  timeoutMs: number;
  concurrency: number;
}

/** The max_deliver of the consumer: its own upper bound. */
const MAX_ATTEMPTS = 1000;
const MAX_TIMEOUT_MS = 3_600_000;
const MAX_CONCURRENCY = 1000;
const MAX_RETRY_DELAY_MS = 86_400_000;

export function deliveryFlags<T extends CommonArgs>(
  yargs: Argv<T>,
  defaults: { timeoutMs: number; concurrency: number; consumer: string },
): Argv<T & DeliveryArgs> {
  // The connection flags are strings that resolveSetting parses; yargs' inferred types add nothing.
  const connected = yargs.options(connectionOptions()).options(LOG_FLAGS) as unknown as Argv<T>;
  return filterFlags(connected, 'when the consumer is created here: start after this sequence (0 = all history); default new events only')
    .option('consumer', {
      type: 'string',
      describe: `the durable consumer keeping the position (created on first start with the filter flags, --since and --max-attempts; default ${defaults.consumer}); several sidecars with one name share the events`,
    })
    .option('max-attempts', {
      type: 'number',
      default: 10,
      describe: `deliveries of one event before it is a dead letter (the consumer's max_deliver, 1-${MAX_ATTEMPTS})`,
    })
    .option('retry-initial-ms', { type: 'number', default: 1000, describe: 'delay before the first retry; doubles per attempt, with jitter' })
    .option('retry-max-ms', { type: 'number', default: 300_000, describe: 'longest delay between two attempts (a Retry-After is honoured up to 1 hour)' })
    .option('timeout-ms', { type: 'number', default: defaults.timeoutMs, describe: 'one attempt taking longer is a failure (retried)' })
    .option('concurrency', {
      type: 'number',
      default: defaults.concurrency,
      describe: "events handled at once (never two of one task: each task's events go one after another, in order)",
    }) as Argv<T & DeliveryArgs>;
}

function whole(flag: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max)
    throw invalidArgument(`--${flag} must be a whole number from ${min} to ${max}, got ${String(value)}`);
  return value;
}

/** The parsed flags, checked; throws invalid_argument naming the bad flag. */
export function deliverySettingsOf(argv: DeliveryArgs, defaultConsumer: string): DeliverySettings {
  const initialDelayMs = whole('retry-initial-ms', argv['retry-initial-ms'], 1, MAX_RETRY_DELAY_MS);
  const maxDelayMs = whole('retry-max-ms', argv['retry-max-ms'], 1, MAX_RETRY_DELAY_MS);
  if (maxDelayMs < initialDelayMs) throw invalidArgument(`--retry-max-ms (${maxDelayMs}) must not be below --retry-initial-ms (${initialDelayMs})`);
  return {
    ...sidecarOptions(argv, true),
    consumer: validateConsumerName(argv.consumer ?? defaultConsumer),
    retry: {
      maxAttempts: whole('max-attempts', argv['max-attempts'], 1, MAX_ATTEMPTS),
      backoff: { initialDelayMs, maxDelayMs, multiplier: 2, maxAttempts: Number.POSITIVE_INFINITY },
    },
    timeoutMs: whole('timeout-ms', argv['timeout-ms'], 1, MAX_TIMEOUT_MS),
    concurrency: whole('concurrency', argv.concurrency, 1, MAX_CONCURRENCY),
  };
}

/** A default consumer name for `kind` from a text naming what it delivers to: readable, stable, valid. */
export function defaultConsumerName(kind: string, readable: string, identity: string): string {
  const slug =
    readable
      .replace(/[^A-Za-z0-9._-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 40) || kind;
  // A hash of the whole identity, so two URLs (or commands) with the same readable part differ.
  const hash = createHash('sha256').update(identity).digest('hex').slice(0, 8);
  return `${kind}-${slug}-${hash}`;
}
