// `rig consumers ...`: durable consumers on the running server, through its management RPCs.
import * as grpc from '@grpc/grpc-js';
import type { Argv, CommandModule } from 'yargs';
import { connectionTarget, diagnoseConnectionFailure, isConnectionFailure } from '../../client/connection-failure';
import { RiggerClient } from '../../client/rigger-client';
import { clientConnection, clientProject, connectionOptions } from '../../config/client-connection';
import { subscribeOptionsOf, type SubscriptionArgs } from '../../config/subscription-flags';
import type { ConsumerInfo__Output } from '../../generated/rigger/v1/ConsumerInfo';
import type { DeadLetter__Output } from '../../generated/rigger/v1/DeadLetter';
import { invalidArgument, RiggerError } from '../../model/errors';
import { eventTypeName, statusName } from '../../model/task';
import type { CommandBody, GlobalArgs } from '../command-body';
import { filterText } from '../filter-text';
import { printFields, printJson, printTable } from '../output';

type ConsumerArgs = GlobalArgs & { name: string };

/** Runs `work` with a client of the project's server, and says plainly why the server could not be reached. */
async function withClient<T>(argv: GlobalArgs, work: (client: RiggerClient) => Promise<T>): Promise<T> {
  const project = clientProject(argv.C ?? '.', argv as unknown as Record<string, unknown>);
  const { address, connect } = clientConnection(project, argv as unknown as Record<string, unknown>);
  const client = new RiggerClient({ address, connect });
  try {
    return await work(client);
  } catch (error) {
    const failure = error as grpc.ServiceError;
    if (!isConnectionFailure(failure)) throw error;
    const { message } = await diagnoseConnectionFailure(failure, connectionTarget(address, connect));
    throw new RiggerError(failure.code === grpc.status.UNAUTHENTICATED ? 'unauthenticated' : 'unavailable', message);
  } finally {
    await client.close();
  }
}

/** A consumer for --json: the wire's fields, the filter's enums by name. */
function consumerForDisplay(info: ConsumerInfo__Output): Record<string, unknown> {
  const filter = info.config?.filter;
  return {
    ...info,
    config: {
      ...info.config,
      filter: { ...filter, event_types: filter?.event_types.map(eventTypeName), statuses: filter?.statuses.map(statusName) },
    },
  };
}

function printConsumer(info: ConsumerInfo__Output): void {
  const config = info.config!;
  printFields([
    ['name', config.name ?? ''],
    ['filter', filterText(info.config?.filter)],
    ['acked sequence', String(info.acked_sequence)],
    ['head sequence', String(info.head_sequence)],
    ['lag', String(info.lag)],
    ['in flight', String(info.in_flight)],
    ['pending', String(info.pending)],
    ['members', String(info.members)],
    ['dead letters', String(info.dead_letters)],
    ['redeliveries', String(info.redeliveries)],
    ['ack wait', `${config.ack_wait_ms} ms`],
    ['max deliver', config.max_deliver ? String(config.max_deliver) : 'unlimited'],
    ['backoff', config.backoff_ms.length ? config.backoff_ms.map((ms) => `${ms} ms`).join(', ') : 'none'],
    ['max in flight', String(config.max_in_flight)],
    ['created', info.created_at ?? ''],
    ['state', info.lost ? `LOST: ${info.lost_reason}` : 'ok'],
  ]);
}

function show(argv: GlobalArgs, info: ConsumerInfo__Output): void {
  if (argv.json) printJson(consumerForDisplay(info));
  else printConsumer(info);
}

function sequencesOf(values: (string | number)[] | undefined): number[] {
  return (values ?? []).map((value) => {
    const sequence = Number(value);
    if (!Number.isSafeInteger(sequence) || sequence < 1) throw invalidArgument(`${JSON.stringify(String(value))} is not a sequence number (1 or more)`);
    return sequence;
  });
}

function printDeadLetters(argv: GlobalArgs, letters: DeadLetter__Output[]): void {
  if (argv.json) return printJson(letters);
  printTable(
    ['SEQUENCE', 'TASK', 'ATTEMPTS', 'DEAD AT', 'REASON'],
    letters.map((d) => [String(d.sequence), d.task_id ?? '', String(d.attempts), d.dead_at ?? '', d.reason ?? '-']),
  );
}

