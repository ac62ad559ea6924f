// Installing from the clone never leaves it without dist/: `npm install -g <clone>` (to a temp
// --prefix, offline) runs prepare, forced here to rebuild, while `rig --help` runs from the clone in
// a loop; every run must succeed. The build moves files into dist/ one by one and removes what the
// new build lacks; prepare skips the build when dist/ is newer than every source.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT, RIG_BIN, runAsync, spawnCollected, tempDir } from '../support/processes';

const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const STAMP = path.join(REPO_ROOT, 'dist', 'build-stamp.json');

test(
  'npm install -g from the clone, rebuilding, while rig --help runs in a loop: no run fails, stale output is removed, rig and its man page are installed',
  { timeout: 240_000 },
  async () => {
    const prefix = tempDir('rigger-global-');
    const stale = path.join(REPO_ROOT, 'dist', 'src', 'stale-output-of-a-removed-source.js');
    fs.writeFileSync(stale, '');
    const before = fs.readFileSync(STAMP, 'utf8');
    const install = spawnCollected(NPM, ['install', '-g', '--prefix', prefix, '--offline', '--no-audit', '--no-fund', '--foreground-scripts', REPO_ROOT], {
      cwd: prefix,
      env: { ...process.env, RIGGER_FORCE_BUILD: '1' },
    });
    let runs = 0;
    const failures: string[] = [];
    // One run at a time, bounded, for as long as the install lasts; a run starts at most every 500 ms, so the loop
    // does not take the CPU the build needs (each run reads dist/ for its whole start, which is where a gap would show).
    while (install.child.exitCode === null && install.child.signalCode === null && runs < 2000) {
      const pace = new Promise((resolve) => setTimeout(resolve, 500));
      const run = await runAsync(process.execPath, [RIG_BIN, '--help'], { timeoutMs: 30_000 });
      await pace;
      runs++;
      if (run.code !== 0 || !run.stdout.startsWith('rig <command>')) failures.push(`run ${runs}: exit ${run.code}: ${run.stderr.slice(0, 300)}`);
    }
    const code = await install.exited;
    assert.equal(code, 0, install.stderr() + install.stdout());
    assert.match(install.stderr() + install.stdout(), /rigger: building dist\/ \(RIGGER_FORCE_BUILD is set\)/, 'prepare rebuilt dist/ during the install');
    assert.notEqual(fs.readFileSync(STAMP, 'utf8'), before, 'the build ran');
    assert.deepEqual(failures, [], `${failures.length} of ${runs} runs failed`);
    assert.ok(runs >= 5, `rig ran ${runs} times during the install`);
    assert.ok(!fs.existsSync(stale), 'output the new build does not have is removed');
    assert.deepEqual(
      fs.readdirSync(REPO_ROOT).filter((name) => name.startsWith('.dist-build-')),
      [],
      'no staging folder left behind',
    );

    const installed = spawnSync(path.join(prefix, 'bin', 'rig'), ['--help'], { encoding: 'utf8' });
    assert.equal(installed.status, 0, installed.stderr);
    assert.match(installed.stdout, /^rig <command>/);
    assert.ok(fs.existsSync(path.join(prefix, 'share', 'man', 'man1', 'rig.1')), 'npm installs the man page (package.json "man")');

    // Built and unchanged since: prepare leaves dist/ alone.
    const again = spawnSync(process.execPath, [path.join(REPO_ROOT, 'scripts', 'prepare.js')], { encoding: 'utf8' });
    assert.equal(again.status, 0, again.stderr);
    assert.equal(again.stderr, 'rigger: dist/ is up to date with the sources; not rebuilding (npm run build forces it)\n');
  },
);
