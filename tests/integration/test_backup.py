"""test_backup.py - `make db-dump` / `make db-restore` (infra/scripts/db-backup.sh) round-trip a
database that real traffic filled: every table of the schema (and schema_migrations) has the same row
count and row checksum after dump → restore into a fresh database; sequences keep their values; the
dump is mode 0600; a missing, unreadable or foreign file, no DUMP= and a non-empty target without
CONFIRM=1 are refused with a clear message and a non-zero exit, and the URL (its password) is never
printed."""

import os
import re
import shutil
import stat
import tempfile

from harness import (ADMIN_KEY, ALLOWED_ORIGIN, APP_HOME, Stack, backend, expect, expect_eq, migrate, run,
                     service_env, shared_postgres, test)

MAKE = shutil.which("make") or "/usr/bin/make"
PASSWORD = "bk-SECRET-pw-5e1c"  # trust auth ignores it; it must never appear in any output


def make_env(url, **extra):
    """The environment for the make targets: the target database and nothing inherited that could
    point elsewhere (DIRECT_DATABASE_URL wins over DATABASE_URL)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "DIRECT_DATABASE_URL", "DUMP", "CONFIRM", "MAKEFLAGS", "MAKELEVEL")
           and not k.startswith("PG")}
    env["DATABASE_URL"] = url
    env.update(extra)
    return env


def make(target, env, *args):
    r = run([MAKE, "--no-print-directory", "-C", APP_HOME, target] + list(args), env=env, timeout=120)
    for stream in (r.stdout, r.stderr):
        expect(PASSWORD not in stream, "make %s printed the database password:\n%s" % (target, stream))
    return r


def put_traffic(url):
    """Events, captures, an unsubscribe, a delete, rejections and a rollup run through the real stack."""
    hdr = {"Origin": ALLOWED_ORIGIN, "User-Agent": "Mozilla/5.0 backup-test"}
    with Stack(database_url=url) as s:
        for i in range(12):
            r = s.request("POST", "/v1/events", {
                "anonId": "bk-visitor-%02d" % (i % 5), "eventType": "page_view" if i % 3 else "form_start",
                "path": "/p/%d" % i, "referrer": "https://www.google.com/", "utm": {"source": "news", "medium":
                "email", "campaign": "c%d" % (i % 2)}, "traffic": {"deviceType": "mobile", "countryCode": "ca",
                "webVitals": {"lcpMs": 1200 + i}}, "props": {"n": i, "s": "ä'\"\\\n"}}, hdr)
            expect_eq(r.status, 202, "event %d" % i, r)
        for i in range(4):
            r = s.request("POST", "/v1/leads/capture", {
                "email": "Bk.Lead%d@Example.com" % i, "anonId": "bk-visitor-%02d" % i, "formName": "signup",
                "consentStatus": "express", "payload": {"name": "Lead %d" % i, "note": "x\ty"}}, hdr)
            expect_eq(r.status, 200, "capture %d" % i, r)
        r = s.request("POST", "/v1/leads/unsubscribe", {"email": "bk.lead1@example.com", "reason": "enough"}, hdr)
        expect_eq(r.status, 200, "unsubscribe", r)
        r = s.request("POST", "/v1/leads/delete", {"email": "bk.lead2@example.com"},
                      dict(hdr, **{"x-admin-key": ADMIN_KEY}))
        expect_eq(r.status, 200, "delete", r)
        for b in ({"anonId": "short", "eventType": "x", "path": "/"}, "{not json"):
            r = s.request("POST", "/v1/events", b, dict(hdr, **{"Content-Type": "application/json"}))
            expect_eq(r.status, 400, "rejected event", r)
    r = backend(["rollups", "run"], service_env(url), timeout=120)
    expect_eq(r.returncode, 0, "rollups run (stderr %s)" % r.stderr[-800:])


TABLES_SQL = ("SELECT format('%I.%I', schemaname, tablename) FROM pg_tables "
              "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1")


def fingerprint(pg, db):
    """{table: (row count, md5 of every row's text in a fixed order)} for every table of the
    database, plus {sequence: last_value}."""
    out = {}
    for t in pg.psql(TABLES_SQL, db=db).split():
        row = pg.psql("SELECT count(*) || ' ' || md5(coalesce(string_agg(r::text, E'\\n' ORDER BY r::text), '')) "
                      "FROM %s r" % t, db=db).strip()
        n, digest = row.split(" ")
        out[t] = (int(n), digest)
    for line in pg.psql("SELECT format('%I.%I', schemaname, sequencename) || ' ' || coalesce(last_value, 0) "
                        "FROM pg_sequences ORDER BY 1", db=db).split("\n"):
        if line.strip():
            name, value = line.split(" ")
            out["sequence " + name] = value
    return out


@test(timeout=240)
def backup_round_trip():
    pg = shared_postgres()
    src = pg.create_db("bk_src")
    dst = pg.create_db("bk_dst")
    r = migrate(service_env(src))
    expect_eq(r.returncode, 0, "migrate bk_src (%s)" % r.stderr[-800:])
    put_traffic(src)
    # job_runs is written only by the scheduler (`backend scheduler`); one row stands for its state
    pg.psql("INSERT INTO job_runs (job, last_started_at, last_finished_at, last_status) "
            "VALUES ('rollups', now(), now(), 'ok')", db="bk_src")

    before = fingerprint(pg, "bk_src")
    expect("public.schema_migrations" in before, "schema_migrations missing from %s" % sorted(before))
    for t in ("events", "visitors", "sessions", "leads", "lead_identities", "form_submissions", "consent_events",
              "ingest_rejections", "daily_metric_rollups", "daily_ingest_rollups", "job_runs"):
        expect(before.get("public." + t, (0,))[0] > 0, "traffic left table %s empty: %s" % (t, before))

    tmp = tempfile.mkdtemp(prefix="itbk-", dir="/tmp")
    try:
        dump = os.path.join(tmp, "round trip.dump")  # a space: the path is quoted all the way through
        url_src = pg.url("bk_src", password=PASSWORD)
        r = make("db-dump", make_env(url_src, DUMP=dump))
        expect_eq(r.returncode, 0, "make db-dump exit (stderr %s)" % r.stderr)
        expect_eq(r.stdout.strip().splitlines()[-1], dump, "printed dump path")
        expect_eq(stat.S_IMODE(os.stat(dump).st_mode), 0o600, "dump file mode")
        expect(not os.path.exists(dump + ".partial"), "temporary .partial file left behind")

        # the same path again is refused, the file untouched
        size = os.path.getsize(dump)
        r = make("db-dump", make_env(url_src, DUMP=dump))
        expect(r.returncode != 0 and "not overwriting" in r.stderr, "second dump to the same path: %s" % r.stderr)
        expect_eq(os.path.getsize(dump), size, "dump size after a refused overwrite")

        # without DUMP=: a timestamped file in the git-ignored .local/backups (removed again here)
        r = make("db-dump", make_env(url_src))
        expect_eq(r.returncode, 0, "make db-dump without DUMP= (stderr %s)" % r.stderr)
        default = r.stdout.strip().splitlines()[-1]
        try:
            expect_eq(os.path.dirname(default), os.path.join(APP_HOME, ".local", "backups"), "default dump dir")
            expect(re.fullmatch(r"\d{8}T\d{6}Z\.dump", os.path.basename(default)), "default name %r" % default)
            expect_eq(stat.S_IMODE(os.stat(default).st_mode), 0o600, "default dump file mode")
        finally:
            if default.startswith(os.path.join(APP_HOME, ".local", "backups") + "/"):
                os.unlink(default)

        # DIRECT_DATABASE_URL wins over DATABASE_URL: a wrong DATABASE_URL beside it does not matter
        dump2 = os.path.join(tmp, "direct.dump")
        r = make("db-dump", make_env("postgresql://nobody@127.0.0.1:1/none", DIRECT_DATABASE_URL=url_src,
                                     DUMP=dump2))
        expect_eq(r.returncode, 0, "db-dump through DIRECT_DATABASE_URL (stderr %s)" % r.stderr)
        expect("DIRECT_DATABASE_URL" in r.stderr, "db-dump does not say it used DIRECT_DATABASE_URL: %s" % r.stderr)

        # restore into the fresh database: no CONFIRM needed, everything equal
        url_dst = pg.url("bk_dst", password=PASSWORD)
        r = make("db-restore", make_env(url_dst, DUMP=dump))
        expect_eq(r.returncode, 0, "make db-restore exit (stderr %s)" % r.stderr)
        after = fingerprint(pg, "bk_dst")
        expect_eq(sorted(after), sorted(before), "tables and sequences after restore")
        for t in sorted(before):
            expect_eq(after[t], before[t], "%s (row count, checksum) after restore" % t)

        # the restored database is usable: migrate is a no-op there and the stack accepts traffic
        r = migrate(service_env(dst))
        expect_eq(r.returncode, 0, "migrate of the restored database (%s)" % r.stderr[-800:])
        expect_eq(fingerprint(pg, "bk_dst"), before, "restored database after a migrate run")

        # a non-empty target needs CONFIRM=1; refused, it is untouched
        pg.psql("INSERT INTO ingest_rejections (id, endpoint, reason, status_code, property_id) "
                "VALUES (gen_random_uuid()::text, '/v1/events', 'invalid_request', 400, 'bk-extra')", db="bk_dst")
        r = make("db-restore", make_env(url_dst, DUMP=dump))
        expect(r.returncode != 0 and "CONFIRM=1" in r.stderr and "not empty" in r.stderr,
               "restore into a non-empty database without CONFIRM=1: rc %d, %s" % (r.returncode, r.stderr))
        expect(fingerprint(pg, "bk_dst") != before, "refused restore changed the target")
        r = make("db-restore", make_env(url_dst, DUMP=dump), "CONFIRM=1")
        expect_eq(r.returncode, 0, "db-restore CONFIRM=1 exit (stderr %s)" % r.stderr)
        expect_eq(fingerprint(pg, "bk_dst"), before, "database after a confirmed restore over it")

        # bad inputs: clear message, non-zero, nothing restored
        junk = os.path.join(tmp, "junk.dump")
        with open(junk, "wb") as f:
            f.write(b"PGDMP? no, just some bytes\n" * 10)
        cases = [
            ({}, "no dump given"),
            ({"DUMP": os.path.join(tmp, "missing.dump")}, "no such file"),
            ({"DUMP": junk}, "not a readable pg_dump archive"),
            ({"DUMP": tmp}, "no such file"),  # a directory is not a dump
        ]
        if os.geteuid() != 0:  # root reads a 0000 file anyway
            locked = os.path.join(tmp, "locked.dump")
            shutil.copy(dump, locked)
            os.chmod(locked, 0)
            cases.append(({"DUMP": locked}, "not readable"))
        empty = pg.create_db("bk_empty")
        url_empty = pg.url("bk_empty", password=PASSWORD)
        for extra, message in cases:
            r = make("db-restore", make_env(url_empty, **extra), "CONFIRM=1")
            expect(r.returncode != 0 and message in r.stderr,
                   "db-restore %r: expected a failure saying %r, got rc %d, stderr %s" %
                   (extra, message, r.returncode, r.stderr))
        expect_eq(pg.psql(TABLES_SQL, db="bk_empty").split(), [], "tables after refused restores")

        # a dump of an unreachable database fails and leaves no file
        bad = os.path.join(tmp, "unreachable.dump")
        r = make("db-dump", make_env("postgresql://postgres:%s@127.0.0.1:1/none" % PASSWORD, DUMP=bad))
        expect(r.returncode != 0 and "pg_dump failed" in r.stderr, "dump of an unreachable db: %s" % r.stderr)
        expect(not os.path.exists(bad) and not os.path.exists(bad + ".partial"), "files left by a failed dump")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
