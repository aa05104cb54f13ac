#!/usr/bin/env bash
# test.sh: run every test of every offsetkit module, the way CI does, on a fresh machine.
#
# It downloads the Go modules, builds (or reuses) a cached SeaweedFS `weed` binary outside the
# clone, and another whose Kafka gateway runs on this checkout (examples/seaweedfs), checks
# formatting and vet, and runs `go test -race` in each module. Tests that need a filer start a
# real `weed` on free loopback ports in a temp dir and stop it themselves; they find the
# binaries through OFFSETKIT_WEED and OFFSETKIT_WEED_KAFKA, which this script sets.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

modules=()
for m in . filerstore examples; do
  [ -f "$m/go.mod" ] && modules+=("$m")
done

echo "==> C compiler"
# The race detector and confluent-kafka-go (librdkafka, linked statically from its module)
# need cgo and a C compiler.
if ! command -v gcc >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq gcc libc6-dev
  else
    echo "gcc is required (cgo): install a C compiler" >&2; exit 1
  fi
fi
export CGO_ENABLED=1

echo "==> go mod download"
for m in "${modules[@]}"; do (cd "$m" && go mod download); done

echo "==> weed binary"
OFFSETKIT_WEED=$("$root/scripts/build-weed.sh")
export OFFSETKIT_WEED
echo "    $OFFSETKIT_WEED"

echo "==> patched weed (SeaweedFS's Kafka gateway on offsetkit, examples/seaweedfs)"
OFFSETKIT_WEED_KAFKA=$("$root/examples/seaweedfs/build-weed-kafka.sh")
export OFFSETKIT_WEED_KAFKA
echo "    $OFFSETKIT_WEED_KAFKA"

echo "==> gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt needed:"; echo "$unformatted"; exit 1
fi

for m in "${modules[@]}"; do
  echo "==> go vet ($m)"
  (cd "$m" && go vet ./...)
  echo "==> go test -race ($m)"
  (cd "$m" && go test -race -count=1 -timeout 20m ./...)
done
echo "==> all tests passed"
