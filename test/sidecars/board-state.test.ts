// The board sidecar's in-memory board without a server: built from snapshot entries, announced
// when the snapshot completes, its cards read live (a card changed before it is reached is read as
// it is then, one removed is skipped), kept by task version (an UPDATED and its STATUS_CHANGED carry
// one), a deletion takes the card off, the feed stays bounded; and its page files ship in the package.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BoardState, type BoardMessage } from '../../sidecars/board-state';
import { TaskEventType, TaskStatus, type Task, type TaskEvent } from '../../src/model/task';
import { REPO_ROOT, runAsync } from '../support/processes';

function task(id: string, status: TaskStatus, version: number, assignee?: string): Task {
  return {
    id,
    title: `task ${id}`,
    status,
    version,
    subtask_ids: [],
    context_files: [],
    dependencies: [],
    created_at: '2026-01-01T00:00:00.000Z',
    updated_at: `2026-01-01T00:00:0${version}.000Z`,
    ...(assignee && { assignee }),
  };
}

function event(sequence: number, type: TaskEventType, changed: Task): TaskEvent {
  return { sequence, event_id: `e${sequence}`, timestamp: '2026-01-01T00:00:00.000Z', event_type: type, task: changed, metadata: {}, changed_fields: [] };
}

test('board state: snapshot, then changes by version; a deletion leaves the board; the feed keeps the newest', () => {
  const state = new BoardState(3);
  const messages: BoardMessage[] = [];
  state.listen((message) => messages.push(message));

  state.snapshotStarted();
  state.snapshotEntry(task('a', TaskStatus.TODO, 1, 'Alice'));
  state.snapshotEntry(task('gone', TaskStatus.ARCHIVED, 2));
  assert.equal(messages.length, 0, 'nothing is published while the snapshot is partial');
  assert.equal(state.header().ready, false);
  state.snapshotComplete(4);
  assert.deepEqual(messages, [{ kind: 'board' }]);
  assert.deepEqual(
    [...state.cards()].map((t) => [t.id, t.status, t.assignee]),
    [['a', 'TODO', 'Alice']],
    'archived tasks are not on the board',
  );
  const header = state.header();
  assert.equal(header.sequence, 4);
  assert.equal(header.tasks, 1);
  assert.equal(header.ready, true);
  assert.ok(!header.statuses.includes('ARCHIVED') && header.statuses[0] === 'TODO');

  const moved = task('a', TaskStatus.IN_PROGRESS, 2, 'Alice');
  state.apply(event(5, TaskEventType.UPDATED, moved));
  state.apply(event(6, TaskEventType.STATUS_CHANGED, moved));
  state.apply(event(7, TaskEventType.UPDATED, task('a', TaskStatus.TODO, 1, 'Alice'))); // an older version: ignored
  assert.equal([...state.cards()][0]!.status, 'IN_PROGRESS');
  state.apply(event(8, TaskEventType.DELETED, task('a', TaskStatus.ARCHIVED, 3, 'Alice')));
  const last = messages.at(-1)!;
  assert.ok(last.kind === 'change' && last.task === null && last.task_id === 'a', 'the change says the card left the board');
  assert.deepEqual([...state.cards()], []);
  assert.deepEqual(
    state.header().feed.map((entry) => entry.sequence),
    [6, 7, 8],
    'the feed keeps the newest 3',
  );
  assert.equal(state.header().sequence, 8);

  state.setConnected(true);
  state.setConnected(true);
  assert.deepEqual(
    messages.filter((m) => m.kind === 'status'),
    [{ kind: 'status', connected: true }],
    'a status message only when it changes',
  );

  // A new snapshot is built apart: until it completes the board stays whole, then it replaces it;
  // one cut off is dropped when the next starts.
  state.apply(event(9, TaskEventType.CREATED, task('kept', TaskStatus.TODO, 1)));
  const before = state.cards();
  state.snapshotStarted();
  state.snapshotEntry(task('cut', TaskStatus.TODO, 1));
  state.snapshotStarted();
  state.snapshotEntry(task('b', TaskStatus.COMPLETED, 1));
  assert.deepEqual(
    [...state.cards()].map((t) => t.id),
    ['kept'],
    'while a snapshot comes in, the board is the one before it',
  );
  assert.equal(state.header().tasks, 1);
  state.snapshotComplete(10);
  assert.deepEqual(
    [...state.cards()].map((t) => t.id),
    ['b'],
  );
  assert.deepEqual(
    [...before].map((t) => t.id),
    ['kept'],
    'a page part-way through the old board reads it to its end, unchanged',
  );
  assert.deepEqual(messages.at(-1), { kind: 'board' });
});

