#!/usr/bin/env bash
# Property-based run of the hub's REST API from its own OpenAPI document (schemathesis).
#
# Builds `kubeworkz-hub`, starts `serve` on a fresh SQLite database in a temp dir (admin from
# env, per-token limit off so the run is not throttled into 429s), logs in and creates an admin
# API token, validates the OpenAPI document (openapi-spec-validator), then runs schemathesis
# against every operation with the bearer token and fails on any 5xx, any response that breaks
# its documented schema or status codes, or a content type that is not the documented one.
# The Python tools are pinned and installed once into a venv under ~/.cache (CI reuses it).
#
# Knobs: SCHEMATHESIS_MAX_EXAMPLES (per operation and round, default 30), SCHEMATHESIS_SEED (a
# fixed default, so a CI failure reproduces; fuzzing repeats until its 150 s budget is spent).
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
SPEC_VALIDATOR_VERSION=0.8.4
log() { printf '\n==> %s\n' "$*" >&2; }

# --- tools ----------------------------------------------------------------------------------
venv="${XDG_CACHE_HOME:-$HOME/.cache}/kubeworkz/schemathesis-$SCHEMATHESIS_VERSION"
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  log "installing schemathesis $SCHEMATHESIS_VERSION into $venv"
  rm -rf "$venv"
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    # Debian's python3 lacks venv (ensurepip) until python3-venv is installed.
    [ "$(id -u)" = 0 ] || { echo "python3 -m venv fails: install python3-venv" >&2; exit 1; }
    log "installing python3-venv from Debian's packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
    rm -rf "$venv"
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "schemathesis==$SCHEMATHESIS_VERSION" "openapi-spec-validator==$SPEC_VALIDATOR_VERSION"
fi

log "building kubeworkz-hub"
cargo build --quiet --locked -p kubeworkz-hub --bin kubeworkz-hub
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
hub_bin="$target_dir/debug/kubeworkz-hub"

# --- a hub on a fresh database ----------------------------------------------------------------
work=$(mktemp -d)
hub_pid=
cleanup() {
  if [ -n "$hub_pid" ]; then
    kill "$hub_pid" 2>/dev/null || true
    wait "$hub_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

admin_email=schemathesis@example.com
admin_password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
log "starting the hub on a fresh SQLite database"
# Port 0 for both listeners: the hub binds them itself and logs where it listens.
KUBEWORKZ_ADMIN_EMAIL=$admin_email KUBEWORKZ_ADMIN_PASSWORD=$admin_password \
  KUBEWORKZ_DATABASE_URL="sqlite://$work/hub.db" KUBEWORKZ_LISTEN=127.0.0.1:0 \
  KUBEWORKZ_QUIC_LISTEN=127.0.0.1:0 KUBEWORKZ_MASTER_KEY_FILE="$work/master.key" \
  KUBEWORKZ_API_RATE_LIMIT_PER_MINUTE=0 KUBEWORKZ_LOG_JSON=true RUST_LOG=info \
  "$hub_bin" serve >"$work/hub.out" 2>"$work/hub.log" &
hub_pid=$!
base=
for _ in $(seq 1 300); do
  base=$(python3 - "$work/hub.log" <<'EOF'
import json, sys
for line in open(sys.argv[1], errors="replace"):
    try:
        event = json.loads(line)
    except ValueError:
        continue
    fields = event.get("fields", event)
    if fields.get("message") == "kubeworkz hub listening":
        print("http://" + fields["listen"])
        break
EOF
)
  [ -n "$base" ] && break
  kill -0 "$hub_pid" 2>/dev/null || { cat "$work/hub.log" >&2; echo "the hub failed to start" >&2; exit 1; }
  sleep 0.1
done
[ -n "$base" ] || { cat "$work/hub.log" >&2; echo "the hub did not report its address" >&2; exit 1; }
log "hub at $base"

# --- an admin API token: login, then POST /auth/tokens with the CSRF header -----------------
token=$(python3 - "$base" "$admin_email" "$admin_password" <<'EOF'
import http.cookiejar, json, sys, urllib.request
base, email, password = sys.argv[1:4]
jar = http.cookiejar.CookieJar()
opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
def post(path, body, headers=None):
    request = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", **(headers or {})})
    with opener.open(request) as response:
        return json.load(response)
post("/api/v1/auth/login", {"email": email, "password": password})
csrf = next(c.value for c in jar if c.name == "csrf_token")
created = post("/api/v1/auth/tokens", {"name": "schemathesis", "role": "admin"},
               {"X-CSRF-Token": csrf})
print(created["token"])
EOF
)

# --- the document itself ---------------------------------------------------------------------
log "validating the OpenAPI document"
curl -fsS "$base/api/v1/docs/openapi.json" -o "$work/openapi.json"
"$venv/bin/openapi-spec-validator" "$work/openapi.json" 2>&1 | cut -c1-2000

# --- the property-based run ------------------------------------------------------------------
log "running schemathesis against every operation"
# From the temp dir: schemathesis keeps its state in ./.schemathesis, not for the repository.
# One worker: with two, hypothesis describes strategies' lambdas by parsing source from both
# threads at once, and CPython 3.11's parser keeps its recursion depth in shared state, so a
# run can die with "AST constructor recursion depth mismatch" (a SystemError, not a finding).
(cd "$work" && "$venv/bin/schemathesis" run "$base/api/v1/docs/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
  --phases examples,coverage,fuzzing \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-30}" \
  --seed "${SCHEMATHESIS_SEED:-20261126}" \
  --generation-database none \
  --request-timeout 10 \
  --max-time 150 \
  --workers 1 \
  --no-color \
  --warnings off)
# The hub must still be up: a panic that killed it would otherwise pass as connection errors.
kill -0 "$hub_pid" || { echo "the hub died during the run" >&2; exit 1; }
if grep -q 'panicked at' "$work/hub.log"; then
  grep -A3 'panicked at' "$work/hub.log" >&2
  echo "the hub panicked during the run" >&2
  exit 1
fi
log "schemathesis found no failures"
