#!/usr/bin/env bash
# test-fly-targets.sh - drives every make fly-* target with a recording stand-in for `fly` first on
# PATH and checks the exact command lines (each argument in brackets) and what reached its stdin.
# Then runs tests/fly/test-dockerignore.py (the build context) and adds its counts.
# Prints "N passed, N failed"; exits non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")/../.."

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
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

C="[--config] [infra/fly/fly.toml]"
run_target fly-launch 0 "[launch] $C [--copy-config] [--no-deploy]" fly-launch
run_target "fly-pg-attach without FLY_PG_APP refuses" 1 "" fly-pg-attach
run_target fly-pg-attach 0 "[postgres] [attach] [mkt-db] $C" fly-pg-attach FLY_PG_APP=mkt-db
run_target "fly-secrets without .env.production refuses" 1 "" fly-secrets FLY_ENV_FILE="$tmp/missing.env"
expect "fly-secrets names the missing file" grep -q "missing.env is missing" "$tmp/out"
printf 'DATABASE_URL=postgres://u:p@h/db\nIP_HASH_PEPPER=%s\n' "$(printf 'p%.0s' {1..40})" >"$tmp/prod.env"
run_target "fly-secrets imports, staged" 0 "[secrets] [import] [--stage] $C" fly-secrets FLY_ENV_FILE="$tmp/prod.env"
expect "fly-secrets passes the file on stdin" cmp -s "$tmp/prod.env" "$FLY_LOG.stdin"
run_target "fly-deploy: check, deploy, verify checks" 0 "[deploy] $C|[checks] [list] $C" fly-deploy
FLY_STUB_FAIL=deploy run_target "fly-deploy stops when the deploy fails" 1 "[deploy] $C" fly-deploy
run_target fly-deploy-only 0 "[deploy] $C" fly-deploy-only
run_target fly-migrate 0 "[ssh] [console] $C [--command] [/app/entrypoint.sh migrate]" fly-migrate
run_target fly-logs 0 "[logs] $C" fly-logs
run_target fly-ssh 0 "[ssh] [console] $C" fly-ssh
run_target fly-status 0 "[status] $C" fly-status
run_target fly-checks 0 "[checks] [list] $C" fly-checks

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
