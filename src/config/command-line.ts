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

/** Adds the common flags, strict parsing and our failure handling to `program` (called `name` in messages), then runs it. */
export async function runCommandLine(program: Argv, name = 'rig'): Promise<void> {
  dropTlsServerNameWarning();
  const cli = program
    .option('C', { type: 'string', describe: 'run as if started in this directory', global: true })
    .option('json', { type: 'boolean', describe: 'print data as JSON', global: true })
    .strict()
    .help()
    // yargs' 80 columns wrap most descriptions and examples twice; a wider terminal gets up to 120.
    .wrap(Math.min(120, Math.max(80, process.stdout.columns ?? 100)))
    .fail((message, error) => {
      throw error ?? new RiggerError('invalid_argument', readableYargsMessage(message, process.argv.slice(2), name));
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

/** yargs' own parse errors, said as what is wrong and where to look; others pass through. */
export function readableYargsMessage(message: string, args: readonly string[], program = 'rig'): string {
  const unknown = /^Unknown arguments?: (.*)$/.exec(message);
  if (unknown) {
    const names = unknown[1]!.split(', ');
    // yargs names an unknown --bogus-flag twice: bogus-flag and bogusFlag.
    const distinct = names.filter((name) => !names.some((other) => other !== name && other.includes('-') && camelCase(other) === name));
    const shown = distinct.map((name) => (args.includes(`--${name}`) || args.some((a) => a.startsWith(`--${name}=`)) ? `--${name}` : args.includes(`-${name}`) ? `-${name}` : name));
    const what = shown.every((name) => name.startsWith('-')) ? (shown.length === 1 ? 'option' : 'options') : shown.length === 1 ? 'argument' : 'arguments';
    return `unknown ${what} ${shown.join(', ')}; see ${commandOf(args.filter((a) => !distinct.includes(a)), program)} --help for what it takes`;
  }
  if (/^Not enough non-option arguments/.test(message)) return `${commandOf(args, program)} is missing an argument; see ${commandOf(args, program)} --help`;
  return message;
}
