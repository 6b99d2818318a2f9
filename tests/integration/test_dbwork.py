"""test_dbwork.py - less database work per event (issue 17 item 2, migrations/0016, docs/database-work.md).

- Updates of returning visitors and continuing sessions are HOT (no indexed column changes).
- The index set of events, visitors and sessions is exactly the documented one (INDEXES below, each
  with the query that needs it: adding an index without naming its query fails here), and each
  index is used by its query according to EXPLAIN on seeded data; visitors and sessions keep
  free room on their pages (fillfactor).
- What the dropped foreign keys from events did on a delete or an id change of a visitor or
  session still happens (triggers), and retention_purge() deletes what it did.
- An event with an eventId writes its own rows and no others (0018: no claim row per event).

The module uses its own database (`itdbwork`), seeded by ingest_event() itself."""

import os
import re

import harness
from harness import expect, expect_eq, test

DB = "itdbwork"
VISITORS = 1000
DAYS = 30
EVENTS_PER_DAY_VISITOR = 3  # 90,000 events over 30 days

# Every index of the three tables, with the query that needs it (docs/database-work.md) and an
# EXPLAIN that must show it (None: a constraint whose index is the constraint itself).
# events is partitioned by month (0017): the parent carries the non-unique indexes, and each
# partition its own unique keys (PARTITION_KEYS), which a partitioned table cannot have without its
# partition key.
INDEXES = {
    "events": {
        "events_visitor_id_timestamp_idx": (
            "lead_access() (a person's events), rollup_day() per property (events of a lead's visitors "
            "before the capture), retention_purge() (no event left for a visitor or session)",
            "SELECT e.* FROM events e WHERE e.visitor_id IN ('{visitor}') ORDER BY e.\"timestamp\", e.id LIMIT 100"),
        "events_timestamp_idx": (
            "realtime (the last minutes of raw events), rollup_day() and rollup_breakdowns_day() (a day), "
            "the discrepancy report, retention_purge() (events before the cutoff)",
            "SELECT count(DISTINCT visitor_id) FROM events WHERE \"timestamp\" >= (now() AT TIME ZONE 'UTC') "
            "- interval '30 minutes' AND \"timestamp\" <= now() AT TIME ZONE 'UTC'"),
    },
    "visitors": {
        "visitors_pkey": (
            "rollup_day() (events joined to their visitor), lead_access(), the id of a visitor",
            "SELECT v.first_seen_at FROM visitors v WHERE v.id = '{visitor}'"),
        "visitors_anon_id_key": (
            "ingest_event(): the visitor upsert's ON CONFLICT (anon_id)",
            "INSERT INTO visitors AS v (id, anon_id, updated_at) VALUES ('x', 'y', now()) "
            "ON CONFLICT (anon_id) DO UPDATE SET updated_at = EXCLUDED.updated_at"),
        "visitors_last_ip_ua_idx": (
            "capture_lead(): the heuristic link (same last IP and UA hashes, not cookieless, seen lately)",
            "SELECT v.id FROM visitors v WHERE v.id <> 'x' AND v.anon_id NOT LIKE 'ck:%' "
            "AND v.last_ip_hash = '{ip}' AND v.last_ua_hash = '{ua}' "
            "AND v.last_seen_at >= (now() AT TIME ZONE 'UTC') - interval '30 minutes' "
            "ORDER BY v.last_seen_at DESC, v.id LIMIT 20"),
    },
    "sessions": {
        "sessions_pkey": (
            "ingest_event() (the continued session's update), rollup_breakdowns_day() (an event's session)",
            "SELECT s.referrer FROM sessions s WHERE s.id = '{session}'"),
        "sessions_visitor_id_started_at_idx": (
            "ingest_event() (the visitor's latest session), lead_rows() (first touch), lead_access(), "
            "retention_purge() (no session left for a visitor)",
            "SELECT y.id FROM sessions y WHERE y.visitor_id = '{visitor}' ORDER BY y.started_at DESC, y.id DESC "
            "LIMIT 1"),
    },
}

