#!/usr/bin/env bash
# make-run.sh - `make run`, `make stop` and the targets that find the running stack (migrate,
# check-config, rollups-*), as an operator types them, in a scratch copy of the tree: its own
# .local (cluster, secrets, logs), free ports, nothing of the real .local touched.
#
#   BACKEND_BIN=fcgi-app/build/backend [SANITIZE=...] tests/smoke/make-run.sh
#
# Checks that a second `make run` without PORT= names the port the stack really runs on; that
# migrate, check-config and rollups-* find the running cluster without PORT/PGPORT_LOCAL (and an
# explicit PGPORT_LOCAL wins, failing at once when the cluster runs elsewhere); that the admin key's
# place is printed on every run; that `make rollups-run` makes today's events appear in the summary;
# and that `make run` on a port where another server answers fails and starts nothing (no lighttpd,
# responders, scheduler or Postgres); that the dashboard is served with today's event in its chart
# figures. Prints PASS/FAIL lines and `N passed, N failed`; exits 1 on
# any failure. Every process it started is stopped and the scratch copy removed on exit.
set -uo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
BACKEND_BIN=${BACKEND_BIN:-$SRC/fcgi-app/build/backend}
# shellcheck source=tests/smoke/lib-report.sh
. "$SRC/tests/smoke/lib-report.sh"
tmp=
tree=
foreign_pid=

# Pids of the processes whose command line names the scratch tree (lighttpd, responders, the
# scheduler, the postmaster; Postgres' own children are stopped with their postmaster).
tree_pids() {
    local d args
    [[ -n $tree ]] || return 0
    for d in /proc/[0-9]*; do
        [[ ${d#/proc/} != "$$" ]] || continue
        mapfile -d '' args 2>/dev/null <"$d/cmdline" || continue
        [[ " ${args[*]} " != *"$tree/"* ]] || echo "${d#/proc/}"
    done
    return 0
}
tree_procs() { # one line per process, for messages
    local pid
    for pid in $(tree_pids); do
        printf '%s:%s ' "$pid" "$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | cut -c1-80)"
    done
}

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
    local pid i
    [[ -z $foreign_pid ]] || kill "$foreign_pid" 2>/dev/null
    if [[ -n $tree && -d $tree ]]; then
        timeout 60 make -C "$tree" --no-print-directory stop >/dev/null 2>&1
        [[ ! -f $tree/.local/pg/data/PG_VERSION ]] ||
            timeout 30 "$tree/infra/scripts/pg-local.sh" stop "$tree/.local/pg/data" >/dev/null 2>&1
        for pid in $(tree_pids); do kill -TERM "$pid" 2>/dev/null; done
        for ((i = 0; i < 50; i++)); do
            [[ -n $(tree_pids) ]] || break
            sleep 0.1
        done
        for pid in $(tree_pids); do kill -KILL "$pid" 2>/dev/null; done
    fi
    [[ -z $foreign_pid ]] || wait "$foreign_pid" 2>/dev/null
    [[ -z $tmp ]] || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ ! -x $BACKEND_BIN ]]; then
    fail setup "backend binary not found: $BACKEND_BIN (run make)"
    finish
fi
build_dir=$(dirname "$(realpath "$BACKEND_BIN")")
case ${build_dir##*/} in
build) SANITIZE= ;;
build-san) SANITIZE=${SANITIZE:-address,undefined} ;;
*)
    fail setup "BACKEND_BIN must be fcgi-app/build/backend or fcgi-app/build-san/backend, got $BACKEND_BIN"
    finish
    ;;
esac
# The copy's `make build` must find its objects current: the same version stamp, mtimes kept.
read -r BACKEND_VERSION BACKEND_REVISION <"$build_dir/.version" || {
    fail setup "no $build_dir/.version (run make)"
    finish
}
export BACKEND_VERSION BACKEND_REVISION

# Nothing of the caller's environment decides where the stack runs or which database it uses.
unset PORT METRICS_PORT PGPORT_LOCAL DATABASE_URL DIRECT_DATABASE_URL ADMIN_API_KEY IP_HASH_PEPPER RUN_DIR \
    BIND_ADDRESS FCGI_WORKERS APP_HOME BACKEND_BIN MAKEFLAGS MFLAGS MAKELEVEL DATABASE_SCHEMA

