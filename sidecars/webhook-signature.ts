// Standard Webhooks signing (https://www.standardwebhooks.com): the headers webhook-id,
// webhook-timestamp (Unix seconds) and webhook-signature, `v1,<base64 HMAC-SHA256>` of
// `<id>.<timestamp>.<body>` keyed with the secret's bytes. With several secrets (a rotation in
// progress) the header carries one signature per secret, space-separated, so a receiver holding
// either the old or the new secret accepts the request.
import { createHmac } from 'node:crypto';
import { invalidArgument } from '../src/model/errors';

const PREFIX = 'whsec_';
/** The spec's bounds for a secret's random bytes. */
const MIN_SECRET_BYTES = 24;
const MAX_SECRET_BYTES = 64;

/** `whsec_<base64>` secrets, separated by spaces or commas, as key bytes; throws invalid_argument naming `source`. */
export function parseSecrets(text: string, source: string): Buffer[] {
  const secrets = text.split(/[\s,]+/).filter(Boolean);
  return secrets.map((secret, i) => {
    const which = secrets.length > 1 ? `${source} (secret ${i + 1} of ${secrets.length})` : source;
    const encoded = secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : undefined;
    if (encoded === undefined || !/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || encoded.length % 4 === 1) {
      throw invalidArgument(
        `${which} must be a Standard Webhooks secret: whsec_ then base64, e.g. whsec_${Buffer.alloc(MIN_SECRET_BYTES, 7).toString('base64')}`,
      );
    }
    const key = Buffer.from(encoded, 'base64');
    if (key.length < MIN_SECRET_BYTES || key.length > MAX_SECRET_BYTES) {
      throw invalidArgument(
        `${which} holds ${key.length} bytes; a secret is ${MIN_SECRET_BYTES} to ${MAX_SECRET_BYTES} random bytes (e.g. whsec_$(openssl rand -base64 32))`,
      );
    }
    return key;
  });
}

/** The value of webhook-signature: one `v1,<base64>` per key. */
export function signature(keys: readonly Buffer[], id: string, timestampSeconds: number, body: string): string {
  const signed = `${id}.${timestampSeconds}.${body}`;
  return keys.map((key) => `v1,${createHmac('sha256', key).update(signed).digest('base64')}`).join(' ');
}

/** The three headers of one attempt (without webhook-signature when there is no key). */
export function webhookHeaders(keys: readonly Buffer[], id: string, body: string, now = Date.now()): Record<string, string> {
  const timestamp = Math.floor(now / 1000);
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    ...(keys.length > 0 && { 'webhook-signature': signature(keys, id, timestamp, body) }),
  };
}