const named = (yargs: Argv<GlobalArgs>) => yargs.positional('name', { type: 'string', demandOption: true, describe: 'consumer name' }) as Argv<ConsumerArgs>;

interface CreateArgs extends ConsumerArgs, SubscriptionArgs {
  start?: string;
  'ack-wait-ms'?: number;
  'max-deliver'?: number;
  'backoff-ms'?: string;
  'max-in-flight'?: number;
}

function startOf(value: string | undefined): number | undefined {
  if (value === undefined || value === 'new') return undefined;
  const sequence = Number(value);
  if (!Number.isSafeInteger(sequence) || sequence < 0)
    throw invalidArgument(`--start must be a sequence number (0 = all history) or "new", got ${JSON.stringify(value)}`);
  return sequence;
}

function backoffOf(value: string | undefined): number[] {
  return (value ?? '')
    .split(',')
    .filter((s) => s.trim() !== '')
    .map((s) => {
      const ms = Number(s);
      if (!Number.isInteger(ms) || ms < 0)
        throw invalidArgument(`--backoff-ms takes whole numbers of ms separated by commas (e.g. 1000,5000,30000), got ${JSON.stringify(value)}`);
      return ms;
    });
}

/** `redrive` and `drop`: a consumer, the dead letters it names (all when none), what was done. */
function deadLetterCommand(
  verb: string,
  describe: string,
  done: string,
  act: (client: RiggerClient, name: string, sequences: number[]) => Promise<number[]>,
): CommandModule<GlobalArgs, ConsumerArgs & { sequences?: (string | number)[] }> {
  return {
    command: `${verb} <name> [sequences..]`,
    describe,
    builder: (y) =>
      named(y)
        .positional('sequences', {
          type: 'string',
          array: true,
          describe: `the sequences of the dead letters to ${verb} (rig consumers dead-letters NAME lists them); default all`,
        })
        .example(`$0 consumers ${verb} webhook 41 57`, `${done === 'redriven' ? 'redeliver' : 'delete'} those two`)
        .example(`$0 consumers ${verb} webhook`, `every dead letter of consumer webhook`) as Argv<ConsumerArgs & { sequences?: string[] }>,
    handler: (argv) =>
      withClient(argv, async (client) => {
        const sequences = await act(client, argv.name, sequencesOf(argv.sequences));
        if (argv.json) printJson({ [done]: sequences });
        else process.stdout.write(`${done}: ${sequences.length ? sequences.join(', ') : 'none'}\n`);
      }),
  };
}

