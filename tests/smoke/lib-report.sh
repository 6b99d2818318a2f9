#!/usr/bin/env bash
# lib-report.sh - sourced by the smoke tests: PASS/FAIL lines and the closing "N passed, N failed".
# finish exits 1 when anything failed. The sourcing script defines what finish cleans up (an EXIT
# trap), since finish exits.
passed=0
failed=0

pass() {
    passed=$((passed + 1))
    echo "PASS $1"
}
fail() {
    failed=$((failed + 1))
    echo "FAIL $1: $2"
}
finish() {
    echo "$passed passed, $failed failed"
    ((failed == 0)) || exit 1
    exit 0
}
