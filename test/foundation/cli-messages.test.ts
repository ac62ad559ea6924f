// The CLI's own parse errors and task-id handling, through the real `rig` binary: every mistake is
// exit 1 and one line saying what is wrong and the command that would work; ids may be shortened
// to a unique prefix, as git's commits can.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RIG_BIN, rig, rigAsync, spawnCollected, startServer, tempDir, tempProject, waitFor } from '../support/processes';

function fails(args: string[], dir: string, line: string): void {
  const result = rig(['-C', dir, ...args]);
  assert.equal(result.code, 1, `rig ${args.join(' ')}: ${result.stderr}`);
  assert.equal(result.stderr, `rig: ${line}\n`, `rig ${args.join(' ')}`);
  assert.equal(result.stdout, '');
}

function addTask(dir: string, title: string): { id: string; title: string; version: number } {
  const result = rig(['-C', dir, 'task', 'add', title, '--json']);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout);
}

test("yargs' own messages are replaced by what is missing and where to look", () => {
  const dir = tempProject();
  fails(['task'], dir, 'rig task needs a command: add, list, get, update or delete (e.g. rig task list; see rig task --help)');
  fails(['prd'], dir, 'rig prd needs a command: parse or generate-tasks (e.g. rig prd parse docs/PRD.md; see rig prd --help)');
  fails(['task', 'list', '--bogus-flag'], dir, 'unknown option --bogus-flag; see rig task list --help for what it takes');
  fails(['task', 'add'], dir, 'rig task add is missing an argument; see rig task add --help');
  fails(['events', 'extra'], dir, 'unknown argument extra; see rig events --help for what it takes');
});

test('rig task update: nothing to change is an error; --title edits the title', () => {
  const dir = tempProject();
  const task = addTask(dir, 'Fix login bug');
  fails(
    ['task', 'update', task.id],
    dir,
    `nothing to change: give --title, --status, --assignee or --due-date, e.g. rig task update ${task.id} --status in_progress`,
  );
  const updated = rig(['-C', dir, 'task', 'update', task.id, '--title', 'Fix the login bug', '--json']);
  assert.equal(updated.code, 0, updated.stderr);
  const after = JSON.parse(updated.stdout);
  assert.equal(after.title, 'Fix the login bug');
  assert.equal(after.version, task.version + 1);
  fails(['task', 'update', task.id, '--title', ''], dir, 'title must not be empty');
});

test('task ids: a unique prefix names the task; an ambiguous one lists the candidates; an unknown one is not found', () => {
  const dir = tempProject();
  // 17 random UUIDs: by pigeonhole two share a first hex digit.
  const tasks = Array.from({ length: 17 }, (_, i) => addTask(dir, `task ${i}`));
  const byFirst = new Map<string, string[]>();
  for (const t of tasks) byFirst.set(t.id[0]!, [...(byFirst.get(t.id[0]!) ?? []), t.id]);
  const [shared, ids] = [...byFirst].find(([, group]) => group.length > 1)!;
  const sorted = [...ids].sort();
  fails(['task', 'get', shared], dir, `task id "${shared}" is ambiguous: it starts ${sorted.length} ids (${sorted.join(', ')}); give more characters`);

  const one = tasks[0]!;
  const prefix = one.id.slice(0, 13);
  const got = rig(['-C', dir, 'task', 'get', prefix, '--json']);
  assert.equal(got.code, 0, got.stderr);
  assert.equal(JSON.parse(got.stdout).id, one.id);
  const moved = rig(['-C', dir, 'task', 'update', prefix, '--status', 'in_progress', '--json']);
  assert.equal(moved.code, 0, moved.stderr);
  assert.equal(JSON.parse(moved.stdout).id, one.id);
  const archived = rig(['-C', dir, 'task', 'delete', prefix, '--json']);
  assert.equal(archived.code, 0, archived.stderr);
  assert.equal(JSON.parse(archived.stdout).task.id, one.id);

  fails(['task', 'get', 'zzzz'], dir, 'task "zzzz" does not exist');
});