export const consumersCommand: CommandBody<GlobalArgs> = {
  builder: (yargs) =>
    yargs
      .options(connectionOptions())
      .command<GlobalArgs>(
        'list',
        'Every consumer: filter, acked position, lag, in flight, members, dead letters',
        (y) => y.example('$0 consumers list --json', 'as JSON, e.g. for a script watching lag'),
        (argv) =>
          withClient(argv, async (client) => {
            const list = await client.listConsumers();
            if (argv.json) return printJson(list.map(consumerForDisplay));
            printTable(
              ['NAME', 'FILTER', 'ACKED', 'LAG', 'IN FLIGHT', 'MEMBERS', 'DEAD', 'STATE'],
              list.map((c) => [
                c.config?.name ?? '',
                filterText(c.config?.filter),
                String(c.acked_sequence),
                String(c.lag),
                String(c.in_flight),
                String(c.members),
                String(c.dead_letters),
                c.lost ? 'lost' : 'ok',
              ]),
            );
          }),
      )
      .command<ConsumerArgs>(
        'show <name>',
        'One consumer in full',
        (y) => named(y).example('$0 consumers show webhook', 'its settings, position, lag and dead letters'),
        (argv) => withClient(argv, async (client) => show(argv, await client.getConsumer(argv.name))),
      )
      .command<CreateArgs>(
        'create <name>',
        'Create a consumer (or check that it exists with these settings)',
        (y) =>
          named(y)
            .option('types', { type: 'string', describe: 'event types, e.g. created,status_changed (default all)' })
            .option('assignee', { type: 'string', describe: 'only tasks assigned (or formerly assigned) to this person' })
            .option('statuses', { type: 'string', describe: 'task statuses, e.g. todo,in_progress' })
            .option('task', { type: 'string', array: true, describe: 'only these task ids' })
            .option('start', { type: 'string', describe: 'start after this sequence (0 = all history) or "new" (default)' })
            .option('ack-wait-ms', { type: 'number', describe: 'redeliver an event not acked within this (default 30000)' })
            .option('max-deliver', { type: 'number', describe: 'dead-letter an event after this many deliveries (default 0 = never)' })
            .option('backoff-ms', { type: 'string', describe: 'delays before redeliveries 1, 2, ..., e.g. 1000,5000,30000' })
            .option('max-in-flight', { type: 'number', describe: 'events delivered and not acked at once (default 1000)' })
            .example('$0 consumers create audit --start 0', 'every retained event, then new ones, at least once')
            .example('$0 consumers create alice --assignee Alice --max-deliver 5', "Alice's tasks; dead-letter after 5 attempts")
            .example('$0 consumers create slow --backoff-ms 1000,5000,30000', 'redeliver after 1 s, then 5 s, then 30 s') as Argv<CreateArgs>,
        (argv) =>
          withClient(argv, async (client) => {
            const filter = subscribeOptionsOf({ ...argv, 'bookmark-interval-ms': 0 });
            const start = startOf(argv.start);
            const backoff = backoffOf(argv['backoff-ms']);
            const info = await client.createConsumer({
              name: argv.name,
              filter: {
                event_types: filter.eventTypes,
                statuses: filter.statuses,
                task_ids: [...(filter.taskIds ?? [])],
                ...(filter.assignee !== undefined && { assignee_filter: filter.assignee }),
              },
              ...(start !== undefined && { start_sequence: start }),
              ...(argv['ack-wait-ms'] !== undefined && { ack_wait_ms: argv['ack-wait-ms'] }),
              ...(argv['max-deliver'] !== undefined && { max_deliver: argv['max-deliver'] }),
              ...(argv['max-in-flight'] !== undefined && { max_in_flight: argv['max-in-flight'] }),
              ...(backoff.length > 0 && { backoff_ms: backoff }),
            });
            show(argv, info);
          }),
      )
      .command<ConsumerArgs>(
        'delete <name>',
        'Delete a consumer, its position and dead letters (its members are ended)',
        (y) => named(y).example('$0 consumers delete audit', 'and release the compaction it holds back'),
        (argv) =>
          withClient(argv, async (client) => {
            await client.deleteConsumer(argv.name);
            if (argv.json) printJson({ deleted: argv.name });
            else process.stdout.write(`deleted consumer ${argv.name}\n`);
          }),
      )
      .command<ConsumerArgs & { to: number }>(
        'reset <name>',
        'Move the acked position: the events after --to are delivered again (or skipped, moving forward)',
        (y) =>
          named(y)
            .option('to', { type: 'number', demandOption: true, describe: 'the new acked sequence (0 = all retained history)' })
            .example('$0 consumers reset audit --to 0', 'deliver all retained history again') as Argv<ConsumerArgs & { to: number }>,
        (argv) =>
          withClient(argv, async (client) => {
            if (!Number.isSafeInteger(argv.to) || argv.to < 0) throw invalidArgument('--to must be a sequence number, 0 or more');
            show(argv, await client.resetConsumer(argv.name, argv.to));
          }),
      )
      .command<ConsumerArgs>(
        'dead-letters <name>',
        'The events dead-lettered after max_deliver attempts',
        (y) => named(y).example('$0 consumers dead-letters webhook', 'sequence, task, attempts and the last failure of each'),
        (argv) => withClient(argv, async (client) => printDeadLetters(argv, await client.deadLetters(argv.name))),
      )
      .command(
        deadLetterCommand('redrive', 'Deliver dead letters again (all of them when no sequence is given)', 'redriven', (c, name, seqs) =>
          c.redriveDeadLetters(name, seqs),
        ),
      )
      .command(
        deadLetterCommand('drop', 'Delete dead letters (all of them when no sequence is given)', 'dropped', (c, name, seqs) => c.dropDeadLetters(name, seqs)),
      )
      .demandCommand(
        1,
        'rig consumers needs a command: list, show, create, delete, reset, dead-letters, redrive or drop (e.g. rig consumers list; see rig consumers --help)',
      ),
  handler: () => {},
};
