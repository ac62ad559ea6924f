import yargs from 'yargs';
import { unknownConfigKeys } from '../config/config-keys';
import { runCommandLine, type CommonArgs } from '../config/command-line';
import { findProject } from '../config/project';
import { backupCommand } from './commands/backup';
import { consumersCommand } from './commands/consumers';
import { eventsCommand } from './commands/events';
import { grpcCommand } from './commands/grpc';
import { initCommand } from './commands/init';
import { logCommand } from './commands/log';
import { sidecarCommand } from './commands/sidecar';
import { orchestrateCommand } from './commands/orchestrate';
import { prdCommand } from './commands/prd';
import { restoreCommand } from './commands/restore';
import { taskCommand } from './commands/task';

export interface GlobalArgs extends CommonArgs {
  actor?: string;
}

/** Runs the `rig` CLI. Failures print one line on stderr and exit with code 1. */
export function main(args: string[]): Promise<void> {
  return runCommandLine(
    yargs(args)
      .scriptName('rig')
      .usage('$0 <command>\n\nRigger: a local task-event hub for sidecars.')
      .command(initCommand)
      .command(grpcCommand)
      .command(taskCommand)
      .command(eventsCommand)
      .command(consumersCommand)
      .command(prdCommand)
      .command(orchestrateCommand)
      .command(sidecarCommand)
      .command(backupCommand)
      .command(restoreCommand)
      .command(logCommand)
      // `rig completion >> ~/.bashrc` (or ~/.zshrc): yargs' own completion of commands and flags.
      .completion('completion', 'Print a bash/zsh completion script for rig (e.g. rig completion >> ~/.bashrc)')
      .example('$0 init && $0 grpc', 'make a project here and serve it on localhost:50051')
      .example('$0 task add "Fix login bug" --assignee Alice', 'add a task (the server broadcasts it)')
      .example('$0 events --assignee Alice', 'print every change to her tasks as it happens')
      .example('$0 sidecar board', 'a live board of the tasks at http://127.0.0.1:7464')
      .middleware(warnOfUnknownConfigKeys)
      .demandCommand(1, 'name a command; see rig --help')
      .recommendCommands(),
  );
}

/** Commands that log instead (rig grpc, sidecars: JSON on stderr), or read no config. */
const OWN_WARNINGS = new Set(['grpc', 'sidecar', 'init', 'completion']);

/** One stderr line per unknown key in the project's config.json, before the command runs. */
function warnOfUnknownConfigKeys(argv: { _: (string | number)[]; C?: string }): void {
  if (OWN_WARNINGS.has(String(argv._[0]))) return;
  let project;
  try {
    project = findProject(argv.C ?? '.');
  } catch {
    return; // no project, or a config.json the command itself reports
  }
  for (const unknown of unknownConfigKeys(project)) process.stderr.write(`rig: warning: ${unknown.message}\n`);
}
