#!/usr/bin/env python3
"""check-layers.py [SRC_DIR] - fails when a module of fcgi-app/src includes a header of a layer it
may not depend on (by default SRC_DIR is fcgi-app/src; `make check` runs it through check.sh).

Every file sits in a layer directory and includes project headers as "layer/file.h". Dependencies
point down only:

    core     strings, arena, buffers, log, hash, config, JSON output, RUN_DIR checks
    store    the connection and every SQL statement                     -> core
    domain   event, lead, enrichment, field rules (no HTTP types)       -> core
    http     request/response, body, CORS, auth, rate limit, router     -> core
    jobs     migrate, rollups, retention, scheduler                     -> core store domain
    api      the handlers and the route table                           -> all of the above
    cmd      main (command table), lighttpd settings, the serve loop    -> everything

store, domain and http are siblings: none of them includes another. Prints one line per violation
(file, included header, both layers) and `layers: N files, N violations`; exits 1 on any.
"""
import os
import re
import sys

ALLOWED = {
    "core": set(),
    "store": {"core"},
    "domain": {"core"},
    "http": {"core"},
    "jobs": {"core", "store", "domain"},
    "api": {"core", "store", "domain", "http", "jobs"},
    "cmd": {"core", "store", "domain", "http", "jobs", "api"},
}

# Known violations, exact (file, header) pairs, each with the reason. Empty: the domain no longer
# borrows HTTP types (struct issues is core/issues.h; event_params() takes a struct event_client).
# An entry that is no longer needed fails the check.
ALLOW_LIST = set()

INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "fcgi-app/src"
    violations = 0
    files = 0
    used_allow = set()
    for layer in sorted(os.listdir(src)):
        path = os.path.join(src, layer)
        if not os.path.isdir(path):
            continue
        for name in sorted(os.listdir(path)):
            if not name.endswith((".c", ".h")):
                continue
            files += 1
            rel = f"{layer}/{name}"
            if layer not in ALLOWED:
                print(f"{src}/{rel}: directory '{layer}' is not a known layer")
                violations += 1
                continue
            with open(os.path.join(path, name), encoding="utf-8") as f:
                text = f.read()
            for inc in INCLUDE.findall(text):
                target = inc.split("/", 1)[0] if "/" in inc else None
                if target not in ALLOWED:
                    print(f'{src}/{rel}: #include "{inc}" names no layer (write "layer/file.h")')
                    violations += 1
                elif target != layer and target not in ALLOWED[layer]:
                    if (rel, inc) in ALLOW_LIST:
                        used_allow.add((rel, inc))
                        continue
                    print(f'{src}/{rel}: #include "{inc}": layer {layer} may not depend on layer {target}')
                    violations += 1
    for rel, inc in sorted(ALLOW_LIST - used_allow):
        print(f'check-layers.py: allow-list entry ({rel}, {inc}) no longer needed: remove it')
        violations += 1
    for name in sorted(os.listdir(src)):
        if name.endswith((".c", ".h")):
            print(f"{src}/{name}: outside every layer directory")
            violations += 1
    print(f"layers: {files} files, {violations} violations")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
