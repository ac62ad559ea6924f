// The proto keeps the original wire contract (every RPC, field number, type and enum value of the
// original rigger.proto), so a client generated from it still works: additions only. Checked on
// the proto the server loads, without grpcurl.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadProto } from '../../src/protocol/proto';

// The original contract: `Message: name=number:type ...` (`?` optional, `*` repeated, `|` a oneof member; proto-loader names the map<string,string> entry `Metadata`).
const ORIGINAL_MESSAGES = `
Task: id=1:string title=2:string assignee=3:?string due_date=4:?string status=5:TaskStatus source_transcript_id=6:?string source_prd_id=7:?string parent_task_id=8:?string subtask_ids=9:*string created_at=10:string updated_at=11:string complexity=12:?uint32 reasoning=13:?string context_files=14:*string dependencies=15:*string
ListTasksRequest: status=1:?TaskStatus assignee=2:?string limit=3:?uint32 offset=4:?uint32
ListTasksResponse: tasks=1:*Task total_count=2:uint32
AddTaskRequest: title=1:string assignee=2:?string due_date=3:?string source_prd_id=4:?string parent_task_id=5:?string
AddTaskResponse: task=1:Task
UpdateTaskRequest: task_id=1:string status=2:?TaskStatus assignee=3:?string due_date=4:?string
UpdateTaskResponse: task=1:Task
GetTaskRequest: task_id=1:string
GetTaskResponse: task=1:Task
DeleteTaskRequest: task_id=1:string
DeleteTaskResponse: success=1:bool
ParsePRDRequest: prd_file_path=1:string
ParsePRDResponse: prd_id=1:string prd_title=2:string objectives=3:*string tech_stack=4:*string constraints=5:*string
GenerateTasksFromPRDRequest: prd_id=1:string model=2:string
GenerateTasksFromPRDResponse: tasks=1:*Task tasks_generated=2:uint32
OrchestrateTaskRequest: task_id=1:string model=2:string test_type=3:string
OrchestrateTaskResponse: task=1:Task result=2:OrchestrationResult
OrchestrationResult: success=1:bool routing_decision=2:string enhancement=3:?Enhancement comprehension_test=4:?ComprehensionTest subtasks=5:*Task
Enhancement: enhancement_id=1:string task_id=2:string timestamp=3:string enhancement_type=4:string content=5:string
ComprehensionTest: test_id=1:string task_id=2:string timestamp=3:string test_type=4:string question=5:string options=6:*string correct_answer=7:string
SubscribeToTaskEventsRequest: event_types=1:*TaskEventType assignee_filter=2:?string
TaskEventStreamRequest: subscribe=1:|SubscribeToTaskEventsRequest update=2:|TaskUpdate
TaskUpdate: task_id=1:string status=2:?TaskStatus assignee=3:?string
TaskEvent: event_id=1:string timestamp=2:string event_type=3:TaskEventType task=4:Task actor=5:?string metadata=6:*Metadata
`;

const ORIGINAL_RPCS = [
  ['ListTasks', 'ListTasksRequest', 'ListTasksResponse', false, false],
  ['AddTask', 'AddTaskRequest', 'AddTaskResponse', false, false],
  ['UpdateTask', 'UpdateTaskRequest', 'UpdateTaskResponse', false, false],
  ['GetTask', 'GetTaskRequest', 'GetTaskResponse', false, false],
  ['DeleteTask', 'DeleteTaskRequest', 'DeleteTaskResponse', false, false],
  ['ParsePRD', 'ParsePRDRequest', 'ParsePRDResponse', false, false],
  ['GenerateTasksFromPRD', 'GenerateTasksFromPRDRequest', 'GenerateTasksFromPRDResponse', false, false],
  ['OrchestrateTask', 'OrchestrateTaskRequest', 'OrchestrateTaskResponse', false, false],
  ['SubscribeToTaskEvents', 'SubscribeToTaskEventsRequest', 'TaskEvent', false, true],
  ['TaskEventStream', 'TaskEventStreamRequest', 'TaskEvent', true, true],
] as const;

const ORIGINAL_ENUMS: Record<string, string[]> = {
  TaskStatus: [
    'UNSPECIFIED',
    'TODO',
    'IN_PROGRESS',
    'PENDING_ENHANCEMENT',
    'PENDING_COMPREHENSION_TEST',
    'PENDING_FOLLOW_ON',
    'PENDING_DECOMPOSITION',
    'DECOMPOSED',
    'ORCHESTRATION_COMPLETE',
    'COMPLETED',
    'ARCHIVED',
  ].map((n) => `TASK_STATUS_${n}`),
  TaskEventType: ['UNSPECIFIED', 'CREATED', 'UPDATED', 'DELETED', 'STATUS_CHANGED', 'ASSIGNED', 'DECOMPOSED', 'ORCHESTRATED'].map(
    (n) => `TASK_EVENT_TYPE_${n}`,
  ),
};

interface Field {
  name: string;
  number: number;
  type: string;
  label: string;
  typeName: string;
  oneofIndex?: number;
  proto3Optional?: boolean;
}

const definition = loadProto().definition as unknown as Record<string, any>;

test('every original message field keeps its number, type and label', () => {
  for (const line of ORIGINAL_MESSAGES.trim().split('\n')) {
    const [message, spec] = line.split(': ') as [string, string];
    const fields: Field[] = definition[`rigger.v1.${message}`]?.type?.field;
    assert.ok(fields, `message ${message} exists`);
    for (const entry of spec.split(' ')) {
      const [, name, number, kind, type] = /^(\w+)=(\d+):([?*|]?)(\w+)$/.exec(entry)!;
      const field = fields.find((f) => f.name === name);
      assert.ok(field, `${message}.${name} exists`);
      assert.equal(field.number, Number(number), `${message}.${name} number`);
      const actualType = field.type === 'TYPE_MESSAGE' || field.type === 'TYPE_ENUM' ? field.typeName.replace(/^.*\./, '') : field.type.slice(5).toLowerCase();
      assert.equal(actualType, type, `${message}.${name} type`);
      assert.equal(field.label === 'LABEL_REPEATED', kind === '*', `${message}.${name} repeated`);
      if (kind === '|') assert.notEqual(field.oneofIndex, undefined, `${message}.${name} in its oneof`);
    }
  }
});

test('every original RPC keeps its request, response and streaming kind', () => {
  const service = definition['rigger.v1.RiggerService'];
  for (const [rpc, request, response, clientStream, serverStream] of ORIGINAL_RPCS) {
    const method = service[rpc];
    assert.ok(method, `${rpc} exists`);
    assert.equal(method.requestType.type.name, request);
    assert.equal(method.responseType.type.name, response);
    assert.equal(method.requestStream, clientStream, `${rpc} client streaming`);
    assert.equal(method.responseStream, serverStream, `${rpc} server streaming`);
  }
  assert.equal(service.WriteTasks?.requestStream, true, 'the added WriteTasks is bidirectional');
  assert.equal(service.WriteTasks?.responseStream, true);
});

test('every original enum value keeps its number', () => {
  for (const [name, values] of Object.entries(ORIGINAL_ENUMS)) {
    const actual: { name: string; number: number }[] = definition[`rigger.v1.${name}`].type.value;
    values.forEach((value, number) => assert.equal(actual.find((v) => v.name === value)?.number, number, `${name}.${value}`));
  }
});
