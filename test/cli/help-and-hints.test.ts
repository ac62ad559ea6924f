// Help that helps, through the real `rig`: examples on lines of their own (never wrapped inside a
// command), --help as help for every command, completion offering -C as it is typed, did-you-mean
// for commands and options, hints for a mistyped task id and an assignee that differs in case, and
// the manual page generated from the same definitions.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT, rig, tempProject } from '../support/processes';

/** The lines of each Examples section of a help text. */
function exampleSections(help: string): string[][] {
  return [...help.matchAll(/(?:^|\n)Examples:\n([\s\S]*?)(?=\n\n|\n\.fi|$)/g)].map((match) => match[1]!.split('\n'));
}

test('rig help --man: one section per command, each with its whole --help; every example command on one line of its own; the built dist/man/rig.1 is the same page', () => {
  const man = rig(['help', '--man']);
  assert.equal(man.code, 0, man.stderr);
  assert.match(man.stdout, /^\.TH RIG 1 "" "rigger \d+\.\d+\.\d+" "User Commands"\n/);
  const sections = [...man.stdout.matchAll(/^\.SS "(rig [^"]+)"$/gm)].map((match) => match[1]);
  for (const command of [
    'rig init',
    'rig grpc',
    'rig task add',
    'rig task list',
    'rig events',
    'rig consumers create',
    'rig sidecar logger',
    'rig backup',
    'rig completion',
    'rig help',
  ]) {
    assert.ok(sections.includes(command), `${command} has a section (${sections.join(', ')})`);
  }
  const examples = exampleSections(man.stdout);
  assert.ok(examples.length >= sections.length - 8, `most commands show examples (${examples.length} of ${sections.length})`);
  for (const lines of examples) {
    // An example is its command ("  rig ..."), then what it does, indented 6: a command that wrapped
    // would leave a line of neither kind.
    for (const line of lines) assert.match(line, /^( {2}(RIGGER_\w+=\S+ )?rig \S.*| {6}\S.*)$/, `an example line wrapped: ${JSON.stringify(line)}`);
    assert.match(lines[0]!, /^ {2}\S/);
  }
  assert.ok(
    man.stdout.includes('\n  rig task add "Fix login bug" \\-\\-assignee Alice \\-\\-due\\-date 2026\\-12\\-31\n'),
    'the longest task example is whole',
  );

  const built = path.join(REPO_ROOT, 'dist', 'man', 'rig.1');
  assert.equal(fs.readFileSync(built, 'utf8'), man.stdout, 'npm run build writes the same page (package.json "man" installs it)');
});

test('--help at the terminal width: examples are whole lines, the command above what it does', () => {
  const help = rig(['task', 'add', '--help']);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /\nExamples:\n {2}rig task add "Fix login bug" --assignee Alice --due-date 2026-12-31\n {6}add a task for Alice\n/);
  // A sidecar run on its own is `rig sidecar logger` already: its examples name it once.
  const alone = spawnSync(process.execPath, [path.join(REPO_ROOT, 'dist', 'sidecars', 'logger.js'), '--help'], { encoding: 'utf8' });
  assert.match(alone.stdout, /\nExamples:\n {2}rig sidecar logger --file events\.jsonl\n/);
  const top = rig(['--help']);
  assert.match(top.stdout, /\n {2}rig help \[command\.\.\]\s+Show the help/);
  assert.match(top.stdout, /\nExamples:\n {2}rig init && rig grpc\n {6}make a project here/);
});

