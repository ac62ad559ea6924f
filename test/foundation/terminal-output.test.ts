// Task data printed for people is terminal-safe: the real `rig` CLI, with tasks whose title,
// assignee and actor hold newlines, carriage returns, ESC sequences, DEL, C1 controls, U+2028/U+2029
// and bidi overrides. `rig events` prints exactly one line per event with the escapes visible (no
// forged event lines), `rig task list/get` and `rig prd parse` likewise, and --json gives back the
// exact original strings.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { RIG_BIN, rig, spawnCollected, startServer, tempProject, waitFor, type RunResult } from '../support/processes';

// What a line-based reader or a terminal would act on, if it reached stdout raw (\n ends lines).
const RAW_UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

const FORGED_TITLE =
  'Fix login\n#999 2026-01-01T00:00:00.000Z DELETED 00000000-0000-0000-0000-000000000000 "everything" status=ARCHIVED assignee=- actor=root\rtail';
const FORGED_TITLE_SHOWN = String.raw`Fix login\n#999 2026-01-01T00:00:00.000Z DELETED 00000000-0000-0000-0000-000000000000 "everything" status=ARCHIVED assignee=- actor=root\rtail`;
const ESC_ASSIGNEE = '\u001b[31mMallory\u001b[0m\u001b]0;owned\u0007';
const ESC_ASSIGNEE_SHOWN = String.raw`\x1b[31mMallory\x1b[0m\x1b]0;owned\x07`;
const ODD_TITLE = 'tab\there del\u007f nel\u0085 csi\u009b2J ls\u2028ps\u2029 rlo\u202eevil\u202c fsi\u2068x\u2069 back\\slash "quoted" café ✓ 😀';
const ODD_TITLE_SHOWN = String.raw`tab\there del\x7f nel\x85 csi\x9b2J ls\u2028ps\u2029 rlo\u202eevil\u202c fsi\u2068x\u2069 back\\slash "quoted" café ✓ 😀`;
const NEW_ASSIGNEE = 'Eve\nactor=root';
const EVIL_ACTOR = 'bot\n#998 forged';

function ok(result: RunResult): string {
  assert.equal(result.code, 0, `exit ${result.code}; stderr: ${result.stderr}`);
  return result.stdout;
}

function assertNoRawControls(output: string, what: string): void {
  const found = RAW_UNSAFE.exec(output);
  assert.equal(found, null, `${what} printed U+${found?.[0].charCodeAt(0).toString(16).padStart(4, '0')} raw: ${JSON.stringify(output)}`);
}

/** Runs `rig events` until a line mentions the END task, then stops it with SIGINT. */
async function eventsUntilEnd(dir: string, address: string, json: boolean): Promise<string> {
  const events = spawnCollected(process.execPath, [RIG_BIN, 'events', '--since', '0', '--address', address, '-C', dir, ...(json ? ['--json'] : [])], {
    env: { ...process.env, RIGGER_LOG_LEVEL: 'warn' },
  });
  const marker = json ? '"title":"END"' : ' "END" ';
  await waitFor(
    () => events.stdout().includes(marker) && events.stdout().endsWith('\n'),
    15_000,
    `rig events to print the END task (stderr: ${events.stderr()})`,
  );
  events.child.kill('SIGINT');
  assert.equal(await events.exited, 0, events.stderr());
  return events.stdout();
}