# Each partition's own keys (events_pYYYYMM_pkey, ..._dedupe_key_key), with the query that needs each.
PARTITION_KEYS = {
    "events": {
        "_pkey": ("the primary key (events.id) within the month, kept as the rows' identity", None),
        "_dedupe_key_key": (
            "ingest_event(): the eventId lookup before any write (one probe per partition), and the "
            "insert's ON CONFLICT (a retry without eventId lands in the same month)",
            "SELECT e.id, e.visitor_id, e.session_id FROM events e WHERE e.dedupe_key = '{key}'"),
    },
}
FILLFACTOR = {"visitors": 85, "sessions": 85}


def pg():
    return harness.shared_postgres()


def db():
    harness.migrated_database(DB)
    return DB


def sql(q):
    return pg().psql(q, db=db())


def scalar(q):
    return sql(q).strip()


def ingest_sql(anon, at, seq, ip="ip", ua="ua", utm=None, canon_suffix=True, event_id=None):
    """One ingest_event() call for visitor anon at the SQL timestamp expression at."""
    utm = "'%s'" % utm if utm else "NULL"
    prefix = "'[\"v1\",\"%s\",'" % anon if canon_suffix else "'[\"v1-eventId\",\"%s\",\"%s\"]'" % (anon, event_id)
    suffix = "',\"page_view\",\"/p\",%d]'" % seq if canon_suffix else "NULL"
    return ("SELECT * FROM ingest_event('%s', (%s)::timestamp(3), repeat('%s', 64), repeat('%s', 64), 'page_view', "
            "'/p', NULL, %s, NULL, NULL, NULL, NULL, 30, gen_random_uuid()::text, gen_random_uuid()::text, "
            "gen_random_uuid()::text, %s, %s, '{}'::jsonb, 'example.com', 'direct', 'desktop', 'CA', "
            "false, false, false)" % (anon, at, ip[0], ua[0], utm, prefix, suffix))


def table_stats(table):
    out = scalar("SELECT pg_stat_force_next_flush(); SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
                 "WHERE relname = '%s'" % table).splitlines()[-1]
    upd, hot = out.split("|")
    return int(upd), int(hot)


def seeded():
    """Seeds the module's database once: VISITORS visitors with DAYS days of history (one session a
    day each, EVENTS_PER_DAY_VISITOR events in it), written set-wise (the rows ingest_event() would
    have left); then ANALYZE."""
    def make():
        now = "(now() AT TIME ZONE 'UTC')"
        sql("INSERT INTO visitors (id, anon_id, first_seen_at, last_seen_at, first_ip_hash, last_ip_hash, "
            "first_ua_hash, last_ua_hash, updated_at) SELECT 'sv-' || v, 'seed-' || v, {now} - interval '{days} days', "
            "{now} - interval '1 day', md5(v || 'ip'), md5(v || 'ip'), md5(v || 'ua'), md5(v || 'ua'), {now} "
            "FROM generate_series(1, {vis}) v".format(now=now, days=DAYS, vis=VISITORS))
        sql("INSERT INTO sessions (id, visitor_id, started_at, last_event_at, ended_at, landing_path, updated_at) "
            "SELECT 'ss-' || v || '-' || d, 'sv-' || v, {now} - make_interval(days => d), "
            "{now} - make_interval(days => d) + make_interval(mins => {k}), "
            "{now} - make_interval(days => d) + make_interval(mins => {k}), '/p0', {now} "
            "FROM generate_series(1, {vis}) v, generate_series(1, {days}) d"
            .format(now=now, days=DAYS, vis=VISITORS, k=EVENTS_PER_DAY_VISITOR - 1))
        sql("INSERT INTO events (id, visitor_id, session_id, dedupe_key, event_type, path, \"timestamp\", "
            "property_id, is_entrance) SELECT gen_random_uuid()::text, 'sv-' || v, 'ss-' || v || '-' || d, "
            "md5(v || ',' || d || ',' || k), 'page_view', '/p' || k, "
            "{now} - make_interval(days => d) + make_interval(mins => k), 'example.com', k = 0 "
            "FROM generate_series(1, {vis}) v, generate_series(1, {days}) d, generate_series(0, {k}) k"
            .format(now=now, days=DAYS, vis=VISITORS, k=EVENTS_PER_DAY_VISITOR - 1))
        sql("ANALYZE events; ANALYZE visitors; ANALYZE sessions")
        return harness._Value(True)
    return harness.shared("dbwork-seed", make).value


