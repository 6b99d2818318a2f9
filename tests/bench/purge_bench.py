#!/usr/bin/env python3
"""purge_bench.py - `make bench-purge`: events partitioned by month (migrations/0017), measured
against the table as it was (every migration before 0017), on one throwaway Postgres cluster with
durable commits (fsync, synchronous_commit, full_page_writes on).

1. Retention purge of one month of PURGE_BENCH_EVENTS events (default 5,000,000; plus a tenth as
   many in the next month, which stays): retention_purge() with the cutoff at the month's end,
   row-wise DELETE (before) against a partition drop (after).
2. Insert throughput: pgbench running tests/bench/bench.py's PGBENCH_SCRIPT (one ingest_event() per
   transaction, the responder's call) at PURGE_BENCH_CLIENTS clients for PURGE_BENCH_SECONDS, on
   both schemas, runs alternated (before, after, before, after).

Prints a table and writes fcgi-app/build/bench/purge.json: {"targets": [{"name", "target",
"measured", "unit", "met"}], ...the figures}. Numbers on a shared machine are noisy: the A/B
comparison run back to back is what counts."""

import datetime
import json
import os
import re
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

import harness  # noqa: E402
import bench  # noqa: E402
from bench import PGBENCH_SCRIPT  # noqa: E402

EVENTS = int(os.environ.get("PURGE_BENCH_EVENTS", "5000000"))
CLIENTS = int(os.environ.get("PURGE_BENCH_CLIENTS", "16"))
SECONDS = int(os.environ.get("PURGE_BENCH_SECONDS", "20"))
ROUNDS = int(os.environ.get("PURGE_BENCH_ROUNDS", "2"))
PURGE_TARGET_S = 10.0  # "seconds, not minutes"
INSERT_TARGET_RATIO = 0.9  # partitioning must not cost more than the noise of a shared machine
MIG_0017 = "0017_partition_events_by_month.sql"
OUT = os.path.join(ROOT, "fcgi-app", "build", "bench", "purge.json")


def log(msg):
    print("bench-purge: " + msg, flush=True)


def migrate(pg, db, before_0017):
    url = pg.create_db(db)
    env = harness.service_env(url)
    home = None
    if before_0017:
        home = tempfile.mkdtemp(prefix="purge-bench-home-", dir="/tmp")
        os.mkdir(os.path.join(home, "migrations"))
        for f in sorted(os.listdir(os.path.join(ROOT, "migrations"))):
            if f.endswith(".sql") and f < MIG_0017:
                shutil.copy(os.path.join(ROOT, "migrations", f), os.path.join(home, "migrations", f))
        env["APP_HOME"] = home
    try:
        r = harness.migrate(env, timeout=600)
        if r.returncode != 0:
            raise SystemExit("bench-purge: migrate of %s failed: %s" % (db, r.stderr[-1500:]))
    finally:
        if home:
            shutil.rmtree(home, ignore_errors=True)


