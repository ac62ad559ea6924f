#!/usr/bin/env bash
# The wire contract's grpcurl commands (docs/api.md), against `rig grpc` on localhost:50051,
# through server reflection (no .proto needed). The only change: UpdateTask gets the id of the task
# AddTask just made instead of the literal <id>. The subscription runs last; Ctrl-C ends it.
set -euo pipefail

grpcurl -plaintext localhost:50051 list

added=$(grpcurl -plaintext -d '{"title": "Implement OAuth2 authentication", "assignee": "Alice", "due_date": "2025-12-31"}' localhost:50051 rigger.v1.RiggerService/AddTask)
echo "$added"
id=$(printf '%s\n' "$added" | sed -n 's/^ *"id": "\([^"]*\)".*/\1/p' | head -n 1)

grpcurl -plaintext localhost:50051 rigger.v1.RiggerService/ListTasks
grpcurl -plaintext -d '{"task_id": "'"$id"'", "status": 2}' localhost:50051 rigger.v1.RiggerService/UpdateTask
grpcurl -plaintext -d '{"status": 1, "assignee": "Alice", "limit": 10, "offset": 0}' localhost:50051 rigger.v1.RiggerService/ListTasks
grpcurl -plaintext -d '{"prd_file_path": "./docs/PRD.md"}' localhost:50051 rigger.v1.RiggerService/ParsePRD ||
  echo "(ParsePRD reads ./docs/PRD.md inside the server's project; create one to try it)" >&2
grpcurl -plaintext -d '{"event_types": [1, 2, 3], "assignee_filter": "Alice"}' localhost:50051 rigger.v1.RiggerService/SubscribeToTaskEvents
