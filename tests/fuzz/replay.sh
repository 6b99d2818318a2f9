#!/usr/bin/env bash
# tests/fuzz/replay.sh [replay | fuzz SECONDS | build] - the libFuzzer harnesses of tests/fuzz/.
#
# Builds each tests/fuzz/fuzz_*.c with clang (-fsanitize=fuzzer,address,undefined) against every
# fcgi-app/src/<layer>/*.c but cmd/ (main and the FastCGI accept loop, the only user of libfcgi) into
# fcgi-app/build-fuzz/, then:
#   replay        runs every file of tests/fuzz/corpus/<harness>/ once, without mutation (CI);
#   fuzz SECONDS  fuzzes each harness for SECONDS from its corpus; new inputs go to a temporary
#                 directory, never into the committed corpus; a crash is saved under
#                 fcgi-app/build-fuzz/artifacts/ (add it to the corpus once the bug is fixed);
#   build         only builds.
# Prints one `<harness>: N passed, N failed` line per harness and a total `N passed, N failed`;
# exits non-zero on any crash, leak, sanitizer report or failed property.
# FUZZ_CC picks the compiler (default clang); FUZZ_ARGS adds libFuzzer flags in fuzz mode.
set -euo pipefail
cd "$(dirname "$0")/../.."

mode=${1:-replay}
seconds=${2:-60}
case $mode in
replay | build) ;;
fuzz)
    [[ $seconds =~ ^[1-9][0-9]*$ ]] || {
        echo "replay.sh: fuzz needs a number of seconds, got '$seconds'" >&2
        exit 2
    }
    ;;
*)
    echo "usage: tests/fuzz/replay.sh [replay | fuzz SECONDS | build]" >&2
    exit 2
    ;;
esac

cc=${FUZZ_CC:-clang}
build=fcgi-app/build-fuzz
fuzz_dir=tests/fuzz
harnesses=(fuzz_body fuzz_request fuzz_parsers)
pkgs=(libpq jansson libsodium libcurl) # flags from pkg-config only, as in the Makefile
pkg-config --print-errors --exists "${pkgs[@]}" || exit 2
read -r -a pkg_cflags <<<"$(pkg-config --cflags "${pkgs[@]}")"
read -r -a pkg_libs <<<"$(pkg-config --libs "${pkgs[@]}")"
cflags=(-g -O1 -fno-omit-frame-pointer -std=c11 -D_GNU_SOURCE -I fcgi-app/src "${pkg_cflags[@]}")
san=("-fsanitize=address,undefined" -fno-sanitize-recover=all)
libs=("${pkg_libs[@]}" -lm)

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

command -v "$cc" >/dev/null || {
    echo "replay.sh: $cc not found (libFuzzer needs clang; make deps)" >&2
    exit 2
}
mkdir -p "$build/obj" "$build/logs" "$build/artifacts"
# the build directory ignores itself, whatever .gitignore says
[[ -f $build/.gitignore ]] || printf '*\n' >"$build/.gitignore"

