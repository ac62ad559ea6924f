// The help of any rig command as text, from the same definitions `rig <command> --help` prints:
// for `rig help <command>` and the manual page.
import type { Argv } from 'yargs';
import { configureCommandLine, helpWidth } from '../config/command-line';

/** Makes the rig program for some arguments (main's rigProgram, passed in: main loads this module). */
export type ProgramFactory = (args: string[]) => Argv;

/** What `rig <words...> --help` prints, laid out `width` columns wide. */
export async function helpText(rigProgram: ProgramFactory, words: readonly string[], width = helpWidth()): Promise<string> {
  const args = [...words, '--help'];
  const program = configureCommandLine(rigProgram(args), 'rig', args).wrap(width).exitProcess(false);
  return new Promise((resolve, reject) => {
    program.parse(args, {}, (error: Error | undefined, _argv: unknown, output: string) => (error ? reject(error) : resolve(output)));
  });
}

/** The commands one level under `words`, as the help's Commands section lists them (`rig task add <title>` -> [task, add]). */
export function subcommandsIn(help: string, words: readonly string[]): string[][] {
  const section = /(?:^|\n)Commands:\n([\s\S]*?)(?:\n\n|$)/.exec(help);
  if (!section) return [];
  return section[1]!
    .split('\n')
    .filter((line) => line.startsWith('  rig '))
    .map((line) =>
      line
        .trim()
        .split(/ {2,}/)[0]!
        .split(' ')
        .slice(1)
        .filter((word) => !/^[<[]/.test(word)),
    )
    .filter((path) => path.length === words.length + 1 && words.every((word, i) => path[i] === word));
}

/** Every command path of rig, depth first, `[]` (rig itself) first. */
export async function everyCommand(rigProgram: ProgramFactory, words: string[] = []): Promise<{ words: string[]; help: string }[]> {
  const help = await helpText(rigProgram, words, 80);
  const below = await Promise.all(subcommandsIn(help, words).map((path) => everyCommand(rigProgram, path)));
  return [{ words, help }, ...below.flat()];
}
