import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { call, callError, connect } from '../support/client';
import { REPO_ROOT, rig, startServer, tempDir, tempProject } from '../support/processes';
import { FIXTURES, placeFixture, writeProjectFile } from './prd-support';

function parseJson(dir: string, file: string) {
  const result = rig(['prd', 'parse', file, '--json', '-C', dir], { cwd: dir });
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout);
}

test('parser: messy real-world PRD (nested lists, `1)` lists, trailing colons, code fences, other sections)', () => {
  const dir = tempProject();
  placeFixture(dir, 'messy.md');
  const prd = parseJson(dir, 'docs/PRD.md');
  assert.equal(prd.prd_title, 'Team Calendar');
  assert.deepEqual(prd.objectives, [
    "Show every team member's availability in one view",
    'Let people book a meeting room from the same screen',
    'Send reminders by email',
  ]);
  assert.deepEqual(prd.parsed.objectives[0].details, ['including time zones', 'and public holidays']);
  assert.deepEqual(prd.tech_stack, ['TypeScript with Node 20', 'PostgreSQL 16', 'React']);
  assert.deepEqual(prd.constraints, ['Must run on the company VPN only', 'No personal data leaves the EU']);
  assert.deepEqual(
    prd.parsed.requirements.map((r: { section: string; text: string }) => `${r.section}: ${r.text}`),
    ['Functional Requirements: Export a week as iCal', 'Functional Requirements: Import holidays from a CSV file', 'Functional Requirements: Dark mode'],
  );
  assert.equal(prd.source_path, 'docs/PRD.md');
  assert.match(prd.prd_id, /^prd-[0-9a-f]{16}$/);
});

test('parser: CRLF with a BOM parses like LF, and the same text gets the same id', () => {
  const dir = tempProject();
  placeFixture(dir, 'crlf.md', 'docs/windows.md');
  assert.ok(fs.readFileSync(path.join(FIXTURES, 'crlf.md'), 'utf8').includes('\r\n'), 'the fixture must keep its CRLF line endings');
  const crlf = parseJson(dir, 'docs/windows.md');
  assert.equal(crlf.prd_title, 'Windows PRD');
  assert.deepEqual(crlf.objectives, ['First objective', 'Second objective']);
  assert.deepEqual(crlf.parsed.objectives[0].details, ['nested detail']);
  assert.deepEqual(crlf.tech_stack, ['C#']);
  assert.deepEqual(crlf.constraints, ['Runs on Windows 11']);
  const lf = fs
    .readFileSync(path.join(FIXTURES, 'crlf.md'), 'utf8')
    .replace(/^\uFEFF/, '')
    .replace(/\r\n/g, '\n');
  writeProjectFile(dir, 'docs/unix.md', lf);
  assert.equal(parseJson(dir, 'docs/unix.md').prd_id, crlf.prd_id);
});

test('parser: ### Task N: blocks with **Assignee:** and **Due:** lines', () => {
  const dir = tempProject();
  placeFixture(dir, 'tasks.md');
  const prd = parseJson(dir, 'docs/PRD.md');
  assert.deepEqual(prd.objectives, ['Accept card payments']);
  assert.deepEqual(prd.parsed.tasks, [
    {
      number: 1,
      title: 'Implement OAuth2 authentication',
      assignee: 'Alice',
      due_date: '2025-12-31',
      details: ['Use the company identity provider', 'Support refresh tokens'],
    },
    { number: 2, title: 'Build the payment form and add card validation', assignee: 'Bob', due_date: '2026-01-15', details: [] },
    { number: 3, title: 'Write the runbook', details: ['Owner is not set for this one.'] },
  ]);
});

