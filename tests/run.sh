#!/usr/bin/env bash
# Runs every Kubeworkz test: the one test command named in README.md and called by .ci/run.
#
# On a fresh machine it installs what the tests need (PostgreSQL from Debian's packages when
# running as root, cargo-nextest from crates.io), builds the Kubernetes control plane from
# the Go modules under tests/kube-tools and the identity provider (Dex) under tests/idp-tools
# (both cached by go.sum), starts one throwaway PostgreSQL
# unless DATABASE_URL names one, and runs the whole workspace's tests with nextest.
# Extra arguments go to `cargo nextest run` (e.g. a filter expression).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*" >&2; }

# Installs a Debian package the tests need when running as root; otherwise says what is
# missing (`$2`) and stops.
apt_install() {
  if [ "$(id -u)" = 0 ]; then
    log "installing $1 from Debian's packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1" >/dev/null
  else
    echo "$2" >&2
    exit 1
  fi
}

# --- prerequisites ----------------------------------------------------------------------
if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && [ -z "${KUBEWORKZ_PG_BIN:-}" ] \
  && [ -z "${DATABASE_URL:-}" ]; then
  apt_install postgresql "PostgreSQL server binaries are missing: apt-get install postgresql, or set DATABASE_URL"
fi
# The image tests assemble OCI layouts with jq (tar, gzip and sha256sum are in every base).
if ! command -v jq >/dev/null 2>&1; then
  apt_install jq "jq is missing (the image tests write OCI manifests with it): apt-get install jq"
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  log "installing cargo-nextest from crates.io"
  cargo install cargo-nextest --locked --quiet
fi

# --- Kubernetes control plane (Go), cached by go.sum --------------------------------------
log "building the test control plane (tests/kube-tools)"
started=$SECONDS
KUBEWORKZ_KUBE_BIN=$(bash tests/kube-tools/build.sh --print-bin-dir)
export KUBEWORKZ_KUBE_BIN
log "control plane ready in $((SECONDS - started)) s: $KUBEWORKZ_KUBE_BIN"

# --- the single sign-on tests' identity provider (Dex, Go), cached by go.sum --------------
log "building the test identity provider (tests/idp-tools)"
started=$SECONDS
KUBEWORKZ_DEX_BIN=$(bash tests/idp-tools/build.sh --print-bin-dir)
export KUBEWORKZ_DEX_BIN
log "identity provider ready in $((SECONDS - started)) s: $KUBEWORKZ_DEX_BIN"

# --- Helm charts: lint and render with the real Helm (built above) ------------------------
log "linting and rendering manifests/charts"
helm="$KUBEWORKZ_KUBE_BIN/helm"
kube_version=1.36.3 # the test clusters' release; helm's own default is older
for chart in manifests/charts/kubeworkz-agent/; do
  "$helm" lint --strict "$chart" --kube-version "$kube_version" --set hub.address=hub.example.com:7443 --set token=kwt_lint
  for releases in true false; do
    "$helm" template kw "$chart" --kube-version "$kube_version" --namespace kubeworkz --set hub.address=hub.example.com:7443 \
      --set token=kwt_lint --set helm.releases.enabled=$releases >/dev/null
  done
  # Required values are enforced: rendering without them must fail.
  if "$helm" template kw "$chart" --kube-version "$kube_version" >/dev/null 2>&1; then
    echo "helm template of $chart succeeded without hub.address and token" >&2
    exit 1
  fi
done
# The hub chart: its values schema and templates; the real-cluster install and the schema's
# refusals are tests/tests/kube_hub_chart.rs.
hub_chart=manifests/charts/kubeworkz-hub
lint_key=$(head -c32 /dev/zero | base64) # any 32 bytes: nothing is sealed with it
"$helm" lint --strict "$hub_chart" --kube-version "$kube_version" --set masterKey.value="$lint_key"
"$helm" lint --strict "$hub_chart" --kube-version "$kube_version" --set masterKey.value="$lint_key" \
  --set replicaCount=3 --set database.backend=postgres --set database.url=postgres://kw@db/kw \
  --set ingress.enabled=true --set serviceMonitor.enabled=true

# --- PostgreSQL ---------------------------------------------------------------------------
if [ -z "${DATABASE_URL:-}" ]; then
  log "starting a throwaway PostgreSQL"
  cargo build --quiet -p kubeworkz-testkit --bin testkit-postgres
  target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
  pg_out=$(mktemp)
  # stdin from a fifo we hold open: when this script exits, the server sees EOF and stops.
  fifo=$(mktemp -u) && mkfifo "$fifo"
  "$target_dir/debug/testkit-postgres" <"$fifo" >"$pg_out" &
  pg_pid=$!
  exec 3>"$fifo"
  rm -f "$fifo"
  trap 'exec 3>&-; wait "$pg_pid" 2>/dev/null || true; rm -f "$pg_out"' EXIT
  for _ in $(seq 1 600); do
    grep -q '^DATABASE_URL=' "$pg_out" && break
    kill -0 "$pg_pid" 2>/dev/null || { echo "throwaway PostgreSQL failed to start" >&2; exit 1; }
    sleep 0.1
  done
  DATABASE_URL=$(sed -n 's/^DATABASE_URL=//p' "$pg_out")
  [ -n "$DATABASE_URL" ] || { echo "throwaway PostgreSQL did not report its URL" >&2; exit 1; }
  export DATABASE_URL
fi

# --- the API's OpenAPI document: the committed copy the UI's types come from is current ---
# (builds the hub binary, which the tests below need anyway)
log "OpenAPI document: hub/ui/openapi.json is what the hub serves"
served_doc=$(mktemp)
cargo run --quiet --locked -p kubeworkz-hub -- openapi >"$served_doc"
if ! cmp -s hub/ui/openapi.json "$served_doc"; then
  diff -u hub/ui/openapi.json "$served_doc" | head -n 60 >&2 || true
  rm -f "$served_doc"
  echo "hub/ui/openapi.json differs from the hub's document: run 'cargo run -p kubeworkz-hub -- openapi > hub/ui/openapi.json', then 'npm run build' in hub/ui, and commit both" >&2
  exit 1
fi
rm -f "$served_doc"

# --- web UI: Chromium for the browser test, component tests, committed build up to date ---
if ! command -v chromium >/dev/null 2>&1; then
  apt_install chromium "Chromium is missing (the UI's browser test needs it): apt-get install chromium"
fi
log "web UI: npm ci, vitest, build, and the committed API types and dist match the build"
(
  cd hub/ui
  npm ci --no-audit --no-fund --loglevel=error
  npx vitest run
  npm run build # regenerates src/lib/api-types.ts from openapi.json first
)
ui_built=(hub/ui/dist hub/ui/src/lib/api-types.ts)
if ! git diff --exit-code --stat -- "${ui_built[@]}" || [ -n "$(git status --porcelain -- "${ui_built[@]}")" ]; then
  echo "hub/ui/dist or hub/ui/src/lib/api-types.ts differs from a fresh build: run 'npm ci && npm run build' in hub/ui and commit both" >&2
  exit 1
fi

# --- tests --------------------------------------------------------------------------------
log "running the workspace tests"
cargo nextest run --workspace --locked --profile "${NEXTEST_PROFILE:-default}" "$@"

# --- the API from its OpenAPI document (schemathesis) ---------------------------------------
log "running schemathesis against a real hub"
bash tests/schemathesis.sh
