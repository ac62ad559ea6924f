// How every rig program (the CLI, and each sidecar run on its own) parses its arguments and fails:
// one readable line on stderr, exit code 1.
import type { Argv } from 'yargs';
import { RiggerError } from '../model/errors';
import { nearestWord } from './config-keys';
import { safeErrorLine } from './terminal-text';

/** Flags every rig program takes. */
export interface CommonArgs {
  C?: string;
  json?: boolean;
}

/**
 * grpc-js gives a TLS connection to an IP address that address as its server name, which node
 * deprecates (DEP0123) with a two-line warning on stderr; the connection works, and a program whose
 * failures are one line (or JSON logs) must not print it.
 */
function dropTlsServerNameWarning(): void {
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((warning: unknown, ...rest: unknown[]) => {
    const code = typeof rest[0] === 'object' && rest[0] !== null ? (rest[0] as { code?: string }).code : rest[1];
    if (code !== 'DEP0123') emit(warning, ...rest);
  }) as typeof process.emitWarning;
}

/**
 * A warning a person caused and can fix (a config.json typo, file modes): one `rig: warning:` line on
 * stderr, the same under every command, whatever the log format of the server or a sidecar.
 */
export function printWarning(message: string): void {
  process.stderr.write(`rig: warning: ${safeErrorLine(message)}\n`);
}

/** What a parse failure knows of the level it failed at: the commands and options there. */
interface ParseLevel {
  commands: string[];
  options: string[];
}

function parseLevelOf(y: Argv): ParseLevel {
  const instance = y as unknown as {
    getOptions(): { key: Record<string, unknown> };
    getInternalMethods(): { getCommandInstance(): { getCommands(): string[] } };
  };
  const internal = instance.getInternalMethods();
  // yargs lists each --kebab-case option under its camelCase name as well.
  const options = Object.keys(instance.getOptions().key).filter((key) => key.length === 1 || !/[A-Z]/.test(key));
  return { commands: internal.getCommandInstance().getCommands(), options };
}

/**
 * yargs gives an example's command at most half the width, so a long one wraps mid-command; each
 * example goes into the epilogue instead, the command on a line of its own and what it does below.
 */
export function examplesOnLinesOfTheirOwn<T>(program: Argv<T>): Argv<T> {
  const usage = (program as unknown as { getInternalMethods(): { getUsageInstance(): ExampleUsage } }).getInternalMethods().getUsageInstance();
  if (PATCHED.has(usage)) return program;
  PATCHED.add(usage);
  let shown = 0;
  const reset = usage.reset.bind(usage);
  const freeze = usage.freeze.bind(usage);
  const unfreeze = usage.unfreeze.bind(usage);
  const saved: number[] = [];
  usage.reset = (...args) => ((shown = 0), reset(...args));
  usage.freeze = () => (saved.push(shown), freeze());
  usage.unfreeze = (...args) => ((shown = saved.pop() ?? 0), unfreeze(...args));
  usage.example = (command, description) => {
    usage.epilog(
      `${shown++ === 0 ? 'Examples:\n' : ''}  ${asRun(command, (program as unknown as { $0: string }).$0)}${description ? `\n      ${description}` : ''}`,
    );
  };
  return program;
}

const PATCHED = new WeakSet<object>();

/** `$0 sidecar logger --file x` where $0 is already `rig sidecar logger` (the sidecar run on its own): said once. */
function asRun(command: string, script: string): string {
  const words = script.split(' ').slice(1).join(' ');
  return words !== '' && command.startsWith(`$0 ${words}`) ? `$0${command.slice(`$0 ${words}`.length)}` : command;
}

interface ExampleUsage {
  example(command: string, description?: string): void;
  epilog(text: string): void;
  reset(...args: unknown[]): unknown;
  freeze(): void;
  unfreeze(...args: unknown[]): void;
}

/** The width --help is laid out in: the terminal's, from 80 to 120 (100 when not a terminal). */
export function helpWidth(): number {
  return Math.min(120, Math.max(80, process.stdout.columns ?? 100));
}

