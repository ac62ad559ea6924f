import path from 'node:path';
import { RIGGER_DIR } from '../../config/project';
import { printJson } from '../output';
import { initProject } from '../project-store';
import type { CommandBody, GlobalArgs } from '../command-body';

export const initCommand: CommandBody<GlobalArgs> = {
  builder: (yargs) => yargs.example('$0 init', 'in the current directory').example('$0 -C ~/projects/site init', 'in another one'),
  handler: (argv) => {
    const made = initProject(path.resolve(argv.C ?? '.'));
    if (argv.json) printJson(made);
    else
      process.stdout.write(`Initialized rigger project in ${path.join(made.project, RIGGER_DIR)}\n  config:   ${made.config}\n  database: ${made.database}\n`);
  },
};
