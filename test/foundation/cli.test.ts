// The `rig` CLI spawned as a real process against temp projects: init, project discovery, every
// task command with human tables and --json, and bad input (exit 1, one line on stderr).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { REPO_ROOT, rig, tempDir, tempProject, type RunResult } from '../support/processes';

const NOT_A_PROJECT = 'rig: not a rigger project (no .rigger directory found); run `rig init`\n';

/** Exit 0 and nothing on stderr. */
function ok(result: RunResult): string {
  assert.equal(result.code, 0, `exit ${result.code}; stderr: ${result.stderr}`);
  assert.equal(result.stderr, '');
  return result.stdout;
}

/** Exit 1 with exactly one line on stderr, matching `pattern`. */
function fails(result: RunResult, pattern: RegExp): void {
  assert.equal(result.code, 1, `expected exit 1, got ${result.code}; stdout: ${result.stdout}`);
  assert.match(result.stderr, /^rig: [^\n]+\n$/, `not one line: ${JSON.stringify(result.stderr)}`);
  assert.match(result.stderr, pattern);
}

function json(result: RunResult): any {
  return JSON.parse(ok(result));
}

describe('rig init', () => {
  test('creates .rigger/config.json and tasks.db; a second run exits 1 "already initialized"', () => {
    const dir = tempDir();
    const out = ok(rig(['init'], { cwd: dir }));
    assert.match(out, /Initialized rigger project in .*\.rigger/);
    const config = JSON.parse(fs.readFileSync(path.join(dir, '.rigger', 'config.json'), 'utf8'));
    assert.equal(config.port, 50051);
    assert.equal(config.bufferSize, 1000);
    const db = fs.readFileSync(path.join(dir, '.rigger', 'tasks.db'));
    assert.equal(db.subarray(0, 16).toString('latin1'), 'SQLite format 3\0');

    const configBefore = fs.readFileSync(path.join(dir, '.rigger', 'config.json'));
    fails(rig(['init'], { cwd: dir }), /already initialized/);
    fails(rig(['init', '-C', dir]), /already initialized/);
    assert.deepEqual(fs.readFileSync(path.join(dir, '.rigger', 'config.json')), configBefore);
  });

  test('-C DIR and --json', () => {
    const dir = tempDir();
    const result = json(rig(['init', '-C', dir, '--json']));
    assert.equal(result.project, dir);
    assert.equal(result.database, path.join(dir, '.rigger', 'tasks.db'));
    assert.ok(fs.existsSync(result.config));
  });
});

describe('finding the project', () => {
  test('outside a project every command says so and exits 1', () => {
    const outside = tempDir('rigger-outside-');
    for (let dir = outside; dir !== path.dirname(dir); dir = path.dirname(dir)) {
      assert.ok(!fs.existsSync(path.join(dir, '.rigger')), `${dir}/.rigger exists, so ${outside} is inside a project`);
    }
    for (const args of [
      ['task', 'list'],
      ['task', 'add', 'x'],
      ['task', 'get', 'x'],
      ['task', 'update', 'x', '--status', 'todo'],
      ['task', 'delete', 'x'],
      ['grpc', '--port', '0'],
    ]) {
      const result = rig(args, { cwd: outside });
      assert.equal(result.code, 1, `rig ${args.join(' ')}`);
      assert.equal(result.stderr, NOT_A_PROJECT, `rig ${args.join(' ')}`);
    }
    assert.equal(rig(['task', 'list', '-C', outside]).stderr, NOT_A_PROJECT);
  });

  test('walking up from a subdirectory, and -C from anywhere, reach the same database', () => {
    const dir = tempProject();
    const deep = path.join(dir, 'src', 'deep', 'er');
    fs.mkdirSync(deep, { recursive: true });
    const added = json(rig(['task', 'add', 'from deep inside', '--json'], { cwd: deep }));
    const elsewhere = tempDir('rigger-elsewhere-');
    const listed = json(rig(['task', 'list', '--json', '-C', dir], { cwd: elsewhere }));
    assert.deepEqual(
      listed.tasks.map((t: { id: string }) => t.id),
      [added.id],
    );
    const viaSubdir = json(rig(['task', 'get', added.id, '--json', '-C', deep], { cwd: elsewhere }));
    assert.equal(viaSubdir.title, 'from deep inside');
  });
});