# As root the cluster runs as `postgres`, which must reach the scratch .local/pg (mktemp is 0700).
tmp=$(mktemp -d /tmp/smoke-run.XXXXXX)
chmod 0755 "$tmp"
tree=$tmp/tree
mkdir -p "$tree/fcgi-app"
if ! (cd "$SRC" && cp -a Makefile entrypoint.sh infra lighttpd migrations "$tree/") ||
    ! cp -a "$SRC/fcgi-app/src" "$build_dir" "$tree/fcgi-app/"; then
    fail setup "copying the tree to $tree failed"
    finish
fi

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port=$(free_port)
pgport=$(free_port)
foreign_port=$(free_port)
other_pgport=$(free_port)
# the metrics listener too, so a stack already running on this machine does not hold 9091
METRICS_PORT=$(free_port)
export METRICS_PORT
out=$tmp/out

# mk SECONDS TARGET [VAR=VALUE ...]: make in the scratch tree; output in $out, exit status returned.
mk() {
    local secs=$1
    shift
    mk_rc=0
    timeout "$secs" make -C "$tree" --no-print-directory SANITIZE="$SANITIZE" "$@" >"$out" 2>&1 || mk_rc=$?
    return "$mk_rc"
}
shown() { tail -n 15 "$out" | tr '\n' '|'; }
has() { grep -qF -- "$1" "$out"; }
http_status() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@"; }

# ---- make run with PORT and PGPORT_LOCAL
if mk 180 run PORT="$port" PGPORT_LOCAL="$pgport" && has "http://127.0.0.1:$port"; then
    pass run_on_given_ports
else
    fail run_on_given_ports "exit $mk_rc; output: $(shown)"
    finish
fi
if has 'admin key' && has '.local/env'; then
    pass admin_key_place_first_run
else
    fail admin_key_place_first_run "no line naming where the admin key is; output: $(shown)"
fi
if has "dashboard: http://127.0.0.1:$port/dashboard/"; then
    pass run_names_dashboard
else
    fail run_names_dashboard "make run does not print the dashboard's address; output: $(shown)"
fi
if [[ $(http_status "http://127.0.0.1:$port/v1/healthz") == 200 ]]; then
    pass healthz
else
    fail healthz "GET /v1/healthz on $port did not answer 200"
fi

# ---- a second make run, no variables: the truth about the running stack
if mk 60 run && has "http://127.0.0.1:$port" && ! has ':3000'; then
    pass second_run_names_real_port
else
    fail second_run_names_real_port "exit $mk_rc; want http://127.0.0.1:$port and no :3000; output: $(shown)"
fi
if has 'admin key' && has '.local/env'; then
    pass admin_key_place_second_run
else
    fail admin_key_place_second_run "no line naming where the admin key is; output: $(shown)"
fi
# asking for another port while it runs elsewhere is refused, naming the real one
if ! mk 60 run PORT="$foreign_port" && has "$port"; then
    pass run_other_port_refused
else
    fail run_other_port_refused "exit 0 or the running port $port not named; output: $(shown)"
fi

# ---- the other targets find the running cluster without the variables
t0=$SECONDS
if mk 60 migrate ARGS=status && ((SECONDS - t0 < 15)); then
    pass migrate_finds_cluster
else
    fail migrate_finds_cluster "exit $mk_rc after $((SECONDS - t0)) s; output: $(shown)"
fi
if mk 60 check-config && has "PORT=$port"; then
    pass check_config_finds_stack
else
    fail check_config_finds_stack "exit $mk_rc or no PORT=$port; output: $(shown)"
fi
t0=$SECONDS
if mk 60 rollups-status && has 'rolledUpThrough' && ((SECONDS - t0 < 15)); then
    pass rollups_status_finds_cluster
else
    fail rollups_status_finds_cluster "exit $mk_rc after $((SECONDS - t0)) s; output: $(shown)"
fi
# an explicit PGPORT_LOCAL wins over the remembered one: nothing listens there, so it must fail,
# at once and naming the port the cluster runs on
t0=$SECONDS
if ! mk 60 rollups-status PGPORT_LOCAL="$other_pgport" && ((SECONDS - t0 < 10)) && has "$pgport"; then
    pass explicit_pgport_wins
