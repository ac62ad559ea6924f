// rig(1), generated from the commands' own help (help-text.ts): `rig help --man`, and dist/man/rig.1
// at build time (scripts/gen-man.js), which `npm install -g` installs. Never edited by hand.
import { everyCommand, type ProgramFactory } from './help-text';

/** roff for a line of text: backslashes escaped, a leading . or ' kept as text. */
function roffLine(line: string): string {
  const escaped = line.replace(/\\/g, '\\e').replace(/-/g, '\\-');
  return /^[.']/.test(escaped) ? `\\&${escaped}` : escaped;
}

/** The manual page of rig, version `version`, in man(7) roff. */
export async function manPage(rigProgram: ProgramFactory, version: string): Promise<string> {
  const commands = await everyCommand(rigProgram);
  const [top, ...rest] = commands;
  const block = (help: string) => ['.nf', ...help.split('\n').map(roffLine), '.fi'];
  return [
    `.TH RIG 1 "" "rigger ${version}" "User Commands"`,
    '.SH NAME',
    'rig \\- Rigger, a local task\\-event hub for sidecars',
    '.SH SYNOPSIS',
    '.B rig',
    '\\fIcommand\\fR [\\fIoptions\\fR]',
    '.SH DESCRIPTION',
    'Every command, with its options and examples, as \\fBrig\\fR \\fIcommand\\fR \\fB\\-\\-help\\fR prints it.',
    ...block(top!.help),
    '.SH COMMANDS',
    ...rest.flatMap(({ words, help }) => [`.SS "rig ${words.join(' ')}"`, ...block(help)]),
    '.SH SEE ALSO',
    'The documentation in docs/ of the repository (docs/cli.md, docs/configuration.md).',
    '',
  ].join('\n');
}
