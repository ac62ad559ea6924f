// `rig sidecar <logger|metrics|nats-bridge>`: runs one of the bundled sidecars. The same flags work
// for `node dist/sidecars/<name>.js`, which hands its arguments to this command.
import path from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { runLogger } from '../../../sidecars/logger';
import { runMetrics } from '../../../sidecars/metrics';
import { runNatsBridge } from '../../../sidecars/nats-bridge';
import type { SidecarOptions } from '../../../sidecars/shared';
import { invalidArgument, RiggerError } from '../../model/errors';
import { parseEventType, parseStatus } from '../../model/task';
import type { GlobalArgs } from '../main';
import { findProject, type Project } from '../project';
import { resolveClientConnection } from '../security-settings';
import { serverAddress, settingOptions } from '../settings';

interface SidecarArgs extends GlobalArgs {
  types?: string;
  assignee?: string;
  statuses?: string;
  task?: string[];
  checkpoint?: string;
  since?: number;
  file?: string;
  listen?: string;
  nats?: string;
  stream?: string;
  'subject-prefix'?: string;
}

const list = (value: string | undefined) => (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);

/** The project's settings when run inside one; a sidecar on another host needs only --address. */
function projectOrNone(dir: string): Project {
  try {
    return findProject(dir);
  } catch (error) {
    if (error instanceof RiggerError && error.kind === 'not_found') return { dir: path.resolve(dir), riggerDir: '', config: {} };
    throw error;
  }
}

function connectionFlags(yargs: Argv<GlobalArgs>): Argv<GlobalArgs> {
  return yargs.options(settingOptions('address', 'port', 'token', 'serverCa', 'clientCert', 'clientKey'));
}

function subscriptionFlags(yargs: Argv<GlobalArgs>): Argv<GlobalArgs> {
  return yargs
    .option('types', { type: 'string', describe: 'event types, e.g. created,status_changed (default all)' })
    .option('assignee', { type: 'string', describe: 'only tasks assigned (or formerly assigned) to this person' })
    .option('statuses', { type: 'string', describe: 'task statuses, e.g. todo,in_progress' })
    .option('task', { type: 'string', array: true, describe: 'only these task ids' })
    .option('since', { type: 'number', describe: 'on first start, replay every event after this sequence (0 = all history); default live' })
    .option('checkpoint', { type: 'string', describe: 'file keeping the last handled sequence; a restart resumes after it' });
}

function sidecarOptions(argv: SidecarArgs, withFilters: boolean): SidecarOptions {
  if (argv.since !== undefined && (!Number.isInteger(argv.since) || argv.since < 0)) throw invalidArgument('--since must be a sequence number, 0 or more');
  const project = projectOrNone(argv.C ?? '.');
  const args = argv as unknown as Record<string, unknown>;
  return {
    client: { address: serverAddress(project, args), connect: resolveClientConnection(project, args) },
    subscription: withFilters
      ? {
          eventTypes: list(argv.types).map((name) => {
            const type = parseEventType(name);
            if (type === undefined) throw invalidArgument(`--types: ${JSON.stringify(name)} is not an event type; use e.g. created,updated,deleted,status_changed,assigned`);
            return type;
          }),
          statuses: list(argv.statuses).map((name) => {
            const status = parseStatus(name);
            if (status === undefined) throw invalidArgument(`--statuses: ${JSON.stringify(name)} is not a task status; use e.g. todo,in_progress`);
            return status;
          }),
          taskIds: argv.task ?? [],
          ...(argv.assignee !== undefined && { assignee: argv.assignee }),
          ...(argv.since !== undefined && { sinceSequence: argv.since }),
          ...(argv.checkpoint !== undefined && { checkpoint: path.resolve(argv.checkpoint) }),
        }
      : {},
  };
}

const loggerCommand: CommandModule<GlobalArgs, SidecarArgs> = {
  command: 'logger',
  describe: 'One JSON line per task event, to stdout or --file',
  builder: (yargs) =>
    subscriptionFlags(connectionFlags(yargs)).option('file', { type: 'string', describe: 'append to this file (resumes after its last line on restart)' }) as Argv<SidecarArgs>,
  handler: (argv) => runLogger({ ...sidecarOptions(argv, true), ...(argv.file !== undefined && { file: path.resolve(argv.file) }) }),
};

const metricsCommand: CommandModule<GlobalArgs, SidecarArgs> = {
  command: 'metrics',
  describe: 'Prometheus metrics of tasks and events at http://<listen>/metrics',
  builder: (yargs) => connectionFlags(yargs).option('listen', { type: 'string', default: '127.0.0.1:9464', describe: 'host:port to serve /metrics on' }) as Argv<SidecarArgs>,
  handler: (argv) => runMetrics({ ...sidecarOptions(argv, false), listen: argv.listen ?? '127.0.0.1:9464' }),
};

const natsBridgeCommand: CommandModule<GlobalArgs, SidecarArgs> = {
  command: 'nats-bridge',
  describe: 'Republish every task event into NATS JetStream (stream RIGGER_TASKS)',
  builder: (yargs) =>
    subscriptionFlags(connectionFlags(yargs))
      .option('nats', { type: 'string', default: 'nats://127.0.0.1:4222', describe: 'NATS server URL(s), comma-separated' })
      .option('stream', { type: 'string', default: 'RIGGER_TASKS', describe: 'JetStream stream (created if missing)' })
      .option('subject-prefix', { type: 'string', default: 'rigger.tasks', describe: 'subjects are <prefix>.<event_type>.<task_id>' }) as Argv<SidecarArgs>,
  handler: (argv) =>
    runNatsBridge({
      ...sidecarOptions(argv, true),
      nats: argv.nats ?? 'nats://127.0.0.1:4222',
      stream: argv.stream ?? 'RIGGER_TASKS',
      subjectPrefix: argv['subject-prefix'] ?? 'rigger.tasks',
    }),
};

export const sidecarCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'sidecar',
  describe: 'Run a bundled sidecar: logger, metrics or nats-bridge (Ctrl-C to stop)',
  builder: (yargs) => yargs.command(loggerCommand).command(metricsCommand).command(natsBridgeCommand).demandCommand(1, 'name a sidecar: logger, metrics or nats-bridge'),
  handler: () => {},
};
