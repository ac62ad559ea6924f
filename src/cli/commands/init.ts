import fs from 'node:fs';
import path from 'node:path';
import { RiggerError } from '../../model/errors';
import { refuseOrphanedWal } from '../../store/integrity';
import { openStore } from '../../store/store';
import { CONFIG_FILE, createPrivateFile, DB_FILE, makePrivateDir, RIGGER_DIR } from '../../config/project';
import { SETTINGS } from '../../config/settings';
import { printJson } from '../output';
import { lazyTaskEventEncoder } from '../project-store';
import type { CommandBody, GlobalArgs } from '../command-body';

export const initCommand: CommandBody<GlobalArgs> = {
  builder: (yargs) => yargs.example('$0 init', 'in the current directory').example('$0 -C ~/projects/site init', 'in another one'),
  handler: (argv) => {
    const dir = path.resolve(argv.C ?? '.');
    const riggerDir = path.join(dir, RIGGER_DIR);
    const configFile = path.join(riggerDir, CONFIG_FILE);
    const dbFile = path.join(riggerDir, DB_FILE);
    if (fs.existsSync(configFile) || fs.existsSync(dbFile)) {
      throw new RiggerError('invalid_argument', `${riggerDir} is already initialized`);
    }
    refuseOrphanedWal(dbFile);
    // Private whatever the umask: the database holds every task, and config.json may hold tokens.
    makePrivateDir(riggerDir);
    const config = {
      port: SETTINGS.port.defaultValue,
      bufferSize: SETTINGS.bufferSize.defaultValue,
      retainEvents: SETTINGS.retainEvents.defaultValue,
    };
    createPrivateFile(dbFile);
    openStore(dbFile, lazyTaskEventEncoder, { create: true }).close();
    createPrivateFile(configFile, `${JSON.stringify(config, null, 2)}\n`);
    if (argv.json) printJson({ project: dir, config: configFile, database: dbFile });
    else process.stdout.write(`Initialized rigger project in ${riggerDir}\n  config:   ${configFile}\n  database: ${dbFile}\n`);
  },
};