/** Adds the common flags, strict parsing, help layout and our failure handling to `program` (called `name` in messages). */
export function configureCommandLine(program: Argv, name = 'rig', args: readonly string[] = process.argv.slice(2)): Argv {
  examplesOnLinesOfTheirOwn(program);
  const cli: Argv = program
    .option('C', { type: 'string', describe: 'run as if started in this directory', global: true })
    .option('json', { type: 'boolean', describe: 'print data as JSON', global: true })
    .strict()
    .help()
    // yargs' 80 columns wrap most descriptions twice; a wider terminal gets up to 120.
    .wrap(helpWidth())
    .fail((message, error) => {
      throw error ?? new RiggerError('invalid_argument', readableYargsMessage(message, args, name, parseLevelOf(cli)));
    });
  return cli;
}

/** Configures `program` (configureCommandLine), then runs it: a failure is one line on stderr and exit code 1. */
export async function runCommandLine(program: Argv, name = 'rig'): Promise<void> {
  dropTlsServerNameWarning();
  const cli = configureCommandLine(program, name);
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

const camelCase = (name: string) => name.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());

/**
 * `rig task add` of `rig -C dir task add --x`: the command, to point at its --help (commands nest
 * two deep). A sidecar run on its own is its program name already (`rig sidecar logger`).
 */
function commandOf(args: readonly string[], program: string): string {
  if (program !== 'rig') return program;
  const words: string[] = [];
  for (let i = 0; i < args.length && words.length < 2; i++) {
    if (args[i] === '-C') i++;
    else if (args[i]!.startsWith('-')) break;
    else words.push(args[i]!);
  }
  return [program, ...words].join(' ');
}

/** yargs' own parse errors, said as what is wrong, what was probably meant and where to look; others pass through. */
export function readableYargsMessage(message: string, args: readonly string[], program = 'rig', level: ParseLevel = { commands: [], options: [] }): string {
  const recommended = /^Did you mean (.+)\?$/.exec(message);
  if (recommended) {
    const words = commandOf(args, program).split(' ');
    const parent = words.slice(0, -1).join(' ');
    return `unknown command ${words[words.length - 1]} (did you mean ${parent} ${recommended[1]}?); see ${parent} --help for what it takes`;
  }
  const unknown = /^Unknown arguments?: (.*)$/.exec(message);
  if (unknown) {
    const names = unknown[1]!.split(', ');
    // yargs names an unknown --bogus-flag twice: bogus-flag and bogusFlag.
    const distinct = names.filter((name) => !names.some((other) => other !== name && other.includes('-') && camelCase(other) === name));
    const shown = distinct.map((name) =>
      args.includes(`--${name}`) || args.some((a) => a.startsWith(`--${name}=`)) ? `--${name}` : args.includes(`-${name}`) ? `-${name}` : name,
    );
    const where = commandOf(
      args.filter((a) => !distinct.includes(a)),
      program,
    );
    const meant = shown.map((name) => didYouMean(name, level, where)).filter((hint) => hint !== undefined);
    const noun = shown.every((name) => name.startsWith('-')) ? 'option' : level.commands.length > 0 ? 'command' : 'argument';
    const what = shown.length === 1 ? noun : `${noun}s`;
    return `unknown ${what} ${shown.join(', ')}${meant.length ? ` (did you mean ${meant.join(', ')}?)` : ''}; see ${where} --help for what it takes`;
  }
  if (/^Not enough non-option arguments/.test(message)) return `${commandOf(args, program)} is missing an argument; see ${commandOf(args, program)} --help`;
  return message;
}

/** The option or command nearest to a mistyped one, as it would be typed. */
function didYouMean(shown: string, level: ParseLevel, where: string): string | undefined {
  if (shown.startsWith('-')) {
    const nearest = nearestWord(shown.replace(/^-+/, ''), level.options);
    return nearest === undefined ? undefined : nearest.length === 1 ? `-${nearest}` : `--${nearest}`;
  }
  const nearest = nearestWord(shown, level.commands);
  return nearest === undefined ? undefined : `${where} ${nearest}`;
}
