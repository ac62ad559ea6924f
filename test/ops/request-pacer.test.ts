// The operations endpoint's pacer on its own, on a clock the test moves: a burst of the budget is
// served at once, the rest wait in order and go as the budget refills, and past the bound of
// waiters a request is refused rather than queued.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RequestPacer } from '../../src/ops/request-pacer';

test('a burst of the budget goes at once; the rest wait their turn in order; past maxWaiting they are refused', async () => {
  let now = 0;
  const pacer = new RequestPacer(100, 5, () => now);
  const served: number[] = [];
  for (let i = 0; i < 100; i++)
    assert.equal(
      pacer.admit(() => served.push(i)),
      true,
    );
  assert.equal(served.length, 100, 'the budget is served at once');
  for (let i = 100; i < 105; i++)
    assert.equal(
      pacer.admit(() => served.push(i)),
      true,
    );
  assert.equal(
    pacer.admit(() => served.push(999)),
    false,
    'a sixth waiter is refused',
  );
  assert.equal(served.length, 100, 'nothing beyond the budget ran before the clock moved');
  now += 30; // three more tokens
  await new Promise((resolve) => setTimeout(resolve, 40)); // the pacer's own timer (10 ms) runs
  assert.deepEqual(served.slice(100), [100, 101, 102]);
  now += 1000;
  await new Promise((resolve) => setTimeout(resolve, 40));
  assert.deepEqual(served.slice(100), [100, 101, 102, 103, 104]);
  assert.ok(!served.includes(999));
  pacer.stop();
});
