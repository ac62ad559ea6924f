// The arguments every command gets and the shape of a command module: apart from main.ts, which
// registers the commands, so a command's types do not import the file that imports it.
import type { CommandModule } from 'yargs';
import type { CommonArgs } from '../config/command-line';

export interface GlobalArgs extends CommonArgs {
  actor?: string;
}

/** What a module under ./commands exports: the command's builder and handler (its name and summary are in main, for --help). */
export type CommandBody<U = GlobalArgs> = Pick<CommandModule<GlobalArgs, U>, 'builder' | 'handler'>;