test('board state: cards() read while the board changes yields each card as it is when reached, never a removed one', () => {
  const state = new BoardState();
  state.snapshotStarted();
  for (const id of ['a', 'b', 'c', 'd']) state.snapshotEntry(task(id, TaskStatus.TODO, 1));
  state.snapshotComplete(4);
  const cards = state.cards();
  assert.equal(cards.next().value?.id, 'a');
  state.apply(event(5, TaskEventType.STATUS_CHANGED, task('b', TaskStatus.IN_PROGRESS, 2)));
  state.apply(event(6, TaskEventType.DELETED, task('c', TaskStatus.ARCHIVED, 2)));
  state.apply(event(7, TaskEventType.CREATED, task('e', TaskStatus.TODO, 1)));
  state.apply(event(8, TaskEventType.STATUS_CHANGED, task('a', TaskStatus.COMPLETED, 2)));
  assert.deepEqual(
    [...cards].map((t) => [t.id, t.status]),
    [
      ['b', 'IN_PROGRESS'],
      ['d', 'TODO'],
      ['e', 'TODO'],
    ],
  );
});

test('board: the page files ship in the package, next to dist/', async () => {
  const packed = await runAsync('npm', ['pack', '--dry-run', '--ignore-scripts', '--json'], { cwd: REPO_ROOT, timeoutMs: 60_000 });
  assert.equal(packed.code, 0, packed.stderr);
  const [{ files }] = JSON.parse(packed.stdout) as [{ files: { path: string }[] }];
  const paths = files.map((f) => f.path);
  for (const wanted of [
    'sidecars/board/index.html',
    'sidecars/board/board-view.js',
    'sidecars/board/board.js',
    'sidecars/board/board.css',
    'dist/sidecars/board.js',
  ]) {
    assert.ok(paths.includes(wanted), `${wanted} is in the package`);
  }
});

test('board state: the log history read at start goes before the live feed, bounded, once as a feed message; history the feed already holds adds nothing', () => {
  const state = new BoardState(4);
  const messages: BoardMessage[] = [];
  state.snapshotStarted();
  state.snapshotComplete(10);
  state.listen((message) => messages.push(message));
  state.apply(event(11, TaskEventType.CREATED, task('live', TaskStatus.TODO, 1)));
  state.apply(event(12, TaskEventType.UPDATED, task('live', TaskStatus.TODO, 2)));
  const history = [7, 8, 9, 10].map((sequence) => event(sequence, TaskEventType.CREATED, task(`h${sequence}`, TaskStatus.TODO, 1)));
  // An event the live stream already brought (11) is not taken twice.
  state.history([...history, event(11, TaskEventType.CREATED, task('live', TaskStatus.TODO, 1))]);
  assert.deepEqual(
    state.header().feed.map((entry) => entry.sequence),
    [9, 10, 11, 12],
    'the newest 4, oldest first',
  );
  const feedMessages = messages.filter((message) => message.kind === 'feed');
  assert.equal(feedMessages.length, 1);
  assert.deepEqual(
    (feedMessages[0] as { feed: { sequence: number }[] }).feed.map((entry) => entry.sequence),
    [9, 10, 11, 12],
  );
  state.history([event(12, TaskEventType.UPDATED, task('live', TaskStatus.TODO, 2))]);
  assert.equal(messages.filter((message) => message.kind === 'feed').length, 1, 'nothing older than the feed: no message');
  assert.equal(state.feedCapacity, 4);
});
