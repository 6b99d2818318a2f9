#!/usr/bin/env bash
# install-deps.sh - installs the Debian 12 packages the project needs when any is missing.
# Quiet and offline when everything is installed. Installing needs root; otherwise it prints the
# command to run and fails. Package scripts are not allowed to start services (no lighttpd on :80,
# no system Postgres cluster running): this works the same with or without systemd.
set -euo pipefail

packages=(
    build-essential pkg-config libfcgi-dev libfcgi-bin libpq-dev libjansson-dev libsodium-dev
    libcurl4-openssl-dev # jobs/webhook.c: the webhook deliveries (issue 16 item 6)
    lighttpd lighttpd-modules-lua postgresql-15 postgresql-client-15 curl wrk python3
    python3-jsonschema # tests/integration/test_zz_openapi.py validates responses against the OpenAPI document
    pgbouncer # tests/integration/test_pgbouncer.py and make bench: the pooler Fly Managed Postgres puts in front
    shellcheck cppcheck clang-format valgrind debootstrap clang libclang-rt-14-dev
    chromium # tests/browser (driven by playwright-core from npm; node 20 or later)
)

# One dpkg-query for all of them (a package it does not know is simply absent from its output).
declare -A installed=()
# shellcheck disable=SC2016 # ${Package} and ${Status} are dpkg-query fields, not shell expansions
while read -r name state; do
    [[ $state != "install ok installed" ]] || installed[$name]=1
done < <(dpkg-query -W -f='${Package} ${Status}\n' "${packages[@]}" 2>/dev/null || true)
missing=()
for p in "${packages[@]}"; do
    [[ -n ${installed[$p]:-} ]] || missing+=("$p")
done
((${#missing[@]} > 0)) || exit 0

echo "install-deps: missing packages: ${missing[*]}"
install=(apt-get install -y --no-install-recommends "${missing[@]}")
if ((EUID != 0)); then
    echo "install-deps: run as root: apt-get update && DEBIAN_FRONTEND=noninteractive ${install[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# policy-rc.d exiting 101 tells invoke-rc.d/deb-systemd-invoke not to start services. Only a file
# we create is removed again.
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
fi
apt-get update
"${install[@]}"
echo "install-deps: installed ${missing[*]}"
