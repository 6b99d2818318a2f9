#!/usr/bin/env bash
# image-test.sh - proves the runtime half of infra/fly/Dockerfile without a Docker engine.
#
# Builds the file system of the final stage the way the Dockerfile does: Debian 12 (debootstrap),
# the Dockerfile's RUNTIME_PACKAGES, its user, and its COPY lines (read from the Dockerfile itself,
# so the two cannot drift; their files from the build context that .dockerignore leaves); then, as
# that user in a chroot, runs `entrypoint.sh migrate` and `entrypoint.sh` against a real Postgres,
# checks /v1/healthz, /v1/readyz and POST /v1/events, sends SIGINT and checks a clean exit. Needs
# root and Debian's package archive. Prints "N passed, N failed"; exits non-zero on failure.
set -euo pipefail

cd "$(dirname "$0")/../.."
APP_HOME_HOST=$(pwd -P)
DOCKERFILE=infra/fly/Dockerfile
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
BACKEND_BUILD=${BACKEND_BIN:-$APP_HOME_HOST/fcgi-app/build/backend}
PATH=$PATH:/usr/sbin:/sbin

passed=0
failed=0
ok() {
    passed=$((passed + 1))
    echo "PASS $*"
}
bad() {
    failed=$((failed + 1))
    echo "FAIL $*"
}
check() { # check NAME CMD...
    local name=$1
    shift
    if "$@"; then ok "$name"; else bad "$name"; fi
}

((EUID == 0)) || {
    echo "image-test: needs root (debootstrap, chroot)" >&2
    exit 1
}
command -v debootstrap >/dev/null || {
    echo "image-test: debootstrap is not installed (make deps)" >&2
    exit 1
}
[[ -x $BACKEND_BUILD ]] || {
    echo "image-test: build the binary first (make)" >&2
    exit 1
}