describe('rig task', () => {
  test('add, list, get, update and delete with human output', () => {
    const dir = tempProject();
    const added = ok(rig(['task', 'add', 'Write the docs', '--assignee', 'Alice', '--due-date', '2025-12-31', '--prd-id', 'prd-9', '-C', dir]));
    const id = /^id\s+(\S+)$/m.exec(added)?.[1];
    assert.ok(id, added);
    assert.match(added, /^title\s+Write the docs$/m);
    assert.match(added, /^status\s+TODO$/m);
    assert.match(added, /^assignee\s+Alice$/m);
    assert.match(added, /^due date\s+2025-12-31$/m);
    assert.match(added, /^version\s+1$/m);
    assert.match(added, /^prd\s+prd-9$/m);

    const child = ok(rig(['task', 'add', 'A subtask', '--parent-id', id, '-C', dir]));
    assert.match(child, new RegExp(`^parent\\s+${id}$`, 'm'));

    const list = ok(rig(['task', 'list', '-C', dir]))
      .trimEnd()
      .split('\n');
    assert.match(list[0]!, /^ID\s+STATUS\s+ASSIGNEE\s+DUE\s+VERSION\s+TITLE$/);
    assert.match(list[1]!, /^\S+\s+TODO\s+-\s+-\s+1\s+A subtask$/);
    assert.match(list[2]!, new RegExp(`^${id}\\s+TODO\\s+Alice\\s+2025-12-31\\s+1\\s+Write the docs$`));
    assert.equal(list[3], '2 of 2 task(s)');

    assert.match(ok(rig(['task', 'get', id, '-C', dir])), /^title\s+Write the docs$/m);

    const updated = ok(rig(['task', 'update', id, '--status', 'in_progress', '--assignee', 'Bob', '-C', dir]));
    assert.match(updated, /^status\s+IN_PROGRESS$/m);
    assert.match(updated, /^assignee\s+Bob$/m);
    assert.match(updated, /^version\s+2$/m);

    const filtered = ok(rig(['task', 'list', '--status', 'in_progress', '-C', dir]))
      .trimEnd()
      .split('\n');
    assert.equal(filtered.length, 3);
    assert.match(filtered[1]!, new RegExp(`^${id}\\s+IN_PROGRESS\\s+Bob`));
    assert.equal(filtered[2], '1 of 1 task(s)');

    assert.equal(ok(rig(['task', 'delete', id, '-C', dir])), `archived ${id}\n`);
    assert.equal(
      ok(rig(['task', 'list', '-C', dir]))
        .trimEnd()
        .split('\n')
        .at(-1),
      '1 of 1 task(s)',
    );
    assert.match(ok(rig(['task', 'list', '--all', '-C', dir])), /2 of 2 task\(s\)/);
    assert.match(ok(rig(['task', 'get', id, '-C', dir])), /^status\s+ARCHIVED$/m);
  });

  test('add, list, get, update and delete with --json', () => {
    const dir = tempProject();
    const added = json(rig(['task', 'add', 'json task', '--assignee', 'Alice', '--due-date', '2026-02-28', '--json', '-C', dir]));
    assert.equal(added.title, 'json task');
    assert.equal(added.status, 'TODO');
    assert.equal(added.assignee, 'Alice');
    assert.equal(added.due_date, '2026-02-28');
    assert.equal(added.version, 1);

    const other = json(rig(['task', 'add', 'other', '--assignee', 'Bob', '--json', '-C', dir]));
    const listed = json(rig(['task', 'list', '--json', '-C', dir]));
    assert.equal(listed.total_count, 2);
    assert.deepEqual(
      listed.tasks.map((t: { id: string }) => t.id),
      [other.id, added.id],
    );
    assert.deepEqual(listed.tasks[1], added);

    const page = json(rig(['task', 'list', '--limit', '1', '--offset', '1', '--json', '-C', dir]));
    assert.equal(page.total_count, 2);
    assert.deepEqual(
      page.tasks.map((t: { id: string }) => t.id),
      [added.id],
    );
    const byAssignee = json(rig(['task', 'list', '--assignee', 'Bob', '--json', '-C', dir]));
    assert.deepEqual(
      byAssignee.tasks.map((t: { id: string }) => t.id),
      [other.id],
    );

    assert.deepEqual(json(rig(['task', 'get', added.id, '--json', '-C', dir])), added);

    const updated = json(rig(['task', 'update', added.id, '--status', 'in_progress', '--due-date', '', '--json', '-C', dir]));
    assert.equal(updated.status, 'IN_PROGRESS');
    assert.equal(updated.due_date, undefined);
    assert.equal(updated.version, 2);
    for (const spelling of ['IN_PROGRESS', 'TASK_STATUS_IN_PROGRESS', '2', 'in-progress']) {
      const list = json(rig(['task', 'list', '--status', spelling, '--json', '-C', dir]));
      assert.deepEqual(
        list.tasks.map((t: { id: string }) => t.id),
        [added.id],
        `--status ${spelling}`,
      );
    }

    const deleted = json(rig(['task', 'delete', added.id, '--json', '-C', dir]));
    assert.equal(deleted.success, true);
    assert.equal(deleted.task.status, 'ARCHIVED');
    assert.equal(json(rig(['task', 'list', '--json', '-C', dir])).total_count, 1);
    assert.equal(json(rig(['task', 'list', '--status', 'archived', '--json', '-C', dir])).total_count, 1);
  });

  test('bad input: exit 1, one line on stderr, nothing written', () => {
    const dir = tempProject();
    const task = json(rig(['task', 'add', 'target', '--json', '-C', dir]));
    fails(rig(['task', 'list', '--status', 'bogus', '-C', dir]), /--status "bogus" is not a task status; use e\.g\. todo, in_progress/);
    fails(rig(['task', 'update', task.id, '--status', 'unspecified', '-C', dir]), /--status/);
    fails(rig(['task', 'update', task.id, '--status', '0', '-C', dir]), /--status/);
    fails(rig(['task', 'add', 'x', '--due-date', '2025-02-30', '-C', dir]), /--due-date "2025-02-30" is not a calendar date in the form YYYY-MM-DD/);
    fails(rig(['task', 'add', 'x', '--due-date', '2025-1-5', '-C', dir]), /--due-date "2025-1-5"/);
    fails(rig(['task', 'update', task.id, '--due-date', '31/12/2025', '-C', dir]), /--due-date/);
    fails(rig(['task', 'add', '   ', '-C', dir]), /title must not be empty/);
    fails(rig(['task', 'add', 'y'.repeat(501), '-C', dir]), /title is 501 characters; the maximum is 500/);
    fails(rig(['task', 'add', 'x', '--parent-id', 'nope', '-C', dir]), /parent_task_id "nope" does not exist/);
    fails(rig(['task', 'get', 'nope', '-C', dir]), /task "nope" does not exist/);
    fails(rig(['task', 'update', 'nope', '--status', 'todo', '-C', dir]), /task "nope" does not exist/);
    fails(rig(['task', 'delete', 'nope', '-C', dir]), /task "nope" does not exist/);
    fails(rig(['task', 'update', task.id, '--status', 'completed', '--expected-version', '7', '-C', dir]), /version 1, not the expected 7/);
    fails(rig(['task', 'list', '--limit', '1001', '-C', dir]), /--limit/);
    fails(rig(['task', 'frobnicate', '-C', dir]), /^rig: unknown command frobnicate; see rig task --help for what it takes\n$/);
    const after = json(rig(['task', 'list', '--all', '--json', '-C', dir]));
    assert.equal(after.total_count, 1);
    assert.deepEqual(after.tasks[0], task);
  });
});

