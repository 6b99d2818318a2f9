#!/usr/bin/env bash
# test-fly-targets.sh - drives every make fly-* target with a recording stand-in for `fly` first on
# PATH and checks the exact command lines (each argument in brackets) and what reached its stdin.
# fly-deploy's probes go to a local HTTP responder started here (FLY_URL), once answering 200 on
# /v1/healthz and /v1/readyz and once 503 on /v1/readyz.
# Then runs tests/fly/test-dockerignore.py (the build context) and adds its counts.
# Prints "N passed, N failed"; exits non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")/../.."

tmp=$(mktemp -d)
responder_pid=""
cleanup() {
    [[ -z $responder_pid ]] || kill "$responder_pid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
mkdir "$tmp/bin"
cat >"$tmp/bin/fly" <<'STUB'
#!/usr/bin/env bash
# records one line per call: [arg1] [arg2] ...; stdin (when not a terminal) goes to stdin.log
line=""
for a in "$@"; do line+="[$a] "; done
echo "${line% }" >>"$FLY_LOG"
[[ -t 0 ]] || cat >>"$FLY_LOG.stdin"
[[ ${FLY_STUB_FAIL:-} == "$1" ]] && exit 1
exit 0
STUB
chmod +x "$tmp/bin/fly"
export FLY_LOG=$tmp/calls.log
export PATH=$tmp/bin:$PATH
# The app name and region come from the command line, never from fly.toml: unset any the caller has.
unset FLY_APP FLY_REGION FLY_URL FLY_SECRETS_INCLUDE_DB FLY_PG_APP FLY_MPG_CLUSTER

# A responder for fly-deploy's probes: /v1/healthz 200, /v1/readyz $READYZ_STATUS (from the file
# $tmp/readyz, so one server serves both variants), anything else 404. Prints its port.
echo 200 >"$tmp/readyz"
cat >"$tmp/responder.py" <<'PY'
import http.server, sys
status_file = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/v1/healthz":
            code = 200
        elif self.path == "/v1/readyz":
            with open(status_file) as f:
                code = int(f.read().strip())
        else:
            code = 404
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
srv = http.server.HTTPServer(("127.0.0.1", 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
PY
coproc RESPONDER { exec python3 "$tmp/responder.py" "$tmp/readyz"; }
# shellcheck disable=SC2153 # set by coproc
responder_pid=$RESPONDER_PID
read -r port <&"${RESPONDER[0]}"
url="http://127.0.0.1:$port"

passed=0
failed=0
# run_target NAME EXPECTED_STATUS EXPECTED_CALLS MAKE_ARGS... (EXPECTED_CALLS: lines joined by |)
run_target() {
    local name=$1 want_status=$2 want_calls=$3
    shift 3
    rm -f "$FLY_LOG" "$FLY_LOG.stdin"
    touch "$FLY_LOG"
    local status=0
    make --no-print-directory -s "$@" </dev/null >"$tmp/out" 2>&1 || status=$?
    local calls
    calls=$(paste -sd'|' "$FLY_LOG")
    if [[ ($want_status == 0 && $status == 0 || $want_status != 0 && $status != 0) && $calls == "$want_calls" ]]; then
        passed=$((passed + 1))
        echo "PASS $name"
    else
        failed=$((failed + 1))
        echo "FAIL $name: status $status (want $want_status), calls '$calls' (want '$want_calls')"
        sed 's/^/    /' "$tmp/out" | tail -5
    fi
}
expect() { # expect NAME CONDITION...
    local name=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
        echo "PASS $name"
    else
        failed=$((failed + 1))
        echo "FAIL $name"
    fi
}
out_has() { grep -qF -- "$1" "$tmp/out"; }

A=(FLY_APP=mkt-test FLY_REGION=ams)
C="[--config] [infra/fly/fly.toml] [--app] [mkt-test]"

# ---- app name and region: variables, refused when missing or malformed; fly.toml names neither.
expect "fly.toml names no app" bash -c '! grep -Eq "^[[:space:]]*app[[:space:]]*=" infra/fly/fly.toml'
expect "fly.toml fixes no primary_region" bash -c '! grep -Eq "^[[:space:]]*primary_region" infra/fly/fly.toml'
for t in fly-launch fly-pg-attach fly-mpg-attach fly-secrets fly-deploy fly-deploy-only fly-migrate \
    fly-logs fly-ssh fly-status fly-checks; do
    run_target "$t without FLY_APP refuses" 1 "" "$t" FLY_PG_APP=mkt-db FLY_MPG_CLUSTER=abc123
    expect "$t without FLY_APP says so" out_has "set FLY_APP="
done
run_target "a placeholder FLY_APP is refused" 1 "" fly-status FLY_APP="<your-app>"
run_target "an upper-case FLY_APP is refused" 1 "" fly-status FLY_APP=Mkt
run_target "a malformed FLY_REGION is refused" 1 "" fly-deploy-only FLY_APP=mkt-test FLY_REGION="yyz --yes"

run_target fly-launch 0 "[launch] [--config] [infra/fly/fly.toml] [--name] [mkt-test] [--region] [ams] [--copy-config] [--no-deploy]" fly-launch "${A[@]}"

# ---- Postgres: legacy Fly Postgres and Managed Postgres, each with its own target.
run_target "fly-pg-attach without FLY_PG_APP refuses" 1 "" fly-pg-attach "${A[@]}"
run_target fly-pg-attach 0 "[postgres] [attach] [mkt-db] $C" fly-pg-attach "${A[@]}" FLY_PG_APP=mkt-db
run_target "fly-mpg-attach without FLY_MPG_CLUSTER refuses" 1 "" fly-mpg-attach "${A[@]}"
run_target fly-mpg-attach 0 "[mpg] [attach] [abc123] $C" fly-mpg-attach "${A[@]}" FLY_MPG_CLUSTER=abc123

# ---- secrets: validated first, DATABASE_URL/DIRECT_DATABASE_URL skipped unless asked, values intact.
run_target "fly-secrets without .env.production refuses" 1 "" fly-secrets "${A[@]}" FLY_ENV_FILE="$tmp/missing.env"
expect "fly-secrets names the missing file" out_has "missing.env is missing"
pepper=$(printf 'p%.0s' {1..40})
{
    echo "# production secrets"
    echo "DATABASE_URL=postgres://u:p@h/db"
    echo ""
    echo "DIRECT_DATABASE_URL=postgres://u:p@direct/db"
    echo "IP_HASH_PEPPER=$pepper"
    echo "ADMIN_API_KEY=k#not-a-comment \"quoted\" 'single' and spaces  "
    echo "CORS_ALLOWED_ORIGINS=https://a.example, https://b.example"
} >"$tmp/prod.env"
{
    echo "IP_HASH_PEPPER=$pepper"
    echo "ADMIN_API_KEY=k#not-a-comment \"quoted\" 'single' and spaces  "
    echo "CORS_ALLOWED_ORIGINS=https://a.example, https://b.example"
} >"$tmp/want-nodb.env"
run_target "fly-secrets imports, staged" 0 "[secrets] [import] [--stage] $C" fly-secrets "${A[@]}" FLY_ENV_FILE="$tmp/prod.env"
expect "fly-secrets leaves DATABASE_URL and DIRECT_DATABASE_URL to attach" cmp -s "$tmp/want-nodb.env" "$FLY_LOG.stdin"
expect "fly-secrets says which keys it skipped" out_has "skipping DATABASE_URL DIRECT_DATABASE_URL"
expect "fly-secrets never prints a value" bash -c "! grep -qF -e '$pepper' -e postgres:// '$tmp/out'"
run_target "fly-secrets FLY_SECRETS_INCLUDE_DB=1 imports them too" 0 "[secrets] [import] [--stage] $C" \
    fly-secrets "${A[@]}" FLY_ENV_FILE="$tmp/prod.env" FLY_SECRETS_INCLUDE_DB=1
expect "fly-secrets FLY_SECRETS_INCLUDE_DB=1 passes every pair unchanged" \
    cmp -s <(grep -v -e '^#' -e '^$' "$tmp/prod.env") "$FLY_LOG.stdin"
printf 'DATABASE_URL=postgres://u:p@h/db\n' >"$tmp/dbonly.env"
run_target "fly-secrets with only DATABASE_URL imports nothing" 0 "" fly-secrets "${A[@]}" FLY_ENV_FILE="$tmp/dbonly.env"
bad_env() { # bad_env NAME LINE MESSAGE: the file is refused before fly is called, naming line 2
    printf 'IP_HASH_PEPPER=%s\n%s\n' "$pepper" "$2" >"$tmp/bad.env"
    run_target "fly-secrets refuses $1" 1 "" fly-secrets "${A[@]}" FLY_ENV_FILE="$tmp/bad.env"
    expect "fly-secrets names line 2 for $1" out_has "bad.env:2: $3"
}
bad_env "a line without =" "ADMIN_API_KEY" "not KEY=VALUE"
bad_env "a lower-case key" "admin_api_key=x" "not KEY=VALUE"
bad_env "export KEY=" "export ADMIN_API_KEY=x" "not KEY=VALUE"
bad_env "a space before =" "ADMIN_API_KEY =x" "not KEY=VALUE"
bad_env "an empty value" "ADMIN_API_KEY=" "ADMIN_API_KEY has an empty value"
bad_env "a duplicate key" "IP_HASH_PEPPER=again" "IP_HASH_PEPPER is set twice"
bad_env "a CR line end" $'ADMIN_API_KEY=x\r' "ADMIN_API_KEY: carriage return"
bad_env "a multi-line value" 'ADMIN_API_KEY="""' "ADMIN_API_KEY: multi-line values"

# ---- deploy: no lint toolchain, then deploy, Fly's view of the checks, and probes that decide.
D="[deploy] $C [--primary-region] [ams]"
run_target "fly-deploy: deploy, checks, probes pass" 0 "$D|[checks] [list] $C" fly-deploy "${A[@]}" FLY_URL="$url"
expect "fly-deploy does not run make check" bash -c "! make -n fly-deploy FLY_APP=mkt-test | grep -q check.sh"
expect "fly-deploy probed /v1/healthz" out_has "$url/v1/healthz: 200"
expect "fly-deploy probed /v1/readyz" out_has "$url/v1/readyz: 200"
echo 503 >"$tmp/readyz"
run_target "fly-deploy fails when /v1/readyz answers 503" 1 "$D|[checks] [list] $C" \
    fly-deploy "${A[@]}" FLY_URL="$url" FLY_PROBE_TRIES=2 FLY_PROBE_DELAY=0
expect "fly-deploy names the failing probe" out_has "$url/v1/readyz: 503"
echo 200 >"$tmp/readyz"
run_target "fly-deploy fails when nothing answers" 1 "$D|[checks] [list] $C" \
    fly-deploy "${A[@]}" FLY_URL="http://127.0.0.1:1" FLY_PROBE_TRIES=1 FLY_PROBE_DELAY=0
expect "fly-deploy probes https://FLY_APP.fly.dev by default" \
    bash -c "make -n fly-deploy FLY_APP=mkt-test | grep -qF https://mkt-test.fly.dev"
FLY_STUB_FAIL=deploy run_target "fly-deploy stops when the deploy fails" 1 "$D" fly-deploy "${A[@]}" FLY_URL="$url"
run_target fly-deploy-only 0 "$D" fly-deploy-only "${A[@]}"

# ---- migrate: on a fresh machine from the current release image (no running machine needed).
run_target fly-migrate 0 "[console] $C [--command] [/app/entrypoint.sh migrate]" fly-migrate "${A[@]}"
FLY_STUB_FAIL=console run_target "fly-migrate fails when the migration fails" 1 \
    "[console] $C [--command] [/app/entrypoint.sh migrate]" fly-migrate "${A[@]}"

run_target fly-logs 0 "[logs] $C" fly-logs "${A[@]}"
run_target fly-ssh 0 "[ssh] [console] $C" fly-ssh "${A[@]}"
run_target fly-status 0 "[status] $C" fly-status "${A[@]}"
run_target fly-checks 0 "[checks] [list] $C" fly-checks "${A[@]}"

# ---- fly.toml: a readiness check on /v1/readyz beside the liveness check on /v1/healthz.
expect "fly.toml checks /v1/healthz and /v1/readyz" python3 -c '
import sys, tomllib
with open("infra/fly/fly.toml", "rb") as f:
    cfg = tomllib.load(f)
paths = sorted(c["path"] for c in cfg["http_service"]["checks"])
sys.exit(paths != ["/v1/healthz", "/v1/readyz"])'

# The build context fly deploy sends (.dockerignore): its own checks, counted here.
rc=0
python3 tests/fly/test-dockerignore.py >"$tmp/ctx" 2>&1 || rc=$?
cat "$tmp/ctx"
ctx=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$tmp/ctx" | tail -n 1 || true)
if [[ $ctx =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    passed=$((passed + BASH_REMATCH[1]))
    failed=$((failed + BASH_REMATCH[2]))
    ((rc == 0 || BASH_REMATCH[2] > 0)) || failed=$((failed + 1))
else
    failed=$((failed + 1))
    echo "FAIL test-dockerignore.py: no summary line (exit $rc)"
fi

echo "$passed passed, $failed failed"
((failed == 0))
