import yargs from 'yargs';
import { RiggerError } from '../model/errors';
import { eventsCommand } from './commands/events';
import { grpcCommand } from './commands/grpc';
import { initCommand } from './commands/init';
import { sidecarCommand } from './commands/sidecar';
import { orchestrateCommand } from './commands/orchestrate';
import { prdCommand } from './commands/prd';
import { taskCommand } from './commands/task';

export interface GlobalArgs {
  C?: string;
  json?: boolean;
  actor?: string;
}

/** Runs the `rig` CLI. Failures print one line on stderr and exit with code 1. */
export async function main(args: string[]): Promise<void> {
  const cli = yargs(args)
    .scriptName('rig')
    .usage('$0 <command>\n\nRigger: a local task-event hub for sidecars.')
    .option('C', { type: 'string', describe: 'run as if started in this directory', global: true })
    .option('json', { type: 'boolean', describe: 'print data as JSON', global: true })
    .command(initCommand)
    .command(grpcCommand)
    .command(taskCommand)
    .command(eventsCommand)
    .command(prdCommand)
    .command(orchestrateCommand)
    .command(sidecarCommand)
    .demandCommand(1, 'name a command; see rig --help')
    .strict()
    .recommendCommands()
    .help()
    .fail((message, error) => {
      throw error ?? new RiggerError('invalid_argument', message);
    });
  try {
    await cli.parseAsync();
  } catch (error) {
    process.stderr.write(`rig: ${errorMessage(error)}\n`);
    process.exitCode = 1;
  }
}

function errorMessage(error: unknown): string {
  if (error instanceof RiggerError) return error.message;
  const grpcError = error as { code?: number; details?: string };
  if (typeof grpcError.code === 'number' && typeof grpcError.details === 'string') return grpcError.details;
  return (error as Error)?.message ?? String(error);
}
