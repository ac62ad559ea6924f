// People get text, machines get JSON: a sidecar (and rig grpc, by the same logSettings) logs pretty
// lines when stderr is a terminal (a pseudo-terminal from util-linux `script`), JSON lines when it is
// not or with --log-format json; a config.json typo is the same `rig: warning:` line either way.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { RIG_BIN, requireTool, spawnCollected, tempProject, waitFor } from '../support/processes';

const quote = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`;

/** Runs `rig args...` on a pseudo-terminal until its output matches `until`; returns the output (CR LF as LF). */
async function onTerminal(script: string, args: string[], until: RegExp): Promise<string> {
  const command = [process.execPath, RIG_BIN, ...args].map(quote).join(' ');
  const run = spawnCollected(script, ['-qfec', command, '/dev/null'], { detached: true, env: { ...process.env, RIGGER_LOG_LEVEL: 'info', TERM: 'dumb' } });
  try {
    await waitFor(() => until.test(run.stdout()), 20_000, `${until} on the terminal`);
  } finally {
    try {
      process.kill(-run.child.pid!, 'SIGTERM');
    } catch {
      // already gone
    }
    await run.exited;
  }
  return run.stdout().replace(/\r\n/g, '\n');
}

function sidecarArgs(dir: string): string[] {
  // Nothing listens at port 1: the sidecar logs a warning and retries, which is all this needs.
  return ['-C', dir, 'sidecar', 'logger', '--address', '127.0.0.1:1', '--file', path.join(dir, 'events.jsonl')];
}

test('on a terminal a sidecar logs pretty lines by default and JSON with --log-format json; the config typo is one rig: warning: line in both', async (t) => {
  const script = requireTool(t, 'script', 'apt-get install util-linux');
  if (!script) return;
  const dir = tempProject();
  fs.writeFileSync(path.join(dir, '.rigger', 'config.json'), JSON.stringify({ prot: 1 }));
  const warning = 'rig: warning: .rigger/config.json: unknown key "prot" is ignored (did you mean "port"?)\n';

  const pretty = await onTerminal(script, sidecarArgs(dir), /event stream lost; reconnecting/);
  assert.ok(pretty.startsWith(warning), pretty);
  assert.match(pretty, /^\[\d\d:\d\d:\d\d\.\d{3}\] (\S*)WARN(\S*) \(rigger-logger\): (\S*)event stream lost; reconnecting/m);
  assert.doesNotMatch(pretty, /^\{"level"/m, 'no JSON records on a terminal');

  const json = await onTerminal(script, [...sidecarArgs(dir), '--log-format', 'json'], /"msg":"event stream lost; reconnecting"/);
  assert.ok(json.startsWith(warning), json);
  assert.match(json, /^\{"level":40,.*"name":"rigger-logger".*"msg":"event stream lost; reconnecting"\}$/m);
});

test('on a terminal rig grpc logs pretty lines around its banner, and a config.json typo is its rig: warning: line', async (t) => {
  const script = requireTool(t, 'script', 'apt-get install util-linux');
  if (!script) return;
  const dir = tempProject();
  fs.writeFileSync(path.join(dir, '.rigger', 'config.json'), JSON.stringify({ prot: 1 }));
  const out = await onTerminal(script, ['-C', dir, 'grpc', '--port', '0', '--host', '127.0.0.1'], /server listening/);
  assert.ok(out.startsWith('rig: warning: .rigger/config.json: unknown key "prot" is ignored (did you mean "port"?)\n'), out);
  assert.match(out, /^ready: listening on port \d+/m);
  assert.match(out, /^\[\d\d:\d\d:\d\d\.\d{3}\] (\S*)INFO(\S*) \(rigger\): (\S*)server listening/m);
  assert.doesNotMatch(out, /^\{"level"/m);
});

test('off a terminal (a pipe) the default is JSON; --log-format pretty still gives pretty lines', async () => {
  const dir = tempProject();
  const piped = spawnCollected(process.execPath, [RIG_BIN, ...sidecarArgs(dir)], { env: { ...process.env, RIGGER_LOG_LEVEL: 'info' } });
  try {
    await waitFor(() => piped.stderr().includes('"msg":"event stream lost; reconnecting"'), 20_000, 'a JSON record');
  } finally {
    piped.child.kill('SIGTERM');
    await piped.exited;
  }
  for (const line of piped.stderr().trim().split('\n')) assert.doesNotThrow(() => JSON.parse(line), line);

  const pretty = spawnCollected(process.execPath, [RIG_BIN, ...sidecarArgs(dir), '--log-format', 'pretty'], {
    env: { ...process.env, RIGGER_LOG_LEVEL: 'info' },
  });
  try {
    await waitFor(() => pretty.stderr().includes('event stream lost; reconnecting'), 20_000, 'a pretty line');
  } finally {
    pretty.child.kill('SIGTERM');
    await pretty.exited;
  }
  assert.match(pretty.stderr(), /WARN \(rigger-logger\): event stream lost; reconnecting/);
});
