import * as grpc from '@grpc/grpc-js';
import type { CommandModule } from 'yargs';
import { connectService } from '../../client/connect';
import type { TaskEvent as WireTaskEvent } from '../../generated/rigger/v1/TaskEvent';
import { invalidArgument } from '../../model/errors';
import { parseEventType, parseStatus, type TaskEvent } from '../../model/task';
import type { GlobalArgs } from '../main';
import { eventForDisplay, formatEventLine, printJson } from '../output';
import { findProject } from '../project';
import { resolveClientConnection } from '../security-settings';
import { serverAddress, settingOptions } from '../settings';

interface EventsArgs extends GlobalArgs {
  types?: string;
  assignee?: string;
  statuses?: string;
  task?: string[];
  since?: number;
}

const list = (value: string | undefined) => (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);

export const eventsCommand: CommandModule<GlobalArgs, EventsArgs> = {
  command: 'events',
  describe: 'Subscribe to the running server and print one line per event (Ctrl-C to stop)',
  builder: (yargs) =>
    yargs
      .options(settingOptions('address', 'port', 'token', 'serverCa', 'clientCert', 'clientKey'))
      .option('types', { type: 'string', describe: 'event types, e.g. created,status_changed' })
      .option('assignee', { type: 'string', describe: 'only tasks assigned (or formerly assigned) to this person' })
      .option('statuses', { type: 'string', describe: 'task statuses, e.g. todo,in_progress' })
      .option('task', { type: 'string', array: true, describe: 'only these task ids' })
      .option('since', { type: 'number', describe: 'replay every event after this sequence first (0 = all history)' }),
  handler: async (argv) => {
    const eventTypes = list(argv.types).map((name) => {
      const type = parseEventType(name);
      if (type === undefined) throw invalidArgument(`--types: ${JSON.stringify(name)} is not an event type; use e.g. created,updated,deleted,status_changed,assigned`);
      return type;
    });
    const statuses = list(argv.statuses).map((name) => {
      const status = parseStatus(name);
      if (status === undefined) throw invalidArgument(`--statuses: ${JSON.stringify(name)} is not a task status; use e.g. todo,in_progress`);
      return status;
    });
    if (argv.since !== undefined && (!Number.isInteger(argv.since) || argv.since < 0)) throw invalidArgument('--since must be a sequence number, 0 or more');
    const project = findProject(argv.C ?? '.');
    const address = serverAddress(project, argv as unknown as Record<string, unknown>);
    const client = connectService(address, resolveClientConnection(project, argv as unknown as Record<string, unknown>));
    const call = client.SubscribeToTaskEvents({
      event_types: eventTypes,
      statuses,
      task_ids: argv.task ?? [],
      ...(argv.assignee !== undefined && { assignee_filter: argv.assignee }),
      ...(argv.since !== undefined && { since_sequence: argv.since }),
    });
    const stop = () => call.cancel();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    let subscribed = false;
    let lastSequence = argv.since;
    await new Promise<void>((resolve, reject) => {
      call.once('metadata', (metadata: grpc.Metadata) => {
        subscribed = true;
        // The sequence the stream starts after: a resume point even before the first event.
        const position = Number(metadata.get('x-rigger-position')[0]);
        if (lastSequence === undefined && Number.isInteger(position)) lastSequence = position;
      });
      call.on('data', (wire: WireTaskEvent) => {
        const event = wire as unknown as TaskEvent;
        lastSequence = event.sequence;
        if (argv.json) printJson(eventForDisplay(event));
        else process.stdout.write(`${formatEventLine(event)}\n`);
      });
      call.on('error', (error: grpc.ServiceError) => {
        if (error.code === grpc.status.CANCELLED) resolve();
        else if (error.code === grpc.status.UNAVAILABLE && !subscribed) reject(new Error(`cannot reach the server at ${address}: ${error.details}; is \`rig grpc\` running?`));
        else if (error.code === grpc.status.UNAVAILABLE) {
          const resume = lastSequence === undefined ? '' : `; resume with --since ${lastSequence}`;
          reject(new Error(`the server at ${address} ended the stream: ${error.details}${resume}`));
        } else reject(new Error(error.details));
      });
      call.on('end', resolve);
    }).finally(() => client.close());
  },
};