test('--help is help everywhere: rig completion --help and rig help describe, rig completion prints the script', () => {
  const completionHelp = rig(['completion', '--help']);
  assert.equal(completionHelp.code, 0, completionHelp.stderr);
  assert.match(completionHelp.stdout, /^rig completion\n\nPrint a bash\/zsh completion script/);
  assert.doesNotMatch(completionHelp.stdout, /begin-rig-completions/);
  const script = rig(['completion']);
  assert.equal(script.code, 0, script.stderr);
  assert.match(script.stdout, /###-begin-rig-completions-###/);
  assert.match(script.stdout, /rig completion >> ~\/\.bashrc/);
  assert.equal(rig(['help']).stdout, rig(['--help']).stdout);
  const helpOfTask = rig(['help', 'task', 'add']);
  assert.equal(helpOfTask.code, 0, helpOfTask.stderr);
  assert.equal(helpOfTask.stdout, rig(['task', 'add', '--help']).stdout);
  const helpOfTypo = rig(['help', 'task', 'lst']);
  assert.equal(helpOfTypo.code, 1);
  assert.equal(helpOfTypo.stderr, 'rig: unknown command lst (did you mean rig help task list?); see rig task --help for what it takes\n');
});

test('completion offers -C as it is typed, never --C', () => {
  for (const words of [
    ['rig', '-'],
    ['rig', 'task', 'list', '-'],
  ]) {
    const offered = rig(['--get-yargs-completions', ...words]);
    assert.equal(offered.code, 0, offered.stderr);
    const options = offered.stdout.trim().split('\n');
    assert.ok(options.includes('-C'), `${words.join(' ')}: ${options.join(' ')}`);
    assert.ok(!options.includes('--C'), `${words.join(' ')}: ${options.join(' ')}`);
  }
  const commands = rig(['--get-yargs-completions', 'rig', '']).stdout.trim().split('\n');
  assert.ok(commands.includes('task') && commands.includes('events'), commands.join(' '));
  assert.ok(!commands.some((command) => command.startsWith('__')), `no hidden command offered: ${commands.join(' ')}`);
});

test('did you mean: a mistyped command, subcommand or option names the nearest one', () => {
  const dir = tempProject();
  const cases: [string[], string][] = [
    [['evnets'], 'rig: unknown command evnets (did you mean rig events?); see rig --help for what it takes\n'],
    [['task', 'lst'], 'rig: unknown command lst (did you mean rig task list?); see rig task --help for what it takes\n'],
    [['task', 'list', '--assigne', 'x'], 'rig: unknown option --assigne (did you mean --assignee?); see rig task list --help for what it takes\n'],
    [['task', 'list', '--limt', '3', '--bogus'], 'rig: unknown options --limt, --bogus (did you mean --limit?); see rig task list --help for what it takes\n'],
    [['consumers', 'lsit'], 'rig: unknown command lsit (did you mean rig consumers list?); see rig consumers --help for what it takes\n'],
  ];
  for (const [args, line] of cases) {
    const result = rig(['-C', dir, ...args]);
    assert.equal(result.code, 1, args.join(' '));
    assert.equal(result.stderr, line, args.join(' '));
  }
  // Nothing near: no guess, still the command to look at.
  const far = rig(['-C', dir, 'xyzzyq']);
  assert.equal(far.code, 1);
  assert.match(far.stderr, /^rig: unknown command xyzzyq[ ;].*see rig --help/);
  const stauts = rig(['-C', dir, 'stauts']);
  assert.match(stauts.stderr, /^rig: unknown command stauts[ ;]/);
});

test('hints: an unknown task id names the nearest ids; an assignee that matches none but for case names the one that does', () => {
  const dir = tempProject();
  const added = JSON.parse(rig(['-C', dir, 'task', 'add', 'first', '--assignee', 'alice', '--json']).stdout) as { id: string };
  rig(['-C', dir, 'task', 'add', 'second', '--assignee', 'alice']);
  const typo = `${added.id.slice(0, 4)}${added.id[4] === 'z' ? 'y' : 'z'}`;
  const missing = rig(['-C', dir, 'task', 'get', typo]);
  assert.equal(missing.code, 1);
  assert.match(
    missing.stderr,
    new RegExp(
      `^rig: task "${typo}" does not exist; the nearest ids, starting "${added.id.slice(0, 4)}": [^\\n]*${added.id}[^\\n]* \\(rig task list --all lists every id\\)\\n$`,
    ),
  );
  const none = rig(['-C', dir, 'task', 'get', 'zz-nothing-like-it']);
  assert.equal(none.stderr, 'rig: task "zz-nothing-like-it" does not exist\n', 'no id starts with z: nothing near to name');

  const wrongCase = rig(['-C', dir, 'task', 'list', '--assignee', 'Alice']);
  assert.equal(wrongCase.code, 0, wrongCase.stderr);
  assert.match(wrongCase.stdout, /0 of 0 task\(s\)/);
  assert.equal(
    wrongCase.stderr,
    'rig: hint: no task is assigned to "Alice", but some are to "alice": --assignee matches exactly, case included (e.g. --assignee "alice")\n',
  );
  const right = rig(['-C', dir, 'task', 'list', '--assignee', 'alice']);
  assert.equal(right.stderr, '');
  assert.match(right.stdout, /2 of 2 task\(s\)/);
  const nobody = rig(['-C', dir, 'task', 'list', '--assignee', 'Bob']);
  assert.equal(nobody.stderr, '', 'no near match, no hint');
});
