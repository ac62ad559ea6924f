// The Ollama provider: asks the model for JSON matching a schema, validates it, and on an invalid
// answer asks once more (telling the model what was wrong) before failing with INTERNAL.
import { RiggerError } from '../../model/errors';
import { statusName, type Task } from '../../model/task';
import type { OllamaConfig, ProgressReporter } from '../config';
import { MalformedReplyError, ollamaChat, type ChatMessage } from './ollama-chat';
import { PlanError, validateOrchestrationPlan, validatePlannedTasks } from './plan-validation';
import type { OrchestrationPlan, PlannedTask, PrdForPlanning, Provider, TestType } from './provider';

const ATTEMPTS = 2;

const PLANNED_TASK_SCHEMA = {
  type: 'object',
  properties: {
    title: { type: 'string' },
    assignee: { type: 'string' },
    due_date: { type: 'string', description: 'YYYY-MM-DD' },
    complexity: { type: 'integer', minimum: 1, maximum: 10 },
    reasoning: { type: 'string' },
  },
  required: ['title'],
};

const TASKS_SCHEMA = {
  type: 'object',
  properties: { tasks: { type: 'array', items: PLANNED_TASK_SCHEMA } },
  required: ['tasks'],
};

const ORCHESTRATION_SCHEMA = {
  type: 'object',
  properties: {
    enhancement: { type: 'string' },
    question: { type: 'string' },
    options: { type: 'array', items: { type: 'string' } },
    correct_answer: { type: 'string' },
    routing_decision: { type: 'string', enum: ['pass', 'enhance', 'decompose'] },
    subtasks: { type: 'array', items: { type: 'string' } },
  },
  required: ['enhancement', 'question', 'options', 'correct_answer', 'routing_decision', 'subtasks'],
};

const SYSTEM = 'You are a senior engineer planning software work. Answer with JSON only, matching the given schema exactly.';

export class OllamaProvider implements Provider {
  readonly model: string;

  constructor(
    private readonly config: OllamaConfig,
    private readonly progress?: ProgressReporter,
  ) {
    this.model = `ollama:${config.model}`;
  }

  planTasks(prd: PrdForPlanning, signal?: AbortSignal): Promise<PlannedTask[]> {
    const prompt = [
      'Turn this product requirements document into implementation tasks.',
      'Where the PRD has "### Task N:" blocks, use exactly those tasks with their Assignee and Due (as due_date, YYYY-MM-DD).',
      'Otherwise write one task per objective or requirement. Titles are short imperative sentences.',
      '',
      prd.content,
    ].join('\n');
    return this.ask('generating tasks', prompt, TASKS_SCHEMA, validatePlannedTasks, signal);
  }

  orchestrate(task: Task, testType: TestType, signal?: AbortSignal): Promise<OrchestrationPlan> {
    const prompt = [
      'Orchestrate this task in three steps.',
      '1. enhancement: rewrite it as a clear, actionable description with acceptance criteria.',
      testType === 'multiple_choice'
        ? '2. A multiple-choice comprehension question about the enhanced task: "question", 3 to 5 "options", and "correct_answer" copied exactly from the options.'
        : '2. A short-answer comprehension question about the enhanced task: "question", "options" empty, and the expected "correct_answer".',
      '3. routing_decision: "decompose" if it is several pieces of work (then list 2 to 10 "subtasks" titles), "enhance" if it is still too vague to start, otherwise "pass" (subtasks empty).',
      '',
      `Task: ${task.title}`,
      `Status: ${statusName(task.status)}`,
      ...(task.assignee ? [`Assignee: ${task.assignee}`] : []),
      ...(task.due_date ? [`Due: ${task.due_date}`] : []),
      ...(task.reasoning ? [`Notes: ${task.reasoning}`] : []),
    ].join('\n');
    return this.ask('orchestrating a task', prompt, ORCHESTRATION_SCHEMA, (value) => validateOrchestrationPlan(value, testType), signal);
  }

  private async ask<T>(what: string, prompt: string, schema: object, validate: (value: unknown) => T, signal?: AbortSignal): Promise<T> {
    const messages: ChatMessage[] = [
      { role: 'system', content: SYSTEM },
      { role: 'user', content: prompt },
    ];
    let reason = '';
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      const done = this.progress?.(`${what} with ${this.model} at ${this.config.baseUrl}${attempt > 1 ? ' (retry after an invalid answer)' : ''}`);
      let content: string;
      try {
        content = await ollamaChat(this.config, messages, schema, signal);
      } catch (error) {
        if (!(error instanceof MalformedReplyError)) throw error;
        reason = error.message;
        continue;
      } finally {
        done?.();
      }
      try {
        return validate(JSON.parse(content));
      } catch (error) {
        if (!(error instanceof PlanError) && !(error instanceof SyntaxError)) throw error;
        reason = error instanceof SyntaxError ? `the answer is not JSON (${error.message})` : error.message;
        messages.push(
          { role: 'assistant', content },
          { role: 'user', content: `That answer is invalid: ${reason}. Answer again with only JSON matching the schema.` },
        );
      }
    }
    throw new RiggerError('internal', `${this.model} gave an invalid answer ${ATTEMPTS} times (last: ${reason}); nothing was saved`);
  }
}
