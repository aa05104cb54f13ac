#!/usr/bin/env bash
# build-weed-kafka.sh: print the path of a cached `weed` binary whose Kafka gateway runs on
# this checkout of offsetkit, building it first if the cache does not have it.
#
# It copies the pinned SeaweedFS module (the version scripts/build-weed.sh builds) to a work
# directory outside the clone, applies patches/*.patch in order, adds `require` lines for
# offsetkit, filerstore and franz-go with `replace` directives pointing at this checkout, and
# builds ./weed. The binary is cached under
# ${OFFSETKIT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/offsetkit}/weed-kafka-<key>/weed, beside
# the patched source tree (src/, where the tests run SeaweedFS's own unit tests), where
# <key> hashes the patches, this script and every offsetkit source file the binary compiles
# in, so an edit to any of them builds a new binary and a stale one is never used.
# A build takes 2.5 minutes with a warm Go build cache (7 cold) and about 3 GB of memory.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
V="${SEAWEEDFS_VERSION:-v0.0.0-20261109003541-7506e5f91cd6}"
CACHE="${OFFSETKIT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/offsetkit}"

# The cache key: the version, the patches, this script, and the offsetkit sources compiled
# into weed (the root module and filerstore, without tests, examples or weedtest).
key=$(
  cd "$root"
  {
    echo "$V"
    find "$here/patches" -name '*.patch' | sort | xargs cat
    cat "$here/build-weed-kafka.sh"
    find . filerstore -maxdepth 1 \( -name go.mod -o -name go.sum \) | sort | xargs cat
    find . -name '*.go' ! -name '*_test.go' ! -path './examples/*' ! -path './filerstore/weedtest/*' \
      ! -path './.git/*' | LC_ALL=C sort | while read -r f; do echo "$f"; cat "$f"; done
  } | sha256sum | cut -c1-16
)
OUT="$CACHE/weed-kafka-$key"
BIN="$OUT/weed"

if [ -x "$BIN" ] && "$BIN" version >/dev/null 2>&1; then
  echo "$BIN"
  exit 0
fi

mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9
if [ -x "$BIN" ] && "$BIN" version >/dev/null 2>&1; then
  echo "$BIN"
  exit 0
fi

echo "build-weed-kafka: building SeaweedFS $V with offsetkit's offset handling (key $key, ~3 min)..." >&2
DIR=$(go mod download -json "github.com/seaweedfs/seaweedfs@$V" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
if [ -z "$DIR" ]; then
  echo "build-weed-kafka: could not download github.com/seaweedfs/seaweedfs@$V" >&2
  exit 1
fi

SRC="$OUT/src"
rm -rf "$SRC"
cp -r "$DIR" "$SRC"
chmod -R u+w "$SRC"
git -C "$SRC" init -q # so that git apply takes paths relative to $SRC wherever the cache is
for p in "$here"/patches/*.patch; do
  if ! (cd "$SRC" && git apply --check "$p" 2>&1 >/dev/null); then
    echo "build-weed-kafka: $(basename "$p") does not apply to SeaweedFS $V" >&2
    (cd "$SRC" && git apply --check "$p") >&2 || true
    exit 1
  fi
  (cd "$SRC" && git apply "$p")
done
(
  cd "$SRC"
  go mod edit \
    -require=github.com/offsetkit/offsetkit@v0.0.0 \
    -require=github.com/offsetkit/offsetkit/filerstore@v0.0.0 \
    -require=github.com/twmb/franz-go@v1.22.3 \
    -replace=github.com/offsetkit/offsetkit="$root" \
    -replace=github.com/offsetkit/offsetkit/filerstore="$root/filerstore"
  TMP="$OUT/weed.tmp.$$"
  # -trimpath keeps the source directory out of the build cache's keys, so a rebuild after a
  # change recompiles only the packages that changed.
  GOFLAGS="-mod=mod -buildvcs=false -trimpath" go build -o "$TMP" ./weed
  mv -f "$TMP" "$BIN"
)
echo "$BIN"
