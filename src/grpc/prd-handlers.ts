// ParsePRD, GenerateTasksFromPRD and OrchestrateTask: translate the wire messages and call src/prd.
import type { GenerateTasksFromPRDRequest__Output } from '../generated/rigger/v1/GenerateTasksFromPRDRequest';
import type { GenerateTasksFromPRDResponse } from '../generated/rigger/v1/GenerateTasksFromPRDResponse';
import type { OrchestrateTaskRequest__Output } from '../generated/rigger/v1/OrchestrateTaskRequest';
import type { OrchestrateTaskResponse } from '../generated/rigger/v1/OrchestrateTaskResponse';
import type { ParsePRDRequest__Output } from '../generated/rigger/v1/ParsePRDRequest';
import type { ParsePRDResponse } from '../generated/rigger/v1/ParsePRDResponse';
import { invalidArgument } from '../model/errors';
import type { PrdConfig } from '../prd/config';
import { generateTasks } from '../prd/generation';
import { orchestrateTask, type OrchestrationOutcome } from '../prd/orchestration';
import { readPrdFile, resolvePrd, storePrd, type LoadedPrd } from '../prd/prd-library';
import { parseTestType } from '../prd/providers/provider';
import { selectProvider } from '../prd/providers/select';
import { actorOf, unary, type ServiceContext } from './context';
import { nameOf, prdReferenceOf, requireTaskId } from './requests';

export function prdHandlers(context: ServiceContext, config: PrdConfig) {
  const { tasks } = context.store;
  return {
    ParsePRD: unary<ParsePRDRequest__Output, ParsePRDResponse>(context, async (request, call) => {
      const prd = readPrdFile(context.projectDir, prdReferenceOf(request.prd_file_path, 'prd_file_path'));
      await storePrd(tasks, prd, actorOf(call));
      return parsedPrdResponse(prd);
    }),

    GenerateTasksFromPRD: unary<GenerateTasksFromPRDRequest__Output, GenerateTasksFromPRDResponse>(context, async (request, call) => {
      const idOrPath = prdReferenceOf(request.prd_id, 'prd_id').trim();
      if (idOrPath === '') throw invalidArgument('prd_id must not be empty; give a stored PRD id (from ParsePRD) or a PRD file path');
      const provider = selectProvider(nameOf(request.model, 'model'), config);
      const prd = resolvePrd(tasks, context.projectDir, idOrPath);
      const result = await generateTasks(tasks, provider, prd, actorOf(call), cancellationOf(call));
      return { tasks: result.tasks, tasks_generated: result.created };
    }),

    OrchestrateTask: unary<OrchestrateTaskRequest__Output, OrchestrateTaskResponse>(context, async (request, call) => {
      const taskId = requireTaskId(request.task_id);
      const testType = parseTestType(nameOf(request.test_type, 'test_type'));
      const provider = selectProvider(nameOf(request.model, 'model'), config);
      const outcome = await orchestrateTask(tasks, provider, taskId, testType, actorOf(call), cancellationOf(call));
      return { task: outcome.task, result: orchestrationResult(outcome) };
    }),
  };
}

/** Aborted when the client cancels, its deadline passes, or the server shuts the call down. */
function cancellationOf(call: { on(event: 'cancelled', listener: () => void): unknown }): AbortSignal {
  const controller = new AbortController();
  call.on('cancelled', () => controller.abort());
  return controller.signal;
}

export function parsedPrdResponse(prd: LoadedPrd): ParsePRDResponse {
  const texts = (items: { text: string }[]) => items.map((item) => item.text);
  return {
    prd_id: prd.id,
    prd_title: prd.parsed.title,
    objectives: texts(prd.parsed.objectives),
    tech_stack: texts(prd.parsed.tech_stack),
    constraints: texts(prd.parsed.constraints),
  };
}

function orchestrationResult(outcome: OrchestrationOutcome): OrchestrateTaskResponse['result'] {
  const { enhancement: e, comprehension_test: t } = outcome;
  return {
    success: true,
    routing_decision: outcome.routing_decision,
    enhancement: { enhancement_id: e.enhancement_id, task_id: e.task_id, timestamp: e.timestamp, enhancement_type: e.enhancement_type, content: e.content },
    comprehension_test: {
      test_id: t.test_id,
      task_id: t.task_id,
      timestamp: t.timestamp,
      test_type: t.test_type,
      question: t.question,
      options: t.options,
      correct_answer: t.correct_answer,
    },
    subtasks: outcome.subtasks,
  };
}
