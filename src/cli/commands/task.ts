import os from 'node:os';
import type { Argv, CommandModule } from 'yargs';
import { invalidArgument, notFound } from '../../model/errors';
import { parseStatus, type TaskPatch, type TaskStatus } from '../../model/task';
import { validateDueDate } from '../../model/validate';
import type { Store } from '../../store/store';
import type { GlobalArgs } from '../main';
import { printJson, printTask, printTasks, taskForDisplay } from '../output';
import { safeText } from '../../config/terminal-text';
import { findProject } from '../../config/project';
import { openProjectStore } from '../project-store';

interface TaskArgs extends GlobalArgs {
  db?: string;
  actor?: string;
}

/** Opens the project's store for one command and closes it afterwards. */
function withStore<T>(argv: TaskArgs, work: (store: Store, actor: string) => T): T {
  const project = findProject(argv.C ?? '.');
  const { store } = openProjectStore(project, argv as unknown as Record<string, unknown>);
  try {
    return work(store, argv.actor ?? os.userInfo().username);
  } finally {
    store.close();
  }
}

/** Candidates listed when a prefix is ambiguous. */
const MAX_CANDIDATES = 10;

/**
 * The task `given` names: its full id, or a prefix of exactly one id (as git takes a commit's).
 * A full id that exists wins over being a prefix of longer ones.
 */
export function resolveTaskId(store: Store, given: string): string {
  if (given === '') throw invalidArgument('a task id is empty; give the id (or the first characters of it) that rig task list shows');
  if (store.tasks.getTask(given)) return given;
  const ids = store.tasks.idsStartingWith(given, MAX_CANDIDATES + 1);
  if (ids.length === 1) return ids[0]!;
  if (ids.length === 0) throw notFound(`task ${JSON.stringify(given)} does not exist`);
  const shown = ids.slice(0, MAX_CANDIDATES).join(', ');
  throw invalidArgument(`task id ${JSON.stringify(given)} is ambiguous: it starts ${ids.length > MAX_CANDIDATES ? `more than ${MAX_CANDIDATES} ids` : `${ids.length} ids`} (${shown}${ids.length > MAX_CANDIDATES ? ', ...' : ''}); give more characters`);
}

function statusOption(value: string | undefined): TaskStatus | undefined {
  if (value === undefined) return undefined;
  const status = parseStatus(value);
  if (status === undefined) {
    throw invalidArgument(
      `--status ${JSON.stringify(value)} is not a task status; use e.g. todo, in_progress, completed, archived`,
    );
  }
  return status;
}

/** Checks --due-date here so the message names the flag the user typed; an empty value clears it. */
function dueDateOption(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? value : validateDueDate(value, '--due-date');
}

function showTask(argv: TaskArgs, task: Parameters<typeof printTask>[0]): void {
  if (argv.json) printJson(taskForDisplay(task));
  else printTask(task);
}

const common = (yargs: Argv<GlobalArgs>) => yargs.option('db', { type: 'string', describe: 'SQLite database file; default .rigger/tasks.db' });

/** Only the commands that change a task record who did it. */
const withActor = <T>(yargs: Argv<T>) => yargs.option('actor', { type: 'string', describe: 'who is making the change, as the event log records it (default: your OS user name)' });

