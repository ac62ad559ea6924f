// The NATS naming rules in process: which stream subjects take which bridge subjects, the subject
// per task, the message id of (project, log id, sequence), and the project name's checks.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { commandSubjectOf, EVENT_SUBJECTS, messageIdOf, projectNameOf, subjectCovers, subjectFor, subjectPrefixOf } from '../../sidecars/nats-project';
import type { TaskEvent } from '../../src/model/task';
import { tempDir } from '../support/processes';

test('subjectCovers: a stream subject takes a bridge subject pattern only when it matches every subject of it', () => {
  const cases: [string, string, boolean][] = [
    [EVENT_SUBJECTS, 'rigger.alpha.*.*', true],
    ['rigger.>', 'rigger.alpha.*.*', true],
    ['rigger.tasks.>', 'rigger.tasks.*.*', true],
    ['rigger.tasks.>', 'rigger.alpha.*.*', false],
    ['rigger.alpha.*.*', 'rigger.alpha.*.*', true],
    ['rigger.alpha.created.*', 'rigger.alpha.*.*', false],
    [EVENT_SUBJECTS, 'rigger.a.b.*.*', false],
    [EVENT_SUBJECTS, 'other.alpha.*.*', false],
    [EVENT_SUBJECTS, commandSubjectOf('alpha'), false],
    ['>', 'anything.*', true],
  ];
  for (const [filter, pattern, expected] of cases) assert.equal(subjectCovers(filter, pattern), expected, `${filter} covers ${pattern}`);
});

test('subjects, prefixes and message ids: a subject per task, the old prefix available, ids unique across projects and logs', () => {
  const event = { sequence: 7, log_id: '0123456789abcdef', event_type: 4, task: { id: 'a.b c' } } as unknown as TaskEvent;
  assert.equal(subjectFor(subjectPrefixOf('alpha', undefined), event), 'rigger.alpha.status_changed.a_b_c');
  assert.equal(subjectFor(subjectPrefixOf('alpha', 'rigger.tasks'), event), 'rigger.tasks.status_changed.a_b_c');
  assert.equal(messageIdOf('alpha', event), 'alpha:0123456789abcdef:7');
  assert.notEqual(messageIdOf('beta', event), messageIdOf('alpha', event));
  assert.equal(commandSubjectOf('alpha'), 'rigger.alpha.commands');
  assert.throws(() => subjectPrefixOf('alpha', 'rigger.*'), /--subject-prefix "rigger\.\*" must be dot-separated tokens without spaces, \* or >/);
});

test('projectNameOf: the flag, else the directory name, each checked as one NATS token', () => {
  assert.equal(projectNameOf({ project: 'billing-2' }), 'billing-2');
  for (const bad of ['a.b', 'a b', 'a*', '>', 'x'.repeat(65)]) assert.throws(() => projectNameOf({ project: bad }), /is not one NATS subject token/, bad);
  assert.throws(() => projectNameOf({ C: tempDir('rigger-no-project-') }), /^Error: no project name: not run inside a rigger project|no project name/);
});
