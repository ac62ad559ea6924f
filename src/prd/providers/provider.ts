// What every model behind GenerateTasksFromPRD and OrchestrateTask provides. A provider only
// proposes; generation.ts and orchestration.ts validate nothing more and save what it proposed.
import { invalidArgument } from '../../model/errors';
import type { Task } from '../../model/task';
import type { ParsedPrd } from '../parser';

const TEST_TYPES = ['short_answer', 'multiple_choice'] as const;
export type TestType = (typeof TEST_TYPES)[number];

export const ROUTING_DECISIONS = ['pass', 'enhance', 'decompose'] as const;
export type RoutingDecision = (typeof ROUTING_DECISIONS)[number];

export interface PlannedTask {
  title: string;
  assignee?: string;
  due_date?: string;
  complexity?: number;
  reasoning?: string;
}

export interface OrchestrationPlan {
  enhancement: { type: string; content: string };
  test: { question: string; options: string[]; correct_answer: string };
  routing_decision: RoutingDecision;
  /** Non-empty exactly when routing_decision is "decompose". */
  subtasks: PlannedTask[];
}

export interface PrdForPlanning {
  id: string;
  parsed: ParsedPrd;
  /** The PRD's markdown text. */
  content: string;
}

export interface Provider {
  /** The name recorded on tasks and events: "rules" or "ollama:<model>". */
  readonly model: string;
  /** `signal` aborts the work when the caller goes away (a cancelled call, a server shutting down). */
  planTasks(prd: PrdForPlanning, signal?: AbortSignal): Promise<PlannedTask[]>;
  orchestrate(task: Task, testType: TestType, signal?: AbortSignal): Promise<OrchestrationPlan>;
}

/** "" means short_answer; anything but the two test types is refused. */
export function parseTestType(value: string | undefined): TestType {
  const given = value?.trim() ?? '';
  if (given === '') return 'short_answer';
  if ((TEST_TYPES as readonly string[]).includes(given)) return given as TestType;
  throw invalidArgument(`test_type ${JSON.stringify(given)} is not a comprehension test type; use "short_answer" or "multiple_choice"`);
}
