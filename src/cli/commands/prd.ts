import { parsedPrdResponse } from '../../grpc/prd-handlers';
import { generateTasks } from '../../prd/generation';
import { readPrdFile, resolvePrd, storePrd, type LoadedPrd } from '../../prd/prd-library';
import { selectProvider } from '../../prd/providers/select';
import type { CommandBody, GlobalArgs } from '../command-body';
import { printJson, printTable, printTasks, taskForDisplay } from '../output';
import { safeText } from '../../config/terminal-text';
import { PRD_SETTINGS } from '../prd-settings';
import { stderrProgress } from '../progress';
import { settingOptions } from '../../config/settings';
import { ACTOR_OPTION } from '../common-options';
import { withPrdSession, type PrdArgs } from './prd-common';

export const prdCommand: CommandBody<GlobalArgs> = {
  builder: (yargs) =>
    yargs
      .options(settingOptions('db'))
      .option('actor', ACTOR_OPTION)
      .command<PrdArgs & { file: string }>(
        'parse <file>',
        'Parse a PRD file inside the project and store it; prints its prd_id',
        (y) =>
          y
            .positional('file', { type: 'string', demandOption: true, describe: 'markdown file, relative to the current directory' })
            .example('$0 prd parse docs/PRD.md', 'store the PRD; prints its prd_id, title and sections'),
        (argv) =>
          withPrdSession(argv, async ({ project, store, actor }) => {
            const prd = readPrdFile(project.dir, argv.file, process.cwd());
            await storePrd(store.tasks, prd, actor);
            if (argv.json) printJson({ ...parsedPrdResponse(prd), source_path: prd.sourcePath, parsed: prd.parsed });
            else printParsed(prd);
          }),
      )
      .command<PrdArgs & { source: string; save?: boolean; model?: string }>(
        'generate-tasks <source>',
        'Propose tasks for a PRD (a file or a stored prd_id); --save stores them',
        (y) =>
          y
            .positional('source', { type: 'string', demandOption: true, describe: 'PRD file (relative to the current directory) or prd_id' })
            .options(settingOptions(...PRD_SETTINGS))
            .option('save', { type: 'boolean', default: false, describe: 'create the tasks (without it nothing is written)' })
            .example('$0 prd generate-tasks docs/PRD.md', 'show the tasks the rules model proposes; nothing is saved')
            .example('$0 prd generate-tasks docs/PRD.md --model llama3.1 --save', 'let that Ollama model propose them, and create them'),
        (argv) =>
          withPrdSession(argv, async ({ project, store, config, actor }) => {
            const provider = selectProvider(undefined, config, stderrProgress());
            const prd = resolvePrd(store.tasks, project.dir, argv.source, process.cwd());
            if (argv.save) {
              const result = await generateTasks(store.tasks, provider, prd, actor);
              if (argv.json) {
                printJson({ prd_id: prd.id, model: provider.model, tasks_generated: result.created, tasks: result.tasks.map(taskForDisplay) });
                return;
              }
              printTasks(result.tasks);
              process.stdout.write(
                `${result.created} task(s) created, ${result.tasks.length - result.created} already there (PRD ${prd.id}, model ${provider.model})\n`,
              );
              return;
            }
            const planned = await provider.planTasks(prd);
            const existing = new Set(store.tasks.prds.tasksOfPrd(prd.id).map((t) => t.title.trim().toLowerCase()));
            const rows = planned.map((p) => ({ ...p, exists: existing.has(p.title.trim().toLowerCase()) }));
            if (argv.json) {
              printJson({ prd_id: prd.id, model: provider.model, saved: false, tasks: rows });
              return;
            }
            printTable(
              ['NEW', 'ASSIGNEE', 'DUE', 'TITLE'],
              rows.map((r) => [r.exists ? 'no' : 'yes', r.assignee ?? '-', r.due_date ?? '-', r.title]),
            );
            process.stdout.write(
              `${rows.filter((r) => !r.exists).length} new task(s) proposed by ${provider.model} for PRD ${prd.id}; nothing saved (add --save)\n`,
            );
          }),
      )
      .demandCommand(1, 'rig prd needs a command: parse or generate-tasks (e.g. rig prd parse docs/PRD.md; see rig prd --help)'),
  handler: () => {},
};

function printParsed(prd: LoadedPrd): void {
  const { parsed } = prd;
  const list = (name: string, items: { text: string }[]) => `${name} (${items.length})${items.map((i) => `\n  - ${safeText(i.text)}`).join('')}`;
  process.stdout.write(
    [
      `prd_id        ${prd.id}`,
      `title         ${safeText(parsed.title)}`,
      `file          ${safeText(prd.sourcePath)}`,
      list('objectives', parsed.objectives),
      list('tech stack', parsed.tech_stack),
      list('constraints', parsed.constraints),
      `task blocks (${parsed.tasks.length})${parsed.tasks.map((t) => `\n  ${t.number}. ${safeText(t.title)} [${safeText(t.assignee ?? '-')}, due ${safeText(t.due_date ?? '-')}]`).join('')}`,
      `requirements (${parsed.requirements.length})${parsed.requirements.map((r) => `\n  - [${safeText(r.section)}] ${safeText(r.text)}`).join('')}`,
      '',
    ].join('\n'),
  );
}