def run_file(statements, name=None):
    """Runs statements through psql -f on database name (the module's by default): each in a
    transaction of its own (autocommit), as events arrive; in one transaction no old row version
    could be pruned, and no update would be HOT. Returns psql's output."""
    path = os.path.join(pg().base, "dbwork-%d.sql" % os.getpid())
    with open(path, "w") as f:
        f.write(";\n".join(statements) + ";\n")
    os.chmod(path, 0o644)
    try:
        return pg().psql(file=path, db=name or db(), timeout=120)
    finally:
        os.unlink(path)


@test
def returning_visitors_continuing_sessions_are_hot():
    """200 events of 20 returning visitors, each in its continuing session: at least 90% of the
    visitors and sessions updates are HOT (0016 takes every updated column out of the indexes)."""
    for v in range(20):
        sql(ingest_sql("hot-%d" % v, "now() AT TIME ZONE 'UTC'", 0))
    before = {t: table_stats(t) for t in ("visitors", "sessions")}
    run_file([ingest_sql("hot-%d" % (i % 20), "now() AT TIME ZONE 'UTC'", i + 1) for i in range(200)])
    after = {t: table_stats(t) for t in ("visitors", "sessions")}
    expect_eq(int(scalar("SELECT count(*) FROM sessions s JOIN visitors v ON v.id = s.visitor_id "
                         "WHERE v.anon_id LIKE 'hot-%'")), 20, "sessions of the 20 visitors (all continued)")
    for t in ("visitors", "sessions"):
        upd = after[t][0] - before[t][0]
        hot = after[t][1] - before[t][1]
        expect(upd >= 200, "%s: %d updates counted for 200 events" % (t, upd))
        expect(hot >= 0.9 * upd, "%s: %d of %d updates HOT (< 90%%)" % (t, hot, upd))


def _index_names(table):
    return sorted(scalar("SELECT string_agg(indexrelid::regclass::text, ',') FROM pg_index "
                         "WHERE indrelid = '%s'::regclass" % table).split(","))


@test
def index_set_is_the_documented_one():
    for table, idx in INDEXES.items():
        expect_eq(_index_names(table), sorted(idx), "indexes of %s (each must be named with its query in "
                  "test_dbwork.INDEXES and docs/database-work.md)" % table)
    for table, keys in PARTITION_KEYS.items():
        parts = scalar("SELECT string_agg(inhrelid::regclass::text, ',') FROM pg_inherits "
                       "WHERE inhparent = '%s'::regclass" % table).split(",")
        expect(len(parts) >= 2, "partitions of %s: %r" % (table, parts))
        for part in parts:
            # the parent's indexes, attached, plus the partition's own keys
            attached = scalar("SELECT count(*) FROM pg_inherits i JOIN pg_index x ON x.indexrelid = i.inhrelid "
                              "WHERE x.indrelid = '%s'::regclass" % part)
            expect_eq(attached, str(len(INDEXES[table])), "indexes of %s attached to the parent's" % part)
            own = scalar("SELECT string_agg(x.indexrelid::regclass::text, ',' ORDER BY 1) FROM pg_index x "
                         "WHERE x.indrelid = '%s'::regclass AND NOT EXISTS (SELECT 1 FROM pg_inherits i "
                         "WHERE i.inhrelid = x.indexrelid)" % part).split(",")
            expect_eq(sorted(own), sorted(part + k for k in keys), "the own keys of %s" % part)
    with open(harness.APP_HOME + "/docs/database-work.md") as f:
        doc = f.read()
    for table, idx in INDEXES.items():
        for name in idx:
            expect(re.search(r"`%s`" % re.escape(name), doc), "docs/database-work.md does not name %s" % name)
    for table, keys in PARTITION_KEYS.items():
        for k in keys:
            expect(re.search(r"`%s_pYYYYMM%s`" % (table, re.escape(k)), doc),
                   "docs/database-work.md does not name %s_pYYYYMM%s" % (table, k))
    for table, ff in FILLFACTOR.items():
        expect_eq(scalar("SELECT array_to_string(reloptions, ',') FROM pg_class WHERE oid = '%s'::regclass" % table),
                  "fillfactor=%d" % ff, "reloptions of %s" % table)