# ---- build: the service's objects once (rebuilt when the source or any header is newer), then
# one binary per harness.
newest_header=
for hdr in fcgi-app/src/*/*.h "$fuzz_dir"/*.h; do
    [[ -n $newest_header && ! $hdr -nt $newest_header ]] || newest_header=$hdr
done
objs=()
for src in fcgi-app/src/*/*.c; do
    [[ $src != fcgi-app/src/cmd/* ]] || continue
    rel=${src#fcgi-app/src/}
    obj=$build/obj/${rel%.c}.o
    objs+=("$obj")
    mkdir -p "${obj%/*}"
    if [[ ! -f $obj || $src -nt $obj || $newest_header -nt $obj ]]; then
        echo "  CC   $src"
        "$cc" "${cflags[@]}" "${san[@]}" -fsanitize=fuzzer-no-link -c -o "$obj" "$src"
    fi
done
for h in "${harnesses[@]}"; do
    bin=$build/$h
    stale=0
    [[ -f $bin && ! $fuzz_dir/$h.c -nt $bin && ! $newest_header -nt $bin ]] || stale=1
    for obj in "${objs[@]}"; do
        [[ ! $obj -nt $bin ]] || stale=1
    done
    if ((stale)); then
        echo "  LINK $bin"
        "$cc" "${cflags[@]}" "${san[@]}" -fsanitize=fuzzer -o "$bin" "$fuzz_dir/$h.c" "${objs[@]}" "${libs[@]}"
    fi
done
[[ $mode != build ]] || exit 0

dict_for() {
    if [[ $1 == fuzz_request ]]; then
        echo "$fuzz_dir/request.dict"
    else
        echo "$fuzz_dir/json.dict"
    fi
}

total_passed=0
total_failed=0
status=0

# ---- replay: all of a harness's corpus in one process; after a failure, file by file to name
# the failing ones.
replay_one() {
    local h=$1 log=$build/logs/$1-replay.log
    local files=("$fuzz_dir/corpus/$h"/*)
    local passed=0 failed=0
    if [[ ! -e ${files[0]} ]]; then
        echo "$h: no corpus in $fuzz_dir/corpus/$h" >&2
        failed=1
    elif "$build/$h" -runs=1 "${files[@]}" >"$log" 2>&1; then
        passed=${#files[@]}
    else
        for f in "${files[@]}"; do
            if "$build/$h" -runs=1 "$f" >"$log.one" 2>&1; then
                passed=$((passed + 1))
            else
                failed=$((failed + 1))
                echo "!! $h $f"
                grep -m1 -E -B5 -A40 'ERROR: |fuzz property failed|runtime error' "$log.one" | head -n 60 || tail -n 40 "$log.one"
                cat "$log.one" >>"$log"
            fi
        done
        rm -f "$log.one"
        # a crash the whole run saw but no single file repeats (state carried between inputs)
        if ((failed == 0)); then
            failed=1
            echo "!! $h: the corpus run failed, but no single file does; see $log"
            tail -n 40 "$log"
        fi
    fi
    echo "$h: $passed passed, $failed failed"
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failed))
    ((failed == 0)) || status=1
}

# ---- fuzz: SECONDS from the corpus; new units go to a temporary directory.
fuzz_one() {
    local h=$1 log=$build/logs/$1-fuzz.log
    local scratch extra=()
    scratch=$(mktemp -d "${TMPDIR:-/tmp}/$h.XXXXXX")
    read -r -a extra <<<"${FUZZ_ARGS:-}"
    local rc=0
    "$build/$h" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 -dict="$(dict_for "$h")" \
        -artifact_prefix="$build/artifacts/$h-" "${extra[@]}" "$scratch" "$fuzz_dir/corpus/$h" \
        >"$log" 2>&1 || rc=$?
    local new execs cov
    new=$(find "$scratch" -type f | wc -l)
    execs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1 || true)
    rm -rf "$scratch"
    if ((rc == 0)); then
        echo "$h: ${execs:-?} exec/s, ${cov:-cov: ?}, $new new inputs (discarded)"
        echo "$h: 1 passed, 0 failed"
        total_passed=$((total_passed + 1))
    else
        echo "!! $h exited with status $rc; log: $log"
        grep -m1 -E -B5 -A60 'ERROR: |fuzz property failed|runtime error' "$log" | head -n 80 || tail -n 60 "$log"
        grep -E 'Test unit written to|^Base64:' "$log" || true
        echo "$h: 0 passed, 1 failed"
        total_failed=$((total_failed + 1))
        status=1
    fi
}

for h in "${harnesses[@]}"; do
    if [[ $mode == replay ]]; then
        replay_one "$h"
    else
        fuzz_one "$h"
    fi
done
echo "$total_passed passed, $total_failed failed"
exit "$status"
