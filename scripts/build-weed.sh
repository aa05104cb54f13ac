#!/usr/bin/env bash
# build-weed.sh: print the path of a cached `weed` binary for the pinned SeaweedFS version,
# building it first if the cache does not have it. The binary lives outside the clone, under
# ${OFFSETKIT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/offsetkit}/weed-<version>/weed.
# A cold build takes about 6 minutes and 3 GB of memory on 2 cores; warm runs return at once.
set -euo pipefail

V="${SEAWEEDFS_VERSION:-v0.0.0-20261109003541-7506e5f91cd6}"
CACHE="${OFFSETKIT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/offsetkit}"
OUT="$CACHE/weed-$V"
BIN="$OUT/weed"

if [ -x "$BIN" ] && "$BIN" version >/dev/null 2>&1; then
  echo "$BIN"
  exit 0
fi

mkdir -p "$OUT"
LOCK="$OUT/.lock"
exec 9>"$LOCK"
flock 9
if [ -x "$BIN" ] && "$BIN" version >/dev/null 2>&1; then
  echo "$BIN"
  exit 0
fi

echo "build-weed: building SeaweedFS $V (first run only, ~6 min)..." >&2
DIR=$(go mod download -json "github.com/seaweedfs/seaweedfs@$V" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
if [ -z "$DIR" ]; then
  echo "build-weed: could not download github.com/seaweedfs/seaweedfs@$V" >&2
  exit 1
fi
TMP="$OUT/weed.tmp.$$"
(cd "$DIR" && GOFLAGS=-buildvcs=false go build -o "$TMP" ./weed)
mv -f "$TMP" "$BIN"
echo "$BIN"
