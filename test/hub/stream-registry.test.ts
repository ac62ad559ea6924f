// The hub's registry of open streams alone: streams listed oldest first while open and gone once
// closed, and the counts by client kind bounded (MAX_COUNTED_CLIENTS) whatever names clients send,
// with every stream still counted once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_COUNTED_CLIENTS, OTHER_CLIENTS, StreamRegistry, UNNAMED_CLIENT } from '../../src/hub/stream-registry';

const opening = (clientName: string | undefined) => ({ kind: 'subscribe' as const, peer: '127.0.0.1:1', clientName, queuedBytes: () => 0 });

test('streams are listed oldest first while open, limited on request, and gone once closed', () => {
  const registry = new StreamRegistry();
  const a = registry.open(opening('logger/1'));
  const b = registry.open(opening('board/2'));
  const c = registry.open(opening(undefined));
  assert.deepEqual(
    registry.list().map((s) => s.id),
    [a.id, b.id, c.id],
  );
  assert.deepEqual(
    registry.list(2).map((s) => s.opening.clientName),
    ['logger/1', 'board/2'],
  );
  registry.close(b);
  registry.close(b); // a stream's end events may each close it
  assert.equal(registry.size, 2);
  assert.deepEqual(
    [...registry.byClient(0)].map(([kind, e]) => [kind, e.streams]),
    [
      ['logger', 1],
      [UNNAMED_CLIENT, 1],
    ],
  );
});

test('counts by client kind: instances share their kind, at most MAX_COUNTED_CLIENTS kinds, the rest under "other"', () => {
  const registry = new StreamRegistry();
  // 19 kinds with 3 streams each, 31 with one.
  for (let kind = 0; kind < 50; kind++) for (let i = 0; i < (kind < MAX_COUNTED_CLIENTS - 1 ? 3 : 1); i++) registry.open(opening(`kind-${kind}/${i}`));
  registry.open(opening(`${OTHER_CLIENTS}/x`)); // a client that calls itself "other" is still counted once
  const counts = registry.byClient(0);
  assert.equal(counts.size, MAX_COUNTED_CLIENTS);
  assert.ok(counts.has(OTHER_CLIENTS));
  assert.equal(
    [...counts.values()].reduce((sum, e) => sum + e.streams, 0),
    registry.size,
    'every stream counted once',
  );
  for (const [kind, entry] of counts) if (kind !== OTHER_CLIENTS) assert.equal(entry.streams, 3, `${kind}: the kinds with the most streams are kept`);
});
