// TaskLanes on its own: the heads of ready lanes go lowest sequence first, whether a lane became
// ready by a new event (the arrivals queue) or by a release (the heap).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newEntry, TaskLanes } from '../../src/hub/task-lanes';
import { updatedEvent as event } from './consumer-fixtures';

test('lane heads go lowest sequence first across new events, released heads and redrives; one event of a task at a time', () => {
  const lanes = new TaskLanes();
  const now = 0;
  const entries = [event(11, 'A'), event(12, 'B'), event(13, 'A'), event(14, 'C')].map((e) => newEntry(e, 0, false));
  for (const entry of entries) lanes.add(entry, false, now);
  const take = () => {
    const entry = lanes.takeReady(now);
    if (entry) entry.holder = 1;
    return entry?.event.sequence;
  };
  assert.equal(take(), 11);
  assert.equal(take(), 12);
  // 11 comes back (a nak): it goes before 14, which arrived before it was released.
  entries[0]!.holder = undefined;
  lanes.released(entries[0]!, now);
  lanes.add(newEntry(event(15, 'D'), 0, false), false, now);
  assert.equal(take(), 11);
  assert.equal(take(), 14);
  assert.equal(take(), 15);
  assert.equal(take(), undefined, '13 waits while 11 of its task is in flight');
  entries[0]!.holder = undefined;
  lanes.remove(entries[0]!, now); // 11 acked: 13 may go
  lanes.add(newEntry(event(16, 'E'), 0, false), false, now);
  lanes.add(newEntry(event(1, 'F'), 0, true), true, now); // a redrive below everything
  assert.equal(take(), 1);
  assert.equal(take(), 13);
  assert.equal(take(), 16);
  assert.equal(lanes.readyCount, 0);
});
