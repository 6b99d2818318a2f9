#!/usr/bin/env bash
# test-all.sh SANITIZE - `make test`: runs the unit, integration, fault, smoke and fly stages
# (continuing after a failure), then prints the sum of each stage's last `N passed, N failed` line.
# A stage that fails without such a line counts as one failure. With SANITIZE set, sanitizer findings
# abort the process. TEST_SKIP="stage ..." leaves stages out (CI runs test-faults as its own stage).
set -euo pipefail
cd "$(dirname "$0")/../.."

sanitize=${1:-}
if [[ -n $sanitize ]]; then
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT
passed=0
failed=0
status=0
summary=()
skip=" ${TEST_SKIP:-} "
for stage in test-unit test-integration test-faults test-smoke test-fly test-browser; do
    if [[ $skip == *" $stage "* ]]; then
        summary+=("$(printf '%-17s skipped (TEST_SKIP)' "$stage")")
        continue
    fi
    echo "==== $stage${sanitize:+ (SANITIZE=$sanitize)}"
    rc=0
    make --no-print-directory "$stage" SANITIZE="$sanitize" 2>&1 | tee "$out" || rc=$?
    ((rc == 0)) || status=1
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1 || true)
    if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
        passed=$((passed + BASH_REMATCH[1]))
        failed=$((failed + BASH_REMATCH[2]))
        ((rc == 0 || BASH_REMATCH[2] > 0)) || failed=$((failed + 1))
    else
        line="no summary line"
        ((rc == 0)) || failed=$((failed + 1))
    fi
    result=ok
    ((rc == 0)) || result="FAIL (exit $rc)"
    summary+=("$(printf '%-17s %s: %s' "$stage" "$result" "$line")")
done

echo "==== summary"
printf '%s\n' "${summary[@]}"
echo "$passed passed, $failed failed"
((failed == 0)) || status=1
exit "$status"
