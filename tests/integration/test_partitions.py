"""test_partitions.py - events and ingest_rejections partitioned by UTC month (issue 17 item 5,
migrations/0017_partition_events_by_month.sql, jobs/partitions.c, docs/partitioning.md).

Adoption of the Node fixtures and of a filled table (every row identical before and after; the lock
levels a concurrent writer meets, and its longest wait, printed as NOTE lines, never asserted), the
partitions job (months ahead, once across two schedulers), retention (whole months dropped, the
month holding the cutoff deleted row by row, a busy month left to the row-wise delete), dedupe across
months (a retry in another month; two first deliveries racing), and late or future rows landing
somewhere."""

import datetime
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid

import harness
from harness import (BACKEND_BIN, Fail, PsqlSession, Stack, expect, expect_eq, migrate, service_env, test)

APP_HOME = harness.APP_HOME
FIXTURES = os.path.join(APP_HOME, "tests", "fixtures")
MIG_0017 = "0017_partition_events_by_month.sql"
TABLES = {"events": "timestamp", "ingest_rejections": "occurred_at"}


def pg():
    return harness.shared_postgres()


def bound(name):
    """A constant of core/bounds.h."""
    with open(os.path.join(APP_HOME, "fcgi-app", "src", "core", "bounds.h")) as f:
        m = re.search(r"^#define %s (\d+)" % name, f.read(), re.M)
    if not m:
        raise Fail("%s not in bounds.h" % name)
    return int(m.group(1))


