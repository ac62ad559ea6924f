// How every rig program (the CLI, and each sidecar run on its own) parses its arguments and fails:
// one readable line on stderr, exit code 1.
import type { Argv } from 'yargs';
import { RiggerError } from '../model/errors';
import { safeErrorLine } from './terminal-text';

/** Flags every rig program takes. */
export interface CommonArgs {
  C?: string;
  json?: boolean;
}

/** Adds the common flags, strict parsing and our failure handling to `program`, then runs it. */
export async function runCommandLine(program: Argv): Promise<void> {
  const cli = program
    .option('C', { type: 'string', describe: 'run as if started in this directory', global: true })
    .option('json', { type: 'boolean', describe: 'print data as JSON', global: true })
    .strict()
    .help()
    .fail((message, error) => {
      throw error ?? new RiggerError('invalid_argument', message);
    });
  try {
    await cli.parseAsync();
  } catch (error) {
    process.stderr.write(`rig: ${safeErrorLine(errorMessage(error))}\n`);
    process.exitCode = 1;
  }
}

function errorMessage(error: unknown): string {
  if (error instanceof RiggerError) return error.message;
  const grpcError = error as { code?: number; details?: string };
  if (typeof grpcError.code === 'number' && typeof grpcError.details === 'string') return grpcError.details;
  return (error as Error)?.message ?? String(error);
}
