import { statusName } from '../../model/task';
import { orchestrateTask } from '../../prd/orchestration';
import { parseTestType } from '../../prd/providers/provider';
import { selectProvider } from '../../prd/providers/select';
import type { CommandBody, GlobalArgs } from '../command-body';
import { printJson, quotedText, taskForDisplay } from '../output';
import { safeText } from '../../config/terminal-text';
import { PRD_SETTINGS } from '../prd-settings';
import { stderrProgress } from '../progress';
import { settingOptions } from '../../config/settings';
import { ACTOR_OPTION } from '../common-options';
import { resolveTaskId } from '../task-id';
import { withPrdSession, type PrdArgs } from './prd-common';

export const orchestrateCommand: CommandBody<GlobalArgs> = {
  builder: (yargs) =>
    yargs
      .options(settingOptions('db'))
      .option('actor', ACTOR_OPTION)
      .command<PrdArgs & { id: string; 'test-type'?: string }>(
        'run <id>',
        'Orchestrate one task; the events reach subscribers of a running server',
        (y) =>
          y
            .positional('id', { type: 'string', demandOption: true, describe: 'the task id, or its first characters when they name one task' })
            .options(settingOptions(...PRD_SETTINGS))
            .option('test-type', { type: 'string', describe: 'the comprehension test: short_answer or multiple_choice', defaultDescription: 'short_answer' })
            .example('$0 orchestrate run 3f2a', 'the task whose id starts 3f2a, with the rules model (no network)')
            .example('$0 orchestrate run 3f2a --model llama3.1 --test-type multiple_choice', 'with that Ollama model'),
        (argv) =>
          withPrdSession(argv, async ({ store, config, actor }) => {
            const testType = parseTestType(argv['test-type']);
            const provider = selectProvider(undefined, config, stderrProgress());
            const outcome = await orchestrateTask(store.tasks, provider, resolveTaskId(store, argv.id), testType, actor);
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
