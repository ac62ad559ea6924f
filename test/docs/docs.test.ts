// The docs stay true to the tree: README.md stays short, every relative link and #anchor resolves,
// every docs/ page opens with a title and a short summary, the settings table matches the code, and
// every `rig ...` command shown in a shell block is a command the real `rig` binary has.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT, RIG_BIN } from '../support/processes';
import { filesUnder } from '../support/files';

const README_MAX_LINES = 200;
const SHELL_FENCES = new Set(['sh', 'shell', 'bash', 'zsh', 'console']);

/** README.md, CHANGELOG.md, docs/**\/*.md, bench/README.md, test/README.md (absolute paths). */
function docFiles(): string[] {
  const top = ['README.md', 'CHANGELOG.md', 'bench/README.md', 'test/README.md'].map((f) => path.join(REPO_ROOT, f));
  for (const file of top) assert.ok(fs.existsSync(file), `${path.relative(REPO_ROOT, file)} is missing`);
  return [...top, ...filesUnder(path.join(REPO_ROOT, 'docs'), '.md').sort()];
}

const rel = (file: string) => path.relative(REPO_ROOT, file);

interface Block {
  info: string;
  lines: string[];
  /** 1-based line number of the opening fence. */
  line: number;
}

/** Splits a markdown file into the lines outside fenced code blocks (others blanked) and the blocks. */
function parse(text: string): { prose: string[]; blocks: Block[] } {
  const prose: string[] = [];
  const blocks: Block[] = [];
  let open: { fence: string; block: Block } | undefined;
  text.split('\n').forEach((line, index) => {
    const fence = /^ {0,3}(`{3,}|~{3,})\s*([\w-]*)/.exec(line);
    if (open) {
      if (fence && fence[1]!.startsWith(open.fence) && line.trim() === fence[1]) open = undefined;
      else open.block.lines.push(line);
      prose.push('');
    } else if (fence) {
      const block = { info: fence[2]!.toLowerCase(), lines: [], line: index + 1 };
      blocks.push(block);
      open = { fence: fence[1]!, block };
      prose.push('');
    } else prose.push(line);
  });
  return { prose, blocks };
}

/** GitHub's heading anchors: lowercase, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  for (const line of parse(text).prose) {
    const heading = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const visible = heading[1]!.replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1');
    const slug = visible
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    result.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return result;
}

/** Every inline link target outside code: [text](target). */
function links(text: string): { target: string; line: number }[] {
  const found: { target: string; line: number }[] = [];
  parse(text).prose.forEach((line, index) => {
    const withoutCode = line.replace(/(`+)(?:(?!\1).)+?\1/g, '');
    for (const m of withoutCode.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) found.push({ target: m[1]!, line: index + 1 });
  });
  return found;
}

test(`README.md is at most ${README_MAX_LINES} lines`, () => {
  const lines = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8').replace(/\n$/, '').split('\n').length;
  assert.ok(lines <= README_MAX_LINES, `README.md has ${lines} lines; move detail into docs/`);
});

test('every relative link and #anchor in the docs resolves inside the repository', () => {
  const anchorCache = new Map<string, Set<string>>();
  const anchorsOf = (file: string) => {
    let set = anchorCache.get(file);
    if (!set) anchorCache.set(file, (set = anchors(fs.readFileSync(file, 'utf8'))));
    return set;
  };
  const broken: string[] = [];
  let checked = 0;
  for (const file of docFiles()) {
    for (const { target, line } of links(fs.readFileSync(file, 'utf8'))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto: ...
      checked++;
      const where = `${rel(file)}:${line}: ${target}`;
      const [pathPart, anchor] = target.split('#', 2) as [string, string | undefined];
      const resolved = pathPart === '' ? file : path.resolve(path.dirname(file), decodeURIComponent(pathPart));
      if (resolved !== REPO_ROOT && !resolved.startsWith(REPO_ROOT + path.sep)) {
        broken.push(`${where} (points outside the repository)`);
        continue;
      }
      if (!fs.existsSync(resolved)) {
        broken.push(`${where} (no such file)`);
        continue;
      }
      if (anchor !== undefined) {
        if (!resolved.endsWith('.md')) broken.push(`${where} (an anchor into a file that is not markdown)`);
        else if (!anchorsOf(resolved).has(decodeURIComponent(anchor))) broken.push(`${where} (no heading with that anchor in ${rel(resolved)})`);
      }
    }
  }
  assert.ok(checked > 20, `only ${checked} links found; is the link parser broken?`);
  assert.deepEqual(broken, [], `broken links:\n${broken.join('\n')}`);
});

