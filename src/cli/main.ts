import yargs from 'yargs';
import { runCommandLine, type CommonArgs } from '../config/command-line';
import { backupCommand } from './commands/backup';
import { consumersCommand } from './commands/consumers';
import { eventsCommand } from './commands/events';
import { grpcCommand } from './commands/grpc';
import { initCommand } from './commands/init';
import { sidecarCommand } from './commands/sidecar';
import { orchestrateCommand } from './commands/orchestrate';
import { prdCommand } from './commands/prd';
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
      // `rig completion >> ~/.bashrc` (or ~/.zshrc): yargs' own completion of commands and flags.
      .completion('completion', 'Print a bash/zsh completion script for rig (e.g. rig completion >> ~/.bashrc)')
      .demandCommand(1, 'name a command; see rig --help')
      .recommendCommands(),
  );
}
