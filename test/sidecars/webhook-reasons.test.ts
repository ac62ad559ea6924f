// The webhook's (and exec's) retry policy without a server: every reason a decision carries is one
// printable line of at most 300 characters whatever it was built from, and Retry-After is read
// strictly (seconds or an HTTP-date; negative, garbage, huge and past values cannot park an event
// past an hour or make the retries a tight loop).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { boundedText, decide, MAX_REASON_CHARS, MAX_RETRY_AFTER_MS, retryAfterMs, type Outcome, type RetrySettings } from '../../sidecars/retry-policy';

const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/;
const SETTINGS: RetrySettings = { maxAttempts: 5, backoff: { initialDelayMs: 1000, maxDelayMs: 8000, multiplier: 2, maxAttempts: Number.POSITIVE_INFINITY } };
const half = () => 0.5;

test('boundedText: short text as it is; controls, separators and bidi escaped; long text cut with its length', () => {
  assert.equal(boundedText('answered 400: bad event'), 'answered 400: bad event');
  assert.equal(boundedText('a\nb\r\tc\u001b[2J\u0085\u2028\u202e\u2066'), 'a\\nb\\r\\tc\\x1b[2J\\x85\\u2028\\u202e\\u2066');
  const long = boundedText('x'.repeat(5000));
  assert.ok(long.length <= MAX_REASON_CHARS);
  assert.match(long, /^x+… \(5000 characters\)$/);
  assert.equal(boundedText('abcdef', 4), 'abc…', 'a max too small for the length: the ellipsis alone');
  assert.equal(boundedText('abc', 10, true), 'abc…', 'partial: the start of a longer text');
  // Escapes count against the bound, and none is cut in two.
  const escapes = boundedText('\u0000'.repeat(1000), 40);
  assert.ok(escapes.length <= 40, escapes);
  assert.match(escapes, /^(\\x00)+… \(1000 characters\)$/);
  // A character outside the BMP is never split into a lone surrogate.
  const emoji = boundedText('😀'.repeat(400), 50);
  assert.ok(emoji.length <= 50);
  assert.doesNotMatch(emoji.replace(/\p{Extended_Pictographic}/gu, ''), /[\ud800-\udfff]/);
});

test('decide: every reason it hands on is at most 300 printable characters, whatever the outcome', () => {
  const hostile = `/${'x'.repeat(3000)}\u001b[31m\r\n\u202e`;
  const outcomes: Outcome[] = [
    { kind: 'retry', reason: hostile },
    { kind: 'permanent', reason: hostile },
    { kind: 'fatal', reason: hostile },
  ];
  for (const outcome of outcomes) {
    const decision = decide(outcome, 1, SETTINGS, half);
    assert.ok('reason' in decision);
    assert.ok(decision.reason.length <= MAX_REASON_CHARS, `${outcome.kind}: ${decision.reason.length}`);
    assert.doesNotMatch(decision.reason, UNPRINTABLE);
    assert.match(decision.reason, /… \(3009 characters\)$/);
  }
});

test('decide: a Retry-After asks for longer than the backoff, up to an hour, never for less', () => {
  const delay = (retryAfter: number | undefined, attempt = 1) => {
    const d = decide({ kind: 'retry', reason: 'r', ...(retryAfter !== undefined && { retryAfterMs: retryAfter }) }, attempt, SETTINGS, half);
    assert.equal(d.action, 'nak');
    return d.action === 'nak' ? d.delayMs : -1;
  };
  assert.equal(delay(undefined), 750, 'the backoff: half fixed, half random');
  assert.equal(delay(2000), 2000);
  assert.equal(delay(0), 750, 'Retry-After: 0 does not skip the backoff');
  assert.equal(delay(-5000), 750);
  assert.equal(delay(Number.NaN), 750);
  assert.equal(delay(Number.POSITIVE_INFINITY), 750, 'not a number the server could take: the backoff');
  assert.equal(delay(10 * MAX_RETRY_AFTER_MS), MAX_RETRY_AFTER_MS);
  assert.equal(delay(undefined, 10), 6000, 'capped at maxDelayMs (8000), jittered');
});

test('retryAfterMs: delay-seconds and the three HTTP-date forms; anything else is not a Retry-After', () => {
  const now = Date.parse('2026-12-06T12:00:00Z');
  assert.equal(retryAfterMs('120', now), 120_000);
  assert.equal(retryAfterMs(' 7 ', now), 7000);
  assert.equal(retryAfterMs('99999999999999999999', now), MAX_RETRY_AFTER_MS);
  assert.equal(retryAfterMs('9'.repeat(400), now), MAX_RETRY_AFTER_MS, 'Infinity seconds');
  assert.equal(retryAfterMs('Sun, 06 Dec 2026 12:00:30 GMT', now), 30_000);
  assert.equal(retryAfterMs('Sunday, 06-Dec-26 12:00:30 GMT', now), 30_000);
  assert.equal(retryAfterMs('Sun Dec  6 12:00:30 2026', now), 30_000);
  assert.equal(retryAfterMs('Sun, 06 Dec 2026 11:00:00 GMT', now), 0, 'a date in the past: now');
  assert.equal(retryAfterMs('Mon, 06 Dec 2100 12:00:00 GMT', now), MAX_RETRY_AFTER_MS, 'a date far out: an hour');
  for (const garbage of ['-5', '1.5', '1e3', '', 'soon', '2026-12-06T12:00:30Z', 'Sun, 06 Dec 2026 12:00:30 PST', 'whenever, 1 2 3', '0x10']) {
    assert.equal(retryAfterMs(garbage, now), undefined, JSON.stringify(garbage));
  }
  assert.equal(retryAfterMs(undefined, now), undefined);
  assert.equal(retryAfterMs(null, now), undefined);
});
