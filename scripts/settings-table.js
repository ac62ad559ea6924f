#!/usr/bin/env node
// The configuration table (markdown) of docs/configuration.md, from the compiled SETTINGS of
// src/config/settings.ts (dist/src/config/settings.js; run after tsc): each setting's parser says what it accepts.
//   node scripts/settings-table.js           print the table
//   node scripts/settings-table.js --write   replace the table between the markers in docs/configuration.md
//   node scripts/settings-table.js --check   exit 1 with one line when docs/configuration.md is stale
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const root = path.resolve(__dirname, '..');
const DOC = path.join(root, 'docs', 'configuration.md');
const BEGIN = '<!-- settings-table:begin -->';
const END = '<!-- settings-table:end -->';

const COMPILED = path.join(root, 'dist', 'src', 'config', 'settings.js');

function table() {
  if (!fs.existsSync(COMPILED)) throw new Error(`no ${path.relative(root, COMPILED)}; run \`npx tsc -p .\` first`);
  const { SETTINGS } = require(COMPILED);
  const esc = (s) => s.replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const rows = Object.values(SETTINGS).map(
    (s) =>
      `| \`--${s.flag}\` | \`${s.env}\` | \`${s.key}\` | ${s.defaultValue === '' ? '(none)' : '`' + String(s.defaultValue) + '`'} | ${esc(s.parse.accepts)} | ${esc(s.describe)} |`,
  );
  return '| flag | environment | `.rigger/config.json` key | default | accepted | meaning |\n|---|---|---|---|---|---|\n' + rows.join('\n');
}

/** The document with the table between the markers replaced; throws when the markers are missing. */
function withTable(doc, generated) {
  const begin = doc.indexOf(BEGIN);
  const end = doc.indexOf(END, begin);
  if (begin < 0 || end < 0) throw new Error(`${path.relative(root, DOC)} has no ${BEGIN} ... ${END} markers`);
  return `${doc.slice(0, begin + BEGIN.length)}\n${generated}\n${doc.slice(end)}`;
}

const mode = process.argv[2];
try {
  if (mode === undefined) {
    console.log(table());
  } else if (mode === '--write' || mode === '--check') {
    const doc = fs.readFileSync(DOC, 'utf8');
    const updated = withTable(doc, table());
    if (mode === '--write') {
      if (updated !== doc) fs.writeFileSync(DOC, updated);
      console.log(`${path.relative(root, DOC)}: settings table ${updated === doc ? 'already current' : 'written'}`);
    } else if (updated !== doc) {
      console.error(`${path.relative(root, DOC)}: the settings table is stale; run \`node scripts/settings-table.js --write\` (after \`npx tsc -p .\`)`);
      process.exit(1);
    }
  } else {
    console.error(`settings-table: unknown option ${mode}; use --write or --check (or nothing to print the table)`);
    process.exit(2);
  }
} catch (error) {
  console.error(`settings-table: ${error.message}`);
  process.exit(1);
}