test('client commands outside a project work with --address, and without it say what is missing', async () => {
  const server = await startServer(tempProject());
  const elsewhere = tempDir();
  try {
    const task = JSON.parse((await rigAsync(['-C', server.dir, 'task', 'add', 'Reachable from anywhere', '--json'])).stdout);
    const listed = await rigAsync(['-C', elsewhere, 'consumers', 'list', '--address', server.address, '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(JSON.parse(listed.stdout), []);
    const events = spawnCollected(process.execPath, [RIG_BIN, '-C', elsewhere, 'events', '--address', server.address, '--since', '0', '--json'], {
      env: { ...process.env, RIGGER_LOG_LEVEL: 'warn' },
    });
    try {
      await waitFor(() => events.stdout().includes(task.id), 15_000, 'the event, read from outside the project');
    } finally {
      events.child.kill('SIGTERM');
    }
    const without = await rigAsync(['-C', elsewhere, 'consumers', 'list']);
    assert.equal(without.code, 1);
    assert.match(without.stderr, /^rig: not a rigger project \(no \.rigger directory found\); run `rig init`/);
  } finally {
    await server.stop();
  }
});

test('rig completion prints a shell completion script, and the completions name the commands and flags', () => {
  const script = rig(['completion']);
  assert.equal(script.code, 0, script.stderr);
  assert.match(script.stdout, /###-begin-rig-completions-###/);
  assert.match(script.stdout, /--get-yargs-completions/);
  const commands = rig(['--get-yargs-completions', 'task', '']);
  assert.deepEqual(commands.stdout.trim().split('\n').slice(0, 5), ['add', 'list', 'get', 'update', 'delete']);
  const flags = rig(['--get-yargs-completions', 'task', 'update', '--']).stdout.split('\n');
  for (const flag of ['--title', '--status', '--assignee', '--due-date', '--actor']) assert.ok(flags.includes(flag), `${flag} in ${flags.join(' ')}`);
});

test('--actor is only on the commands that change a task', () => {
  const dir = tempProject();
  fails(['task', 'list', '--actor', 'bot'], dir, 'unknown option --actor; see rig task list --help for what it takes');
  const added = rig(['-C', dir, 'task', 'add', 'Ship it', '--actor', 'deploy-bot', '--json']);
  assert.equal(added.code, 0, added.stderr);
});

test('rig task list pages with --page-token: every task once, newest first; the token fits only its own listing', () => {
  const dir = tempProject();
  const added = Array.from({ length: 5 }, (_, i) => addTask(dir, `paged ${i}`));
  const seen: string[] = [];
  let token = '';
  for (let pages = 0; pages < 10; pages++) {
    const result = rig(['-C', dir, 'task', 'list', '--limit', '2', '--json', ...(token ? ['--page-token', token] : [])]);
    assert.equal(result.code, 0, result.stderr);
    const page = JSON.parse(result.stdout) as { tasks: { id: string }[]; total_count: number; next_page_token: string };
    assert.equal(page.total_count, 5);
    seen.push(...page.tasks.map((t) => t.id));
    token = page.next_page_token;
    if (token === '') break;
  }
  assert.deepEqual(seen, added.map((t) => t.id).reverse());

  const first = rig(['-C', dir, 'task', 'list', '--limit', '2']);
  assert.equal(first.code, 0, first.stderr);
  const printed = /; next page: --page-token (\S+)\n$/.exec(first.stdout);
  assert.ok(printed, first.stdout);
  fails(
    ['task', 'list', '--page-token', printed[1]!, '--offset', '1'],
    dir,
    '--page-token and --offset do not go together: the token already says where the page starts; leave --offset out',
  );
  fails(
    ['task', 'list', '--page-token', printed[1]!, '--assignee', 'Bob'],
    dir,
    'page_token belongs to a listing with a different filter (status, assignee or include_archived); send it with the same filter as the request it came from, or leave page_token out to start this listing from the first page',
  );
  fails(
    ['task', 'list', '--page-token', 'not-a-token'],
    dir,
    'page_token is not a token this server issued (garbled, cut short or from another program); send the next_page_token of the previous page unchanged, or leave page_token out to start from the first page',
  );
});