work=$(mktemp -d /tmp/imgtest.XXXXXX)
chmod 0755 "$work"
root=$work/root
pg_data=$work/pg/data
entry_pid=
cleanup() {
    set +e
    [[ -n $entry_pid ]] && kill -KILL "$entry_pid" 2>/dev/null
    # anything still running inside the chroot
    for p in /proc/[0-9]*; do
        [[ $(readlink "$p/root" 2>/dev/null) == "$root" ]] && kill -KILL "${p#/proc/}" 2>/dev/null
    done
    infra/scripts/pg-local.sh stop "$pg_data" >/dev/null 2>&1
    umount -l "$root/dev" "$root/proc" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# ---- what the Dockerfile says
runtime_packages=$(sed -n 's/^ARG RUNTIME_PACKAGES="\(.*\)"$/\1/p' "$DOCKERFILE")
useradd_cmd=$(sed -n 's/^ *&& \(useradd .*\)$/\1/p' "$DOCKERFILE")
env_line=$(sed -n 's/^ENV //p' "$DOCKERFILE")
[[ -n $runtime_packages && -n $useradd_cmd && -n $env_line ]] || {
    echo "image-test: cannot read RUNTIME_PACKAGES, useradd or ENV from $DOCKERFILE" >&2
    exit 1
}

# ---- the final stage's file system
t0=$SECONDS
debootstrap --variant=minbase bookworm "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 || {
    tail -20 "$work/debootstrap.log"
    exit 1
}
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
cp /etc/resolv.conf "$root/etc/resolv.conf"
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d" # packages start no services
chmod +x "$root/usr/sbin/policy-rc.d"
# shellcheck disable=SC2086 # the package list is words
chroot "$root" sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends $runtime_packages && rm -rf /var/lib/apt/lists/*" >"$work/apt.log" 2>&1 || {
    tail -20 "$work/apt.log"
    exit 1
}
rm -f "$root/usr/sbin/policy-rc.d"
# shellcheck disable=SC2086
chroot "$root" $useradd_cmd
# The build context as fly deploy sends it (the repository root filtered by .dockerignore): the
# COPY lines take their files from it, so a path the allow-list leaves out fails this test.
context=$work/context
mkdir "$context"
python3 tests/fly/test-dockerignore.py --list . >"$work/context.list"
tar -cf - --no-recursion -T "$work/context.list" | tar -xf - -C "$context"
# The build stage: `make build` in a directory that holds only what its COPY lines bring from the
# context (the ones with a relative destination), as the Dockerfile's RUN does. Its binary is the
# one the runtime stage gets, so a build that needs a file the stage does not copy fails here.
stage=$work/build-stage
mkdir "$stage"
while read -r src dst; do
    mkdir -p "$(dirname "$stage/$dst")"
    cp -a "$context/$src" "$stage/$dst" || {
        echo "image-test: build stage: $src is not in the build context (.dockerignore)" >&2
        exit 1
    }
done < <(sed -n 's/^COPY \([^-][^ ]*\) \.\/\(.*\)$/\1 \2/p' "$DOCKERFILE")
if make -C "$stage" build BACKEND_VERSION=unknown BACKEND_REVISION=unknown >"$work/build-stage.log" 2>&1; then
    ok "build stage: make build from only the files the stage copies"
    BACKEND_BUILD=$stage/fcgi-app/build/backend
else
    bad "build stage: make build from only the files the stage copies; its log ends:"
    tail -n 20 "$work/build-stage.log"
fi
while read -r src dst; do # COPY lines: the build stage's binary, and files from the context
    case $src in
    --from=build) src=$BACKEND_BUILD dst=${dst#* } ;;
    *) src=$context/$src ;;
    esac
    mkdir -p "$(dirname "$root$dst")"
    cp -a "$src" "$root$dst" || {
        echo "image-test: $src is not in the build context (.dockerignore)" >&2
        exit 1
    }
done < <(sed -n 's/^COPY \(--from=build\) [^ ]* \(.*\)$/\1 x \2/p; s/^COPY \([^-][^ ]*\) \(\/app.*\)$/\1 \2/p' "$DOCKERFILE")
echo "image-test: file system built in $((SECONDS - t0)) s"

# shellcheck disable=SC2086
check "runtime packages installed: $runtime_packages" \
    chroot "$root" dpkg-query -W $runtime_packages
no_compiler() { chroot "$root" sh -c '! command -v cc && ! command -v gcc && ! command -v make' >/dev/null; }
check "no compiler in the image" no_compiler
check "binary, lighttpd config, migrations and entrypoint at the Dockerfile's paths" \
    test -x "$root/app/bin/backend" -a -f "$root/app/lighttpd/lighttpd.conf" -a -d "$root/app/migrations" \
    -a -x "$root/app/entrypoint.sh"
libs_resolve() { ! chroot "$root" ldd /app/bin/backend | grep -q 'not found'; }
check "the binary's libraries all resolve in the image" libs_resolve

# ---- a real Postgres on the host (the chroot shares the network)
pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
app_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
metrics_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
infra/scripts/pg-local.sh init "$pg_data" "$pg_port" >/dev/null 2>&1
db_url=$(infra/scripts/pg-local.sh start "$pg_data" "$pg_port" 2>/dev/null)

# the container's environment: the Dockerfile's ENV plus Fly secrets
run_env=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
read -r -a env_words <<<"$env_line"
run_env+=("${env_words[@]}" PORT="$app_port" METRICS_PORT="$metrics_port" DATABASE_URL="$db_url"
    IP_HASH_PEPPER=image-test-pepper-0123456789abcdef0123 ADMIN_API_KEY=image-test-admin-key-0123456)
as_app=(chroot --userspec=app:app "$root")

# rc and output of the last run_in_image
run_in_image() {
    rc=0
    out=$("${run_env[@]}" "$@" "${as_app[@]}" /app/entrypoint.sh migrate 2>&1) || rc=$?
}
refused_naming() { ((rc != 0)) && grep -q "$1" <<<"$out"; }
migrated() { ((rc == 0)) && grep -q 'schema is at' <<<"$out"; }

run_in_image IP_HASH_PEPPER=short
check "a too-short IP_HASH_PEPPER stops the entrypoint naming it" refused_naming IP_HASH_PEPPER
run_in_image
check "entrypoint.sh migrate applies the migrations and exits 0" migrated
printf '%s\n' "$out" >"$work/migrate.log"

# Fly starts the entrypoint with default signal handling. A background job of a script starts with
# SIGINT ignored (job control avoids that), and so does everything under a test run that was itself
# started in the background (a CI runner, `nohup ... &`): bash cannot trap a signal ignored on
# entry, so env resets them to the default first.
set -m
"${run_env[@]:0:1}" --default-signal=HUP,INT,QUIT,TERM "${run_env[@]:1}" "${as_app[@]}" /app/entrypoint.sh \
    >"$work/entrypoint.log" 2>&1 &
entry_pid=$!
set +m
url=http://127.0.0.1:$app_port
for _ in $(seq 1 100); do
    curl -fsS -o /dev/null --max-time 1 "$url/v1/healthz" 2>/dev/null && break
    sleep 0.1
done
status_of() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
healthz_ok() { [[ $(status_of "$url/v1/healthz") == 200 ]]; }
readyz_ok() { curl -fsS "$url/v1/readyz" | grep -q '"database":"up"'; }
event_accepted() {
    [[ $(status_of -H 'Content-Type: application/json' \
        -d '{"anonId":"image-test-visitor","eventType":"page_view","path":"/"}' "$url/v1/events") == 202 ]]
}
check "GET /v1/healthz is 200" healthz_ok
check "GET /v1/readyz is 200 with the schema version" readyz_ok
check "POST /v1/events is 202" event_accepted
# the metrics listener: the responders' counts in one table in RUN_DIR; never on the public port
metrics_ok() {
    local m
    m=$(curl -fsS "http://127.0.0.1:$metrics_port/metrics") &&
        grep -q '^backend_http_requests_total{route="/v1/events",method="POST",status="202"} 1$' <<<"$m" &&
        grep -q '^backend_responders [1-9]' <<<"$m" && [[ $(status_of "$url/metrics") == 404 ]]
}
check "GET /metrics on METRICS_PORT counts the event; the public port answers 404" metrics_ok
app_uid=$(chroot "$root" id -u app)
procs_ok=1
for p in /proc/[0-9]*; do
    [[ $(readlink "$p/root" 2>/dev/null) == "$root" ]] || continue
    [[ $(awk '/^Uid:/ {print $2}' "$p/status") == "$app_uid" ]] || procs_ok=0
done
check "every process in the image runs as the non-root user app" test "$procs_ok" = 1
# command lines of the processes inside the image
image_cmdlines() {
    local p
    for p in /proc/[0-9]*; do
        [[ $(readlink "$p/root" 2>/dev/null) == "$root" ]] && tr '\0' ' ' <"$p/cmdline" && echo
    done
}
all_running() {
    local cmds
    cmds=$(image_cmdlines)
    grep -q 'backend scheduler' <<<"$cmds" && grep -q 'backend serve' <<<"$cmds" && grep -q '^lighttpd' <<<"$cmds"
}
check "lighttpd, responders and the scheduler are running" all_running

kill -INT "$entry_pid" 2>/dev/null || true
rc=0
for _ in $(seq 1 150); do
    kill -0 "$entry_pid" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$entry_pid" 2>/dev/null; then
    bad "SIGINT stops the entrypoint within 15 s (kill_timeout)"
else
    wait "$entry_pid" || rc=$?
    entry_pid=
    check "SIGINT: the entrypoint exits 0" test "$rc" = 0
fi
left=0
for p in /proc/[0-9]*; do
    [[ $(readlink "$p/root" 2>/dev/null) == "$root" ]] && left=$((left + 1))
done
check "SIGINT: no process of the image is left" test "$left" = 0
logs_ok() { grep -q '"component":"access"' "$work/entrypoint.log" && grep -q 'responder ready' "$work/entrypoint.log"; }
check "logs reach stdout/stderr (access log and responder JSON lines)" logs_ok
# every line of migrate and serve is one JSON object with ts (RFC 3339 UTC, ms) and a level
json_lines() {
    python3 - "$@" <<'PY'
import json, re, sys
ts = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
for path in sys.argv[1:]:
    for line in open(path, encoding="utf-8"):
        o = json.loads(line)
        if not (isinstance(o, dict) and ts.fullmatch(str(o.get("ts"))) and o.get("level") in ("debug", "info", "warn", "error")):
            sys.exit("%s: not a JSON log line: %r" % (path, line))
PY
}
check "every line of entrypoint.sh migrate and serve is a JSON log line" json_lines "$work/migrate.log" "$work/entrypoint.log"

if ((failed > 0)); then
    echo "---- entrypoint log"
    tail -30 "$work/entrypoint.log"
fi
echo "$passed passed, $failed failed"
((failed == 0))
