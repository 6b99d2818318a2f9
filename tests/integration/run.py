#!/usr/bin/env python3
"""run.py - runs every tests/integration/test_*.py against real lighttpd + responders + Postgres.

    BACKEND_BIN=fcgi-app/build/backend python3 tests/integration/run.py [NAME_SUBSTRING]

Prints `PASS name` / `FAIL name: reason` per test and finally `N passed, N failed`; exits 1 when
anything failed. One Postgres is shared by the whole run; modules share stacks where their
environment allows. IT_KEEP=1 keeps the stacks' temp dirs, IT_VERBOSE=1 prints tracebacks,
IT_PG_BUILTIN=1 starts Postgres without infra/scripts/pg-local.sh, IT_EXCLUDE="faults ..." leaves
modules out.
"""
import glob
import importlib
import os
import sys
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

import harness  # noqa: E402


def main():
    pattern = sys.argv[1] if len(sys.argv) > 1 else None
    # IT_EXCLUDE=faults skips the test_faults.py module (make test-integration: `make test-faults`
    # runs it as a stage of its own)
    exclude = set(os.environ.get("IT_EXCLUDE", "").split())
    load_errors = 0
    for path in sorted(glob.glob(os.path.join(HERE, "test_*.py"))):
        name = os.path.splitext(os.path.basename(path))[0]
        if name[5:] in exclude:
            continue
        try:
            importlib.import_module(name)
        except Exception:
            load_errors += 1
            print("FAIL %s: cannot import: %s" % (name, traceback.format_exc().strip().replace("\n", "\n    ")),
                  flush=True)
    # a module that does not import counts as one failure in the final line
    return harness.run_all(pattern, extra_failed=load_errors)


if __name__ == "__main__":
    sys.exit(main())
