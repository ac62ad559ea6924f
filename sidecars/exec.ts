// The exec sidecar: `rig sidecar exec -- CMD ARGS...` runs the command once per matching event, as
// git and Taskwarrior run their hooks: the event JSON (one line, the NATS bridge's payload) on stdin
// and in the file $RIGGER_EVENT_FILE, and RIGGER_SEQUENCE, RIGGER_EVENT_TYPE, RIGGER_TASK_ID,
// RIGGER_TASK_STATUS, RIGGER_TASK_ASSIGNEE and RIGGER_ATTEMPT in its environment. Exit 0 acks the
// event; anything else (a non-zero exit, a signal, --timeout-ms passed) naks it, so the consumer runs
// it again after a backoff and dead-letters it after --max-attempts. On a durable consumer: at least
// once, each task's events one at a time, in order. What the command leaves running is ended when it
// exits, unless --keep-children.
import path from 'node:path';
import type { CommandModule } from 'yargs';
import type { CommonArgs } from '../src/config/command-line';
import { invalidArgument } from '../src/model/errors';
import { eventTypeName, statusName, type TaskEvent } from '../src/model/task';
import { runDeliveries, type DeliveryHandler } from './delivery-pool';
import { defaultConsumerName, deliveryFlags, deliverySettingsOf, type DeliveryArgs, type DeliverySettings } from './delivery-flags';
import { eventJson } from './event-json';
import { findExecutable, runCommand } from './exec-run';
import { connect, runStandalone, sidecarLogger } from './shared';

interface ExecOptions extends DeliverySettings {
  command: string;
  args: string[];
  keepChildren: boolean;
}

type ExecArgs = DeliveryArgs & { 'keep-children': boolean; command?: (string | number)[]; '--'?: (string | number)[] };

/** The RIGGER_* variables of one run. */
export function eventEnv(event: TaskEvent, attempt: number): Record<string, string> {
  return {
    RIGGER_SEQUENCE: String(event.sequence),
    RIGGER_EVENT_TYPE: eventTypeName(event.event_type),
    RIGGER_TASK_ID: event.task.id,
    RIGGER_TASK_STATUS: statusName(event.task.status),
    RIGGER_TASK_ASSIGNEE: event.task.assignee ?? '',
    RIGGER_ATTEMPT: String(attempt),
  };
}

function execOptions(argv: ExecArgs): ExecOptions {
  // After `--` (populate--), so the command's own flags are not taken for ours.
  const [command, ...args] = [...(argv.command ?? []), ...(argv['--'] ?? [])].map(String);
  if (command === undefined || command === '') throw invalidArgument('name the command to run after --, e.g. rig sidecar exec -- ./on-event.sh');
  if (!findExecutable(command))
    throw invalidArgument(`cannot run ${JSON.stringify(command)}: ${command.includes('/') ? 'no such executable file' : 'not found on PATH'}`);
  return {
    ...deliverySettingsOf(argv, defaultConsumerName('exec', path.basename(command), JSON.stringify([command, ...args]))),
    command,
    args,
    keepChildren: argv['keep-children'],
  };
}

async function runExec(options: ExecOptions): Promise<void> {
  const logger = sidecarLogger('exec', options);
  const client = connect(options, 'exec');
  const handle: DeliveryHandler = async (delivery, signal) => {
    const started = Date.now();
    const fields = { sequence: delivery.sequence, attempt: delivery.attempt };
    const outcome = await runCommand(
      {
        command: options.command,
        args: options.args,
        input: `${eventJson(delivery.event)}\n`,
        env: eventEnv(delivery.event, delivery.attempt),
        timeoutMs: options.timeoutMs,
        keepChildren: options.keepChildren,
        fields,
      },
      signal,
      logger,
    );
    if (outcome.kind === 'done') logger.info({ ...fields, ms: Date.now() - started }, 'command succeeded');
    return outcome;
  };
  logger.info(
    {
      address: client.address,
      command: [options.command, ...options.args],
      consumer: options.consumer,
      concurrency: options.concurrency,
      max_attempts: options.retry.maxAttempts,
      timeout_ms: options.timeoutMs,
      keep_children: options.keepChildren,
    },
    'exec started',
  );
  await runDeliveries(client, options, handle, logger);
}

export const execCommand: CommandModule<CommonArgs, ExecArgs> = {
  command: 'exec [command..]',
  describe: 'Run a command once per task event (the event JSON on stdin; exit 0 acks, else retried)',
  builder: (yargs) =>
    deliveryFlags(yargs, { timeoutMs: 60_000, concurrency: 1, consumer: 'exec-<command name>-<hash of the command line>' })
      .option('keep-children', {
        type: 'boolean',
        default: false,
        describe:
          'leave what the command started running after it exits (daemons); by default its process group and every process with its RIGGER_EXEC_RUN get SIGTERM, then SIGKILL',
      })
      .positional('command', { type: 'string', array: true, describe: 'the command and its arguments, after --' })
      .parserConfiguration({ 'populate--': true })
      .example('$0 sidecar exec -- ./on-event.sh', 'run it once per event: the event as JSON on stdin, RIGGER_* variables set')
      .example('$0 sidecar exec --types created -- notify-send "new task"', 'a desktop notification per new task') as never,
  handler: (argv) => runExec(execOptions(argv)),
};

if (require.main === module) runStandalone(execCommand);
