// Event ids (store/time-ordered-id.ts): version 7 UUIDs that sort in the order they were made,
// through bursts larger than the per-millisecond counter and a clock that steps back.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { timeOrderedUuid } from '../../src/store/time-ordered-id';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Runs `work` with Date.now() returning `now()`. */
function withClock<T>(now: () => number, work: () => T): T {
  const real = Date.now;
  Date.now = now;
  try {
    return work();
  } finally {
    Date.now = real;
  }
}

test('a version 7 UUID: the millisecond in its first 48 bits, version and variant bits set', () => {
  const ms = Date.UTC(2026, 11, 1, 12, 0, 0);
  const id = withClock(
    () => ms + 1000,
    () => timeOrderedUuid(),
  );
  assert.match(id, V7);
  assert.equal(parseInt(id.replace(/-/g, '').slice(0, 12), 16), ms + 1000);
});

test('ids made one after another strictly increase, 10,000 of them in one frozen millisecond too', () => {
  const ms = Date.UTC(2026, 11, 1, 13, 0, 0);
  const ids = withClock(
    () => ms,
    () => Array.from({ length: 10_000 }, () => timeOrderedUuid()),
  );
  for (const id of ids) assert.match(id, V7);
  for (let i = 1; i < ids.length; i++) assert.ok(ids[i - 1]! < ids[i]!, `id ${i} sorts after id ${i - 1}: ${ids[i - 1]} ${ids[i]}`);
  // 4,096 per millisecond fit the counter; past that the timestamp runs ahead of the clock.
  const lastMs = parseInt(ids[ids.length - 1]!.replace(/-/g, '').slice(0, 12), 16);
  assert.equal(lastMs, ms + 2);
  assert.equal(new Set(ids).size, ids.length);
});

test('a clock that steps back does not make an id sort before the one made before it', () => {
  const ms = Date.UTC(2026, 11, 1, 14, 0, 0);
  const before = withClock(
    () => ms,
    () => timeOrderedUuid(),
  );
  const after = withClock(
    () => ms - 60_000,
    () => timeOrderedUuid(),
  );
  assert.ok(before < after, `${before} < ${after}`);
});
