#!/usr/bin/env node
// Writes the manual page rig(1) from the compiled CLI's own help (src/cli/man-page.ts): run by
// scripts/build.js into its staging folder, so the page is generated with every build, never by hand.
// Usage: node scripts/gen-man.js OUT_FILE [DIST_DIR]
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const [out, distDir = path.join(__dirname, '..', 'dist')] = process.argv.slice(2);
const { manPage } = require(path.resolve(distDir, 'src', 'cli', 'man-page.js'));
const { rigProgram } = require(path.resolve(distDir, 'src', 'cli', 'main.js'));
const { version } = require('../package.json');
manPage(rigProgram, version).then((page) => {
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, page);
});
