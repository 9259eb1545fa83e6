#!/usr/bin/env bash
# Builds the binaries behind the integration-test clusters (kubeworkz_testkit::cluster) from
# published Go modules: kube-apiserver, kube-controller-manager and kube-scheduler
# (k8s.io/kubernetes), etcd (go.etcd.io/etcd/server/v3), kwok (sigs.k8s.io/kwok) and
# metrics-server (sigs.k8s.io/metrics-server), and helm (helm.sh/helm/v3, for linting and
# rendering the charts under manifests/). Each lives in its own Go module below this
# directory, because their k8s.io library pins differ. Test tooling only, not part of the product.
#
# Usage:
#   build.sh                           build if needed; the last line of stdout is the bin dir
#   build.sh --print-bin-dir           the same, but stdout is only the bin dir
#   build.sh --apiserver-version V     build if needed, plus a kube-apiserver that reports
#                                      gitVersion V (e.g. v1.36.3-eks-4f2a1c9); stdout is only
#                                      that binary's path
#
# Output goes to ${KUBEWORKZ_TOOLS_CACHE:-$HOME/.cache/kubeworkz/kube-tools}/<key>/, where <key>
# is a hash of this script and every go.mod/go.sum/*.go here, so a changed pin builds anew and
# an unchanged one returns at once. Concurrent callers serialise on a flock.
#
# The bin dir also holds kwok-manifests/: kwok's CRDs, stages and resource-metrics config,
# copied from the exact kwok module version that was built, for the Rust helper to load.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

mode=build
apiserver_version=
case "${1:-}" in
  "") ;;
  --print-bin-dir) mode=print ;;
  --apiserver-version)
    mode=variant
    apiserver_version=${2:?--apiserver-version needs a version}
    ;;
  *) echo "usage: $0 [--print-bin-dir | --apiserver-version VERSION]" >&2; exit 2 ;;
esac

# The release these binaries are. Keep in step with kubernetes/go.mod and k8s-openapi's v1_XX.
KUBE_VERSION=v1.36.3
# The commit time of k8s.io/kubernetes@v1.36.3 on the module proxy: a fixed build date keeps
# builds reproducible (and the Go build cache warm).
KUBE_BUILD_DATE=2026-07-22T18:07:38Z
ETCD_VERSION=v3.6.16
KWOK_VERSION=v0.8.0
METRICS_SERVER_VERSION=v0.9.0
HELM_VERSION=v3.22.0

log() { echo "[kube-tools] $*" >&2; }

for tool in go flock sha256sum; do
  command -v "$tool" >/dev/null || { log "missing required tool: $tool"; exit 1; }
done

key=$(cd "$here" && {
  cat build.sh
  find . -name go.mod -o -name go.sum -o -name '*.go' | LC_ALL=C sort | while read -r f; do
    echo "== $f"; cat "$f"
  done
} | sha256sum | cut -c1-16)

cache_root=${KUBEWORKZ_TOOLS_CACHE:-$HOME/.cache/kubeworkz/kube-tools}
out=$cache_root/$key
bin=$out/bin
mkdir -p "$cache_root"

export CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=readonly"
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}
# Packages compiled at once per `go build` (two run side by side in a cold build).
jobs=${KUBEWORKZ_GO_JOBS:-$(nproc 2>/dev/null || echo 2)}

