import { findProject } from '../../config/project';
import { databasePath, settingOptions } from '../../config/settings';
import type { LogLineage } from '../../model/log-lineage';
import { openDatabase } from '../../store/database';
import { refuseIfInUse } from '../../store/file-in-use';
import { readLineage, startNewIdentity } from '../../store/log-identity';
import { latestSequence } from '../../store/rows';
import type { CommandBody, GlobalArgs } from '../command-body';
import { printJson } from '../output';

/** Opens the project's database (never creating one) and hands it to `work`. */
function withDatabase<T>(argv: GlobalArgs, work: (db: ReturnType<typeof openDatabase>, file: string) => T, refuseWhileOpen?: string): T {
  const file = databasePath(findProject(argv.C ?? '.'), argv as unknown as Record<string, unknown>);
  if (refuseWhileOpen !== undefined) refuseIfInUse(file, refuseWhileOpen);
  const db = openDatabase(file);
  try {
    return work(db, file);
  } finally {
    db.close();
  }
}

function lineageJson(lineage: LogLineage, newest: number) {
  return {
    log_id: lineage.logId,
    newest_sequence: newest,
    lineage: lineage.identities.map((i) => ({
      log_id: i.logId,
      parent_log_id: i.parentLogId ?? null,
      parted_after: i.partedAfter ?? null,
      reason: i.reason,
      created_at: i.createdAt,
    })),
  };
}

function printLineage(lineage: LogLineage, newest: number): void {
  const lines = [`log ${lineage.logId}, newest sequence ${newest}`];
  for (const identity of [...lineage.identities].reverse()) {
    const from = identity.parentLogId === undefined ? '' : `, continues ${identity.parentLogId} up to sequence ${identity.partedAfter}`;
    lines.push(`  ${identity.logId}  ${identity.reason.padEnd(7)}  ${identity.createdAt}${from}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

export const logCommand: CommandBody = {
  builder: (yargs) =>
    yargs
      .options(settingOptions('db'))
      .command<GlobalArgs>(
        'show',
        "Print the log's identity and the identities it descends from",
        (y) => y.example('$0 log show', 'the log id every event and bookmark carries'),
        (argv) =>
          withDatabase(argv, (db) => {
            const lineage = readLineage(db);
            if (argv.json) printJson(lineageJson(lineage, latestSequence(db)));
            else printLineage(lineage, latestSequence(db));
          }),
      )
      .command<GlobalArgs>(
        'new-identity',
        'Start a new log identity that continues this one (with the server stopped); positions of the old one up to now still resume',
        (y) => y.example('$0 log new-identity', 'after the database was copied or changed outside rigger'),
        (argv) =>
          withDatabase(
            argv,
            (db, file) => {
              const identity = startNewIdentity(db, 'manual');
              if (argv.json) printJson(lineageJson(readLineage(db), latestSequence(db)));
              else process.stdout.write(`${file}: log ${identity.logId} continues ${identity.parentLogId} up to sequence ${identity.partedAfter}\n`);
            },
            'give the log a new identity',
          ),
      )
      .demandCommand(1, 'rig log needs a command: show or new-identity (see rig log --help)'),
  handler: () => {},
};
