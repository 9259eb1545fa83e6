#!/usr/bin/env bash
# Builds the identity provider behind the single sign-on tests (kubeworkz_testkit::idp) from
# its published Go module: Dex (github.com/dexidp/dex/cmd/dex), pinned in dex/go.mod. Test
# tooling only, not part of the product. Kept apart from tests/kube-tools so that changing
# one pin set never rebuilds the other.
#
# Usage:
#   build.sh                  build if needed; the last line of stdout is the bin dir
#   build.sh --print-bin-dir  the same, but stdout is only the bin dir
#
# Output goes to ${KUBEWORKZ_IDP_TOOLS_CACHE:-$HOME/.cache/kubeworkz/idp-tools}/<key>/bin/dex,
# where <key> is a hash of this script and every go.mod/go.sum here, so a changed pin builds
# anew and an unchanged one returns at once. Concurrent callers serialise on a flock.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

case "${1:-}" in
  "" | --print-bin-dir) ;;
  *) echo "usage: $0 [--print-bin-dir]" >&2; exit 2 ;;
esac

# Dex v2.41.1: its module path has no /v2 suffix, so the release is pinned by its commit's
# pseudo-version in dex/go.mod.
DEX_RELEASE=v2.41.1

log() { echo "[idp-tools] $*" >&2; }

for tool in go cc flock sha256sum; do
  command -v "$tool" >/dev/null || { log "missing required tool: $tool"; exit 1; }
done

key=$(cd "$here" && {
  cat build.sh
  find . -name go.mod -o -name go.sum | LC_ALL=C sort | while read -r f; do
    echo "== $f"; cat "$f"
  done
} | sha256sum | cut -c1-16)

cache_root=${KUBEWORKZ_IDP_TOOLS_CACHE:-$HOME/.cache/kubeworkz/idp-tools}
out=$cache_root/$key
bin=$out/bin
mkdir -p "$cache_root"

# Dex's command names its SQLite storage, which needs cgo (a C compiler); the tests use its
# in-memory storage.
export CGO_ENABLED=1
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=readonly"
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}
jobs=${KUBEWORKZ_GO_JOBS:-$(nproc 2>/dev/null || echo 2)}

build() {
  local start=$SECONDS
  rm -rf "$bin.tmp" && mkdir -p "$bin.tmp"
  log "building Dex $DEX_RELEASE into $out (first time for this pin; later runs are instant)"
  (cd "$here/dex" && go build -p "$jobs" -trimpath \
    -ldflags "-s -w -X main.version=$DEX_RELEASE" \
    -o "$bin.tmp/dex" github.com/dexidp/dex/cmd/dex)
  rm -rf "$bin" && mv "$bin.tmp" "$bin"
  touch "$out/.complete"
  log "built in $((SECONDS - start))s"
}

exec 9>"$cache_root/.lock-$key"
flock 9
[[ -x $bin/dex && -f $out/.complete ]] || build
echo "$bin"