kube_ldflags() { # $1 = gitVersion
  local v=$1 major minor pkg flags="-s -w"
  major=${v#v}; major=${major%%.*}
  minor=${v#v}; minor=${minor#*.}; minor=${minor%%.*}
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$KUBE_BUILD_DATE"
  done
  echo "$flags"
}

go_build() { # $1 = module dir, rest = go build args
  local dir=$1; shift
  (cd "$here/$dir" && go build -p "$jobs" -trimpath "$@")
}

complete() {
  local b
  for b in etcd kube-apiserver kube-controller-manager kube-scheduler kwok metrics-server helm; do
    [[ -x $bin/$b ]] || return 1
  done
  [[ -f $out/.complete ]]
}

build_all() {
  local start=$SECONDS
  rm -rf "$bin.tmp" && mkdir -p "$bin.tmp"
  log "building into $out (first time for this pin set; later runs are instant)"

  # Fetch every module first, all four modules at once: the network waits overlap, and the
  # builds after it are pure CPU.
  log "downloading modules"
  local pids=() d
  for d in etcd kubernetes kwok metrics-server helm; do
    # etcd has its own main package; the others name theirs with go.mod `tool` directives.
    local pattern=tool
    [[ $d == etcd ]] && pattern=.
    (cd "$here/$d" && go list -deps -test=false "$pattern" >/dev/null) & pids+=($!)
  done
  for d in "${pids[@]}"; do wait "$d"; done

  # Two lanes: the Kubernetes binaries, and the rest. Each compiles $jobs packages at a time;
  # together they keep both cores busy through each other's link steps.
  (
    log "kube-apiserver, kube-controller-manager, kube-scheduler $KUBE_VERSION"
    go_build kubernetes -ldflags "$(kube_ldflags "$KUBE_VERSION")" -o "$bin.tmp/" \
      k8s.io/kubernetes/cmd/kube-apiserver \
      k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler
  ) & local lane1=$!
  (
    log "etcd $ETCD_VERSION"
    go_build etcd -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION" \
      -o "$bin.tmp/etcd" .
    log "kwok $KWOK_VERSION"
    go_build kwok -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v} -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=$KUBE_VERSION" \
      -o "$bin.tmp/kwok" sigs.k8s.io/kwok/cmd/kwok
    log "metrics-server $METRICS_SERVER_VERSION"
    go_build metrics-server -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$METRICS_SERVER_VERSION -X k8s.io/client-go/pkg/version.gitVersion=$METRICS_SERVER_VERSION" \
      -o "$bin.tmp/metrics-server" sigs.k8s.io/metrics-server/cmd/metrics-server
    log "helm $HELM_VERSION"
    go_build helm -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
      -o "$bin.tmp/helm" helm.sh/helm/v3/cmd/helm
  ) & local lane2=$!
  local rc=0
  wait "$lane1" || rc=$?
  wait "$lane2" || rc=$?
  [[ $rc == 0 ]] || { log "build failed"; exit "$rc"; }

  # kwok's own manifests, from the very module version built above.
  local kwok_dir m="$bin.tmp/kwok-manifests"
  kwok_dir=$(cd "$here/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
  mkdir -p "$m/crds" "$m/stages"
  cp "$kwok_dir"/kustomize/crd/bases/*.yaml "$m/crds/"
  cp "$kwok_dir"/kustomize/stage/node/fast/node-initialize.yaml \
     "$kwok_dir"/kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
     "$kwok_dir"/kustomize/stage/node/chaos/node-not-ready.yaml \
     "$kwok_dir"/kustomize/stage/pod/fast/pod-ready.yaml \
     "$kwok_dir"/kustomize/stage/pod/fast/pod-complete.yaml \
     "$kwok_dir"/kustomize/stage/pod/fast/pod-delete.yaml \
     "$m/stages/"
  cp "$kwok_dir"/kustomize/metrics/resource/metrics-resource.yaml "$m/"
  cp "$kwok_dir"/kustomize/metrics/usage/usage-from-annotation.yaml "$m/"
  chmod -R u+w "$m"

  rm -rf "$bin" && mv "$bin.tmp" "$bin"
  touch "$out/.complete"
  log "built in $((SECONDS - start))s"
}

build_variant() { # $1 = gitVersion; prints the binary's path
  local v=$1
  if ! [[ $v =~ ^v[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]*)?$ ]]; then
    log "not a Kubernetes version: $v"; exit 2
  fi
  local dir=$out/variants/$v
  if [[ ! -x $dir/kube-apiserver ]]; then
    local start=$SECONDS
    log "kube-apiserver reporting $v (a relink when the Go build cache is warm)"
    mkdir -p "$dir"
    go_build kubernetes -ldflags "$(kube_ldflags "$v")" -o "$dir/kube-apiserver.tmp" \
      k8s.io/kubernetes/cmd/kube-apiserver
    mv "$dir/kube-apiserver.tmp" "$dir/kube-apiserver"
    log "built in $((SECONDS - start))s"
  fi
  echo "$dir/kube-apiserver"
}

exec 9>"$cache_root/.lock-$key"
flock 9
complete || build_all
case $mode in
  build)
    echo "$bin"
    ;;
  print) echo "$bin" ;;
  variant)
    if [[ $apiserver_version == "$KUBE_VERSION" ]]; then
      echo "$bin/kube-apiserver"
    else
      build_variant "$apiserver_version"
    fi
    ;;
esac
