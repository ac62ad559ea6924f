#!/bin/sh
# The container's entrypoint: makes the project in the working directory (/data) with `rig init`
# on first start (no .rigger/config.json and no .rigger/tasks.db yet, e.g. an empty volume), then
# replaces itself with `rig "$@"` (default `rig grpc`), so rig is PID 1 and gets SIGTERM itself.
set -eu

app=${RIGGER_APP_DIR:-/app}
project=$(pwd)

if [ ! -e "$project/.rigger/config.json" ] && [ ! -e "$project/.rigger/tasks.db" ]; then
  node "$app/bin/rig.js" init -C "$project"
fi

exec node "$app/bin/rig.js" "$@"
