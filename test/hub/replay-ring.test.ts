// The replay ring alone: events of random sizes pushed in order (with an occasional jump, as when
// another process's commits are skipped), checked after every push against the plain list of what
// was pushed. The ring must hold a contiguous run ending at the newest event, never more than its
// capacity, and give back each held event's fields and bytes exactly, even after its arena wrapped
// and reused the bytes many times; a read is a copy that later pushes do not change.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReplayRing } from '../../src/hub/replay-ring';
import type { LoggedEvent } from '../../src/model/logged-event';
import type { TaskEventType, TaskStatus } from '../../src/model/task';
import { seededRandom } from '../support/seeded-random';

const SEED = Number(process.env.RIGGER_TEST_SEED ?? Date.now() % 1_000_000);

/** The ring's arena (replay-ring.ts): 2 KiB per event of capacity, 64 KiB at least. */
const arenaBytes = (capacity: number) => Math.max(64 * 1024, capacity * 2048);

function eventOf(sequence: number, size: number, random: () => number): LoggedEvent {
  const encoded = Buffer.alloc(size);
  for (let i = 0; i < size; i++) encoded[i] = (sequence * 31 + i) & 0xff;
  return {
    sequence,
    eventType: (1 + (sequence % 7)) as TaskEventType,
    taskId: `task-${sequence % 13}`,
    assignee: random() < 0.3 ? undefined : `person-${sequence % 5}`,
    previousAssignee: random() < 0.5 ? undefined : `before-${sequence % 3}`,
    status: (sequence % 11) as TaskStatus,
    previousStatus: random() < 0.4 ? undefined : (((sequence + 1) % 11) as TaskStatus),
    encoded,
  };
}

test('the ring holds a contiguous run of exact events through thousands of arena wraps', () => {
  const random = seededRandom(SEED);
  const seed = SEED;
  for (const capacity of [1, 7, 40, 1000]) {
    const ring = new ReplayRing(capacity);
    const arena = arenaBytes(capacity);
    const pushed = new Map<number, LoggedEvent>();
    let sequence = 0;
    let runStart = 1;
    for (let i = 0; i < 3000; i++) {
      if (random() < 0.01) runStart = sequence += 1 + Math.floor(random() * 5); // a jump starts a fresh run
      sequence++;
      // Mostly small, sometimes a large one that pushes many out, rarely one bigger than the arena.
      const roll = random();
      const size = roll < 0.85 ? 1 + Math.floor(random() * 900) : roll < 0.995 ? 1 + Math.floor(random() * 30_000) : arena + 1;
      const event = eventOf(sequence, size, random);
      pushed.set(sequence, event);
      ring.push(event);
      const oldest = ring.oldest;
      const context = `seed ${seed}, capacity ${capacity}, push ${i} (sequence ${sequence}, ${size} bytes)`;
      if (size > arena) {
        assert.equal(oldest, undefined, `${context}: an event bigger than the arena empties the ring`);
        runStart = sequence + 1;
        continue;
      }
      assert.ok(oldest !== undefined && oldest <= sequence && oldest >= runStart, `${context}: oldest ${oldest}`);
      assert.ok(sequence - oldest + 1 <= capacity, `${context}: holds ${sequence - oldest + 1} > capacity`);
      assert.ok(ring.covers(oldest) && !ring.covers(oldest - 1), context);
      let bytes = 0;
      const held = ring.slice(oldest, Number.MAX_SAFE_INTEGER);
      assert.deepEqual(
        held.map((e) => e.sequence),
        Array.from({ length: sequence - oldest + 1 }, (_, k) => oldest + k),
        context,
      );
      for (const got of held) {
        const want = pushed.get(got.sequence)!;
        assert.deepEqual({ ...got, encoded: undefined }, { ...want, encoded: undefined }, `${context}: fields of ${got.sequence}`);
        assert.ok(got.encoded.equals(want.encoded), `${context}: bytes of ${got.sequence}`);
        bytes += got.encoded.length;
      }
      assert.ok(bytes <= arena, `${context}: ${bytes} bytes held in a ${arena}-byte arena`);
    }
  }
});

test('a read is a copy: the bytes a stream was given survive the arena being reused', () => {
  const random = seededRandom(SEED);
  const ring = new ReplayRing(4);
  ring.push(eventOf(1, 500, random));
  const [first] = ring.slice(1, 1);
  const kept = Buffer.from(first!.encoded);
  for (let s = 2; s < 500; s++) ring.push(eventOf(s, 700, random));
  assert.ok(first!.encoded.equals(kept));
  assert.equal(ring.oldest, 496);
});

test('a ring of 1000 keeps the last 1000 small events, and fewer when they are big', () => {
  const random = seededRandom(SEED);
  const ring = new ReplayRing(1000);
  for (let s = 1; s <= 5000; s++) ring.push(eventOf(s, 400, random));
  assert.equal(ring.oldest, 4001);
  // 2 MiB of arena: 20 events of 100 KiB at most, one fewer when the tail end left over at a wrap is too short.
  for (let s = 5001; s <= 5100; s++) ring.push(eventOf(s, 100 * 1024, random));
  const held = 5100 - ring.oldest! + 1;
  assert.ok(held >= 18 && held <= 20, `held ${held} events of 100 KiB`);
});
