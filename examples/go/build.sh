#!/bin/sh
# Builds the Go example client: generates the Go code for proto/rigger/v1/rigger.proto with
# protoc --go_out --go-grpc_out (never committed), then `go build`s examples/go/main.go against it.
# Usage: examples/go/build.sh [OUT_DIR]   (default examples/go/build/, git-ignored); the binary is
# OUT_DIR/rigger-go-client.
#
# Offline, on Debian 12's packages (golang-go 1.19, golang-google-grpc-dev 1.33,
# golang-google-protobuf-dev 1.28, golang-github-golang-protobuf-1-5-dev, protoc-gen-go,
# protoc-gen-go-grpc, protobuf-compiler): their Go sources live in /usr/share/gocode/src without
# go.mod files, so the build runs in GOPATH mode (GO111MODULE=off) with GOPATH = the generated code,
# then /usr/share/gocode (or $GOCODE). Nothing is downloaded (GOPROXY=off).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
proto_dir="$here/../../proto"
out=${1:-$here/build}

missing=""
for tool in go protoc protoc-gen-go protoc-gen-go-grpc; do
  command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
if [ -n "$missing" ]; then
  echo "build.sh: missing$missing; on Debian: apt-get install golang-go golang-google-grpc-dev golang-google-protobuf-dev golang-github-golang-protobuf-1-5-dev protoc-gen-go protoc-gen-go-grpc protobuf-compiler" >&2
  exit 1
fi

gocode=${GOCODE:-/usr/share/gocode}
# grpc-go decodes through github.com/golang/protobuf: version 1.3 (golang-github-golang-protobuf-1-3-dev,
# which golang-google-grpc-dev pulls in by default) predates the generated code of protoc-gen-go 1.28
# and panics on the first response ("protobuf tag not enough fields"); 1.4 and later bridge to it.
if [ -e "$gocode/src/github.com/golang/protobuf/proto/table_unmarshal.go" ]; then
  echo "build.sh: $gocode has github.com/golang/protobuf 1.3, which cannot decode protoc-gen-go 1.28 messages; apt-get install golang-github-golang-protobuf-1-5-dev" >&2
  exit 1
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
gopath="$out/gopath"
rm -rf "$gopath"
mkdir -p "$gopath/src"
# paths=import: the files land under the proto's go_package, rigger.dev/gen/go/rigger/v1.
protoc -I "$proto_dir" --go_out="$gopath/src" --go-grpc_out="$gopath/src" rigger/v1/rigger.proto

GO111MODULE=off GOPROXY=off GOFLAGS='' GOPATH="$gopath:$gocode" GOCACHE="${GOCACHE:-$out/cache}" \
  go build -o "$out/rigger-go-client" "$here/main.go"
echo "built $out/rigger-go-client"
