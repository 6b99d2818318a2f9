#!/usr/bin/env bash
# cgi-fcgi.sh - smoke test of the FastCGI responder on its own, without lighttpd: `cgi-fcgi -start`
# spawns one `backend serve` listening on a unix socket, and `cgi-fcgi -bind` sends it requests as
# CGI environments. DATABASE_URL points at a closed port: the responder must still start, answer
# 404/405/preflights, refuse malformed bodies with 4xx, and answer readyz with a fast 503.
#
#   BACKEND_BIN=fcgi-app/build/backend tests/smoke/cgi-fcgi.sh
#
# Needs cgi-fcgi (Debian package libfcgi-bin). Prints PASS/FAIL lines and `N passed, N failed`;
# exits 1 on any failure. Everything lives in a temp dir that is removed on exit.
set -uo pipefail

APP_HOME=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
BACKEND_BIN=${BACKEND_BIN:-$APP_HOME/fcgi-app/build/backend}
ORIGIN=https://allowed.example
# shellcheck source=tests/smoke/lib-report.sh
. "$APP_HOME/tests/smoke/lib-report.sh"
tmp=
pidfile=

# 0 when pid exists and is not a zombie.
alive() {
    local state
    [[ -r /proc/$1/stat ]] || return 1
    state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
    [[ -n $state && $state != Z && $state != X ]]
}

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
    local pid i
    if [[ -n $pidfile && -f $pidfile ]]; then
        while read -r pid; do
            [[ $pid =~ ^[0-9]+$ ]] || continue
            alive "$pid" || continue
            kill -TERM "$pid" 2>/dev/null
            for ((i = 0; i < 20; i++)); do
                alive "$pid" || break
                sleep 0.1
            done
            alive "$pid" && kill -KILL "$pid" 2>/dev/null
        done <"$pidfile"
    fi
    [[ -n $tmp ]] && rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! command -v cgi-fcgi >/dev/null 2>&1; then
    fail setup "cgi-fcgi not found (install the Debian package libfcgi-bin)"
    finish
fi
if [[ ! -x $BACKEND_BIN ]]; then
    fail setup "backend binary not found: $BACKEND_BIN (run make)"
    finish
fi
BACKEND_BIN=$(realpath "$BACKEND_BIN")

tmp=$(mktemp -d /tmp/smoke-fcgi.XXXXXX) # mode 0700
sock=$tmp/fcgi.sock
pidfile=$tmp/pids
log=$tmp/responder.log
mkdir -m 0700 "$tmp/run"
: >"$pidfile"

# A port nothing listens on, for a DATABASE_URL that cannot connect.
closed_port=
for p in 1 9 47 79 1023; do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        closed_port=$p
        break
    fi
done
if [[ -z $closed_port ]]; then
    fail setup "found no closed port on 127.0.0.1"
    finish
fi

export APP_HOME BACKEND_BIN
export RUN_DIR=$tmp/run
export DATABASE_URL="postgresql://postgres:smoke-SECRET-pw@127.0.0.1:$closed_port/backend"
export IP_HASH_PEPPER=smoke-pepper-SECRET-0123456789abcdef
export ADMIN_API_KEY=smoke-admin-SECRET-0123456789
export CORS_ALLOWED_ORIGINS=$ORIGIN
export FCGI_WORKERS=1
export LOG_LEVEL=info

# cgi-fcgi -start execs the app with no arguments and closes its stdout/stderr: a wrapper adds
# `serve`, records the pid (exec keeps it) and keeps the responder's log. With VALGRIND=1 (make
# test-valgrind) the responder runs under valgrind, whose report must stay empty.
vg=
if [[ ${VALGRIND:-0} == 1 ]]; then
    vg="valgrind -q --leak-check=full --errors-for-leak-kinds=definite --log-file=$tmp/valgrind.log"
fi
cat >"$tmp/responder" <<EOF
#!/bin/sh
echo \$\$ >>'$pidfile'
exec $vg '$BACKEND_BIN' serve 2>>'$log'
EOF
chmod 0700 "$tmp/responder"

