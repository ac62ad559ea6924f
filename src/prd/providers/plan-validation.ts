// Checks a model's answer before anything is saved. A PlanError says what was wrong, in words
// that can be sent back to the model for its one retry and to the caller when that fails too.
import { MAX_TITLE_LENGTH } from '../../model/validate';
import { ROUTING_DECISIONS, type OrchestrationPlan, type PlannedTask, type RoutingDecision, type TestType } from './provider';

export class PlanError extends Error {}

const MAX_PLANNED_TASKS = 100;
const MAX_SUBTASKS = 20;

export function validatePlannedTasks(value: unknown): PlannedTask[] {
  const tasks = field(value, 'tasks', 'the answer');
  if (!Array.isArray(tasks)) throw new PlanError('"tasks" must be an array');
  if (tasks.length === 0) throw new PlanError('"tasks" is empty; propose at least one task');
  if (tasks.length > MAX_PLANNED_TASKS) throw new PlanError(`"tasks" has ${tasks.length} entries; at most ${MAX_PLANNED_TASKS}`);
  return tasks.map((task, i) => plannedTask(task, `tasks[${i}]`));
}

export function validateOrchestrationPlan(value: unknown, testType: TestType): OrchestrationPlan {
  const enhancement = text(field(value, 'enhancement', 'the answer'), 'enhancement');
  const question = text(field(value, 'question', 'the answer'), 'question');
  const correct = text(field(value, 'correct_answer', 'the answer'), 'correct_answer');
  const routing = field(value, 'routing_decision', 'the answer');
  if (typeof routing !== 'string' || !(ROUTING_DECISIONS as readonly string[]).includes(routing)) {
    throw new PlanError(`"routing_decision" must be one of ${ROUTING_DECISIONS.join(', ')}, got ${JSON.stringify(routing)}`);
  }
  const rawOptions = (value as Record<string, unknown>).options ?? [];
  if (!Array.isArray(rawOptions)) throw new PlanError('"options" must be an array of strings');
  const options = rawOptions.map((o, i) => text(o, `options[${i}]`));
  if (testType === 'multiple_choice') {
    if (options.length < 2 || options.length > 6) throw new PlanError(`a multiple_choice test needs 2 to 6 "options", got ${options.length}`);
    if (!options.includes(correct)) throw new PlanError('"correct_answer" must be exactly one of the "options"');
  } else if (options.length > 0) {
    throw new PlanError('a short_answer test has no "options"; leave it empty');
  }
  const rawSubtasks = (value as Record<string, unknown>).subtasks ?? [];
  if (!Array.isArray(rawSubtasks)) throw new PlanError('"subtasks" must be an array');
  const subtasks = rawSubtasks.map((s, i) => (typeof s === 'string' ? { title: title(s, `subtasks[${i}]`) } : plannedTask(s, `subtasks[${i}]`)));
  if (routing === 'decompose' && subtasks.length < 2) throw new PlanError('"decompose" needs at least 2 "subtasks"');
  if (routing !== 'decompose' && subtasks.length > 0) throw new PlanError(`"subtasks" must be empty unless routing_decision is "decompose"`);
  if (subtasks.length > MAX_SUBTASKS) throw new PlanError(`"subtasks" has ${subtasks.length} entries; at most ${MAX_SUBTASKS}`);
  return {
    enhancement: { type: 'description', content: enhancement },
    test: { question, options, correct_answer: correct },
    routing_decision: routing as RoutingDecision,
    subtasks,
  };
}

function plannedTask(value: unknown, where: string): PlannedTask {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new PlanError(`${where} must be an object`);
  const record = value as Record<string, unknown>;
  const task: PlannedTask = { title: title(record.title, `${where}.title`) };
  const assignee = optionalText(record.assignee, `${where}.assignee`);
  if (assignee) task.assignee = assignee;
  const due = optionalText(record.due_date, `${where}.due_date`);
  if (due) {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(due) || Number.isNaN(Date.parse(`${due}T00:00:00Z`)) || new Date(`${due}T00:00:00Z`).toISOString().slice(0, 10) !== due) {
      throw new PlanError(`${where}.due_date ${JSON.stringify(due)} is not a date in the form YYYY-MM-DD`);
    }
    task.due_date = due;
  }
  if (record.complexity !== undefined && record.complexity !== null) {
    if (!Number.isInteger(record.complexity) || (record.complexity as number) < 1 || (record.complexity as number) > 10) {
      throw new PlanError(`${where}.complexity must be a whole number from 1 to 10`);
    }
    task.complexity = record.complexity as number;
  }
  const reasoning = optionalText(record.reasoning, `${where}.reasoning`);
  if (reasoning) task.reasoning = reasoning;
  return task;
}

function field(value: unknown, name: string, where: string): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new PlanError(`${where} must be a JSON object`);
  if (!(name in value)) throw new PlanError(`${where} has no "${name}"`);
  return (value as Record<string, unknown>)[name];
}

function text(value: unknown, where: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw new PlanError(`"${where}" must be a non-empty string`);
  return value.trim();
}

function title(value: unknown, where: string): string {
  const t = text(value, where);
  if ([...t].length > MAX_TITLE_LENGTH) throw new PlanError(`"${where}" is longer than ${MAX_TITLE_LENGTH} characters`);
  return t;
}

function optionalText(value: unknown, where: string): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new PlanError(`"${where}" must be a string`);
  return value.trim() || undefined;
}
