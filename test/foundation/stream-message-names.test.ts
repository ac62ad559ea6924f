// The new stream message types (BOOKMARK, SNAPSHOT, SNAPSHOT_COMPLETE) are known by name to the
// model and the client library's exports, and `rig events` output prints them (a bookmark and the
// snapshot marker carry no task) instead of failing on the missing task.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventForDisplay, formatEventLine } from '../../src/cli/output';
import { eventTypeName, isStreamMessageType, parseEventType, TaskEventType, type TaskEvent } from '../../src/client/index';

test('names and parsers know the stream message types', () => {
  assert.deepEqual([8, 9, 10].map(eventTypeName), ['BOOKMARK', 'SNAPSHOT', 'SNAPSHOT_COMPLETE']);
  assert.equal(parseEventType('bookmark'), TaskEventType.BOOKMARK);
  assert.equal(parseEventType('TASK_EVENT_TYPE_SNAPSHOT_COMPLETE'), TaskEventType.SNAPSHOT_COMPLETE);
  assert.equal(parseEventType('9'), TaskEventType.SNAPSHOT);
  assert.equal(parseEventType('11'), undefined);
  assert.deepEqual([1, 7, 8, 9, 10].map(isStreamMessageType), [false, false, true, true, true]);
});

test('rig events lines and --json for a bookmark, a snapshot entry and the marker', () => {
  // As a client decodes them: no task on BOOKMARK and SNAPSHOT_COMPLETE.
  const bookmark = { sequence: 42, timestamp: '2026-12-01T12:00:00.000Z', event_type: 8, metadata: {}, changed_fields: [] } as unknown as TaskEvent;
  assert.equal(formatEventLine(bookmark), '#42 2026-12-01T12:00:00.000Z BOOKMARK');
  assert.deepEqual(eventForDisplay(bookmark), { ...bookmark, event_type: 'BOOKMARK' });
  const complete = { ...bookmark, event_type: 10 } as TaskEvent;
  assert.equal(formatEventLine(complete), '#42 2026-12-01T12:00:00.000Z SNAPSHOT_COMPLETE');
  const task = { id: 't1', title: 'a task', status: 1, subtask_ids: [], created_at: '', updated_at: '', context_files: [], dependencies: [], version: 1 };
  const entry = { ...bookmark, event_type: 9, event_id: '', task } as TaskEvent;
  assert.equal(formatEventLine(entry), '#42 2026-12-01T12:00:00.000Z SNAPSHOT t1 "a task" status=TODO assignee=- actor=-');
  assert.equal((eventForDisplay(entry).task as { status: string }).status, 'TODO');
});
