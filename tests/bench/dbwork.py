#!/usr/bin/env python3
"""Database work per event (issue 17 item 2): ingest_event() alone, driven by pgbench.

For each schema named on the command line (a migration version: the schema as migrated up to and
including that file, e.g. 0015 for before 0016, 0016 for after), on a fresh throwaway Postgres with
durable commits (fsync, synchronous_commit and full_page_writes on; --fast turns them off):

  - migrates a copy of migrations/ up to that version,
  - warms up with pgbench (every one of the 20,000 visitors gets its visitor row and a session, so
    the measured events are returning visitors in continuing sessions, as on a live site),
  - for each client count (32 and 4 by default) runs pgbench for --seconds with a per-event script
    of tests/bench/bench.py (--script: `spliced`, an event without an eventId, PGBENCH_SCRIPT_SPLICED,
    the default, which the original schema's function also takes; `eventid`, PGBENCH_SCRIPT, every
    event with an eventId as t.js sends) and reports tx/s, Postgres CPU
    microseconds per event (utime + stime of the postmaster and all its children, from /proc),
    index insertions per event (inserted plus non-HOT updated rows of events, visitors and sessions
    times their index count, from pg_stat_user_tables) and the share of HOT updates.

Prints a table and writes JSON to fcgi-app/build/bench/dbwork.json. Nothing is asserted: the
machine may be shared, so compare runs made back to back (--rounds alternates the schemas).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402
import bench  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
TABLES = ("events", "visitors", "sessions")

# The per-event work of POST /v1/events as one pgbench transaction (20,000 visitors, one page view
# each): bench.py's, shared.
SCRIPTS = {"spliced": bench.PGBENCH_SCRIPT_SPLICED, "eventid": bench.PGBENCH_SCRIPT}

# The script's first event of each of its 20,000 visitors (a seq no pgbench draws is negative).
SEED_SQL = """
SELECT count(*) FROM generate_series({lo}, {hi}) n, LATERAL ingest_event('anon-' || n || '-pgbench',
  (now() AT TIME ZONE 'UTC')::timestamp(3), repeat('a', 64), repeat('b', 64), 'page_view', '/pricing', NULL, NULL,
  NULL, NULL, NULL, NULL, 30, gen_random_uuid()::text, gen_random_uuid()::text, gen_random_uuid()::text,
  '["v1","anon-' || n || '",', ',"page_view","/pricing","bucket:1",null,"a","b",null,null,{{"seq":-' || n || '}}]',
  ('{{"seq":-' || n || ',"ttfbMs":120}}')::jsonb, 'example.com', 'direct', 'desktop', 'CA', true, false, false)
"""

# Per table, its partitions summed (events is partitioned from 0017 on: the parent itself holds no
# rows): rows inserted, updated, HOT-updated, the indexes of a leaf, and the index entries written
# (each leaf's inserted and non-HOT updated rows times that leaf's indexes).
STATS_SQL = ("SELECT root, sum(n_tup_ins), sum(n_tup_upd), sum(n_tup_hot_upd), max(nidx), "
             "sum((n_tup_ins + n_tup_upd - n_tup_hot_upd) * nidx) FROM (SELECT "
             "coalesce(pg_partition_root(t.relid), t.relid)::regclass::text AS root, t.*, "
             "(SELECT count(*) FROM pg_index i WHERE i.indrelid = t.relid) AS nidx "
             "FROM pg_stat_user_tables t) r WHERE root IN ('events', 'visitors', 'sessions') GROUP BY root ORDER BY root")


def postgres_ticks(pg):
    pm = pg._postmaster_pid()
    pids = [pm] + harness.proc_children(pm) if pm else []
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
            if pid == pm:  # + cutime + cstime: the backends that exited (pgbench's) were its children
                total += int(fields[13]) + int(fields[14])
        except OSError:
            pass
    return total, pids


def table_stats(pg):
    pg.psql("SELECT pg_stat_force_next_flush()")
    out = {}
    for line in pg.psql(STATS_SQL).strip().splitlines():
        name, ins, upd, hot, nidx, entries = line.split("|")
        out[name] = {"ins": int(ins), "upd": int(upd), "hot": int(hot), "indexes": int(nidx),
                     "index_entries": int(entries)}
    return out


def app_home_upto(version):
    """A directory whose migrations/ holds the repository's files up to version (inclusive)."""
    home = tempfile.mkdtemp(prefix="dbwork-home-")
    os.mkdir(os.path.join(home, "migrations"))
    src = os.path.join(harness.APP_HOME, "migrations")
    names = sorted(n for n in os.listdir(src) if n.endswith(".sql") and n[:4] <= version)
    if not names or names[-1][:4] != version:
        raise harness.Fail("no migration %s in %s" % (version, src))
    for n in names:
        shutil.copy(os.path.join(src, n), os.path.join(home, "migrations", n))
    return home, names[-1][:-4]