@test
def each_index_is_used_by_its_query():
    seeded()
    values = {
        "visitor": scalar("SELECT id FROM visitors WHERE anon_id = 'seed-7'"),
        "session": scalar("SELECT s.id FROM sessions s JOIN visitors v ON v.id = s.visitor_id "
                          "WHERE v.anon_id = 'seed-7' ORDER BY s.started_at LIMIT 1"),
        "key": scalar("SELECT dedupe_key FROM events ORDER BY id LIMIT 1"),
        "ip": scalar("SELECT md5('7ip')"), "ua": scalar("SELECT md5('7ua')"),
    }
    part = r"(p\d{6}|default|legacy)"  # a partition of a partitioned table: the seeded rows' month
    named = []
    for table, idx in INDEXES.items():
        for name, (why, query) in idx.items():
            # a partitioned parent's index shows as a partition's attached copy
            # (events_timestamp_idx as events_p202612_timestamp_idx)
            pat = re.escape(name)
            if table in PARTITION_KEYS:
                pat = r"%s|%s_%s_%s" % (pat, table, part, re.escape(name[len(table) + 1:]))
            named.append((name, pat, why, query))
    named += [(t + "_pYYYYMM" + k, r"%s_%s%s" % (t, part, re.escape(k)), w, q)
              for t, keys in PARTITION_KEYS.items() for k, (w, q) in keys.items()]
    for name, pat, why, query in named:
        if query is None:
            continue
        plan = scalar("EXPLAIN " + query.format(**values))
        expect(re.search(r"(Index|Index Only|Bitmap Index) Scan( Backward)? (using|on) (%s)\b|"
                         r"Conflict Arbiter Indexes: (%s)\b" % (pat, pat), plan),
               "%s is not used by its query (%s):\n%s" % (name, why, plan))


@test
def deleting_a_visitor_or_session_still_reaches_its_events():
    """The ON DELETE / ON UPDATE actions of the dropped events foreign keys, kept by triggers."""
    for anon in ("fk-a", "fk-b"):
        sql(ingest_sql(anon, "now() AT TIME ZONE 'UTC' - interval '2 hours'", 1))
        sql(ingest_sql(anon, "now() AT TIME ZONE 'UTC'", 2))  # a second session (inactive > 30 min)
    va, vb = (scalar("SELECT id FROM visitors WHERE anon_id = '%s'" % a) for a in ("fk-a", "fk-b"))
    expect_eq(scalar("SELECT count(DISTINCT session_id) FROM events WHERE visitor_id = '%s'" % va), "2",
              "sessions of fk-a's events")
    # a session deleted: its events stay, without a session (was ON DELETE SET NULL)
    s_old = scalar("SELECT id FROM sessions WHERE visitor_id = '%s' ORDER BY started_at LIMIT 1" % va)
    sql("DELETE FROM sessions WHERE id = '%s'" % s_old)
    expect_eq(scalar("SELECT count(*) FILTER (WHERE session_id IS NULL) || '/' || count(*) FROM events "
                     "WHERE visitor_id = '%s'" % va), "1/2", "fk-a's events after its first session was deleted")
    # an id change reaches the events (was ON UPDATE CASCADE)
    s_new = scalar("SELECT id FROM sessions WHERE visitor_id = '%s'" % va)
    sql("UPDATE sessions SET id = 'renamed-session' WHERE id = '%s'" % s_new)
    sql("UPDATE visitors SET id = 'renamed-visitor' WHERE id = '%s'" % va)
    expect_eq(scalar("SELECT count(*) FROM events WHERE visitor_id = 'renamed-visitor' "
                     "AND session_id = 'renamed-session'"), "1", "events after the ids changed")
    expect_eq(scalar("SELECT count(*) FROM events WHERE visitor_id = '%s'" % va), "0", "events under the old id")
    # a visitor deleted: its sessions and events go (was ON DELETE CASCADE), other visitors' stay
    sql("DELETE FROM visitors WHERE id = 'renamed-visitor'")
    expect_eq(scalar("SELECT count(*) FROM events WHERE visitor_id = 'renamed-visitor'"), "0",
              "events of the deleted visitor")
    expect_eq(scalar("SELECT count(*) FROM sessions WHERE visitor_id = 'renamed-visitor'"), "0",
              "sessions of the deleted visitor")
    expect_eq(scalar("SELECT count(*) FROM events WHERE visitor_id = '%s'" % vb), "2", "fk-b's events")