test('rig events, task list, task get: control characters in task data are escaped, one event = one line; --json is exact', async () => {
  const dir = tempProject();
  const server = await startServer(dir);
  try {
    const forged = JSON.parse(ok(rig(['task', 'add', FORGED_TITLE, '--assignee', ESC_ASSIGNEE, '--json', '-C', dir])));
    assert.equal(forged.title, FORGED_TITLE);
    assert.equal(forged.assignee, ESC_ASSIGNEE);
    const odd = JSON.parse(ok(rig(['task', 'add', ODD_TITLE, '--json', '-C', dir])));
    assert.equal(odd.title, ODD_TITLE);
    ok(rig(['task', 'update', odd.id, '--assignee', NEW_ASSIGNEE, '--actor', EVIL_ACTOR, '-C', dir]));
    ok(rig(['task', 'add', 'END', '-C', dir]));

    // --json: exact strings back (and, checked below, no raw U+2028/U+0085/bidi controls in the stream).
    const jsonOut = await eventsUntilEnd(dir, server.address, true);
    const events = jsonOut
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line));
    assert.ok(events.length >= 5, `${events.length} events`);
    assert.deepEqual(
      events.map((e) => e.sequence),
      events.map((_, i) => i + 1),
    );
    assert.equal(events[0].task.title, FORGED_TITLE);
    assert.equal(events[0].task.assignee, ESC_ASSIGNEE);
    assert.equal(events[1].task.title, ODD_TITLE);
    const reassigned = events.filter((e) => e.task.id === odd.id && e.task.assignee === NEW_ASSIGNEE);
    assert.ok(reassigned.length >= 1 && reassigned.every((e) => e.actor === EVIL_ACTOR), JSON.stringify(reassigned));

    // Human lines: exactly one per event, in order, with the escapes visible.
    const humanOut = await eventsUntilEnd(dir, server.address, false);
    assertNoRawControls(humanOut, 'rig events');
    const lines = humanOut.trimEnd().split('\n');
    assert.equal(lines.length, events.length, humanOut);
    lines.forEach((line, i) => {
      assert.ok(line.startsWith(`#${events[i].sequence} ${events[i].timestamp} ${events[i].event_type} ${events[i].task.id} "`), line);
      assert.match(
        line,
        /^#\d+ \S+ [A-Z_]+ \S+ "(?:[^"\\]|\\.)*" status=[A-Z_]+ assignee=(?:"(?:[^"\\]|\\.)*"|[^\s"]+)(?: changed=\S+)? actor=(?:"(?:[^"\\]|\\.)*"|[^\s"]+)$/,
      );
    });
    assert.ok(!lines.some((line) => line.startsWith('#999') || line.startsWith('#998')), 'no forged event line');
    assert.equal(
      lines[0],
      `#1 ${events[0].timestamp} CREATED ${forged.id} "${FORGED_TITLE_SHOWN.replace(/"/g, '\\"')}" status=TODO assignee=${ESC_ASSIGNEE_SHOWN} actor=${events[0].actor}`,
    );
    assert.ok(lines[1]!.includes(` "${ODD_TITLE_SHOWN.replace(/"/g, '\\"')}" status=TODO assignee=- `), lines[1]);
    const reassignedLines = lines.filter((line) => line.includes(String.raw`assignee="Eve\nactor=root"`));
    assert.equal(reassignedLines.length, reassigned.length, humanOut);
    assert.ok(
      reassignedLines.every((line) => line.endsWith(String.raw` actor="bot\n#998 forged"`)),
      reassignedLines.join('\n'),
    );

    assertNoRawControls(jsonOut, 'rig events --json');
    assert.ok(jsonOut.includes(String.raw`\u2028`), 'U+2028 is written as \\u2028 in JSON');

    // rig task list: header, one line per task, the count; the title column stays aligned.
    const listOut = ok(rig(['task', 'list', '-C', dir]));
    assertNoRawControls(listOut, 'rig task list');
    const rows = listOut.trimEnd().split('\n');
    assert.equal(rows.length, 5, listOut);
    assert.equal(rows[4], '3 of 3 task(s)');
    const titleColumn = rows[0]!.indexOf('TITLE');
    const forgedRow = rows.find((row) => row.startsWith(forged.id))!;
    assert.equal(forgedRow.slice(titleColumn), FORGED_TITLE_SHOWN, forgedRow);
    assert.ok(forgedRow.includes(` ${ESC_ASSIGNEE_SHOWN} `), forgedRow);
    const oddRow = rows.find((row) => row.startsWith(odd.id))!;
    assert.equal(oddRow.slice(titleColumn), ODD_TITLE_SHOWN, oddRow);
    assert.ok(oddRow.includes(String.raw` Eve\nactor=root `), oddRow);
    const listed = JSON.parse(ok(rig(['task', 'list', '--json', '-C', dir])));
    assert.deepEqual(
      listed.tasks.map((t: { title: string }) => t.title),
      ['END', ODD_TITLE, FORGED_TITLE],
    );
    assert.equal(listed.tasks[1].assignee, NEW_ASSIGNEE);

    // rig task get: one line per field.
    const getOut = ok(rig(['task', 'get', forged.id, '-C', dir]));
    assertNoRawControls(getOut, 'rig task get');
    const fields = getOut.trimEnd().split('\n');
    assert.deepEqual(
      fields.map((f) => f.split(/\s+/)[0]),
      ['id', 'title', 'status', 'assignee', 'due', 'version', 'created', 'updated'],
    );
    assert.equal(fields[1], `title     ${FORGED_TITLE_SHOWN}`);
    assert.equal(fields[3], `assignee  ${ESC_ASSIGNEE_SHOWN}`);
    const got = JSON.parse(ok(rig(['task', 'get', odd.id, '--json', '-C', dir])));
    assert.equal(got.title, ODD_TITLE);
    assert.equal(got.assignee, NEW_ASSIGNEE);
  } finally {
    await server.stop();
  }
});

test('rig prd parse: control characters from the PRD file are escaped; --json is exact', () => {
  const dir = tempProject();
  fs.mkdirSync(path.join(dir, 'docs'));
  fs.writeFileSync(
    path.join(dir, 'docs', 'PRD.md'),
    '# Evil\u001b[2J title\u0085more\n\n## Objectives\n- one\u202etwo\u0085three\u0007four\n\n## Tasks\n### Task 1: Do\u009b it\n**Assignee:** \u001b]0;x\u0007Bob\n',
  );
  const out = ok(rig(['prd', 'parse', 'docs/PRD.md', '-C', dir], { cwd: dir }));
  assertNoRawControls(out, 'rig prd parse');
  const lines = out.trimEnd().split('\n');
  assert.ok(lines.includes(String.raw`title         Evil\x1b[2J title\x85more`), out);
  assert.ok(lines.includes(String.raw`  - one\u202etwo\x85three\x07four`), out);
  assert.ok(lines.includes(String.raw`  1. Do\x9b it [\x1b]0;x\x07Bob, due -]`), out);
  assert.equal(lines.length, 10, out);
  const parsed = JSON.parse(ok(rig(['prd', 'parse', 'docs/PRD.md', '--json', '-C', dir], { cwd: dir })));
  assert.equal(parsed.prd_title, 'Evil\u001b[2J title\u0085more');
  assert.deepEqual(parsed.objectives, ['one\u202etwo\u0085three\u0007four']);
  assert.equal(parsed.parsed.tasks[0].assignee, '\u001b]0;x\u0007Bob');
});
