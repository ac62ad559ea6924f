// The log watcher (src/store/log-watcher.ts): it sees other connections' commits, and once the -wal
// has been still it polls at its idle interval, woken by the -wal's file event. Over a real SQLite
// file (a project made by initProject; addTaskToFile writes on a second connection, as `rig task
// add` does) and over a fake log whose data_version the test moves without touching any file.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { initProject } from '../../src/cli/project-store';
import { taskEventEncoder } from '../../src/protocol/event-codec';
import { watchLog } from '../../src/store/log-watcher';
import { openStore } from '../../src/store/store';
import { tempDir, waitFor } from '../support/processes';
import { addTaskToFile } from '../support/project-writes';

/** An idle interval no test waits out: a change seen while asleep came by the file event. */
const NEVER_MS = 600_000;

function project() {
  const dir = tempDir('rigger-log-watch-');
  const { database } = initProject(dir);
  return { dir, database };
}

test('asleep on an idle interval it never waits out, the watcher still sees another connection commit: the -wal event wakes it', async () => {
  const { dir, database } = project();
  const store = openStore(database, taskEventEncoder);
  let changes = 0;
  const watch = watchLog(store.log, { file: database, activeMs: 5, idleMs: NEVER_MS, quietAfterMs: 50 }, () => changes++);
  try {
    await waitFor(() => changes === 1, 5000, 'the first look');
    for (let round = 1; round <= 3; round++) {
      await waitFor(() => watch.idle, 5000, `the watcher asleep (round ${round})`);
      addTaskToFile(dir, `written while the server slept ${round}`);
      await waitFor(() => changes === 1 + round, 5000, `the commit of round ${round} seen`);
    }
    assert.equal(store.log.latestSequence(), 3);
  } finally {
    watch.stop();
    store.close();
  }
});

test("the watcher's own connection writing calls no onChange, watched or not (no -wal to watch: it polls fast always)", async () => {
  const { dir, database } = project();
  const store = openStore(database, taskEventEncoder);
  const changes = { watched: 0, unwatched: 0 };
  const watched = watchLog(store.log, { file: database, activeMs: 5, idleMs: NEVER_MS, quietAfterMs: 50 }, () => changes.watched++);
  // A path with no -wal beside it: fs.watch fails, so this one polls every activeMs and never sleeps.
  const unwatched = watchLog(store.log, { file: path.join(dir, 'no-such.db'), activeMs: 5, idleMs: NEVER_MS, quietAfterMs: 0 }, () => changes.unwatched++);
  try {
    await waitFor(() => changes.watched === 1 && changes.unwatched === 1 && watched.idle, 5000, 'both first looks, and the watched one asleep');
    await store.tasks.writeGrouped('log-watcher test', (m) => m.createTask({ title: 'our own' }));
    // The barrier: another connection's commit after ours, seen by both; ours counted too would make 3.
    addTaskToFile(dir, 'theirs');
    await waitFor(() => changes.watched >= 2 && changes.unwatched >= 2, 5000, "the other connection's commit seen by both");
    assert.deepEqual(changes, { watched: 2, unwatched: 2 }, 'our own commit is no other process');
    assert.equal(unwatched.idle, false);
  } finally {
    unwatched.stop();
    watched.stop();
    store.close();
  }
});

test('a data_version change with no file event is seen by the idle poll; a file event wakes a sleeping watcher; a removed -wal ends the watch', async () => {
  const dir = tempDir('rigger-log-watch-');
  const file = path.join(dir, 'fake.db');
  fs.writeFileSync(`${file}-wal`, '');
  let version = 1;
  const changes = { polled: 0, woken: 0 };
  const polled = watchLog({ dataVersion: () => version }, { file, activeMs: 5, idleMs: 20, quietAfterMs: 50 }, () => changes.polled++);
  const woken = watchLog({ dataVersion: () => version }, { file, activeMs: 5, idleMs: NEVER_MS, quietAfterMs: 50 }, () => changes.woken++);
  try {
    await waitFor(() => changes.polled === 1 && polled.idle && changes.woken === 1 && woken.idle, 5000, 'the first looks, then both asleep');
    version = 2;
    await waitFor(() => changes.polled === 2, 5000, 'the idle poll sees the new version');
    assert.equal(changes.woken, 1, 'no file event yet, and its idle interval is never waited out');
    fs.appendFileSync(`${file}-wal`, 'x');
    await waitFor(() => changes.woken === 2, 5000, 'woken by the file event, it sees the new version');
    // Removing the -wal ends the watch: from then on it polls every activeMs and never sleeps.
    await waitFor(() => woken.idle, 5000, 'asleep again');
    fs.rmSync(`${file}-wal`);
    await waitFor(() => !woken.idle, 5000, 'the removal woke it');
    version = 3;
    await waitFor(() => changes.woken === 3, 5000, 'the change after the -wal went, with no file to watch');
    assert.equal(woken.idle, false);
  } finally {
    polled.stop();
    woken.stop();
  }
});