@test
def retention_purge_deletes_what_it_did():
    """Old events go; then sessions and visitors nothing refers to; a visitor with a recent event, a
    session with a recent event and a visitor linked to a lead stay."""
    old = "now() AT TIME ZONE 'UTC' - interval '400 days'"
    sql(ingest_sql("ret-gone", old, 1))
    sql(ingest_sql("ret-back", old, 1))
    sql(ingest_sql("ret-back", "now() AT TIME ZONE 'UTC'", 2))   # returned: a new session, the old one goes
    sql(ingest_sql("ret-lead", old, 1))
    sql("INSERT INTO leads (id, email_normalized, updated_at) VALUES ('ret-lead-1', 'ret@example.com', now()); "
        "INSERT INTO lead_identities (id, lead_id, visitor_id) SELECT 'ret-li-1', 'ret-lead-1', id "
        "FROM visitors WHERE anon_id = 'ret-lead'")
    sql(ingest_sql("ret-late", "now() AT TIME ZONE 'UTC' - interval '400 days' + interval '10 minutes'", 1))
    sql(ingest_sql("ret-late", old, 2))  # a late event continues the same old session
    out = scalar("SELECT events_deleted || ',' || sessions_deleted || ',' || visitors_deleted FROM "
                 "retention_purge(((now() AT TIME ZONE 'UTC') - interval '300 days')::timestamp(3))")
    n_ev, n_se, n_vi = (int(x) for x in out.split(","))
    expect(n_ev >= 5 and n_se >= 4 and n_vi >= 2, "purged (events, sessions, visitors): %s" % out)

    def count(q, anon):
        return int(scalar(q % anon))
    ev = "SELECT count(*) FROM events e JOIN visitors v ON v.id = e.visitor_id WHERE v.anon_id = '%s'"
    se = "SELECT count(*) FROM sessions s JOIN visitors v ON v.id = s.visitor_id WHERE v.anon_id = '%s'"
    vi = "SELECT count(*) FROM visitors WHERE anon_id = '%s'"
    expect_eq([count(vi, a) for a in ("ret-gone", "ret-late")], [0, 0], "old visitors left")
    expect_eq([count(q, "ret-back") for q in (vi, se, ev)], [1, 1, 1], "returned visitor: visitor, sessions, events")
    expect_eq([count(q, "ret-lead") for q in (vi, se, ev)], [1, 0, 0], "lead's visitor: visitor, sessions, events")
    expect_eq(int(scalar("SELECT count(*) FROM events e WHERE NOT EXISTS (SELECT 1 FROM visitors v "
                         "WHERE v.id = e.visitor_id) OR (e.session_id IS NOT NULL AND NOT EXISTS "
                         "(SELECT 1 FROM sessions s WHERE s.id = e.session_id))")), 0,
              "events whose visitor or session is gone")


@test
def retention_purge_keeps_a_session_a_late_event_continued():
    """A session whose last event is old keeps living while an event still refers to it."""
    sql(ingest_sql("late-keep", "now() AT TIME ZONE 'UTC' - interval '400 days'", 1))
    sid = scalar("SELECT s.id FROM sessions s JOIN visitors v ON v.id = s.visitor_id WHERE v.anon_id = 'late-keep'")
    # an event of that session inside the retention window (as another writer could leave one)
    sql("INSERT INTO events (id, visitor_id, session_id, event_type, \"timestamp\") SELECT 'late-keep-e', "
        "visitor_id, id, 'page_view', now() AT TIME ZONE 'UTC' FROM sessions WHERE id = '%s'" % sid)
    scalar("SELECT * FROM retention_purge(((now() AT TIME ZONE 'UTC') - interval '300 days')::timestamp(3))")
    expect_eq(scalar("SELECT count(*) FROM sessions WHERE id = '%s'" % sid), "1", "the session an event refers to")
    expect_eq(scalar("SELECT session_id FROM events WHERE id = 'late-keep-e'"), sid, "the event's session")


