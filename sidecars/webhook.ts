// The webhook sidecar: POSTs each matching event to --url, signed per Standard Webhooks, on a
// durable consumer (at least once, each task's events in order; retried with backoff, dead letters
// after --max-attempts). webhook-id is `msg_<consumer>_<log id>_<sequence>`: the same on every
// redelivery of an event, so a receiver drops repeats by it, and never the id of another event (a
// restored log reuses sequences under a new log id). The body is the event as JSON (--format json, the NATS
// bridge's payload) or a Slack message (--format slack). What each HTTP answer means: webhook-http.ts.
import type { CommandModule } from 'yargs';
import { projectOrNone } from '../src/config/client-connection';
import type { CommonArgs } from '../src/config/command-line';
import { resolveSetting, settingOptions } from '../src/config/settings';
import { invalidArgument } from '../src/model/errors';
import { runDeliveries, type DeliveryHandler } from './delivery-pool';
import { defaultConsumerName, deliveryFlags, deliverySettingsOf, type DeliveryArgs, type DeliverySettings } from './delivery-flags';
import { FORMATS, webhookBody, type WebhookFormat } from './webhook-format';
import { postEvent, shownUrl } from './webhook-http';
import { parseSecrets, webhookHeaders } from './webhook-signature';
import { connect, runStandalone, sidecarLogger } from './shared';

interface WebhookOptions extends DeliverySettings {
  url: URL;
  format: WebhookFormat;
  /** Signing keys; none = unsigned. */
  keys: Buffer[];
}

type WebhookArgs = DeliveryArgs & { url: string; secret?: string; format: string };

function parseUrl(text: string): URL {
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:'))
    throw invalidArgument(`--url must be an http:// or https:// URL, got ${JSON.stringify(text)}`);
  return url;
}

function formatOf(text: string): WebhookFormat {
  const format = FORMATS.find((f) => f === text);
  if (!format) throw invalidArgument(`--format must be ${FORMATS.join(' or ')}, got ${JSON.stringify(text)}`);
  return format;
}

function webhookOptions(argv: WebhookArgs): WebhookOptions {
  const url = parseUrl(argv.url);
  const secretText = resolveSetting('webhookSecret', argv as unknown as Record<string, unknown>, projectOrNone(argv.C ?? '.').config);
  return {
    ...deliverySettingsOf(argv, defaultConsumerName('webhook', url.host, url.href)),
    url,
    format: formatOf(argv.format),
    keys:
      secretText === ''
        ? []
        : parseSecrets(
            secretText,
            argv.secret !== undefined ? '--secret' : 'the webhook secret (RIGGER_WEBHOOK_SECRET or "webhookSecret" in .rigger/config.json)',
          ),
  };
}

async function runWebhook(options: WebhookOptions): Promise<void> {
  const logger = sidecarLogger('webhook', options);
  const client = connect(options, 'webhook');
  const url = shownUrl(options.url);
  const handle: DeliveryHandler = async (delivery, signal) => {
    const body = webhookBody(delivery.event, options.format);
    const id = `msg_${options.consumer}_${delivery.event.log_id ?? 'legacy'}_${delivery.sequence}`;
    const started = Date.now();
    const { outcome, status } = await postEvent(options.url, body, webhookHeaders(options.keys, id, body), options.timeoutMs, signal);
    if (outcome.kind === 'done')
      logger.info({ sequence: delivery.sequence, attempt: delivery.attempt, webhook_id: id, status, ms: Date.now() - started }, 'event delivered');
    return outcome;
  };
  logger.info(
    {
      address: client.address,
      url,
      consumer: options.consumer,
      format: options.format,
      signed: options.keys.length > 0,
      signatures: options.keys.length,
      concurrency: options.concurrency,
      max_attempts: options.retry.maxAttempts,
      timeout_ms: options.timeoutMs,
    },
    'webhook started',
  );
  if (options.keys.length === 0)
    logger.warn({ url }, 'no secret (--secret, RIGGER_WEBHOOK_SECRET): requests are not signed, so the receiver cannot tell them from forgeries');
  await runDeliveries(client, options, handle, logger);
}

export const webhookCommand: CommandModule<CommonArgs, WebhookArgs> = {
  command: 'webhook',
  describe: 'POST each task event to --url (Standard Webhooks signed; retried; dead letters)',
  builder: (yargs) =>
    deliveryFlags(yargs, { timeoutMs: 10_000, concurrency: 4, consumer: 'webhook-<host>-<hash of the URL>' })
      .option('url', { type: 'string', demandOption: true, describe: 'the http(s) URL to POST each event to' })
      .options(settingOptions('webhookSecret'))
      .option('format', {
        type: 'string',
        default: 'json',
        describe: 'json: the event as the NATS bridge publishes it; slack: {"text": "Alice moved *Fix login bug* to IN_PROGRESS"}',
      })
      .example('$0 sidecar webhook --url https://example.com/hooks/rigger --secret whsec_...', 'POST each event, signed (Standard Webhooks)')
      .example('$0 sidecar webhook --format slack --types status_changed --url "$SLACK_URL"', 'status changes to Slack') as never,
  handler: (argv) => runWebhook(webhookOptions(argv)),
};

if (require.main === module) runStandalone(webhookCommand);
