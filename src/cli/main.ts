import yargs, { type Argv, type CommandModule } from 'yargs';
import { unknownConfigKeys } from '../config/config-keys';
import { examplesOnLinesOfTheirOwn, printWarning, runCommandLine } from '../config/command-line';
import { findProject } from '../config/project';
import { endQuietlyOnBrokenPipe } from './broken-pipe';
import type { CommandBody, GlobalArgs } from './command-body';

/**
 * A yargs command whose module is required only when yargs runs its builder, i.e. when it is the
 * command given: `rig --help` loads no command module, `rig task list` loads only ./commands/task.
 */
function lazyCommand<U>(command: string, describe: string, load: () => CommandBody<U>): CommandModule<GlobalArgs, U> {
  return {
    command,
    describe,
    builder: (y) => {
      const { builder } = load();
      return (typeof builder === 'function' ? builder(y) : y.options(builder ?? {})) as Argv<U>;
    },
    handler: (argv) => load().handler(argv),
  };
}

/** Runs the `rig` CLI. Failures print one line on stderr and exit with code 1. */
export function main(args: string[]): Promise<void> {
  endQuietlyOnBrokenPipe();
  // yargs answers a last word `help` with the top help before any command runs: `rig help --man` is routed here.
  if (args.includes('--man') && args.filter((arg) => !arg.startsWith('-')).join(' ') === 'help') {
    return (require('./commands/help') as typeof import('./commands/help')).printManPage(rigProgram);
  }
  return runCommandLine(rigProgram(args));
}

/** Every command of `rig`, its help and examples: what main runs and what the man page is made of. */
export function rigProgram(args: string[]): Argv {
  const program: Argv = examplesOnLinesOfTheirOwn(yargs(args));
  return (
    program
      .scriptName('rig')
      .usage('$0 <command>\n\nRigger: a local task-event hub for sidecars.')
      // In the order `rig --help` lists them; a command module is loaded only when its command runs.
      .command(
        lazyCommand(
          'init',
          'Create .rigger/ (config.json and tasks.db) in the project directory',
          () => (require('./commands/init') as typeof import('./commands/init')).initCommand,
        ),
      )
      .command(
        lazyCommand(
          'grpc',
          "Serve rigger.v1.RiggerService from this project's database (Ctrl-C to stop)",
          () => (require('./commands/grpc') as typeof import('./commands/grpc')).grpcCommand,
        ),
      )
      .command(
        lazyCommand(
          'task',
          'Manage tasks directly in the project database (the running server broadcasts the changes)',
          () => (require('./commands/task') as typeof import('./commands/task')).taskCommand,
        ),
      )
      .command(
        lazyCommand(
          'events',
          'Subscribe to the running server and print one line per event (Ctrl-C to stop)',
          () => (require('./commands/events') as typeof import('./commands/events')).eventsCommand,
        ),
      )
      .command(
        lazyCommand(
          'consumers',
          "Manage the running server's durable consumers (position, acks, dead letters)",
          () => (require('./commands/consumers') as typeof import('./commands/consumers')).consumersCommand,
        ),
      )
      .command(
        lazyCommand(
          'status',
          'Show the running server, its log, and every sidecar stream and durable consumer with its lag',
          () => (require('./commands/status') as typeof import('./commands/status')).statusCommand,
        ),
      )
      .command(
        lazyCommand('prd', 'Parse a PRD (markdown) and turn it into tasks', () => (require('./commands/prd') as typeof import('./commands/prd')).prdCommand),
      )
      .command(
        lazyCommand(
          'orchestrate',
          'Run a task through enhance -> comprehension test -> route (pass, enhance, decompose)',
          () => (require('./commands/orchestrate') as typeof import('./commands/orchestrate')).orchestrateCommand,
        ),
      )
      .command(
        lazyCommand(
          'sidecar',
          'Run a bundled sidecar: logger, metrics, nats-bridge, nats-commands, board, webhook or exec (Ctrl-C to stop)',
          () => (require('./commands/sidecar') as typeof import('./commands/sidecar')).sidecarCommand,
        ),
      )
      .command(
        lazyCommand(
          'backup <file>',
          'Copy the project database to FILE as of one moment, while the server runs (restore: docs/operations.md#backups)',
          () => (require('./commands/backup') as typeof import('./commands/backup')).backupCommand,
        ),
      )
      .command(
        lazyCommand(
          'restore <file>',
          'Put a backup in place of the project database, as a new log identity (stop the server first; docs/operations.md#restoring-a-backup)',
          () => (require('./commands/restore') as typeof import('./commands/restore')).restoreCommand,
        ),
      )
      .command(
        lazyCommand(
          'log',
          "The event log's identity: what positions (sequence + log id) are of",
          () => (require('./commands/log') as typeof import('./commands/log')).logCommand,
        ),
      )
      .command(
        lazyCommand('help [command..]', 'Show the help of rig or of a command (rig help task add); --man prints the manual page', () =>
          (require('./commands/help') as typeof import('./commands/help')).helpCommand(rigProgram),
        ),
      )
      // The script itself is yargs' (bash/zsh); `rig completion --help` is help like any command's.
      .command<GlobalArgs>(
        'completion',
        'Print a bash/zsh completion script for rig (e.g. rig completion >> ~/.bashrc)',
        (y) => y.example('$0 completion >> ~/.bashrc', 'complete rig commands and options in new bash shells'),
        () => void (program.showCompletionScript as (script: string, command: string) => unknown)('rig', 'completion'),
      )
      // Answers --get-yargs-completions; its own command name is one nobody types.
      .completion(
        HIDDEN_COMPLETION_COMMAND,
        false,
        (
          _current: string,
          _argv: unknown,
          defaults: (done: (error: Error | null, completions: string[] | undefined) => void) => void,
          done: (completions: string[]) => void,
        ) => defaults((_error, completions) => done(singleLetterOptions(completions ?? []))),
      )
      .example('$0 init && $0 grpc', 'make a project here and serve it on localhost:50051')
      .example('$0 task add "Fix login bug" --assignee Alice', 'add a task (the server broadcasts it)')
      .example('$0 events --assignee Alice', 'print every change to her tasks as it happens')
      .example('$0 sidecar board', 'a live board of the tasks at http://127.0.0.1:7464')
      .middleware(warnOfUnknownConfigKeys)
      .demandCommand(1, 'name a command; see rig --help')
      .recommendCommands()
  );
}

const HIDDEN_COMPLETION_COMMAND = '__complete';

/** yargs offers a one-letter option as `--C`; it is typed `-C`. */
function singleLetterOptions(completions: string[]): string[] {
  return completions.map((completion) => completion.replace(/^--([A-Za-z])(?=$|:)/, '-$1'));
}

/** Commands that warn on their own (a sidecar run alone has no main), or read no config. */
const OWN_WARNINGS = new Set(['sidecar', 'init', 'completion', 'help', HIDDEN_COMPLETION_COMMAND]);

/** One stderr line per unknown key in the project's config.json, before the command runs. */
function warnOfUnknownConfigKeys(argv: { _: (string | number)[]; C?: string }): void {
  if (OWN_WARNINGS.has(String(argv._[0]))) return;
  let project;
  try {
    project = findProject(argv.C ?? '.');
  } catch {
    return; // no project, or a config.json the command itself reports
  }
  for (const unknown of unknownConfigKeys(project)) printWarning(unknown.message);
}
