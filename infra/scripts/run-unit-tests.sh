#!/usr/bin/env bash
# run-unit-tests.sh BIN... - runs each unit test binary (under valgrind when VALGRIND=1), sums the
# `N passed, N failed` line each prints last, and prints the total the same way. Fails when a test
# failed, or a binary exited non-zero or printed no summary (each such binary counts as one failure).
set -euo pipefail

runner=()
if [[ ${VALGRIND:-0} == 1 ]]; then
    runner=(valgrind --error-exitcode=99 --leak-check=full -q)
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT
passed=0
failed=0
status=0
for bin in "$@"; do
    echo "== ${bin##*/}"
    rc=0
    "${runner[@]}" "$bin" | tee "$out" || rc=$?
    if [[ $(tail -n 1 "$out") =~ ^([A-Za-z0-9_.-]+:\ )?([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
        passed=$((passed + BASH_REMATCH[2]))
        failed=$((failed + BASH_REMATCH[3]))
        ((rc == 0 && BASH_REMATCH[3] == 0)) || status=1
        ((rc == 0 || BASH_REMATCH[3] > 0)) || failed=$((failed + 1))
    else
        failed=$((failed + 1))
        status=1
    fi
    ((rc == 0)) || echo "!! ${bin##*/} exited with status $rc"
done
echo "$passed passed, $failed failed"
exit "$status"
