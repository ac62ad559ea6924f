#!/usr/bin/env node
// Empties dist/ before a build: tsc never deletes the output of a source that was moved or removed,
// and a stale file there could still be required (the layout test refuses any that is).
'use strict';
const fs = require('node:fs');
const path = require('node:path');

fs.rmSync(path.join(__dirname, '..', 'dist'), { recursive: true, force: true });
