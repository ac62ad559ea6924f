// `rig sidecar <logger|metrics|nats-bridge|nats-commands|board|webhook|exec>`: runs one of the bundled sidecars. Each sidecar defines
// its own command, so `node dist/sidecars/<name>.js` takes the same flags without loading the CLI.
import type { CommandModule } from 'yargs';
import { boardCommand } from '../../../sidecars/board';
import { execCommand } from '../../../sidecars/exec';
import { loggerCommand } from '../../../sidecars/logger';
import { metricsCommand } from '../../../sidecars/metrics';
import { natsBridgeCommand } from '../../../sidecars/nats-bridge';
import { natsCommandsCommand } from '../../../sidecars/nats-commands';
import { webhookCommand } from '../../../sidecars/webhook';
import type { CommandBody, GlobalArgs } from '../command-body';

export const sidecarCommand: CommandBody<GlobalArgs> = {
  builder: (yargs) =>
    yargs
      .command(loggerCommand as CommandModule<GlobalArgs, GlobalArgs>)
      .command(metricsCommand as CommandModule<GlobalArgs, GlobalArgs>)
      .command(natsBridgeCommand as CommandModule<GlobalArgs, GlobalArgs>)
      .command(natsCommandsCommand as CommandModule<GlobalArgs, GlobalArgs>)
      .command(boardCommand as CommandModule<GlobalArgs, GlobalArgs>)
      .command(webhookCommand as CommandModule<GlobalArgs, GlobalArgs>)
      .command(execCommand as CommandModule<GlobalArgs, GlobalArgs>)
      .demandCommand(1, 'name a sidecar: logger, metrics, nats-bridge, nats-commands, board, webhook or exec'),
  handler: () => {},
};
