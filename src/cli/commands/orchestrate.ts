import type { CommandModule } from 'yargs';
import { statusName } from '../../model/task';
import { orchestrateTask } from '../../prd/orchestration';
import { parseTestType } from '../../prd/providers/provider';
import { selectProvider } from '../../prd/providers/select';
import type { GlobalArgs } from '../main';
import { printJson, quotedText, taskForDisplay } from '../output';
import { safeText } from '../../config/terminal-text';
import { PRD_SETTINGS } from '../prd-settings';
import { stderrProgress } from '../progress';
import { settingOptions } from '../../config/settings';
import { withPrdSession, type PrdArgs } from './prd-common';

export const orchestrateCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'orchestrate',
  describe: 'Run a task through enhance -> comprehension test -> route (pass, enhance, decompose)',
  builder: (yargs) =>
    yargs
      .option('db', { type: 'string', describe: 'SQLite database file; default .rigger/tasks.db' })
      .option('actor', { type: 'string', describe: 'who is making the change (default: your OS user name)' })
      .command<PrdArgs & { id: string; 'test-type'?: string }>(
        'run <id>',
        'Orchestrate one task; the events reach subscribers of a running server',
        (y) =>
          y
            .positional('id', { type: 'string', demandOption: true, describe: 'task id' })
            .options(settingOptions(...PRD_SETTINGS))
            .option('test-type', { type: 'string', describe: 'short_answer (default) or multiple_choice' }),
        (argv) =>
          withPrdSession(argv, async ({ store, config, actor }) => {
            const testType = parseTestType(argv['test-type']);
            const provider = selectProvider(undefined, config, stderrProgress());
            const outcome = await orchestrateTask(store.tasks, provider, argv.id, testType, actor);
            if (argv.json) {
              printJson({
                task: taskForDisplay(outcome.task),
                result: {
                  success: true,
                  routing_decision: outcome.routing_decision,
                  model: provider.model,
                  enhancement: outcome.enhancement,
                  comprehension_test: outcome.comprehension_test,
                  subtasks: outcome.subtasks.map(taskForDisplay),
                },
              });
              return;
            }
            const test = outcome.comprehension_test;
            const lines = [
              `task         ${outcome.task.id} ${quotedText(outcome.task.title)}`,
              `status       ${statusName(outcome.task.status)}`,
              `routing      ${outcome.routing_decision}`,
              `model        ${provider.model}`,
              `enhancement  ${outcome.enhancement.content.split('\n').map(safeText).join('\n             ')}`,
              `test         ${safeText(test.test_type)}: ${safeText(test.question)}`,
              ...test.options.map((o, i) => `             ${String.fromCharCode(97 + i)}) ${safeText(o)}`),
              `answer       ${safeText(test.correct_answer)}`,
              ...(outcome.subtasks.length ? [`subtasks     ${outcome.subtasks.map((s) => `${s.id} ${quotedText(s.title)}`).join('\n             ')}`] : []),
              '',
            ];
            process.stdout.write(lines.join('\n'));
          }),
      )
      .demandCommand(1, 'rig orchestrate needs a command: run (e.g. rig orchestrate run TASK_ID; see rig orchestrate --help)'),
  handler: () => {},
};