# --- the responder refuses to run without a FastCGI socket on fd 0
if out=$(timeout 5 "$BACKEND_BIN" serve </dev/null 2>&1); then
    fail serve_without_socket "exit 0 without a FastCGI socket; output: $out"
elif [[ $? == 124 ]]; then
    fail serve_without_socket "still running after 5 s without a FastCGI socket"
else
    pass serve_without_socket
fi

# --- start
if ! out=$(timeout 10 cgi-fcgi -start -connect "$sock" "$tmp/responder" 1 2>&1); then
    fail start "cgi-fcgi -start failed: $out"
    finish
fi
pid=
for ((i = 0; i < 50; i++)); do
    pid=$(head -n 1 "$pidfile")
    if [[ -n $pid ]] && grep -q 'responder ready' "$log" 2>/dev/null; then
        break
    fi
    sleep 0.1
done
if [[ -n $pid ]] && alive "$pid" && grep -q 'responder ready' "$log"; then
    pass start_without_database
else
    fail start_without_database "responder not ready within 5 s (pid '${pid}'); log: $(tail -n 20 "$log" 2>/dev/null)"
    finish
fi

# --- requests
resp=$tmp/resp
# req METHOD URI [NAME=VALUE ...]: one request, CGI variables as given, body on stdin; the raw
# response (Status line, headers, blank line, body) goes to $resp.
req() {
    local method=$1 uri=$2
    shift 2
    env -i PATH="$PATH" GATEWAY_INTERFACE=CGI/1.1 SERVER_PROTOCOL=HTTP/1.1 REMOTE_ADDR=127.0.0.1 \
        SERVER_NAME=localhost HTTP_HOST=localhost REQUEST_METHOD="$method" REQUEST_URI="$uri" "$@" \
        timeout 10 cgi-fcgi -bind -connect "$sock" >"$resp"
}
status() { sed -n '1{s/\r$//;s/^Status: \([0-9][0-9][0-9]\).*/\1/p;}' "$resp"; }
header() { # header NAME: value of the first such header (name case-insensitive)
    awk -v n="$1" '{ sub(/\r$/, "") } /^$/ { exit }
        tolower(substr($0, 1, length(n) + 1)) == tolower(n) ":" { v = substr($0, length(n) + 2); sub(/^ +/, "", v); print v; exit }' "$resp"
}
body() { sed '1,/^\r\{0,1\}$/d' "$resp"; }
shown() { tr -d '\r' <"$resp" | head -c 800 | tr '\n' '|'; }

