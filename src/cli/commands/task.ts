import os from 'node:os';
import type { Argv } from 'yargs';
import { invalidArgument, notFound } from '../../model/errors';
import { parseStatus, TaskStatus, type TaskPatch } from '../../model/task';
import { validateDueDate } from '../../model/validate';
import type { Store } from '../../store/store';
import type { CommandBody, GlobalArgs } from '../command-body';
import { printJson, printTask, printTasks, taskForDisplay } from '../output';
import { safeText } from '../../config/terminal-text';
import { findProject } from '../../config/project';
import { settingOptions } from '../../config/settings';
import { ACTOR_OPTION } from '../common-options';
import { assigneesDifferingInCase } from '../list-hints';
import { resolveTaskId } from '../task-id';
import { withProjectStore } from '../project-store';

interface TaskArgs extends GlobalArgs {
  db?: string;
  actor?: string;
}

/** Opens the project's store for one command and closes it afterwards. */
function withStore<T>(argv: TaskArgs, work: (store: Store, actor: string) => T): T {
  const args = argv as unknown as Record<string, unknown>;
  return withProjectStore(findProject(argv.C ?? '.'), args, (store) => work(store, argv.actor ?? os.userInfo().username));
}

function statusOption(value: string | undefined): TaskStatus | undefined {
  if (value === undefined) return undefined;
  const status = parseStatus(value);
  if (status === undefined) {
    throw invalidArgument(`--status ${JSON.stringify(value)} is not a task status; use e.g. todo, in_progress, completed, archived`);
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

const common = (yargs: Argv<GlobalArgs>) => yargs.options(settingOptions('db'));

/** Every status `--status` takes, in the lower-case form (any case, or TASK_STATUS_..., works too). */
const STATUS_CHOICES = Object.keys(TaskStatus)
  .filter((name) => name !== 'UNSPECIFIED')
  .map((name) => name.toLowerCase())
  .join(', ');
const TASK_ID = { type: 'string', demandOption: true, describe: 'the task id, or its first characters when they name one task' } as const;

/** Only the commands that change a task record who did it. */
const withActor = <T>(yargs: Argv<T>) => yargs.option('actor', ACTOR_OPTION);

export const taskCommand: CommandBody<GlobalArgs> = {
  builder: (yargs) =>
    common(yargs)
      .command<TaskArgs & { title: string; assignee?: string; 'due-date'?: string; 'prd-id'?: string; 'parent-id'?: string }>(
        'add <title>',
        'Add a task',
        (y) =>
          withActor(y)
            .positional('title', { type: 'string', demandOption: true, describe: 'what the task is (quote it when it has spaces)' })
            .option('assignee', { type: 'string', describe: 'who the task is for (free text, e.g. Alice); default none' })
            .option('due-date', { type: 'string', describe: 'due date, YYYY-MM-DD; default none' })
            .option('prd-id', { type: 'string', describe: 'id of the PRD the task comes from (rig prd parse prints it); default none' })
            .option('parent-id', { type: 'string', describe: 'the task this is a subtask of: its id, or the first characters of it; default none' })
            .example('$0 task add "Fix login bug" --assignee Alice --due-date 2026-12-31', 'add a task for Alice')
            .example('$0 task add "Write tests" --parent-id 3f2a --json', 'a subtask, printed as JSON'),
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
                  ...(argv['parent-id'] !== undefined && { parent_task_id: resolveTaskId(store, argv['parent-id'], 'parent_task_id') }),
                }),
              ),
            ),
          );
        },
      )
      .command<TaskArgs & { status?: string; assignee?: string; limit: number; offset: number; all?: boolean; 'page-token'?: string }>(
        'list',
        'List tasks, newest first',
        (y) =>
          y
            .option('status', { type: 'string', describe: `only tasks in this status: ${STATUS_CHOICES}` })
            .option('assignee', { type: 'string', describe: 'only tasks assigned to exactly this name' })
            .option('limit', { type: 'number', default: 50, describe: 'tasks per page, 1 to 1000' })
            .option('offset', { type: 'number', default: 0, describe: 'skip this many matching tasks first (walks them: for deep pages use --page-token)' })
            .option('page-token', {
              type: 'string',
              describe: 'the next page: the token the previous page printed, with the same --status, --assignee and --all',
            })
            .option('all', { type: 'boolean', default: false, describe: 'include archived tasks' })
            .example('$0 task list --status in_progress --assignee Alice', "Alice's tasks in progress")
            .example('$0 task list --all --json', 'every task, archived ones too, as JSON')
            .example('$0 task list --page-token eyJ2IjoxLC...', 'the page after the one that printed this token'),
        (argv) => {
          if (!Number.isInteger(argv.limit) || argv.limit < 1 || argv.limit > 1000) throw invalidArgument('--limit must be from 1 to 1000');
          if (!Number.isInteger(argv.offset) || argv.offset < 0) throw invalidArgument('--offset must be 0 or more');
          if (argv['page-token'] !== undefined && argv.offset !== 0)
            throw invalidArgument('--page-token and --offset do not go together: the token already says where the page starts; leave --offset out');
          const status = statusOption(argv.status);
          const { tasks, total, nextPageToken, otherCase } = withStore(argv, (store) => {
            const page = store.tasks.listTasks({
              limit: argv.limit,
              offset: argv.offset,
              includeArchived: argv.all === true,
              ...(status !== undefined && { status }),
              ...(argv.assignee !== undefined && { assignee: argv.assignee }),
              ...(argv['page-token'] !== undefined && { pageToken: argv['page-token'] }),
            });
            const otherCase = page.total === 0 && argv.assignee ? assigneesDifferingInCase(store, argv.assignee, argv.all === true) : [];
            return { ...page, otherCase };
          });
          if (otherCase.length > 0) {
            const names = otherCase.map((name) => JSON.stringify(safeText(name))).join(', ');
            process.stderr.write(
              `rig: hint: no task is assigned to ${JSON.stringify(safeText(argv.assignee!))}, but some are to ${names}: --assignee matches exactly, case included (e.g. --assignee ${JSON.stringify(safeText(otherCase[0]!))})\n`,
            );
          }
          if (argv.json) printJson({ tasks: tasks.map(taskForDisplay), total_count: total, next_page_token: nextPageToken });
          else {
            printTasks(tasks);
            process.stdout.write(`${tasks.length} of ${total} task(s)${nextPageToken === '' ? '' : `; next page: --page-token ${nextPageToken}`}\n`);
          }
        },
      )
      .command<TaskArgs & { id: string }>(
        'get <id>',
        'Show one task',
        (y) => y.positional('id', TASK_ID).example('$0 task get 3f2a', 'the task whose id starts 3f2a'),
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
        "Change a task's title, status, assignee or due date",
        (y) =>
          withActor(y)
            .positional('id', TASK_ID)
            .option('title', { type: 'string', describe: 'the new title' })
            .option('status', { type: 'string', describe: `the new status: ${STATUS_CHOICES}` })
            .option('assignee', { type: 'string', describe: 'the new assignee; "" to unassign' })
            .option('due-date', { type: 'string', describe: 'the new due date, YYYY-MM-DD; "" to clear' })
            .option('expected-version', { type: 'number', describe: 'fail (FAILED_PRECONDITION) unless the task is at this version; default: any version' })
            .example('$0 task update 3f2a --status in_progress', 'start working on it')
            .example('$0 task update 3f2a --assignee ""', 'unassign it'),
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
              store.tasks.write(
                actor,
                (m) => m.updateTask(resolveTaskId(store, argv.id), patch, expected !== undefined ? { expectedVersion: expected } : {}).task,
              ),
            ),
          );
        },
      )
      .command<TaskArgs & { id: string }>(
        'delete <id>',
        'Archive a task (it leaves `task list` unless --all)',
        (y) => withActor(y).positional('id', TASK_ID).example('$0 task delete 3f2a', 'archive it (rig task list --all still shows it)'),
        (argv) => {
          const task = withStore(argv, (store, actor) => store.tasks.write(actor, (m) => m.archiveTask(resolveTaskId(store, argv.id))));
          if (argv.json) printJson({ success: true, task: taskForDisplay(task) });
          else process.stdout.write(`archived ${safeText(task.id)}\n`);
        },
      )
      .demandCommand(1, 'rig task needs a command: add, list, get, update or delete (e.g. rig task list; see rig task --help)'),
  handler: () => {},
};
