// The NATS commands sidecar: the reverse of the bridge. It applies task commands published to
// rigger.<project>.commands through the hub (gRPC, with the sidecar's token like every sidecar),
// so a writer on another machine needs a route to NATS only, and replies to each with the result.
// A command is one JSON object naming an RPC of the wire contract and its request, as grpcurl
// sends it: {"command": "AddTask", "request": {"title": "...", "assignee": "Alice"}}. The reply:
// {"ok": true, "response": {...}} or {"ok": false, "error": {"code": "NOT_FOUND", "message": "..."}}.
// Commands run one at a time in arrival order; several sidecars on one project share them (a
// queue group). Core NATS request/reply: a request whose reply timed out may or may not have been
// applied (GetTask tells).
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { CommandModule } from 'yargs';
import { connect as connectNats, type Msg, type NatsConnection } from 'nats';
import type { RiggerClient } from '../src/client/index';
import type { CommonArgs } from '../src/config/command-line';
import { redactNatsUrls } from './nats-jetstream';
import { commandSubjectOf, PROJECT_FLAG, projectNameOf } from './nats-project';
import { connect, runStandalone, runUntilStopped, sidecarFlags, sidecarLogger, sidecarOptions, type SidecarArgs, type SidecarOptions } from './shared';

interface NatsCommandsOptions extends SidecarOptions {
  nats: string;
  project: string;
}

/** The RPCs a remote writer may call, and how each is made on the client. */
const COMMANDS = {
  AddTask: (client: RiggerClient, request: Record<string, unknown>) => client.addTask(request),
  UpdateTask: (client: RiggerClient, request: Record<string, unknown>) => client.updateTask(request),
  DeleteTask: (client: RiggerClient, request: Record<string, unknown>) => client.deleteTask(request),
  GetTask: (client: RiggerClient, request: Record<string, unknown>) => client.getTask(request),
} as const;
type CommandName = keyof typeof COMMANDS;

export type CommandReply = { ok: true; response: unknown } | { ok: false; error: { code: string; message: string } };

class BadCommand extends Error {}

const snakeCase = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** The command and its request, or BadCommand saying what is wrong and what a command looks like. */
export function parseCommand(data: Uint8Array): { command: CommandName; request: Record<string, unknown> } {
  const shape = `a command is {"command": "${Object.keys(COMMANDS).join('" | "')}", "request": {...the RPC's request, as grpcurl sends it}}`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(data));
  } catch (error) {
    throw new BadCommand(`the command is not JSON (${(error as Error).message}); ${shape}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new BadCommand(`the command is not a JSON object; ${shape}`);
  const { command, request = {} } = parsed as { command?: unknown; request?: unknown };
  if (typeof command !== 'string' || !Object.hasOwn(COMMANDS, command)) throw new BadCommand(`unknown command ${JSON.stringify(command)}; ${shape}`);
  if (typeof request !== 'object' || request === null || Array.isArray(request))
    throw new BadCommand(`"request" of ${command} must be a JSON object; ${shape}`);
  // Either spelling of a field, as the gRPC JSON mapping allows (due_date or dueDate).
  return { command: command as CommandName, request: Object.fromEntries(Object.entries(request).map(([k, v]) => [snakeCase(k), v])) };
}

/** Applies one command through the hub; never throws: every outcome is a reply. */
export async function applyCommand(client: RiggerClient, data: Uint8Array): Promise<CommandReply> {
  let parsed;
  try {
    parsed = parseCommand(data);
  } catch (error) {
    return { ok: false, error: { code: 'INVALID_ARGUMENT', message: (error as Error).message } };
  }
  try {
    return { ok: true, response: await COMMANDS[parsed.command](client, parsed.request) };
  } catch (error) {
    const e = error as { code?: number; details?: string; message?: string };
    const code = typeof e.code === 'number' ? (grpc.status[e.code] ?? String(e.code)) : 'UNKNOWN';
    return { ok: false, error: { code, message: e.details ?? e.message ?? String(error) } };
  }
}

async function serve(nc: NatsConnection, client: RiggerClient, subject: string, project: string, logger: Logger): Promise<void> {
  const subscription = nc.subscribe(subject, { queue: `rigger-${project}-commands` });
  for await (const message of subscription) await handle(message, client, logger);
}

async function handle(message: Msg, client: RiggerClient, logger: Logger): Promise<void> {
  const reply = await applyCommand(client, message.data);
  const fields = { reply_to: message.reply ? 'yes' : 'none', ok: reply.ok, ...(!reply.ok && { code: reply.error.code, error: reply.error.message }) };
  if (reply.ok) logger.info(fields, 'command applied');
  else logger.warn(fields, 'command refused');
  if (message.reply) message.respond(new TextEncoder().encode(JSON.stringify(reply)));
}

async function runNatsCommands(options: NatsCommandsOptions): Promise<void> {
  const logger = sidecarLogger('nats-commands', options);
  const client = connect(options, 'nats-commands');
  const subject = commandSubjectOf(options.project);
  const shown = redactNatsUrls(options.nats);
  // The NATS client reconnects by itself here: a subscription keeps no position, so there is nothing to resume.
  const nc = await connectNats({
    servers: options.nats.split(','),
    name: `rigger-nats-commands-${options.project}`,
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    waitOnFirstConnect: true,
  });
  void (async () => {
    for await (const status of nc.status()) logger.warn({ nats: shown, status: status.type, data: String(status.data) }, 'NATS connection status');
  })();
  logger.info({ address: client.address, nats: shown, subject, queue: `rigger-${options.project}-commands` }, 'ready: applying commands');
  const serving = serve(nc, client, subject, options.project, logger);
  const failed = serving.then(() => new Promise<never>(() => undefined));
  await runUntilStopped(logger, failed, async () => {
    await nc.drain().catch(() => undefined);
    await client.close();
  });
}

type NatsCommandsArgs = SidecarArgs & { nats: string };

export const natsCommandsCommand: CommandModule<CommonArgs, NatsCommandsArgs> = {
  command: 'nats-commands',
  describe: 'Apply task commands published to rigger.<project>.commands (AddTask, UpdateTask, DeleteTask, GetTask) through the hub, replying with the result',
  builder: (yargs) =>
    sidecarFlags(yargs, false)
      .options(PROJECT_FLAG)
      .option('nats', { type: 'string', default: 'nats://127.0.0.1:4222', describe: 'NATS server URL(s), comma-separated' })
      .example(
        `$0 sidecar nats-commands --project billing`,
        'then: nats req rigger.billing.commands \'{"command":"AddTask","request":{"title":"Ship it"}}\'',
      ) as never,
  handler: (argv) => runNatsCommands({ ...sidecarOptions(argv, false), nats: argv.nats, project: projectNameOf(argv as unknown as Record<string, unknown>) }),
};

if (require.main === module) runStandalone(natsCommandsCommand);
