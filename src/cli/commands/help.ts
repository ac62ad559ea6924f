// `rig help [command..]`: the help of rig or of one command; `--man`: the whole manual page.
import { nearestWord } from '../../config/config-keys';
import { packageVersion } from '../../protocol/package-version';
import { invalidArgument } from '../../model/errors';
import { helpText, subcommandsIn, type ProgramFactory } from '../help-text';
import type { CommandBody, GlobalArgs } from '../command-body';

export const helpCommand = (rigProgram: ProgramFactory): CommandBody<GlobalArgs & { command?: string[]; man?: boolean }> => ({
  builder: (yargs) =>
    yargs
      .positional('command', { type: 'string', array: true, describe: 'the command (and subcommand) to show the help of' })
      .option('man', { type: 'boolean', describe: 'print the manual page rig(1) in roff (e.g. rig help --man | man -l -)' })
      .example('$0 help task add', 'the same as rig task add --help')
      .example('$0 help --man | man -l -', 'read every command in the manual page viewer'),
  handler: async (argv) => {
    if (argv.man) return printManPage(rigProgram);
    process.stdout.write(`${await knownCommandHelp(rigProgram, argv.command ?? [])}\n`);
  },
});

export async function printManPage(rigProgram: ProgramFactory): Promise<void> {
  const { manPage } = require('../man-page') as typeof import('../man-page');
  process.stdout.write(await manPage(rigProgram, packageVersion()));
}

/** The help of `words`, each of which must name a command under the ones before it (yargs' --help would fall back to the nearest level silently). */
async function knownCommandHelp(rigProgram: ProgramFactory, words: string[]): Promise<string> {
  let help = await helpText(rigProgram, []);
  for (let i = 0; i < words.length; i++) {
    const parent = ['rig', ...words.slice(0, i)].join(' ');
    const known = subcommandsIn(help, words.slice(0, i)).map((path) => path[i]!);
    if (!known.includes(words[i]!)) {
      const near = nearestWord(words[i]!, known);
      throw invalidArgument(
        `unknown command ${words[i]}${near ? ` (did you mean rig help ${[...words.slice(0, i), near].join(' ')}?)` : ''}; see ${parent} --help for what it takes`,
      );
    }
    help = await helpText(rigProgram, words.slice(0, i + 1));
  }
  return help;
}