# expect NAME STATUS [BODY]: checks the last response; prints FAIL itself and returns 1 on mismatch.
expect() {
    local name=$1 want=$2 got
    got=$(status)
    if [[ $got != "$want" ]]; then
        fail "$name" "status '$got', want $want; response: $(shown)"
        return 1
    fi
    if (($# > 2)) && [[ $(body) != "$3" ]]; then
        fail "$name" "body '$(body)', want '$3'"
        return 1
    fi
    return 0
}
expect_header() { # NAME HEADER VALUE
    local got
    got=$(header "$2")
    if [[ $got != "$3" ]]; then
        fail "$1" "header $2 is '$got', want '$3'; response: $(shown)"
        return 1
    fi
    return 0
}

req GET /v1/nope </dev/null
if expect not_found 404 '{"ok":false,"error":"not_found"}' &&
    expect_header not_found Content-Type 'application/json; charset=utf-8'; then
    pass not_found
fi

req HEAD /v1/nope </dev/null
if expect head_not_found 404 ''; then pass head_not_found; fi

req POST /v1/readyz CONTENT_LENGTH=0 CONTENT_TYPE=application/json </dev/null
if expect method_not_allowed 405 '{"ok":false,"error":"method_not_allowed"}' &&
    expect_header method_not_allowed Allow 'GET, HEAD'; then
    pass method_not_allowed
fi

t0=$(date +%s%N)
req GET /v1/readyz </dev/null
ms=$((($(date +%s%N) - t0) / 1000000))
if expect readyz_database_unavailable 503 '{"ok":false,"error":"database_unavailable"}'; then
    if [[ ! $(header Retry-After) =~ ^[0-9]+$ ]]; then
        fail readyz_database_unavailable "no numeric Retry-After; response: $(shown)"
    elif ((ms >= 2000)); then
        fail readyz_database_unavailable "answered in $ms ms (must be < 2000)"
    else
        pass "readyz_database_unavailable ($ms ms)"
    fi
fi

req OPTIONS /v1/events HTTP_ORIGIN="$ORIGIN" HTTP_ACCESS_CONTROL_REQUEST_METHOD=POST \
    HTTP_ACCESS_CONTROL_REQUEST_HEADERS='content-type' </dev/null
if expect preflight 204 '' &&
    expect_header preflight Access-Control-Allow-Origin "$ORIGIN" &&
    expect_header preflight Access-Control-Allow-Methods 'GET, HEAD, POST' &&
    expect_header preflight Access-Control-Allow-Headers 'content-type' &&
    expect_header preflight Access-Control-Max-Age 600 &&
    expect_header preflight X-RateLimit-Limit ''; then
    pass preflight
fi

req OPTIONS /v1/events HTTP_ORIGIN=https://evil.example HTTP_ACCESS_CONTROL_REQUEST_METHOD=POST </dev/null
if expect preflight_bad_origin 403 '{"ok":false,"error":"origin_not_allowed"}' &&
    expect_header preflight_bad_origin Access-Control-Allow-Origin ''; then
    pass preflight_bad_origin
fi

req OPTIONS /v1/events HTTP_ORIGIN="$ORIGIN" </dev/null
if expect preflight_without_method 400; then
    if body | grep -q '"error":"invalid_request"'; then
        pass preflight_without_method
    else
        fail preflight_without_method "body: $(body)"
    fi
fi

# Malformed or lying CONTENT_LENGTH: a 4xx (400 on a body route, 404/405 where no such route
# exists yet), never a 5xx, never a hang, and the responder lives on.
for cl in abc -5 99999999999999999999 '12 ' 0x10 10; do
    printf '{"a"' | req POST /v1/events CONTENT_TYPE=application/json CONTENT_LENGTH="$cl"
    rc=$?
    st=$(status)
    if ((rc != 0)); then
        fail "bad_content_length[$cl]" "cgi-fcgi exit $rc (timeout or lost connection); response: $(shown)"
    elif [[ $st =~ ^4[0-9][0-9]$ && $st != 408 ]]; then
        pass "bad_content_length[$cl] ($st)"
    else
        fail "bad_content_length[$cl]" "status '$st', want 4xx; response: $(shown)"
    fi
done

req GET /v1/nope </dev/null
if expect still_serving 404 && [[ $(head -n 1 "$pidfile") == "$pid" ]] && alive "$pid" &&
    [[ $(grep -c . "$pidfile") == 1 ]]; then
    pass still_serving
elif [[ $(status) == 404 ]]; then
    fail still_serving "the responder was replaced or died (pids: $(tr '\n' ' ' <"$pidfile"))"
fi

if grep -q -e smoke-SECRET-pw -e smoke-pepper-SECRET -e smoke-admin-SECRET "$log"; then
    fail no_secrets_in_log "the responder log contains a secret: $(grep -e SECRET "$log" | head -n 3)"
else
    pass no_secrets_in_log
fi

# --- stop: SIGTERM ends the accept loop
kill -TERM "$pid" 2>/dev/null
for ((i = 0; i < 50; i++)); do
    alive "$pid" || break
    sleep 0.1
done
if alive "$pid"; then
    fail sigterm_stops "responder $pid still running 5 s after SIGTERM"
else
    pass sigterm_stops
fi
if [[ -n $vg ]]; then
    if [[ -s $tmp/valgrind.log ]]; then
        fail valgrind_clean "$(head -n 30 "$tmp/valgrind.log")"
    else
        pass valgrind_clean
    fi
fi
if ((failed)); then
    echo "responder log:"
    tail -n 30 "$log"
fi
finish