def run_schema(version, clients_list, seconds, warmup, fast, perf, script_name, mode):
    home, last = app_home_upto(version)
    pg = harness.BenchPostgres(durable=not fast)
    script = os.path.join(pg.base, "ingest.sql")
    with open(script, "w") as f:
        f.write(SCRIPTS[script_name])
    os.chmod(script, 0o644)
    try:
        env = harness.service_env(pg.url())
        env["APP_HOME"] = home
        r = harness.migrate(env)
        if r.returncode != 0:
            raise harness.Fail("migrate up to %s failed: %s %s" % (version, r.stdout, r.stderr))
        # every one of the script's visitors gets its row and a session first, so the measured events
        # are returning visitors in continuing sessions (as on a live site); then a warm-up
        for lo in range(1, 20001, 1000):  # a transaction per 1,000 visitors
            pg.psql(SEED_SQL.format(lo=lo, hi=lo + 999), timeout=300)
        bench.run_pgbench(pg, "backend", script, warmup, 8, mode, check=True)
        pg.psql("VACUUM ANALYZE")
        rows = []
        for clients in clients_list:
            s0 = table_stats(pg)
            t0, _ = postgres_ticks(pg)
            perf_proc = None
            if perf:
                perf_out = os.path.join(harness.APP_HOME, "fcgi-app", "build", "bench",
                                        "dbwork-%s-%d.perf" % (version, clients))
                perf_proc = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-g", "-a", "-o", perf_out,
                                              "--", "sleep", str(seconds)],
                                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            res = bench.run_pgbench(pg, "backend", script, seconds, clients, mode, check=True)
            tx, tps = res["transactions"], res["tps"]
            if perf_proc:
                perf_proc.wait(timeout=60)
            t1, _ = postgres_ticks(pg)
            s1 = table_stats(pg)
            d = {t: {k: s1[t][k] - s0[t][k] for k in ("ins", "upd", "hot", "index_entries")} for t in TABLES}
            idx_ins = sum(d[t]["index_entries"] for t in TABLES)
            upd = sum(d[t]["upd"] for t in ("visitors", "sessions"))
            hot = sum(d[t]["hot"] for t in ("visitors", "sessions"))
            rows.append({
                "schema": last, "script": script_name, "mode": mode, "clients": clients, "seconds": seconds, "durable": not fast,
                "tps": tps, "events": tx, "failed": res["failed"],
                "pg_cpu_us_per_event": (t1 - t0) * 1e6 / CLK_TCK / tx if tx else None,
                "index_insertions_per_event": idx_ins / tx if tx else None,
                "hot_pct_visitors_sessions": 100.0 * hot / upd if upd else None,
                "hot_pct": {t: (100.0 * d[t]["hot"] / d[t]["upd"] if d[t]["upd"] else None) for t in TABLES},
                "indexes": {t: s1[t]["indexes"] for t in TABLES},
            })
            print("  %-28s %3d clients  %8.0f tx/s  %6.0f µs PG CPU/event  %5.2f index ins/event  "
                  "HOT %5.1f%% (visitors %.1f%%, sessions %.1f%%)"
                  % (last, clients, tps, rows[-1]["pg_cpu_us_per_event"], rows[-1]["index_insertions_per_event"],
                     rows[-1]["hot_pct_visitors_sessions"] or 0, rows[-1]["hot_pct"]["visitors"] or 0,
                     rows[-1]["hot_pct"]["sessions"] or 0), flush=True)
        return rows
    finally:
        pg.cleanup()
        shutil.rmtree(home, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("schemas", nargs="*", default=["0015", "0016"],
                    help="migration versions to compare (default: 0015 0016)")
    ap.add_argument("--clients", default="32,4")
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=1, help="alternate the schemas this many times")
    ap.add_argument("--fast", action="store_true", help="fsync and synchronous_commit off")
    ap.add_argument("--perf", action="store_true", help="perf record -e cpu-clock -a -g during each run")
    ap.add_argument("--script", choices=sorted(SCRIPTS), default="spliced",
                    help="events without an eventId (spliced, default) or each with one (eventid)")
    ap.add_argument("--mode", choices=("prepared", "extended"), default="prepared",
                    help="pgbench query mode: prepared (the default), or extended (each call parsed and "
                         "planned, as responders with DATABASE_STATEMENTS=unnamed)")
    a = ap.parse_args()
    clients = [int(c) for c in a.clients.split(",")]
    print("dbwork: ingest_event by pgbench, %s commits, %ds per run, script %s, %s statements (machine may be "
          "shared)" % ("fast" if a.fast else "durable", a.seconds, a.script, a.mode), flush=True)
    rows = []
    for _ in range(a.rounds):
        for v in a.schemas:
            rows += run_schema(v, clients, a.seconds, a.warmup, a.fast, a.perf, a.script, a.mode)
    out = os.path.join(harness.APP_HOME, "fcgi-app", "build", "bench")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "dbwork.json"), "w") as f:
        json.dump({"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "runs": rows}, f, indent=1)
    print("dbwork: JSON in %s" % os.path.join(out, "dbwork.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