def month_start(d, add=0):
    y, m = d.year, d.month - 1 + add
    return datetime.datetime(y + m // 12, m % 12 + 1, 1)


EVENT_ROWS = """
INSERT INTO {table} (id, visitor_id, session_id, dedupe_key, event_type, path, "timestamp", ip_hash, ua_hash,
                    props, property_id, traffic_source, device_type, country_code, is_entrance, created_at)
SELECT gen_random_uuid()::text, 'v' || (g % 20000 + 1), 's' || (g % 20000 + 1), md5('{tag}' || g) || md5(g::text),
       'page_view', '/p' || (g % 200), '{start}'::timestamp + (g::float8 / {n}) * ({secs} * interval '1 second'),
       repeat('a', 64), repeat('b', 64), jsonb_build_object('seq', g, 'ttfbMs', 120), 'example.com', 'direct',
       'desktop', 'CA', g % 7 = 0, now() AT TIME ZONE 'UTC'
  FROM generate_series(1, {n}) g;
"""


def fill(pg, db, month, n, partitioned):
    """n events in month (and n/100 in the next, which the purge keeps), over 20,000 visitors with one
    session each, whose last activity is after the cutoff (they stay). The month is loaded without
    its indexes, which are built afterwards (a sort each: minutes faster than 5 million index
    insertions), so the table is as an index-maintained one would be, minus its bloat."""
    nxt = month_start(month, 1)
    late = nxt + datetime.timedelta(days=20)
    q = lambda sql: pg.psql(sql, db=db, timeout=7200)  # noqa: E731
    q("INSERT INTO visitors (id, anon_id, first_seen_at, last_seen_at, updated_at) "
      "SELECT 'v' || g, 'anon-' || g, '{m}', '{late}', now() FROM generate_series(1, 20000) g;"
      "INSERT INTO sessions (id, visitor_id, started_at, last_event_at, updated_at) "
      "SELECT 's' || g, 'v' || g, '{m}', '{late}', now() FROM generate_series(1, 20000) g;".format(m=month, late=late))
    rows = dict(n=n, start=month, secs=int((nxt - month).total_seconds()) - 1, tag="m")
    if partitioned:
        # the month as a table of its own, filled, indexed, then attached (the parent's indexes are
        # matched to its own, its foreign keys validated once)
        part = "events_p%04d%02d" % (month.year, month.month)
        q("CREATE TABLE %s (LIKE events INCLUDING DEFAULTS)" % part)
        q(EVENT_ROWS.format(table=part, **rows))
        defs = q("SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = 'events'::regclass").splitlines()
        for k, d in enumerate(x for x in defs if x):
            q(re.sub(r"^CREATE INDEX \S+ ON (ONLY )?\S+ ", "CREATE INDEX %s_i%d ON %s " % (part, k, part), d))
        q("SELECT partition_local_keys('events', '%s')" % part)
        q("ALTER TABLE events ATTACH PARTITION %s FOR VALUES FROM ('%s') TO ('%s')" % (part, month, nxt))
    else:
        idx = [x for x in q("SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = 'events'::regclass "
                            "AND indexrelid::regclass::text <> 'events_pkey'").splitlines() if x]
        fks = [x for x in q("SELECT format('ALTER TABLE events ADD CONSTRAINT %I %s', conname, "
                            "pg_get_constraintdef(oid)) FROM pg_constraint WHERE conrelid = 'events'::regclass "
                            "AND contype = 'f'").splitlines() if x]
        q("SELECT 1 FROM events LIMIT 0")
        for name in [x for x in q("SELECT conname FROM pg_constraint WHERE conrelid = 'events'::regclass "
                                  "AND contype = 'f'").splitlines() if x]:
            q("ALTER TABLE events DROP CONSTRAINT %s" % name)
        for d in idx:
            q("DROP INDEX %s" % d.split()[3 if d.startswith("CREATE UNIQUE") else 2])
        q("ALTER TABLE events DROP CONSTRAINT events_pkey")
        q(EVENT_ROWS.format(table="events", **rows))
        q("ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY (id)")
        for d in idx + fks:
            q(d)
    q(EVENT_ROWS.format(table="events", n=max(1, n // 100), start=nxt, secs=20 * 86400, tag="n"))
    q("VACUUM ANALYZE")


def purge(pg, db, cutoff):
    t0 = time.monotonic()
    out = pg.psql("SELECT events_deleted FROM retention_purge('%s')" % cutoff, db=db, timeout=7200).strip()
    return time.monotonic() - t0, int(out)


def pgbench(pg, db, script):
    """tx/s of the per-event script on db (bench.py's pgbench driver)."""
    return bench.run_pgbench(pg, db, script, SECONDS, CLIENTS, check=True)["tps"]


def main():
    if not shutil.which("pgbench"):
        raise SystemExit("bench-purge: pgbench is missing")
    harness.BACKEND_BIN = os.environ.get("BACKEND_BIN", harness.BACKEND_BIN)
    tmp = tempfile.mkdtemp(prefix="purge-bench-", dir="/tmp")
    script = os.path.join(tmp, "ingest.sql")
    with open(script, "w") as f:
        f.write(PGBENCH_SCRIPT)
    os.chmod(tmp, 0o755)
    os.chmod(script, 0o644)
    # durable commits, as in production; room for a month's WAL between checkpoints
    pg = harness.BenchPostgres(settings={"max_wal_size": "'4GB'"})
    try:
        settings = pg.psql("SELECT string_agg(name || '=' || setting, ' ' ORDER BY name) FROM pg_settings "
                           "WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes')", db="postgres").strip()
        log("durable settings: " + settings)

        # 1. purge
        month = month_start(datetime.datetime.utcnow(), -4)
        cutoff = month_start(month, 1)
        figures = {"events": EVENTS, "month": str(month.date()), "settings": settings}
        for label, before in (("before", True), ("after", False)):
            db = "purge_" + label
            migrate(pg, db, before)
            if not before:
                # the next month's partition, as the partitions job made it when the month was current
                nxt = "events_p%04d%02d" % (cutoff.year, cutoff.month)
                pg.psql("CREATE TABLE %s PARTITION OF events FOR VALUES FROM ('%s') TO ('%s'); "
                        "SELECT partition_local_keys('events', '%s');"
                        % (nxt, cutoff, month_start(month, 2), nxt), db=db)
            t0 = time.monotonic()
            fill(pg, db, month, EVENTS, not before)
            log("%s: %d events loaded in %.0f s" % (label, EVENTS, time.monotonic() - t0))
            secs, n = purge(pg, db, cutoff)
            left = int(pg.psql("SELECT count(*) FROM events", db=db).strip())
            log("%s: retention_purge removed %d events in %.2f s (%d left)" % (label, n, secs, left))
            figures["purge_%s_s" % label] = round(secs, 3)
            figures["purge_%s_deleted" % label] = n
            figures["purge_%s_left" % label] = left
            pg.psql('DROP DATABASE "%s"' % db, db="postgres")

        # 2. insert throughput, alternated
        migrate(pg, "ins_before", True)
        migrate(pg, "ins_after", False)
        tps = {"before": [], "after": []}
        pgbench(pg, "ins_before", script)  # warm-up
        pgbench(pg, "ins_after", script)
        for k in range(ROUNDS):
            for label in ("before", "after"):
                tps[label].append(round(pgbench(pg, "ins_" + label, script), 1))
                log("insert round %d %s: %.0f tx/s" % (k + 1, label, tps[label][-1]))
        figures["insert_tps_before"] = tps["before"]
        figures["insert_tps_after"] = tps["after"]
        figures["clients"] = CLIENTS
        figures["seconds"] = SECONDS
        mb, ma = max(tps["before"]), max(tps["after"])
        ratio = ma / mb if mb else 0.0

        targets = [
            {"name": "purge of one month of %d events (partition drop)" % EVENTS, "target": "<= %.0f s" % PURGE_TARGET_S,
             "measured": figures["purge_after_s"], "unit": "s", "met": figures["purge_after_s"] <= PURGE_TARGET_S},
            {"name": "the same purge row by row (before 0017)", "target": "reference",
             "measured": figures["purge_before_s"], "unit": "s", "met": True},
            {"name": "ingest_event tx/s partitioned / unpartitioned (best of %d)" % ROUNDS,
             "target": ">= %.2f" % INSERT_TARGET_RATIO, "measured": round(ratio, 3), "unit": "ratio",
             "met": ratio >= INSERT_TARGET_RATIO},
        ]
        doc = dict({"targets": targets}, **figures)
        os.makedirs(os.path.dirname(OUT), exist_ok=True)
        with open(OUT, "w") as f:
            json.dump(doc, f, indent=2)
        print()
        print("%-62s %-10s %-12s %s" % ("target", "wanted", "measured", "met"))
        for t in targets:
            print("%-62s %-10s %-12s %s" % (t["name"], t["target"], "%s %s" % (t["measured"], t["unit"]),
                                            "yes" if t["met"] else "NO"))
        print("insert tx/s before %s, after %s (%d clients, %d s each, %s)" % (tps["before"], tps["after"], CLIENTS,
                                                                               SECONDS, settings))
        print("written to %s" % OUT)
        return 0 if all(t["met"] for t in targets) else 1
    finally:
        pg.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