else
    fail explicit_pgport_wins "exit 0, or $((SECONDS - t0)) s, or port $pgport not named; output: $(shown)"
fi

# ---- when today's numbers show in the summary: it reads only the rollups, so an event appears
# after the next rollup run. The scheduler runs one as it starts (today included, the last day
# it rolls up); after that, an event waits for the interval, or for make rollups-run (no variables).
key=$(sed -n 's/^ADMIN_API_KEY=//p' "$tree/.local/env" | tail -n 1)
today=$(date -u +%F)
# summary_field EXPR: a field of today's summary (python expression on `s`), empty on error
summary_field() {
    curl -s --max-time 5 -H "x-admin-key: $key" \
        "http://127.0.0.1:$port/v1/metrics/summary?from=$today&to=$today" |
        python3 -c 'import json, sys; s = json.load(sys.stdin); print('"$1"')' 2>/dev/null
}
for ((i = 0; i < 100; i++)); do
    [[ $(summary_field 's["freshness"]["rolledUpThrough"]') == "$today" ]] && break
    sleep 0.2
done
if [[ $(summary_field 's["freshness"]["rolledUpThrough"]') == "$today" ]]; then
    pass scheduler_rolls_up_at_start
else
    fail scheduler_rolls_up_at_start "no rollup of $today within 20 s of make run: $(summary_field 's["freshness"]')"
fi
st=$(http_status -X POST "http://127.0.0.1:$port/v1/events" -H 'Content-Type: application/json' \
    -d '{"anonId":"smoke-visitor-1","eventType":"page_view","path":"/smoke"}')
views=$(summary_field 's["metrics"]["totalPageViews"]["value"]')
if [[ $st == 202 && $views == 0 ]]; then
    pass summary_waits_for_rollup
else
    fail summary_waits_for_rollup "POST /v1/events answered $st; totalPageViews before a rollup '$views', want 0"
fi
if mk 60 rollups-run; then
    views=$(summary_field 's["metrics"]["totalPageViews"]["value"]')
    if [[ $views == 1 ]]; then
        pass summary_after_rollups_run
    else
        fail summary_after_rollups_run "totalPageViews '$views' after make rollups-run, want 1"
    fi
else
    fail summary_after_rollups_run "make rollups-run failed; output: $(shown)"
fi
# ---- the dashboard of the running stack: its page, and the figures its chart draws (issue 15)
page=$(curl -s --max-time 5 -D "$tmp/dash.h" "http://127.0.0.1:$port/dashboard/")
bucket=$(curl -s --max-time 5 -H "Authorization: Bearer $key" \
    "http://127.0.0.1:$port/v1/metrics/timeseries?from=$today&to=$today" |
    python3 -c 'import json, sys; b = json.load(sys.stdin)["buckets"][0]; print(b["pageViews"], b["complete"])' 2>/dev/null)
if [[ $page == *'src="dashboard.js"'* ]] && grep -qi "^Content-Security-Policy: default-src 'none'" "$tmp/dash.h" &&
    [[ $bucket == "1 True" ]]; then
    pass dashboard_served_with_local_data
else
    fail dashboard_served_with_local_data "GET /dashboard/ headers $(tr '\r\n' '  ' <"$tmp/dash.h"); today's chart bucket '$bucket', want '1 True'"
fi

# ---- make stop: everything stops, and the remembered ports are forgotten
if mk 90 stop && [[ -z $(tree_pids) ]] && [[ ! -e $tree/.local/run.env ]]; then
    pass stop_stops_everything
else
    fail stop_stops_everything "exit $mk_rc; left: $(tree_procs); run.env: $(ls "$tree/.local/run.env" 2>&1)"
fi

# ---- another server answers on the port: make run fails and starts nothing
python3 -c '
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"{\"ok\":true,\"service\":\"backend\"}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
' "$foreign_port" &
foreign_pid=$!
for ((i = 0; i < 50; i++)); do
    [[ $(http_status "http://127.0.0.1:$foreign_port/v1/healthz") == 200 ]] && break
    sleep 0.1
