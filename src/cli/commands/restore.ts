import path from 'node:path';
import { findProject } from '../../config/project';
import { databasePath, settingOptions } from '../../config/settings';
import { safeText } from '../../config/terminal-text';
import { restoreDatabase } from '../../store/restore';
import type { CommandBody, GlobalArgs } from '../command-body';
import { printJson } from '../output';

interface RestoreArgs extends GlobalArgs {
  file: string;
}

export const restoreCommand: CommandBody<RestoreArgs> = {
  builder: (yargs) =>
    yargs
      .positional('file', { type: 'string', demandOption: true, describe: 'a backup written by rig backup (relative to -C)' })
      .example('$0 restore backups/tasks-2026-12-01.db', 'with rig grpc stopped; then start it again')
      .options(settingOptions('db')) as never,
  handler: (argv) => {
    const start = argv.C ?? '.';
    const project = findProject(start);
    const file = databasePath(project, argv as unknown as Record<string, unknown>);
    const report = restoreDatabase(path.resolve(start, argv.file), file);
    if (argv.json) return printJson(report);
    process.stdout.write(
      `restored ${safeText(report.backup)} to ${safeText(report.file)}: ${report.tasks} tasks, ${report.events} events, last sequence ${report.last_sequence}\n` +
        `  log ${report.log_id} descends from ${report.parent_log_id} up to sequence ${report.parted_after}; positions past it are refused, not reused\n` +
        (report.moved_aside === null ? '' : `  the database that was there is in ${safeText(report.moved_aside)}\n`) +
        `  start the server again: rig grpc\n`,
    );
  },
};
