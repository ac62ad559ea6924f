// A node:test reporter that prints, once the run ends, the wall time and the slowest test files:
// what to look at first when the suite's time grows (run-tests.js adds it beside the usual reporter).
'use strict';
const path = require('node:path');

const SHOWN = 12;

module.exports = async function* timing(source) {
  const started = Date.now();
  const byFile = new Map();
  for await (const event of source) {
    if ((event.type === 'test:pass' || event.type === 'test:fail') && event.data.nesting === 0 && event.data.file) {
      const file = path.relative(process.cwd(), event.data.file);
      const seen = byFile.get(file) ?? { file, ms: 0, failed: false };
      seen.ms += event.data.details.duration_ms; // a file's top-level tests run one after another
      seen.failed ||= event.type === 'test:fail';
      byFile.set(file, seen);
    }
  }
  const files = [...byFile.values()].sort((a, b) => b.ms - a.ms);
  const lines = files.slice(0, SHOWN).map((f) => `#   ${(f.ms / 1000).toFixed(1).padStart(6)} s  ${f.file}${f.failed ? '  (failed)' : ''}`);
  const wallMs = Date.now() - started;
  const busyMs = files.reduce((sum, f) => sum + f.ms, 0);
  // Files' time over wall time: how many of run-tests.js's slots were busy on average (the rest waited on the longest file).
  yield `# wall time ${(wallMs / 1000).toFixed(0)} s for ${files.length} files (${(busyMs / 1000).toFixed(0)} s of file time, ${(busyMs / Math.max(wallMs, 1)).toFixed(1)} files running on average); the slowest:\n${lines.join('\n')}\n`;
};