done
if mk 120 run PORT="$foreign_port" PGPORT_LOCAL="$pgport"; then
    fail foreign_server_refused "make run exited 0 with another server on $foreign_port; output: $(shown)"
elif ! has "$foreign_port"; then
    fail foreign_server_refused "the failure does not name port $foreign_port; output: $(shown)"
else
    pass foreign_server_refused
fi
if has 'backend running'; then
    fail foreign_server_not_called_ours "it still says it is running; output: $(shown)"
else
    pass foreign_server_not_called_ours
fi
sleep 0.5 # a scheduler or responder started by mistake would show up by now
left=$(tree_procs)
pg_up=no
[[ ! -f $tree/.local/pg/data/postmaster.pid ]] || pg_up=yes
if [[ -z $left && $pg_up == no && ! -e $tree/.local/run.env ]]; then
    pass foreign_server_nothing_started
else
    fail foreign_server_nothing_started "left running: ${left:-none}; postgres running: $pg_up; run.env: $(ls "$tree/.local/run.env" 2>&1)"
fi

# ---- the second line of defence: with the port check before the start taken out of the copy's
# run.sh (as when the other server takes the port in between), the readiness probe must still
# see that the answer is not our lighttpd's, and stop what this run started
# shellcheck disable=SC2016 # the literal line of run.sh, $PORT included
precheck='^if port_in_use "\$PORT"; then$'
if grep -q "$precheck" "$tree/infra/scripts/run.sh"; then
    sed -i "s/$precheck/if false; then/" "$tree/infra/scripts/run.sh"
    if mk 120 run PORT="$foreign_port" PGPORT_LOCAL="$pgport"; then
        fail readiness_checks_listener "make run exited 0 with another server on $foreign_port; output: $(shown)"
    elif ! has "port $foreign_port was taken"; then
        fail readiness_checks_listener "the failure does not say the port was taken; output: $(shown)"
    else
        sleep 0.5
        left=$(tree_procs)
        pg_up=no
        [[ ! -f $tree/.local/pg/data/postmaster.pid ]] || pg_up=yes
        if [[ -z $left && $pg_up == no && ! -e $tree/.local/run.env ]]; then
            pass readiness_checks_listener
        else
            fail readiness_checks_listener "left running: ${left:-none}; postgres running: $pg_up"
        fi
    fi
else
    fail readiness_checks_listener "run.sh has no line matching $precheck to take out"
fi

# ---- an admin key from make run's environment: named as such on every run, stored nowhere
cp -a "$SRC/infra/scripts/run.sh" "$tree/infra/scripts/run.sh" # undo the change above
env_key=smoke-env-admin-key-0123456789abcdef
if mk 180 run PORT="$port" PGPORT_LOCAL="$pgport" ADMIN_API_KEY="$env_key" &&
    has 'admin key: the ADMIN_API_KEY of the environment'; then
    if mk 60 run && has 'admin key: the ADMIN_API_KEY of the environment'; then
        pass admin_key_from_environment
    else
        fail admin_key_from_environment "the second run does not say the key came from the environment; output: $(shown)"
    fi
else
    fail admin_key_from_environment "exit $mk_rc or no line naming the environment; output: $(shown)"
fi
if grep -rqF --exclude-dir=pg "$env_key" "$tree/.local" 2>/dev/null; then
    fail admin_key_not_stored "the key from the environment was written under .local"
else
    pass admin_key_not_stored
fi
mk 90 stop || fail stop_after_env_key "exit $mk_rc; output: $(shown)"

# ---- the listener check itself (lib-env.sh): the foreign server's pid holds the port, we do not
# shellcheck source=infra/scripts/lib-env.sh
if (. "$tree/infra/scripts/lib-env.sh" && listens_on "$foreign_pid" "$foreign_port" &&
    ! listens_on "$$" "$foreign_port" && ! listens_on "$foreign_pid" "$port" &&
    [[ $(port_listeners "$foreign_port") == "$foreign_pid" ]] && [[ -z $(port_listeners "$port") ]]); then
    pass listener_owner
else
    fail listener_owner "listens_on/port_listeners misjudge pid $foreign_pid on port $foreign_port"
fi

finish
