// The offline provider: everything derived from the text alone, so the same input always gives
// the same tasks, enhancement, test and routing.
import { createHash } from 'node:crypto';
import { invalidArgument } from '../../model/errors';
import type { Task } from '../../model/task';
import { MAX_TITLE_LENGTH } from '../../model/validate';
import type { PrdItem } from '../parser';
import type { OrchestrationPlan, PlannedTask, PrdForPlanning, Provider, TestType } from './provider';

const DISTRACTORS = [
  'Write documentation only, without changing the product',
  'Defer the work to a later release',
  'Revert the most recent related change instead',
];

export class RulesProvider implements Provider {
  readonly model = 'rules';

  /** Task blocks become tasks as written; without any, one task per objective and requirement. */
  async planTasks(prd: PrdForPlanning): Promise<PlannedTask[]> {
    const { parsed } = prd;
    const planned: PlannedTask[] = parsed.tasks.length
      ? parsed.tasks.map((block) => ({
          title: fitTitle(block.title),
          ...(block.assignee && { assignee: block.assignee }),
          ...(block.due_date && { due_date: block.due_date }),
          ...(block.details.length && { reasoning: block.details.join('\n') }),
          complexity: complexityOf(block.title, block.details),
        }))
      : [...parsed.objectives.map((item) => fromItem(item, 'Objectives')), ...parsed.requirements.map((item) => fromItem(item, item.section))];
    const seen = new Set<string>();
    const unique = planned.filter((task) => {
      const key = task.title.toLowerCase();
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    if (unique.length === 0) {
      throw invalidArgument(
        `PRD ${prd.id} ("${parsed.title}") has nothing to turn into tasks: add "### Task 1: <title>" blocks, an "## Objectives" list or requirement bullets`,
      );
    }
    return unique;
  }

  async orchestrate(task: Task, testType: TestType): Promise<OrchestrationPlan> {
    const parts = splitTitle(task.title);
    const vague = words(task.title).length < 3 && !task.reasoning;
    const routing = parts.length >= 2 ? 'decompose' : vague ? 'enhance' : 'pass';
    const content = [
      `Goal: ${task.title}`,
      `Owner: ${task.assignee ?? 'unassigned'}; due: ${task.due_date ?? 'no due date'}`,
      `Context: ${task.reasoning ?? 'none given'}`,
      `Done when: ${task.title} is implemented, covered by tests and reviewed.`,
      ...(vague ? ['Open point: the title is too short to act on; describe the expected outcome.'] : []),
    ].join('\n');
    return {
      enhancement: { type: 'description', content },
      test:
        testType === 'multiple_choice'
          ? multipleChoice(task.title)
          : { question: 'In one line: what outcome must this task deliver?', options: [], correct_answer: task.title },
      routing_decision: routing,
      subtasks: routing === 'decompose' ? parts.map((title) => ({ title })) : [],
    };
  }
}

function fromItem(item: PrdItem, section: string): PlannedTask {
  return {
    title: fitTitle(item.text),
    reasoning: [`From the PRD's ${section} section.`, ...item.details].join('\n'),
    complexity: complexityOf(item.text, item.details),
  };
}

function multipleChoice(title: string): OrchestrationPlan['test'] {
  const options = [title, ...DISTRACTORS];
  // A fixed rotation chosen by the title, so the right answer is not always first.
  const shift = createHash('sha256').update(title).digest()[0]! % options.length;
  return {
    question: 'Which statement describes what this task delivers?',
    options: [...options.slice(shift), ...options.slice(0, shift)],
    correct_answer: title,
  };
}

/** "Build the login page and add password reset" -> two parts; fewer than two real parts -> []. */
function splitTitle(title: string): string[] {
  const parts = title
    .split(/\s*;\s*|,\s*(?:and\s+|then\s+)?|\s+(?:and then|and|then)\s+/i)
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (parts.length < 2 || parts.length > 10 || parts.some((p) => words(p).length < 2)) return [];
  return parts.map((p) => p.charAt(0).toUpperCase() + p.slice(1));
}

function words(text: string): string[] {
  return text.split(/\s+/).filter(Boolean);
}

function complexityOf(title: string, details: string[]): number {
  return Math.min(10, Math.max(1, Math.ceil(words(title).length / 3) + details.length));
}

function fitTitle(text: string): string {
  const chars = [...text];
  return chars.length <= MAX_TITLE_LENGTH ? text : `${chars.slice(0, MAX_TITLE_LENGTH - 3).join('')}...`;
}
