import fs from 'node:fs';
import path from 'node:path';
import { findProject } from '../../config/project';
import { databasePath, resolveSetting, settingOptions } from '../../config/settings';
import { safeText } from '../../config/terminal-text';
import { RiggerError } from '../../model/errors';
import { backupDatabase } from '../../store/backup';
import { openDatabase } from '../../store/database';
import type { CommandBody, GlobalArgs } from '../command-body';
import { printJson } from '../output';

interface BackupArgs extends GlobalArgs {
  file: string;
  force?: boolean;
}

export const backupCommand: CommandBody<BackupArgs> = {
  builder: (yargs) =>
    yargs
      .positional('file', { type: 'string', demandOption: true, describe: 'the backup file to write (relative to -C); its directory must exist' })
      .option('force', { type: 'boolean', default: false, describe: 'replace FILE if it exists' })
      .example('$0 backup backups/tasks-$(date +%F).db', "today's copy, while rig grpc keeps serving")
      .options(settingOptions('db', 'busyTimeoutMs')) as never,
  handler: async (argv) => {
    const start = argv.C ?? '.';
    const project = findProject(start);
    const source = databasePath(project, argv as unknown as Record<string, unknown>);
    // Unlike `rig task`, never create the default database: an empty backup of a missing file
    // would look like a good one.
    if (!fs.existsSync(source)) throw new RiggerError('not_found', `database ${source} does not exist; nothing to back up`);
    const db = openDatabase(source, { busyTimeoutMs: resolveSetting('busyTimeoutMs', argv as unknown as Record<string, unknown>, project.config) });
    try {
      const report = await backupDatabase(db, source, path.resolve(start, argv.file), { force: argv.force === true });
      if (argv.json) printJson(report);
      else {
        process.stdout.write(
          `backed up ${safeText(report.source)} to ${safeText(report.file)}: ${report.tasks} tasks, ${report.events} events, last sequence ${report.last_sequence}, ${report.bytes} bytes, integrity_check ok (${report.ms} ms)\n`,
        );
      }
    } finally {
      db.close();
    }
  },
};
