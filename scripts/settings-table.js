#!/usr/bin/env node
// The configuration table (markdown) of docs/configuration.md, from src/config/settings.ts and its
// compiled SETTINGS (dist/src/config/settings.js; run after tsc). Before the move to src/config/ the
// module was src/cli/settings.ts; either place is found.
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

/** The settings module's source and its compiled form, preferring a pair from the same place. */
function settingsModule() {
  const places = ['config', 'cli'];
  const source = places.map((p) => path.join(root, 'src', p, 'settings.ts')).find((f) => fs.existsSync(f));
  if (!source) throw new Error('no src/config/settings.ts (or src/cli/settings.ts)');
  const same = path.join(root, 'dist', path.relative(root, source).replace(/\.ts$/, '.js'));
  const compiled = [same, ...places.map((p) => path.join(root, 'dist', 'src', p, 'settings.js'))].find((f) => fs.existsSync(f));
  if (!compiled) throw new Error(`no compiled ${path.relative(root, same)}; run \`npx tsc -p .\` first`);
  return { source, compiled };
}

function table() {
  const { source, compiled } = settingsModule();
  const { SETTINGS } = require(compiled);
  const src = fs.readFileSync(source, 'utf8');
  const esc = (s) => s.replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const number = (e) => (e.trim() === 'Number.MAX_SAFE_INTEGER' ? '2^53-1' : /^[\d_ *]+$/.test(e) ? String(Function(`return ${e.replace(/_/g, '')}`)()) : e.trim());
  const accepted = (name) => {
    const m = new RegExp(`^  ${name}: \\{.*parse: (\\w+)(?:\\(([^)]*)\\))?`, 'm').exec(src);
    if (!m) throw new Error(`no parse for ${name}`);
    if (m[1] === 'integer') return `whole number ${m[2].split(',').map(number).join(' to ')}`;
    if (m[1] === 'decimal') return `number ${m[2].split(',').map(number).join(' to ')}`;
    return { text: 'text', httpUrl: 'http(s) URL', hostPort: '`HOST:PORT`, `[IPv6]:PORT` or `PORT`', fullOrNormal: '`full` or `normal`' }[m[1]] ?? m[1];
  };
  const rows = Object.entries(SETTINGS).map(([name, s]) =>
    `| \`--${s.flag}\` | \`${s.env}\` | \`${s.key}\` | ${s.defaultValue === '' ? '(none)' : '`' + String(s.defaultValue) + '`'} | ${accepted(name)} | ${esc(s.describe)} |`);
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
