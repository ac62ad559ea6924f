// The byte count behind --consumer-max-held-bytes (src/store/event-bytes.ts), on a real SQLite
// file: any stretch of the log, across and within its cached blocks, sums to what SQLite sums over
// the same rows; a stretch larger than one call sums is a lower bound that becomes exact on later
// calls; compacted blocks are forgotten.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { taskEventEncoder } from '../../src/protocol/event-codec';
import { EventBytes } from '../../src/store/event-bytes';
import { openStore } from '../../src/store/store';
import { tempProject } from '../support/processes';

test("EventBytes.between equals SQLite's sum over the same events, cached or not, and converges on long stretches", () => {
  const store = openStore(path.join(tempProject(), '.rigger', 'tasks.db'), taskEventEncoder);
  try {
    const events = 70_000;
    for (let done = 0; done < events; done += 5000) {
      store.tasks.write('bulk', (m) => {
        for (let i = 0; i < 5000; i++) m.createTask({ title: `t${done + i} ${'w'.repeat((done + i) % 97)}` });
      });
    }
    const direct = store.db.prepare<[number, number], { n: number | null }>(
      'SELECT sum(length(encoded)) AS n FROM events WHERE sequence >= ? AND sequence < ?',
    );
    const expected = (from: number, to: number) => direct.get(from, to)?.n ?? 0;
    const bytes = new EventBytes(store.db);
    for (const [from, to] of [
      [1, 2],
      [5, 5],
      [1, 1024],
      [1000, 3000],
      [1024, 2048],
      [1023, 2049],
      [2048, 2049],
      [3000, 9000],
      [1, 9000],
      [8192, 10240],
    ] as const) {
      assert.deepEqual(bytes.between(from, to), { bytes: expected(from, to), complete: true }, `${from}..${to}`);
      assert.deepEqual(bytes.between(from, to), { bytes: expected(from, to), complete: true }, `${from}..${to} again, from the cache`);
    }
    // 68 whole blocks: more than one call sums (16), so the first answers are lower bounds.
    const first = bytes.between(1, events + 1);
    const whole = expected(1, events + 1);
    assert.ok(first.bytes <= whole);
    let last = first;
    for (let calls = 0; calls < 10 && !last.complete; calls++) last = bytes.between(1, events + 1);
    assert.deepEqual(last, { bytes: whole, complete: true });

    store.db.prepare('DELETE FROM events WHERE sequence < 5000').run();
    bytes.forgetBelow(5000);
    assert.deepEqual(bytes.between(5000, 20_000), { bytes: expected(5000, 20_000), complete: true });
  } finally {
    store.close();
  }
});
