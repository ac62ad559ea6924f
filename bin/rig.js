#!/usr/bin/env node
'use strict';
// Before anything else allocates (src/heap-flags.ts says why).
require('../dist/src/heap-flags.js').keepYoungGenerationSmall();
require('../dist/src/cli/main.js').main(process.argv.slice(2));