@test
def cached_plans_never_scan_sessions():
    """A responder's connection lives for minutes and plpgsql caches ingest_event()'s plans in it;
    plans cached while the tables were nearly empty must still find a visitor's latest session by
    its indexes once they are not. The bench found a join (the session step) planned as a scan of
    all of sessions: Postgres CPU per event grew with the table (6 ms at ~20,000 sessions).
    plan_cache_mode = force_generic_plan stands for such a cached plan."""
    name = "itdbwork_plans"
    harness.migrated_database(name)
    calls = []
    for i in range(40):  # new visitors, continuing sessions, and new sessions after inactivity; every
        # third with an eventId (its lookup reads events and visitors by their keys)
        at = "now() AT TIME ZONE 'UTC' - interval '%d hours'" % (40 - i) if i % 2 else "now() AT TIME ZONE 'UTC'"
        calls.append(ingest_sql("plan-%d" % (i % 10), at, i, canon_suffix=i % 3 != 0,
                                event_id="00000000-0000-4000-8000-%012d" % i))
    scans = "SELECT '%s', sum(seq_scan) FROM pg_stat_user_tables WHERE relname IN ('sessions', 'visitors')"
    out = run_file(["SET plan_cache_mode = force_generic_plan"] + calls[:10] + [  # the plans, made on empty tables
        "INSERT INTO visitors (id, anon_id, first_seen_at, last_seen_at, updated_at) SELECT 'pv-' || v, "
        "'pseed-' || v, now(), now(), now() FROM generate_series(1, 2000) v",
        "INSERT INTO sessions (id, visitor_id, started_at, last_event_at, updated_at) SELECT 'ps-' || v || '-' "
        "|| d, 'pv-' || v, now() - make_interval(days => d), now() - make_interval(days => d), now() "
        "FROM generate_series(1, 2000) v, generate_series(1, 5) d",
        "SELECT pg_stat_force_next_flush()", scans % "before"] + calls[10:] + [
        "SELECT pg_stat_force_next_flush()", scans % "after"], name)
    counts = dict(l.split("|") for l in out.splitlines() if l.startswith(("before|", "after|")))
    expect_eq(int(counts["after"]) - int(counts["before"]), 0,
              "scans of sessions and visitors by 30 events with plans cached on empty tables")


@test
def eventid_events_write_only_their_own_rows():
    """100 events with an eventId of 20 returning visitors, each in its continuing session: 100
    event rows inserted, the visitor and the session updated once per event, and no other row of
    any table inserted, updated or deleted (0017 wrote and later deleted a dedupe claim per event;
    0018 serializes an eventId's deliveries on the visitor row instead). A retry of each writes
    nothing at all."""
    name = "itdbwork_eventid"
    harness.migrated_database(name)
    first = [ingest_sql("eid-%d" % v, "now() AT TIME ZONE 'UTC'", 0) for v in range(20)]
    ids = ["00000000-0000-4000-8000-%012d" % i for i in range(100)]
    calls = [ingest_sql("eid-%d" % (i % 20), "now() AT TIME ZONE 'UTC'", 0, canon_suffix=False, event_id=ids[i])
             for i in range(100)]
    stats = ("SELECT pg_stat_force_next_flush(); SELECT relname || ':' || n_tup_ins || ':' || n_tup_upd || ':' || "
             "n_tup_del FROM pg_stat_user_tables WHERE n_tup_ins + n_tup_upd + n_tup_del > 0 ORDER BY relname")

    def counts():
        rows = {}
        for line in pg().psql(stats, db=name).split():
            rel, ins, upd, dele = line.rsplit(":", 3)
            rows[rel] = (int(ins), int(upd), int(dele))
        return rows

    run_file(first, name)
    c0 = counts()
    run_file(calls, name)
    c1 = counts()
    delta = {r: tuple(c1[r][k] - c0.get(r, (0, 0, 0))[k] for k in range(3)) for r in c1}
    delta = {r: d for r, d in delta.items() if d != (0, 0, 0)}
    part = [r for r in delta if r.startswith("events_")]
    expect_eq(len(part), 1, "partitions written: %r" % delta)
    expect_eq(delta, {part[0]: (100, 0, 0), "visitors": (0, 100, 0), "sessions": (0, 100, 0)},
              "rows inserted, updated, deleted per table by 100 events with an eventId")
    out = run_file(calls, name)
    expect_eq(sum(1 for line in out.splitlines() if line.endswith("|t")), 100, "retries answered as deduplicated")
    c2 = counts()
    expect_eq({r: c2[r] for r in c2 if c2[r] != c1.get(r)}, {}, "rows written by the 100 retries")