test('every docs/ page starts with a "# Title" and a summary of at most two lines', () => {
  const problems: string[] = [];
  for (const file of filesUnder(path.join(REPO_ROOT, 'docs'), '.md')) {
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    if (!/^# \S/.test(lines[0] ?? '')) {
      problems.push(`${rel(file)}: the first line is not "# Title": ${JSON.stringify(lines[0])}`);
      continue;
    }
    let i = 1;
    while (i < lines.length && lines[i]!.trim() === '') i++;
    const summary: string[] = [];
    while (i < lines.length && lines[i]!.trim() !== '') summary.push(lines[i++]!);
    if (summary.length === 0) problems.push(`${rel(file)}: no summary after the title`);
    else if (summary.length > 2) problems.push(`${rel(file)}: the summary after the title is ${summary.length} lines (at most 2)`);
    else if (/^(#|```|~~~|\||[-*+] |\d+\. |<!--)/.test(summary[0]!.trim()))
      problems.push(`${rel(file)}: the title is followed by ${JSON.stringify(summary[0])}, not a summary`);
  }
  assert.deepEqual(problems, []);
});

test('docs/configuration.md holds the current settings table', () => {
  const result = spawnSync(process.execPath, [path.join(REPO_ROOT, 'scripts', 'settings-table.js'), '--check'], { cwd: REPO_ROOT, encoding: 'utf8' });
  assert.equal(result.status, 0, `settings-table.js --check: ${result.stderr}${result.stdout}`);
});

// A few at a time: twenty CLIs started at once on two loaded cores can each take longer than a timeout.
const HELP_AT_ONCE = 4;
let helpRunning = 0;
const helpWaiting: (() => void)[] = [];

async function rigHelp(words: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  if (helpRunning >= HELP_AT_ONCE) await new Promise<void>((resolve) => helpWaiting.push(resolve));
  helpRunning++;
  try {
    return await new Promise((resolve) => {
      execFile(
        process.execPath,
        [RIG_BIN, ...words, '--help'],
        { cwd: REPO_ROOT, timeout: 60_000, env: { ...process.env, RIGGER_LOG_LEVEL: 'warn' } },
        (error, stdout, stderr) =>
          resolve({
            code: error ? (typeof error.code === 'number' ? error.code : 1) : 0,
            stdout,
            stderr: error?.killed ? `killed after 60 s (${error.signal})\n${stderr}` : stderr,
          }),
      );
    });
  } finally {
    helpRunning--;
    helpWaiting.shift()?.();
  }
}

/** The subcommands a help text lists under "Commands:", as the words after `rig <path>`. */
function subcommandsIn(help: string, parent: string[]): string[] {
  const names: string[] = [];
  const section = help.split(/^Commands:\s*$/m)[1]?.split(/^\S/m)[0] ?? '';
  for (const line of section.split('\n')) {
    const m = /^\s+rig ((?:\S+ )*?\S+)(?: {2,}|$)/.exec(line);
    if (!m) continue;
    const words = m[1]!.split(' ').filter((w) => !/^[<[]/.test(w));
    if (words.length === parent.length + 1 && words.slice(0, -1).join(' ') === parent.join(' ')) names.push(words.at(-1)!);
  }
  return names;
}

/** `rig ...` invocations in shell blocks: [file:line, the words after `rig`]. */
function rigCommandsInDocs(): { where: string; words: string[] }[] {
  const found: { where: string; words: string[] }[] = [];
  for (const file of docFiles()) {
    for (const block of parse(fs.readFileSync(file, 'utf8')).blocks) {
      if (!SHELL_FENCES.has(block.info)) continue;
      block.lines.forEach((raw, index) => {
        let line = raw;
        if (block.info === 'console') {
          if (!/^\s*\$ /.test(line)) return; // output, not a command
          line = line.replace(/^\s*\$ /, '');
        }
        line = line.replace(/(^|\s)#.*$/, ''); // comment
        for (const segment of line.split(/&&|\|\||[|;]|\$\(/)) {
          const words = segment.trim().split(/\s+/).filter(Boolean);
          while (words.length > 0 && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0]!)) words.shift(); // VAR=value
          if (words[0] === 'npx') words.shift();
          if (words[0] === 'rig') found.push({ where: `${rel(file)}:${block.line + 1 + index}`, words: words.slice(1) });
        }
      });
    }
  }
  return found;
}

test('every `rig ...` command shown in a shell block is a real command', { timeout: 60_000 }, async () => {
  const commands = rigCommandsInDocs();
  assert.ok(commands.length > 10, `only ${commands.length} rig commands found in shell blocks; is the parser broken?`);

  // The command tree, from the real binary's help.
  const top = await rigHelp([]);
  assert.equal(top.code, 0, top.stderr);
  const tree = new Map<string, string[]>([['', subcommandsIn(top.stdout, [])]]);
  assert.ok(tree.get('')!.includes('grpc'), `no commands parsed from rig --help:\n${top.stdout}`);
  await Promise.all(
    tree.get('')!.map(async (name) => {
      const help = await rigHelp([name]);
      assert.equal(help.code, 0, `rig ${name} --help: ${help.stderr}`);
      tree.set(name, subcommandsIn(help.stdout, [name]));
    }),
  );

  // Each shown command's path: the words that are subcommands, up to the first flag or argument.
  const problems: string[] = [];
  const paths = new Map<string, string>();
  for (const { where, words } of commands) {
    const commandPath: string[] = [];
    for (const word of words) {
      const below = tree.get(commandPath.join(' ')) ?? [];
      if (below.includes(word)) commandPath.push(word);
      else {
        // A level with subcommands takes a subcommand before any argument.
        if (below.length > 0 && !word.startsWith('-'))
          problems.push(`${where}: rig ${[...commandPath, word].join(' ')}: "${word}" is not a command (${below.join(', ')})`);
        break;
      }
    }
    if (words.length === 0) problems.push(`${where}: a bare "rig" without a command`);
    if (!paths.has(commandPath.join(' '))) paths.set(commandPath.join(' '), where);
  }
  await Promise.all(
    [...paths].map(async ([commandPath, where]) => {
      const words = commandPath === '' ? [] : commandPath.split(' ');
      const help = await rigHelp(words);
      if (help.code !== 0) problems.push(`${where}: rig ${commandPath} --help exited ${help.code}: ${help.stderr.trim()}`);
      else if (!help.stdout.startsWith(`rig ${commandPath}`.trimEnd()))
        problems.push(`${where}: rig ${commandPath} --help printed another command's help: ${help.stdout.split('\n')[0]}`);
    }),
  );
  assert.deepEqual(problems, [], problems.join('\n'));
  assert.ok(paths.size >= 8, `only ${paths.size} distinct rig commands in the docs: ${[...paths.keys()].join(', ')}`);
});