export const taskCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'task',
  describe: 'Manage tasks directly in the project database (the running server broadcasts the changes)',
  builder: (yargs) =>
    common(yargs)
      .command<TaskArgs & { title: string; assignee?: string; 'due-date'?: string; 'prd-id'?: string; 'parent-id'?: string }>(
        'add <title>',
        'Add a task',
        (y) =>
          withActor(y)
            .positional('title', { type: 'string', demandOption: true })
            .option('assignee', { type: 'string' })
            .option('due-date', { type: 'string', describe: 'YYYY-MM-DD' })
            .option('prd-id', { type: 'string' })
            .option('parent-id', { type: 'string' }),
        (argv) => {
          const dueDate = dueDateOption(argv['due-date']);
          showTask(
            argv,
            withStore(argv, (store, actor) =>
              store.tasks.write(actor, (m) =>
                m.createTask({
                  title: argv.title,
                  ...(argv.assignee !== undefined && { assignee: argv.assignee }),
                  ...(dueDate !== undefined && { due_date: dueDate }),
                  ...(argv['prd-id'] !== undefined && { source_prd_id: argv['prd-id'] }),
                  ...(argv['parent-id'] !== undefined && { parent_task_id: argv['parent-id'] }),
                }),
              ),
            ),
          );
        },
      )
      .command<TaskArgs & { status?: string; assignee?: string; limit: number; offset: number; all?: boolean }>(
        'list',
        'List tasks, newest first',
        (y) =>
          y
            .option('status', { type: 'string', describe: 'e.g. todo, in_progress, completed' })
            .option('assignee', { type: 'string' })
            .option('limit', { type: 'number', default: 50 })
            .option('offset', { type: 'number', default: 0 })
            .option('all', { type: 'boolean', describe: 'include archived tasks' }),
        (argv) => {
          if (!Number.isInteger(argv.limit) || argv.limit < 1 || argv.limit > 1000) throw invalidArgument('--limit must be from 1 to 1000');
          if (!Number.isInteger(argv.offset) || argv.offset < 0) throw invalidArgument('--offset must be 0 or more');
          const status = statusOption(argv.status);
          const { tasks, total } = withStore(argv, (store) =>
            store.tasks.listTasks({
              limit: argv.limit,
              offset: argv.offset,
              includeArchived: argv.all === true,
              ...(status !== undefined && { status }),
              ...(argv.assignee !== undefined && { assignee: argv.assignee }),
            }),
          );
          if (argv.json) printJson({ tasks: tasks.map(taskForDisplay), total_count: total });
          else {
            printTasks(tasks);
            process.stdout.write(`${tasks.length} of ${total} task(s)\n`);
          }
        },
      )
      .command<TaskArgs & { id: string }>(
        'get <id>',
        'Show one task',
        (y) => y.positional('id', { type: 'string', demandOption: true, describe: 'the task id, or its first characters when they name one task' }),
        (argv) =>
          showTask(
            argv,
            withStore(argv, (store) => {
              const task = store.tasks.getTask(resolveTaskId(store, argv.id));
              if (!task) throw notFound(`task ${JSON.stringify(argv.id)} does not exist`);
              return task;
            }),
          ),
      )
      .command<TaskArgs & { id: string; title?: string; status?: string; assignee?: string; 'due-date'?: string; 'expected-version'?: number }>(
        'update <id>',
        'Change a task\'s title, status, assignee or due date',
        (y) =>
          withActor(y)
            .positional('id', { type: 'string', demandOption: true, describe: 'the task id, or its first characters when they name one task' })
            .option('title', { type: 'string', describe: 'the new title' })
            .option('status', { type: 'string', describe: 'e.g. in_progress' })
            .option('assignee', { type: 'string', describe: 'empty string to unassign' })
            .option('due-date', { type: 'string', describe: 'YYYY-MM-DD, empty string to clear' })
            .option('expected-version', { type: 'number', describe: 'fail unless the task is at this version' }),
        (argv) => {
          const patch: TaskPatch = {};
          if (argv.title !== undefined) patch.title = argv.title;
          const status = statusOption(argv.status);
          if (status !== undefined) patch.status = status;
          if (argv.assignee !== undefined) patch.assignee = argv.assignee;
          const dueDate = dueDateOption(argv['due-date']);
          if (dueDate !== undefined) patch.due_date = dueDate;
          if (Object.keys(patch).length === 0) {
            throw invalidArgument(`nothing to change: give --title, --status, --assignee or --due-date, e.g. rig task update ${argv.id} --status in_progress`);
          }
          const expected = argv['expected-version'];
          showTask(
            argv,
            withStore(argv, (store, actor) =>
              store.tasks.write(actor, (m) => m.updateTask(resolveTaskId(store, argv.id), patch, expected !== undefined ? { expectedVersion: expected } : {}).task),
            ),
          );
        },
      )
      .command<TaskArgs & { id: string }>(
        'delete <id>',
        'Archive a task (it leaves `task list` unless --all)',
        (y) => withActor(y).positional('id', { type: 'string', demandOption: true, describe: 'the task id, or its first characters when they name one task' }),
        (argv) => {
          const task = withStore(argv, (store, actor) => store.tasks.write(actor, (m) => m.archiveTask(resolveTaskId(store, argv.id))));
          if (argv.json) printJson({ success: true, task: taskForDisplay(task) });
          else process.stdout.write(`archived ${safeText(task.id)}\n`);
        },
      )
      .demandCommand(1, 'rig task needs a command: add, list, get, update or delete (e.g. rig task list; see rig task --help)'),
  handler: () => {},
};
