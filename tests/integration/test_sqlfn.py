"""test_sqlfn.py - every SQL function the C code calls has ONE parameter list (core/sqlfn.h, an
X-macro of name, type, nullable); this compares each list with the function's signature in
pg_proc after migrating a fresh database: names (p_<name>), order, types and count.

The lists come from the C build itself (fcgi-app/build/tests/sqlfn-dump, built by `make test-integration`
from the same header the responders are compiled with), not from parsing the header in Python:
what is checked is what the preprocessor made of the macros. Types are resolved by Postgres
(to_regtype), so `timestamp(3)` and `timestamp without time zone` are the same type."""

import json
import os
import re
import subprocess

import harness
from harness import APP_HOME, Fail, expect, expect_eq, test

DUMP = os.path.join(os.path.dirname(harness.BACKEND_BIN), "tests", "sqlfn-dump")
SRC = os.path.join(APP_HOME, "fcgi-app", "src")


def c_lists():
    if not os.access(DUMP, os.X_OK):
        raise Fail("%s missing (make build makes it)" % DUMP)
    r = subprocess.run([DUMP], capture_output=True, text=True, timeout=30, check=False)
    expect_eq(r.returncode, 0, "sqlfn-dump exit code (stderr %s)" % r.stderr[-400:])
    return json.loads(r.stdout)


def sql_quote(s):
    return "'" + s.replace("'", "''") + "'"


def pg_signature(pg, db, name):
    """[(name, type oid)] of the IN parameters of the one function called name outside pg_catalog."""
    out = pg.psql(
        "SELECT json_build_object('names', p.proargnames, 'modes', p.proargmodes, "
        "'types', p.proargtypes::oid[]) FROM pg_proc p "
        "WHERE p.proname = %s AND p.pronamespace <> 'pg_catalog'::regnamespace" % sql_quote(name), db=db)
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    expect_eq(len(rows), 1, "functions named %s in the migrated database" % name)
    row = rows[0]
    names = row["names"] or []
    modes = row["modes"] or ["i"] * len(row["types"])
    in_names = [n for n, m in zip(names, modes) if m in ("i", "b", "v")]
    expect_eq(len(in_names), len(row["types"]), "%s: named IN parameters" % name)
    return list(zip(in_names, [int(t) for t in row["types"]]))


def type_oid(pg, db, type_text):
    out = pg.psql("SELECT to_regtype(%s)::oid" % sql_quote(type_text), db=db).strip()
    if not out:
        raise Fail("Postgres does not know the type %s" % type_text)
    return int(out)


def fresh_migrated_db():
    """A database of its own, migrated from scratch (every migration, 0006 included)."""
    harness.migrated_database("sqlfn")
    return "sqlfn"


@test(timeout=120)
def sqlfn_lists_match_pg_proc():
    lists = c_lists()
    pg = harness.shared_postgres()
    db = fresh_migrated_db()
    problems = []
    for fn, spec in sorted(lists.items()):
        want = spec["params"]
        got = pg_signature(pg, db, fn)
        if len(got) != len(want):
            problems.append("%s: C lists %d parameters, pg_proc has %d" % (fn, len(want), len(got)))
        for i, (w, g) in enumerate(zip(want, got)):
            if "p_" + w["name"] != g[0]:
                problems.append("%s: parameter %d is %s in pg_proc, p_%s in C" % (fn, i + 1, g[0], w["name"]))
            elif type_oid(pg, db, w["type"]) != g[1]:
                gt = pg.psql("SELECT format_type(%d, NULL)" % g[1], db=db).strip()
                problems.append("%s: %s is %s in pg_proc, %s in C" % (fn, g[0], gt, w["type"]))
    expect(not problems, "core/sqlfn.h disagrees with the migrations:\n    " + "\n    ".join(problems))


@test(timeout=120)
def sqlfn_lists_cover_every_called_function():
    """A function of the migrated schema named in a C string literal (a call) must have a list."""
    lists = c_lists()
    pg = harness.shared_postgres()
    db = fresh_migrated_db()
    names = pg.psql("SELECT DISTINCT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                    "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND p.prokind = 'f'",
                    db=db).split()
    expect(names, "no functions in the migrated database %s" % db)
    literals = []
    for root, _, files in os.walk(SRC):
        for f in files:
            if f.endswith(".c"):
                with open(os.path.join(root, f), encoding="utf-8") as fh:
                    literals += re.findall(r'"(?:[^"\\\n]|\\.)*"', fh.read())
    text = "\n".join(literals)
    missing = [n for n in names if re.search(r"\b%s\s*\(" % re.escape(n), text) and n not in lists]
    expect(not missing, "SQL functions called from C without a list in core/sqlfn.h: %s" % missing)
