#!/usr/bin/env node
// Prints the configuration table (markdown) from src/cli/settings.ts and its compiled SETTINGS; run after tsc.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const root = path.resolve(__dirname, '..');
const { SETTINGS } = require(path.join(root, 'dist/src/cli/settings.js'));
const src = fs.readFileSync(path.join(root, 'src/cli/settings.ts'), 'utf8');
const esc = (s) => s.replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const number = (e) => (e.trim() === 'Number.MAX_SAFE_INTEGER' ? '2^53-1' : /^[\d_ *]+$/.test(e) ? String(Function(`return ${e.replace(/_/g, '')}`)()) : e.trim());
const accepted = (name) => {
  const m = new RegExp(`^  ${name}: \\{.*parse: (\\w+)(?:\\(([^)]*)\\))?`, 'm').exec(src);
  if (!m) throw new Error(`no parse for ${name}`);
  if (m[1] === 'integer') return `whole number ${m[2].split(',').map(number).join(' to ')}`;
  if (m[1] === 'decimal') return `number ${m[2].split(',').map(number).join(' to ')}`;
  return { text: 'text', httpUrl: 'http(s) URL' }[m[1]] ?? m[1];
};
const rows = Object.entries(SETTINGS).map(([name, s]) =>
  `| \`--${s.flag}\` | \`${s.env}\` | \`${s.key}\` | ${s.defaultValue === '' ? '(none)' : '`' + String(s.defaultValue) + '`'} | ${accepted(name)} | ${esc(s.describe)} |`);
console.log('| flag | environment | `.rigger/config.json` key | default | accepted | meaning |\n|---|---|---|---|---|---|\n' + rows.join('\n'));