def month_start(d, add=0):
    y, m = d.year, d.month - 1 + add
    return datetime.datetime(y + m // 12, m % 12 + 1, 1)


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class DB:
    def __init__(self, name):
        self.name = "part_" + name
        self.url = pg().create_db(self.name)
        self.env = service_env(self.url)

    def q(self, sql, timeout=300):
        return pg().psql(sql, db=self.name, timeout=timeout)

    def val(self, sql):
        return self.q(sql).strip()

    def lines(self, sql):
        return [line for line in self.q(sql).splitlines() if line]

    def migrate(self, env=None):
        r = migrate(env or self.env, timeout=300)
        if r.returncode != 0:
            raise Fail("migrate of %s failed (rc %d): %s" % (self.name, r.returncode, r.stderr[-1500:]))
        return r

    def migrate_before_0017(self):
        """Every migration but 0017 (and later), from an APP_HOME of their own."""
        home = tempfile.mkdtemp(prefix="itpart-home-", dir="/tmp")
        try:
            os.mkdir(os.path.join(home, "migrations"))
            for f in sorted(os.listdir(os.path.join(APP_HOME, "migrations"))):
                if f.endswith(".sql") and f < MIG_0017:
                    shutil.copy(os.path.join(APP_HOME, "migrations", f), os.path.join(home, "migrations", f))
            self.migrate(dict(self.env, APP_HOME=home))
        finally:
            shutil.rmtree(home, ignore_errors=True)

    def digest(self, table, where="true"):
        """Row count and an order-independent digest of every column of every row."""
        n, h = self.val("SELECT count(*), md5(coalesce(string_agg(x, E'\\n' ORDER BY x), '')) "
                        "FROM (SELECT t::text AS x FROM %s t WHERE %s) s" % (table, where)).split("|")
        return int(n), h

    def partitions(self, parent):
        """{partition: bound expression} of parent."""
        return dict(line.split("|", 1) for line in self.lines(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = '%s'::regclass" % parent))

    def indexes(self, rel):
        """{name: definition with the table's name taken out} of the non-unique indexes of rel."""
        out = {}
        for line in self.lines("SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
                               "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = '%s'::regclass "
                               "AND NOT i.indisunique" % rel):
            name, d = line.split("|", 1)
            out[name] = re.sub(r"^CREATE INDEX \S+ ON (ONLY )?\S+ ", "", d)
        return out

    def fks(self, rel):
        return set(self.lines("SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint "
                              "WHERE conrelid = '%s'::regclass AND contype = 'f'" % rel))


def ev_insert(eid, ts, vid="vw", key=None):
    return ("INSERT INTO events (id, visitor_id, dedupe_key, event_type, path, \"timestamp\", created_at) "
            "VALUES ('%s', '%s', %s, 'page_view', '/', '%s', now() AT TIME ZONE 'UTC');"
            % (eid, vid, "'%s'" % key if key else "md5('%s')" % eid, ts))


def visitor_insert(vid):
    return ("INSERT INTO visitors (id, anon_id, updated_at) VALUES ('%s', '%s', now()) ON CONFLICT DO NOTHING;"
            % (vid, vid))


def fill_months(db, n, months_back, prefix="b"):
    """n events spread evenly over the months_back months before this one and this one, plus one
    ingest_rejections row per 100 events."""
    start = month_start(now_utc(), -months_back)
    span = (now_utc() - start).total_seconds()
    db.q(visitor_insert("vb") +
         "INSERT INTO events (id, visitor_id, dedupe_key, event_type, path, \"timestamp\", props, created_at) "
         "SELECT '%s' || g, 'vb', md5('%s' || g), 'page_view', '/p' || (g %% 50), "
         "'%s'::timestamp + (g * %f / %d) * interval '1 second', jsonb_build_object('g', g), "
         "now() AT TIME ZONE 'UTC' FROM generate_series(1, %d) g;"
         "INSERT INTO ingest_rejections (id, property_id, endpoint, reason, status_code, occurred_at) "
         "SELECT 'r%s' || g, 'default', '/v1/events', 'invalid_json', 400, "
         "'%s'::timestamp + (g * 100 * %f / %d) * interval '1 second' FROM generate_series(1, %d) g;"
         % (prefix, prefix, start, span, n, n, prefix, start, span, n, max(1, n // 100)), timeout=600)


def check_layout(db, parent, legacy_bound):
    """The legacy range up to legacy_bound, the default, and this month with PARTITION_MONTHS_AHEAD
    next ones (those the legacy range does not cover)."""
    parts = db.partitions(parent)
    expect_eq(parts.get(parent + "_legacy"),
              legacy_bound and "FOR VALUES FROM (MINVALUE) TO ('%s')" % legacy_bound,
              "%s's legacy partition (all: %r)" % (parent, parts))
    expect_eq(parts.get(parent + "_default"), "DEFAULT", "%s's default partition" % parent)
    lb = datetime.datetime.fromisoformat(legacy_bound or "1970-01-01")
    for k in range(bound("PARTITION_MONTHS_AHEAD") + 1):
        m = month_start(now_utc(), k)
        name = "%s_p%04d%02d" % (parent, m.year, m.month)
        if m < lb:
            expect(name not in parts, "%s exists below the legacy bound %s" % (name, legacy_bound))
            continue
        expect_eq(parts.get(name), "FOR VALUES FROM ('%s') TO ('%s')" % (m, month_start(m, 1)),
                  "%s (all: %r)" % (name, parts))
    ahead = month_start(now_utc(), bound("PARTITION_MONTHS_AHEAD") + 1)
    expect("%s_p%04d%02d" % (parent, ahead.year, ahead.month) not in parts,
           "a partition beyond PARTITION_MONTHS_AHEAD: %r" % parts)


# ---------------------------------------------------------------------------------------------
# adoption

def _adopt_fixture(fixture, drop=()):
    db = DB("adopt_" + fixture.split("_")[-1].split(".")[0])
    db.q(open(os.path.join(FIXTURES, fixture)).read())
    db.migrate_before_0017()
    for sql in drop:  # what the table has when 0017 runs is what it copies
        db.q(sql)
    before = {t: db.digest(t) for t in TABLES}
    expect(before["events"][0] > 0, "fixture data: %r" % before)
    idx = db.indexes("events")
    fks = db.fks("events")
    db.migrate()
    for t in TABLES:
        expect_eq(db.digest(t), before[t], "rows of %s (count, digest of every column)" % t)
        if before[t][0]:
            expect_eq(db.digest(t + "_legacy"), before[t], "rows of %s_legacy: all of them" % t)
        else:  # an empty table is not kept
            expect("%s_legacy" % t not in db.partitions(t), "%s_legacy of an empty table" % t)
        expect_eq(db.val("SELECT count(*) FROM ONLY %s" % t), "0", "rows in the parent %s itself" % t)
    # the parent has the old table's non-unique indexes (and no more), under their names
    expect_eq(db.indexes("events"), idx, "indexes of the partitioned events")
    expect_eq(db.fks("events"), fks, "foreign keys of the partitioned events")
    for part in db.partitions("events"):
        expect_eq(db.fks(part), fks, "foreign keys of %s" % part)
        expect_eq(set(db.indexes(part).values()), set(idx.values()), "indexes of %s" % part)
        uniq = set(db.lines("SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indisunique "
                            "AND indrelid = '%s'::regclass" % part))
        expect_eq({re.sub(r"^CREATE UNIQUE INDEX \S+ ON \S+ ", "", u) for u in uniq},
                  {"USING btree (id)", "USING btree (dedupe_key)"}, "unique keys of %s" % part)
    # the fixtures' newest rows are in February 2026: the legacy range ends with that month
    newest = db.val("SELECT to_char(date_trunc('month', max(\"timestamp\")) + interval '1 month', "
                    "'YYYY-MM-DD HH24:MI:SS') FROM events")
    check_layout(db, "events", newest)
    return db, idx, fks


@test(timeout=240)
def adopt_node_8d_every_row_kept():
    _adopt_fixture("node_schema_8d.sql")


@test(timeout=240)
def adopt_node_d1_copies_only_what_exists():
    """0017 copies what the old table has when it runs: 0016's drops (five Node-era indexes and both
    foreign keys) stay dropped, and an index an operator added (here on path) is carried over."""
    db, idx, fks = _adopt_fixture("node_schema_d1.sql", drop=(
        "CREATE INDEX events_operator_path_idx ON events (path)",))
    expect("events_path_timestamp_idx" not in idx and "events_visitor_id_timestamp_idx" in idx and
           "events_operator_path_idx" in idx, "indexes before 0017 (0016's drops, the operator's index): %r" % idx)
    expect_eq(fks, set(), "foreign keys of events before 0017 (0016 dropped both)")
    # the adopted table works: a visitor's deletion reaches the partitioned events (0016's trigger)
    vid = db.val("SELECT visitor_id FROM events LIMIT 1")
    n = int(db.val("SELECT count(*) FROM events WHERE visitor_id = '%s'" % vid))
    expect(n > 0, "events of %s" % vid)
    db.q("DELETE FROM visitors WHERE id = '%s'" % vid)
    expect_eq(db.val("SELECT count(*) FROM events WHERE visitor_id = '%s'" % vid), "0",
              "a visitor's deletion reaching the partitioned events")


class Writer(threading.Thread):
    """Inserts one event at a time in its own session and times each insert."""

    def __init__(self, db, prefix):
        super().__init__(daemon=True)
        self.s = PsqlSession(pg(), db=db.name)
        self.prefix = prefix
        self.stop = threading.Event()
        self.times = []  # (start, seconds) per insert
        self.error = None

    def run(self):
        k = 0
        try:
            while not self.stop.is_set():
                k += 1
                t0 = time.monotonic()
                self.s.send(ev_insert("%s%d" % (self.prefix, k), now_utc()) + "SELECT 'done%d';" % k)
                if not self.s.wait_for("done%d\n" % k, 120):
                    self.error = "insert %d did not finish: %s" % (k, self.s.stderr())
                    return
                self.times.append((t0, time.monotonic() - t0))
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = repr(e)

    def during(self, a, b):
        return [d for t, d in self.times if a <= t and t + d <= b]

    def finish(self):
        self.stop.set()
        self.join(30)
        self.s.close()
        if self.error:
            raise Fail("writer: " + self.error)


@test(timeout=600)
def adopt_filled_table_writers_go_on():
    """A table over backend.partition_inline_max_bytes (set to 0 here, as for a large one): the
    migration renames and attaches it as the DEFAULT partition under the exclusive lock without a
    scan; the proof of its bound (VALIDATE, a scan) holds only SHARE UPDATE EXCLUSIVE, and inserts
    go on meanwhile; then the swap to its range and the new months, catalog work again. Every row is
    kept; the writer's longest wait in each step is printed."""
    db = DB("adopt_filled")
    db.migrate_before_0017()
    n = int(os.environ.get("PARTITION_TEST_EVENTS", "200000"))
    fill_months(db, n, 4)
    db.q("ANALYZE events; " + visitor_insert("vw"))
    before = {t: db.digest(t) for t in TABLES}
    writer = Writer(db, "w")
    writer.start()
    try:
        time.sleep(0.5)
        t0 = time.monotonic()
        env = dict(db.env, PGOPTIONS="-c backend.partition_inline_max_bytes=0")
        db.migrate(env)
        t1 = time.monotonic()
        parts = db.partitions("events")
        expect_eq(parts, {"events_legacy": "DEFAULT"}, "after the migration: the old table is the default")
        expect_eq(db.val("SELECT convalidated FROM pg_constraint WHERE conname = 'events_legacy_bound'"), "f",
                  "the legacy bound is not proven yet")
        time.sleep(0.3)
        # the proof, in a transaction held open so its lock can be looked at
        s = PsqlSession(pg(), db=db.name)
        try:
            s.send("BEGIN; SELECT 'v' || partition_validate_legacy(0);")
            expect(s.wait_for("v2\n", 120), "partition_validate_legacy() (%s)" % s.stderr())
            t2 = time.monotonic()
            modes = db.lines("SELECT c.relname || ':' || l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                             "WHERE l.granted AND l.locktype = 'relation' AND c.relname IN ('events', 'events_legacy') "
                             "AND l.pid <> pg_backend_pid() "
                             "AND l.mode LIKE '%Exclusive%' ORDER BY 1")
            expect("events_legacy:ShareUpdateExclusiveLock" in modes and
                   not any("AccessExclusive" in m or ":ExclusiveLock" in m for m in modes),
                   "locks held by the proof: %r" % modes)
            k0 = len(writer.times)
            time.sleep(1.0)
            t3 = time.monotonic()
            expect(len(writer.times) - k0 >= 3, "inserts while the proof's lock is held: %d" % (len(writer.times) - k0))
            s.send("COMMIT; SELECT 'committed';")
            expect(s.wait_for("committed\n", 30), "commit of the proof")
        finally:
            s.close()
        t4 = time.monotonic()
        lbt = month_start(now_utc() + datetime.timedelta(days=1), 2)
        want = sum(1 for k in range(bound("PARTITION_MONTHS_AHEAD") + 1) if month_start(now_utc(), k) >= lbt)
        expect_eq(db.val("SELECT partitions_ensure(%d, 2000)" % bound("PARTITION_MONTHS_AHEAD")), str(2 * want),
                  "partitions created by the swap (the legacy range holds the months before %s)" % lbt)
        t5 = time.monotonic()
        time.sleep(0.5)
    finally:
        writer.finish()
    lb = db.val("SELECT to_char(legacy_bound, 'YYYY-MM-DD HH24:MI:SS') FROM partitioned_tables WHERE parent = 'events'")
    expect_eq(lb, str(month_start(now_utc() + datetime.timedelta(days=1), 2)), "the legacy bound")
    check_layout(db, "events", lb)
    check_layout(db, "ingest_rejections", lb)
    for t in TABLES:
        expect_eq(db.digest(t, "id NOT LIKE 'w%'"), before[t], "rows of %s (count, digest of every column)" % t)
    expect_eq(int(db.val("SELECT count(*) FROM events WHERE id LIKE 'w%'")), len(writer.times),
              "the writer's rows")
    for what, a, b in (("migrate", t0, t1), ("proof (VALIDATE)", t1, t3), ("swap and new months", t4, t5)):
        w = writer.during(a, b) or [0.0]
        print("NOTE adoption of %d events, %s: %.0f ms; the writer's inserts: %d, longest %.1f ms" %
              (n, what, (b - a) * 1000, len(writer.during(a, b)), max(w) * 1000), flush=True)
    print("NOTE proof alone (VALIDATE of %d rows): %.0f ms" % (n, (t2 - t1) * 1000), flush=True)


# ---------------------------------------------------------------------------------------------
# the partitions job

@test(timeout=120)
def partitions_job_once_across_two_schedulers():
    """The months ahead missing (as after a month without a scheduler): two schedulers make them
    once, and an event of next month that arrived meanwhile is moved out of the default."""
    db = DB("job")
    db.migrate()
    ahead = bound("PARTITION_MONTHS_AHEAD")
    lb = db.val("SELECT coalesce(legacy_bound::text, 'none') FROM partitioned_tables WHERE parent = 'events'")
    expect_eq(lb, "none", "a fresh database's legacy range (its empty table is dropped)")
    lb = None
    check_layout(db, "events", lb)
    nxt = month_start(now_utc(), 1)
    for t in TABLES:
        for k in range(1, ahead + 1):
            m = month_start(now_utc(), k)
            db.q("DROP TABLE %s_p%04d%02d" % (t, m.year, m.month))
    db.q(visitor_insert("vw") + ev_insert("next1", nxt + datetime.timedelta(days=3)))
    expect_eq(db.val("SELECT tableoid::regclass FROM events WHERE id = 'next1'"), "events_default",
              "next month's event without its partition")
    tmp = tempfile.mkdtemp(prefix="itpart-sched-", dir="/tmp")
    procs, logs = [], []
    try:
        for k in range(2):
            path = os.path.join(tmp, "s%d.log" % k)
            logs.append(path)
            with open(path, "wb") as f:
                procs.append(subprocess.Popen([BACKEND_BIN, "scheduler"], env=db.env, cwd="/",
                                              stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                                              start_new_session=True))
        harness.wait_until(lambda: db.val("SELECT count(*) FROM job_runs WHERE last_finished_at IS NOT NULL") == "5",
                           20, 0.1, "the jobs to finish (job_runs: %s)" % db.q("SELECT * FROM job_runs"))
        time.sleep(1.0)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    text = "".join(open(p, encoding="utf-8", errors="replace").read() for p in logs)
    shutil.rmtree(tmp, ignore_errors=True)
    expect_eq(db.val("SELECT last_status FROM job_runs WHERE job = 'partitions'"), "ok", "partitions job status")
    done = re.findall(r"partitions: (\d+) legacy bound\(s\) proven, (\d+) partition\(s\) created "
                      r"\(this month and (\d+) ahead\)\"", text)
    expect_eq(done, [("0", str(2 * ahead), str(ahead))], "partitions job summaries across both logs:\n" + text)
    expect_eq(len(re.findall(r"partitions: finished in \d+ ms", text)), 1, "'partitions: finished' lines:\n" + text)
    for t in TABLES:
        check_layout(db, t, lb)
    expect_eq(db.val("SELECT tableoid::regclass FROM events WHERE id = 'next1'"),
              "events_p%04d%02d" % (nxt.year, nxt.month), "next month's event after the job")


# ---------------------------------------------------------------------------------------------
# retention

def _month_partition(db, parent, m):
    name = "%s_p%04d%02d" % (parent, m.year, m.month)
    db.q("CREATE TABLE %s PARTITION OF %s FOR VALUES FROM ('%s') TO ('%s'); SELECT partition_local_keys('%s', '%s');"
         % (name, parent, m, month_start(m, 1), parent, name))
    return name


@test(timeout=180)
def retention_drops_months_and_deletes_the_partial_one():
    """Four past months made as the job made them in their time: those wholly before the cutoff are
    dropped (their rows counted), the one holding the cutoff is deleted row by row, the default's old
    rows too; ingest_rejections alike. A month whose table is busy (a reader holds it) is not waited
    for: its rows are deleted one by one and the next purge drops it."""
    db = DB("retention")
    db.migrate()
    months = [month_start(now_utc(), -k) for k in (5, 4, 3, 2)]
    for m in months:
        for t in TABLES:
            _month_partition(db, t, m)
    sql = [visitor_insert("vw")]
    for i, m in enumerate(months):
        for day in (1, 10, 20, 28):
            ts = m + datetime.timedelta(days=day - 1, hours=12)
            sql.append(ev_insert("e%d_%02d" % (i, day), ts))
            sql.append("INSERT INTO ingest_rejections (id, property_id, endpoint, reason, status_code, occurred_at) "
                       "VALUES ('r%d_%02d', 'default', '/v1/events', 'invalid_json', 400, '%s');" % (i, day, ts))
    # a late event from long ago: in the default
    sql.append(ev_insert("ancient", "2001-01-01 00:00:00"))
    db.q("\n".join(sql))
    expect_eq(db.val("SELECT tableoid::regclass FROM events WHERE id = 'ancient'"), "events_default", "ancient's place")
    cutoff = months[2] + datetime.timedelta(days=14)  # the 15th of the third month
    busy = PsqlSession(pg(), db=db.name)
    try:
        # a reader holds months[1]'s table: the drop would wait (and inserts behind it): not waited for
        busy.send("BEGIN; SELECT count(*) FROM events_p%04d%02d; SELECT 'holding';" % (months[1].year, months[1].month))
        expect(busy.wait_for("holding\n", 10), "the reader (%s)" % busy.stderr())
        t0 = time.monotonic()
        got = db.val("SELECT events_deleted FROM retention_purge('%s')" % cutoff)
        took = time.monotonic() - t0
    finally:
        busy.send("COMMIT;")
        busy.close()
    # months[0], months[1] (4 rows each), months[2]'s 1st and 10th, ancient
    expect_eq(got, "11", "events_deleted (purge took %.1f s)" % took)
    names = set(db.partitions("events"))
    tag = lambda m: "events_p%04d%02d" % (m.year, m.month)  # noqa: E731
    expect(tag(months[0]) not in names, "the oldest month is dropped: %r" % names)
    expect(tag(months[1]) in names, "the busy month stays (emptied row by row): %r" % names)
    expect_eq(db.val("SELECT count(*) FROM %s" % tag(months[1])), "0", "rows left in the busy month")
    expect_eq(db.lines("SELECT id FROM events ORDER BY id"),
              ["e2_20", "e2_28", "e3_01", "e3_10", "e3_20", "e3_28"], "events left")
    expect_eq(db.lines("SELECT id FROM ingest_rejections ORDER BY id"),
              ["r2_20", "r2_28", "r3_01", "r3_10", "r3_20", "r3_28"], "ingest_rejections left")
    expect("ingest_rejections_p%04d%02d" % (months[0].year, months[0].month) not in db.partitions("ingest_rejections"),
           "the oldest rejections month is dropped")
    # the next purge drops the month left over
    got = db.val("SELECT events_deleted FROM retention_purge('%s')" % cutoff)
    expect_eq(got, "0", "events_deleted by the second purge")
    names = set(db.partitions("events"))
    expect(tag(months[1]) not in names, "after the second purge: %r" % names)
    expect(tag(months[2]) in names and tag(months[3]) in names, "the months kept: %r" % names)


# ---------------------------------------------------------------------------------------------
# dedupe across months, late and future events

@test(timeout=120)
def dedupe_across_months_and_late_or_future_events():
    """A retry (same eventId) with a timestamp in another month finds the first event; events from
    1970, 2001 and 23 hours ahead are all stored (the default or their month). Two first deliveries of
    one eventId racing into two months, for a new and for a returning visitor: the second waits for
    the first's lock on the visitor row and answers its event; another event of the same visitor in
    flight meanwhile is stored."""
    db = DB("dedupe")
    db.migrate()
    with Stack(db.url, workers=2) as s:
        eid = str(uuid.uuid4())
        now_ms = int(time.time() * 1000)
        first = s.request("POST", "/v1/events", {"anonId": "a-dedupe", "eventType": "page_view", "path": "/",
                                                  "eventId": eid, "timestamp": now_ms - 62 * 86400000})
        expect_eq(first.status, 202, "first delivery", first)
        retry = s.request("POST", "/v1/events", {"anonId": "a-dedupe", "eventType": "page_view", "path": "/",
                                                  "eventId": eid, "timestamp": now_ms})
        expect_eq(retry.status, 202, "retry", retry)
        expect_eq(retry.json["eventId"], first.json["eventId"], "the retry answers the first event")
        expect_eq(db.val("SELECT count(*) FROM events e JOIN visitors v ON v.id = e.visitor_id "
                         "WHERE v.anon_id = 'a-dedupe'"), "1", "events of a-dedupe")
        for ts in (86400000, 978307200000, now_ms + 23 * 3600000):
            r = s.request("POST", "/v1/events", {"anonId": "a-late-events", "eventType": "page_view", "path": "/",
                                                 "timestamp": ts})
            expect_eq(r.status, 202, "event at %d ms" % ts, r)
        places = db.lines("SELECT e.tableoid::regclass FROM events e JOIN visitors v ON v.id = e.visitor_id "
                          "WHERE v.anon_id = 'a-late-events' ORDER BY e.\"timestamp\"")
        fut = datetime.datetime.utcfromtimestamp((now_ms + 23 * 3600000) / 1000)
        expect_eq(places, ["events_default", "events_default", "events_p%04d%02d" % (fut.year, fut.month)],
                  "where the late and future events went")

    # the races, through ingest_event() itself: session A holds a first delivery uncommitted while B
    # delivers the same eventId (a twin) or another event of the same visitor
    lit = harness.sql_lit

    def call(key, ts, ids):
        return ("SELECT 'r:' || event_id || ':' || deduplicated FROM ingest_event('a-race', '%s', 'ip', 'ua', "
                "'page_view', '/', NULL, NULL, NULL, NULL, NULL, NULL, 30, '%s', '%s', '%s', %s, NULL, NULL, "
                "'default', 'direct', 'desktop', NULL, false, false, false);" % (ts, ids, ids + "s", ids + "e",
                                                                                 lit(key)))

    def race(what, key_a, key_b, ids_a, ids_b, b_answers):
        a, b = PsqlSession(pg(), db=db.name), PsqlSession(pg(), db=db.name)
        try:
            a.send("BEGIN; " + call(key_a, month_start(now_utc(), -1) + datetime.timedelta(days=2), ids_a))
            expect(a.wait_for("r:%se:false\n" % ids_a, 10), "%s: A's delivery (%s)" % (what, a.stderr()))
            b.send(call(key_b, now_utc(), ids_b))
            expect(not b.wait_for("r:", 1.0), "%s: B answered while A was uncommitted: %r" % (what, b.out))
            a.send("COMMIT; SELECT 'a-done';")
            expect(a.wait_for("a-done\n", 10), "%s: A's commit" % what)
            expect(b.wait_for(b_answers, 10), "%s: B answers %r: %r (%s)" % (what, b_answers, b.out, b.stderr()))
        finally:
            a.close()
            b.close()

    def key():
        return '["v1-eventId","a-race","%s"]' % uuid.uuid4()

    k1, k2, k3 = key(), key(), key()
    race("a new visitor's twins", k1, k1, "va", "vb", "r:vae:true\n")
    race("a returning visitor's twins", k2, k2, "vc", "vd", "r:vce:true\n")
    race("two events of one visitor", k3, key(), "ve", "vf", "r:vfe:false\n")
    expect_eq(db.lines("SELECT id FROM events WHERE id IN ('vae', 'vbe', 'vce', 'vde', 'vee', 'vfe') ORDER BY id"),
              ["vae", "vce", "vee", "vfe"], "events of the races")