describe('help', () => {
  test('rig --help lists the commands', () => {
    const out = ok(rig(['--help']));
    for (const command of ['init', 'grpc', 'task']) assert.match(out, new RegExp(`rig ${command}`));
    assert.match(ok(rig(['task', '--help'])), /rig task add <title>/);
  });

  test('npx rig --help works in the repository', () => {
    // The first `npx rig` in a checkout installs the checkout into npm's npx cache, which runs its
    // `prepare` (a full rebuild of dist/) unless scripts are off; here that would rewrite dist/
    // under the other test files running at the same time.
    const result = spawnSync('npx', ['--no-install', 'rig', '--help'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, npm_config_ignore_scripts: 'true' },
    });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /rig grpc/);
    assert.match(result.stdout, /rig task/);
  });
});

test('a bad RIGGER_LOG_LEVEL: exit 1 and one line naming the levels that work, for the server and a sidecar', () => {
  const dir = tempProject();
  const levels = 'trace, debug, info, warn, error, fatal, silent';
  for (const args of [
    ['grpc', '--port', '0'],
    ['sidecar', 'logger', '--file', path.join(dir, 'events.jsonl')],
  ]) {
    const result = rig(['-C', dir, ...args], { env: { RIGGER_LOG_LEVEL: 'loud' }, timeoutMs: 15_000 });
    assert.equal(result.code, 1, `${args[0]}: ${result.stderr}`);
    assert.equal(result.stderr, `rig: RIGGER_LOG_LEVEL must be one of ${levels}, got "loud"\n`);
  }
});
