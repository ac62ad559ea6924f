#!/bin/sh
# Generates the Python gRPC stubs (rigger/v1/rigger_pb2.py and rigger_pb2_grpc.py) from the
# project's proto into examples/python/ (rigger/ there is git-ignored) or into the folder given as $1.
#
# With a recent grpcio-tools, `python3 -m grpc_tools.protoc` does it all. Debian's
# python3-grpc-tools (1.14) bundles a protoc too old for proto3 `optional` fields, so then the
# messages come from the system protoc (Debian protobuf-compiler, 3.15 or later) and grpc_tools
# only writes the service stub, from a descriptor set that protoc compiled.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
proto_dir="$here/../../proto"
out=${1:-$here}
PYTHON=${PYTHON:-/usr/bin/python3}

if "$PYTHON" -m grpc_tools.protoc -I "$proto_dir" --python_out="$out" --grpc_python_out="$out" rigger/v1/rigger.proto 2>/dev/null; then
  echo "stubs written to $out/rigger/v1/ (grpc_tools.protoc)"
  exit 0
fi

command -v protoc >/dev/null || { echo "need protoc 3.15+ (apt-get install protobuf-compiler) or a newer grpcio-tools" >&2; exit 1; }
descriptors=$(mktemp)
trap 'rm -f "$descriptors"' EXIT
protoc -I "$proto_dir" --include_imports --descriptor_set_out="$descriptors" rigger/v1/rigger.proto
protoc -I "$proto_dir" --python_out="$out" rigger/v1/rigger.proto
# Called through main() rather than `-m grpc_tools.protoc`, which adds an -I that cannot be
# combined with --descriptor_set_in.
"$PYTHON" - "$descriptors" "$out" <<'PY'
import sys
from grpc_tools import protoc
descriptors, out = sys.argv[1], sys.argv[2]
sys.exit(protoc.main(["protoc", f"--descriptor_set_in={descriptors}", f"--grpc_python_out={out}", "rigger/v1/rigger.proto"]))
PY
echo "stubs written to $out/rigger/v1/ (protoc + grpc_tools)"
