#!/usr/bin/env bash
# Builds kube-state-metrics from its published Go module (k8s.io/kube-state-metrics/v2, through
# the Go module proxy) for the agent's scale bench, which runs it beside the agent on the same
# test cluster to compare their memory. Bench tooling only: CI and the tests never call this.
#
# Usage:
#   ksm.sh               build if needed; the last line of stdout is the binary's path
#   ksm.sh --print-bin   the same, but stdout is only the binary's path
#
# Output: ${KUBEWORKZ_KSM_CACHE:-$HOME/.cache/kubeworkz/ksm}/<version>/kube-state-metrics (a
# complete build returns at once; a flock serialises concurrent callers). It deliberately lives
# outside this directory's Go modules, so build.sh's cache key (every go.mod here) is unchanged.
#
# Checksums: the module's own go.sum pins every dependency (`go install pkg@version` checks
# them). The checksum database, read through the proxy, has no entry for kube-state-metrics
# itself (404), so that one module is exempted from it (GONOSUMDB) and its zip is checked here
# against KSM_SUM instead, the h1 hash the proxy served when this script was written.
set -euo pipefail

KSM_VERSION=v2.16.0
KSM_SUM='h1:9odhnjtWSngkq/6Maw9m0Fi9dH8DM4M/lQw/XCspAqk='
KSM_MODULE=k8s.io/kube-state-metrics/v2

mode=build
case "${1:-}" in
  "") ;;
  --print-bin) mode=print ;;
  *) echo "usage: $0 [--print-bin]" >&2; exit 2 ;;
esac

log() { echo "[ksm] $*" >&2; }

for tool in go flock; do
  command -v "$tool" >/dev/null || { log "missing required tool: $tool"; exit 1; }
done

out=${KUBEWORKZ_KSM_CACHE:-$HOME/.cache/kubeworkz/ksm}/$KSM_VERSION
binary=$out/kube-state-metrics
mkdir -p "$out"

finish() {
  if [[ $mode == build ]]; then log "kube-state-metrics $KSM_VERSION: $binary"; fi
  echo "$binary"
}

if [[ -x $binary ]]; then finish; exit 0; fi

exec 9>"$out/.lock"
flock 9
if [[ -x $binary ]]; then finish; exit 0; fi

export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
export GONOSUMDB=$KSM_MODULE
info=$(go mod download -json "$KSM_MODULE@$KSM_VERSION")
field() { sed -n "s/^\t\"$1\": \"\(.*\)\",\?$/\1/p" <<<"$info"; }
sum=$(field Sum)
if [[ $sum != "$KSM_SUM" ]]; then
  log "$KSM_MODULE@$KSM_VERSION has checksum '${sum:-none}', expected $KSM_SUM: not building it"
  exit 1
fi
# Built in the downloaded module as the main module (its go.sum read-only), as its Makefile
# does: `go install pkg@version` would first ask the proxy for the module's version list,
# which the proxy refuses (403) for this module.
log "building $KSM_MODULE@$KSM_VERSION (a few minutes on a cold Go cache)"
version_pkg=github.com/prometheus/common/version
(cd "$(field Dir)" && GOFLAGS="$GOFLAGS -mod=readonly" go build -trimpath -o "$binary.tmp" \
  -ldflags "-s -w -X $version_pkg.Version=$KSM_VERSION -X $version_pkg.Branch=release-${KSM_VERSION%.*}" .)
mv "$binary.tmp" "$binary"
finish
