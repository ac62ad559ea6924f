#!/usr/bin/env bash
# The wire contract's grpcurl commands (docs/api.md), against a running `rig grpc`, through server
# reflection (no .proto needed). The only change: UpdateTask gets the id of the task AddTask just
# made instead of the literal <id>. The subscription runs last; Ctrl-C ends it.
#
#   RIGGER_ADDRESS  host:port of the server (default localhost:50051), as for rig's client commands
#   GRPCURL         the grpcurl to run (default: grpcurl on the PATH)
#   GRPCURL_FLAGS   how to connect (default -plaintext; for TLS e.g. "-cacert certs/ca.crt")
#   RIGGER_TOKEN    when set, sent as `authorization: Bearer <token>`
set -euo pipefail

grpcurl=${GRPCURL:-grpcurl}
address=${RIGGER_ADDRESS:-localhost:50051}
read -r -a flags <<<"${GRPCURL_FLAGS:--plaintext}"
if [ -n "${RIGGER_TOKEN:-}" ]; then flags+=(-H "authorization: Bearer $RIGGER_TOKEN"); fi

if ! command -v "$grpcurl" >/dev/null 2>&1; then
  echo "grpcurl.sh: $grpcurl is not installed (set GRPCURL to its path); without it, buf curl makes the same calls: node_modules/.bin/buf curl --protocol grpc --http2-prior-knowledge -d '{}' http://$address/rigger.v1.RiggerService/ListTasks" >&2
  exit 1
fi

call() { "$grpcurl" "${flags[@]}" "$@"; }

call "$address" list

added=$(call -d '{"title": "Implement OAuth2 authentication", "assignee": "Alice", "due_date": "2025-12-31"}' "$address" rigger.v1.RiggerService/AddTask)
echo "$added"
id=$(printf '%s\n' "$added" | sed -n 's/^ *"id": "\([^"]*\)".*/\1/p' | head -n 1)

call "$address" rigger.v1.RiggerService/ListTasks
call -d '{"task_id": "'"$id"'", "status": 2}' "$address" rigger.v1.RiggerService/UpdateTask
call -d '{"status": 1, "assignee": "Alice", "limit": 10, "offset": 0}' "$address" rigger.v1.RiggerService/ListTasks
call -d '{"prd_file_path": "./docs/PRD.md"}' "$address" rigger.v1.RiggerService/ParsePRD ||
  echo "(ParsePRD reads ./docs/PRD.md inside the server's project; create one to try it)" >&2
call -d '{"event_types": [1, 2, 3], "assignee_filter": "Alice"}' "$address" rigger.v1.RiggerService/SubscribeToTaskEvents