test('parser: no sections is a valid, empty PRD; no title and a bad due date are refused with the reason', () => {
  const dir = tempProject();
  placeFixture(dir, 'no-sections.md');
  const empty = parseJson(dir, 'docs/PRD.md');
  assert.equal(empty.prd_title, 'A PRD With No Sections');
  assert.deepEqual([empty.objectives, empty.tech_stack, empty.constraints, empty.parsed.tasks, empty.parsed.requirements], [[], [], [], [], []]);

  placeFixture(dir, 'no-title.md', 'docs/no-title.md');
  const noTitle = rig(['prd', 'parse', 'docs/no-title.md', '-C', dir], { cwd: dir });
  assert.equal(noTitle.code, 1);
  assert.equal(noTitle.stderr.trim().split('\n').length, 1, noTitle.stderr);
  assert.match(noTitle.stderr, /^rig: docs\/no-title\.md has no title: .*first-level heading/);

  placeFixture(dir, 'bad-due.md', 'docs/bad-due.md');
  const badDue = rig(['prd', 'parse', 'docs/bad-due.md', '-C', dir], { cwd: dir });
  assert.equal(badDue.code, 1);
  assert.match(badDue.stderr, /line 5: Task 1's due date "next Friday" is not a calendar date/);
});

test('ParsePRD over gRPC: the contract request works verbatim, the id is stable, buf curl gets the same answer', async () => {
  const dir = tempProject();
  placeFixture(dir, 'messy.md');
  const server = await startServer(dir);
  const client = connect(server.address);
  try {
    // Exactly the contract's `-d '{"prd_file_path": "./docs/PRD.md"}'`.
    const first = await call(client, 'ParsePRD', JSON.parse('{"prd_file_path": "./docs/PRD.md"}'));
    assert.equal(first.prd_title, 'Team Calendar');
    assert.equal(first.objectives.length, 3);
    assert.deepEqual(first.tech_stack, ['TypeScript with Node 20', 'PostgreSQL 16', 'React']);
    assert.equal(first.constraints.length, 2);
    const again = await call(client, 'ParsePRD', { prd_file_path: 'docs/PRD.md' });
    assert.equal(again.prd_id, first.prd_id, 'same content, same id');
    const absolute = await call(client, 'ParsePRD', { prd_file_path: path.join(dir, 'docs', 'PRD.md') });
    assert.equal(absolute.prd_id, first.prd_id, 'an absolute path inside the project is fine');
    placeFixture(dir, 'messy.md', 'elsewhere/copy.md');
    assert.equal((await call(client, 'ParsePRD', { prd_file_path: 'elsewhere/copy.md' })).prd_id, first.prd_id, 'same content at another path, same id');
    fs.appendFileSync(path.join(dir, 'docs', 'PRD.md'), '\n## Constraints\n- One more\n');
    const changed = await call(client, 'ParsePRD', { prd_file_path: './docs/PRD.md' });
    assert.notEqual(changed.prd_id, first.prd_id, 'changed content, new id');
    assert.equal(changed.constraints.length, 3);

    const buf = path.join(REPO_ROOT, 'node_modules', '.bin', 'buf');
    const viaBuf = spawnSync(
      buf,
      [
        'curl',
        '--protocol',
        'grpc',
        '--http2-prior-knowledge',
        '-d',
        '{"prd_file_path": "./docs/PRD.md"}',
        `http://${server.address}/rigger.v1.RiggerService/ParsePRD`,
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    assert.equal(viaBuf.status, 0, viaBuf.stderr);
    const bufAnswer = JSON.parse(viaBuf.stdout);
    assert.equal(bufAnswer.prdId, changed.prd_id);
    assert.equal(bufAnswer.prdTitle, 'Team Calendar');

    placeFixture(dir, 'no-title.md', 'docs/no-title.md');
    const noTitle = await callError(client, 'ParsePRD', { prd_file_path: 'docs/no-title.md' });
    assert.equal(noTitle.code, grpc.status.INVALID_ARGUMENT);
    assert.match(noTitle.details, /has no title/);
    const missing = await callError(client, 'ParsePRD', { prd_file_path: 'docs/nope.md' });
    assert.equal(missing.code, grpc.status.NOT_FOUND);
    assert.match(missing.details, /does not exist/);
    const empty = await callError(client, 'ParsePRD', {});
    assert.equal(empty.code, grpc.status.INVALID_ARGUMENT);
    assert.match(empty.details, /prd_file_path must not be empty/);
  } finally {
    client.close();
    assert.equal(await server.stop(), 0);
  }
});

test('ParsePRD reads only files inside the project: ../, absolute paths, symlinks out, .rigger/ and files over 1 MiB are refused', async () => {
  const dir = tempProject();
  const outside = tempDir('rigger-outside-');
  fs.writeFileSync(path.join(outside, 'secret.md'), '# Secret\n\n## Objectives\n- leak\n');
  fs.symlinkSync(path.join(outside, 'secret.md'), path.join(dir, 'link-out.md'));
  fs.symlinkSync(outside, path.join(dir, 'dir-link'));
  placeFixture(dir, 'tasks.md');
  fs.symlinkSync(path.join(dir, 'docs', 'PRD.md'), path.join(dir, 'link-in.md'));
  writeProjectFile(dir, 'docs/huge.md', `# Huge\n\n${'- item\n'.repeat(200_000)}`);
  const server = await startServer(dir);
  const client = connect(server.address);
  try {
    const escape = path.relative(dir, path.join(outside, 'secret.md'));
    assert.ok(escape.startsWith('..'));
    for (const [request, why] of [
      [escape, /outside the project directory/],
      [`docs/../${escape}`, /outside the project directory/],
      ['/etc/passwd', /resolves to \/etc\/passwd, outside the project directory/],
      ['link-out.md', /symlink .*outside the project directory/],
      ['dir-link/secret.md', /symlink .*outside the project directory/],
      ['.rigger/tasks.db', /under \.rigger\//],
    ] as const) {
      const error = await callError(client, 'ParsePRD', { prd_file_path: request });
      assert.equal(error.code, grpc.status.PERMISSION_DENIED, `${request}: ${error.details}`);
      assert.match(error.details, why);
      assert.doesNotMatch(error.details, /leak/);
    }
    const huge = await callError(client, 'ParsePRD', { prd_file_path: 'docs/huge.md' });
    assert.equal(huge.code, grpc.status.INVALID_ARGUMENT);
    assert.match(huge.details, /is 1400\d+ bytes; the limit is 1048576 bytes \(1 MiB\)/);
    const directory = await callError(client, 'ParsePRD', { prd_file_path: 'docs' });
    assert.equal(directory.code, grpc.status.INVALID_ARGUMENT);
    // A symlink that stays inside the project is fine.
    const inside = await call(client, 'ParsePRD', { prd_file_path: 'link-in.md' });
    assert.equal(inside.prd_title, 'Payments Service');
    // GenerateTasksFromPRD applies the same rule to a path.
    const generate = await callError(client, 'GenerateTasksFromPRD', { prd_id: '/etc/passwd', model: 'rules' });
    assert.equal(generate.code, grpc.status.PERMISSION_DENIED);
    const generateLink = await callError(client, 'GenerateTasksFromPRD', { prd_id: 'link-out.md' });
    assert.equal(generateLink.code, grpc.status.PERMISSION_DENIED);
    assert.equal((await call(client, 'ListTasks', {})).total_count, 0);
  } finally {
    client.close();
    assert.equal(await server.stop(), 0);
  }
});
