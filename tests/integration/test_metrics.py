"""test_metrics.py - daily rollups, the rollups/retention/scheduler jobs and GET /v1/metrics/summary,
checked against hand-computed fixtures (rollups-reference.md; API.md sections 3 and 4;
schema-reference.md for the tables).

Each scenario whose numbers must be exact gets its own database (`metrics_<name>`), filled by
INSERTing raw rows with psql, so that nothing else writes to it. Fixed calendar days are used for
the fixtures (they are in the past, so `backfill` may print its retention warning on stderr).

BENCH_ROLLUP=1 adds a measurement: the rollup time of one day of 100 000 events. The summary
latency (30 and 366 days, 20 requests each) is always measured and printed as a NOTE line; neither
is asserted."""

import collections
import datetime
import json
import math
import os
import re
import signal
import subprocess
import tempfile
import time
import urllib.parse

import harness
from harness import (ADMIN_KEY, BACKEND_BIN, Fail, Stack, backend, expect, expect_eq, expect_error, migrate,
                     service_env, test)

JSON_CT = "application/json; charset=utf-8"
SUMMARY = "/v1/metrics/summary"
# ingest.botsDropped when no bot was dropped (issue 14; test_privacy.py counts real drops)
NO_BOTS = {"botsDropped": {"empty_ua": 0, "bot_ua": 0, "headless": 0}}
AUTH = {"x-admin-key": ADMIN_KEY}
SOURCES = ["direct", "organic_search", "paid_search", "social", "email", "referral", "campaign", "internal",
           "unknown"]
METRIC_KEYS = ["uniqueVisitors", "returningVisitorsPct", "totalPageViews", "newLeads", "leadCaptureRate", "formCompletionRate",
               "landingPageConversionRate", "avgTimeToFirstCaptureHrs"]
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
DAY_MS = 86400000
HOUR_MS = 3600000


# ---------------------------------------------------------------------------------------------
# helpers

def pg():
    return harness.shared_postgres()


def today():
    return datetime.datetime.now(datetime.timezone.utc).date()


def d(s):
    return datetime.date.fromisoformat(s)


lit = harness.sql_lit  # SQL literals for the psql checks


def jlit(obj):
    return "NULL" if obj is None else lit(json.dumps(obj)) + "::jsonb"


class DB:
    """A fresh, migrated database metrics_<name> and the environment to run the binary against it."""

    def __init__(self, name, overrides=None):
        self.name = "metrics_" + name
        self.url = pg().create_db(self.name)
        self.env = service_env(self.url, overrides)
        r = migrate(self.env)
        if r.returncode != 0:
            raise Fail("migrate of %s failed (rc %d): %s" % (self.name, r.returncode, r.stderr[-800:]))

    def q(self, sql, timeout=120):
        return pg().psql(sql, db=self.name, timeout=timeout)

    def val(self, sql):
        return self.q(sql).strip()

    def rows(self, sql):
        """Rows of sql as dicts (through row_to_json)."""
        out = self.q("SELECT row_to_json(t)::text FROM (%s) t" % sql)
        return [json.loads(l) for l in out.splitlines() if l.strip()]

    def run(self, *args, env=None, timeout=120):
        return backend(list(args), dict(self.env, **(env or {})), timeout=timeout)

    def backfill(self, frm, to=None, prop=None, env=None):
        args = ["rollups", "backfill", "--from=%s" % frm, "--to=%s" % (to or frm)]
        if prop:
            args.append("--property-id=%s" % prop)
        r = self.run(*args, env=env)
        expect_eq(r.returncode, 0, "backfill %s exit code (stdout %r, stderr %r)" % (args[2:], r.stdout, r.stderr))
        return r


# ---- raw rows

def visitor(vid, first_seen):
    return ("INSERT INTO visitors (id, anon_id, first_seen_at, last_seen_at, updated_at) "
            "VALUES (%s, %s, %s, %s, now());" % (lit(vid), lit("anon-" + vid), lit(first_seen), lit(first_seen)))


def session(sid, vid, started):
    return ("INSERT INTO sessions (id, visitor_id, started_at, last_event_at, landing_path, updated_at) "
            "VALUES (%s, %s, %s, %s, '/', now());" % (lit(sid), lit(vid), lit(started), lit(started)))


def event(eid, vid, ts, etype="page_view", path="/", prop="site-a", source="direct", ent=False, exit=False,
          conv=False, props=None, sid=None):
    return ("INSERT INTO events (id, visitor_id, session_id, event_type, path, \"timestamp\", props, property_id, "
            "traffic_source, device_type, is_entrance, is_exit, is_conversion) VALUES "
            "(%s, %s, %s, %s, %s, %s, %s, %s, %s::\"TrafficSource\", 'desktop', %s, %s, %s);" %
            (lit(eid), lit(vid), lit(sid), lit(etype), lit(path), lit(ts), jlit(props), lit(prop), lit(source),
             lit(ent), lit(exit), lit(conv)))


def lead(lid, first, last=None):
    return ("INSERT INTO leads (id, email_normalized, email_domain, first_captured_at, last_captured_at, updated_at) "
            "VALUES (%s, %s, 'example.com', %s, %s, now());" % (lit(lid), lit(lid + "@example.com"), lit(first),
                                                                 lit(last or first)))


def identity(iid, lid, vid, source="form_submit", confidence=1.0):
    return ("INSERT INTO lead_identities (id, lead_id, visitor_id, link_source, confidence) "
            "VALUES (%s, %s, %s, %s::\"LinkSource\", %s);" % (lit(iid), lit(lid), lit(vid), lit(source), confidence))


def form(fid, lid, vid, ts, status="accepted", sid=None):
    return ("INSERT INTO form_submissions (id, lead_id, visitor_id, session_id, form_name, payload, submitted_at, "
            "validation_status) VALUES (%s, %s, %s, %s, 'contact', '{\"f\": 1}'::jsonb, %s, %s::\"ValidationStatus\");"
            % (lit(fid), lit(lid), lit(vid), lit(sid), lit(ts), lit(status)))


def rejection(rid, prop, endpoint, ts, reason="invalid_request"):
    return ("INSERT INTO ingest_rejections (id, property_id, endpoint, reason, status_code, occurred_at) "
            "VALUES (%s, %s, %s, %s, 400, %s);" % (lit(rid), lit(prop), lit(endpoint), lit(reason), lit(ts)))


def consent(cid, lid, ts):
    return ("INSERT INTO consent_events (id, lead_id, status, source, \"timestamp\") "
            "VALUES (%s, %s, 'pending', 'form_submit', %s);" % (lit(cid), lit(lid), lit(ts)))


METRIC_COLS = ("unique_visitors returning_visitors total_page_views total_entrances total_exits total_conversions "
               "form_starts form_submits new_leads time_to_first_capture_sum_ms time_to_first_capture_count "
               "traffic_source_breakdown top_landing_paths").split()
INGEST_COLS = "events_accepted events_rejected leads_accepted leads_rejected p95_ttfb_ms error_breakdown".split()


def rollup_rows(db, prop, day):
    """(metric row, ingest row) of (prop, day) as dicts, or None for a missing row. Fails when a
    (property, day) has more than one row."""
    out = []
    for table in ("daily_metric_rollups", "daily_ingest_rollups"):
        rows = db.rows("SELECT * FROM %s WHERE property_id = %s AND day = %s" % (table, lit(prop), lit(str(day))))
        expect(len(rows) <= 1, "%d rows in %s for (%s, %s)" % (len(rows), table, prop, day))
        out.append(rows[0] if rows else None)
    return tuple(out)


def check_row(row, expected, what):
    """Compares the columns of expected with row, collecting every difference in one message."""
    expect(row is not None, "%s: no row" % what)
    diffs = []
    for k, v in expected.items():
        got = row.get(k)
        if isinstance(v, float) or isinstance(got, float):
            ok = got is not None and v is not None and math.isclose(got, v, rel_tol=1e-12, abs_tol=1e-12)
        else:
            ok = got == v
        if not ok:
            diffs.append("%s: expected %r, got %r" % (k, v, got))
    if diffs:
        raise Fail("%s differs:\n  %s" % (what, "\n  ".join(diffs)))


def check_bookkeeping(row, prop, day, what):
    expect(isinstance(row.get("id"), str) and row["id"], "%s: id %r" % (what, row.get("id")))
    expect_eq(row.get("property_id"), prop, "%s property_id" % what)
    expect_eq(row.get("day"), str(day), "%s day" % what)
    for c in ("generated_at", "created_at", "updated_at"):
        expect(row.get(c), "%s: %s is empty" % (what, c))
    expect_eq(row["updated_at"], row["generated_at"], "%s updated_at = generated_at" % what)


def percentile_cont(values, p):
    """Postgres' percentile_cont: linear interpolation between the two nearest rows."""
    s = sorted(values)
    pos = p * (len(s) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (pos - lo) * (s[hi] - s[lo])


def round_half_up(x):
    return int(math.floor(x + 0.5))


def paths(*specs):
    return [{"path": p, "entrances": e, "conversions": c, "conversionRate": c / e} for p, e, c in specs]


# ---------------------------------------------------------------------------------------------
# the main one-day fixture (rollups-reference.md, per-day metrics), day D = 2026-03-10

D1 = d("2026-03-10")
D1_TTFB = [100, 200, 300, 400, 500, 250, 700]  # the integer ttfbMs values of E (123.5 and "x" are skipped)


def load_day_fixture(db, D=D1):
    p, n = D - datetime.timedelta(days=1), D + datetime.timedelta(days=1)
    t = lambda hms: "%s %s" % (D, hms)  # noqa: E731
    sql = [
        visitor("v1", "%s 00:00:00" % (D - datetime.timedelta(days=5))),   # returning
        visitor("v2", t("00:00:00.000")),                                   # first seen at D's first instant: new
        visitor("v3", t("09:00:00.250")),
        visitor("v4", t("10:00:00.000")),
        visitor("v5", "%s 00:00:00" % (D - datetime.timedelta(days=20))),  # heuristic link of L1, no events
        visitor("v6", "%s 23:59:59.999" % p),                               # returning by one millisecond
        visitor("v7", "%s 00:00:00" % (D - datetime.timedelta(days=3))),   # events only just outside D
        visitor("v8", t("12:00:00.000")),
        visitor("v9", t("20:00:00.000")),                                   # first seen after its lead's capture
    ]
    for v in ("v1", "v2", "v3", "v4", "v6", "v7", "v8"):
        sql.append(session("s-" + v, v, t("00:00:00")))
    ev = [
        ("e01", "v1", "09:00:00", "page_view", "/pricing", "organic_search", True, False, False, {"ttfbMs": 100}),
        ("e02", "v1", "09:01:00", "page_view", "/pricing/plans", "internal", False, False, False, {"ttfbMs": 200}),
        ("e03", "v1", "09:02:00", "form_start", "/pricing/plans", "internal", False, False, False, None),
        ("e04", "v2", "08:00:00", "page_view", "/", "direct", True, False, False, {"ttfbMs": 300, "lcpMs": 10}),
        ("e05", "v2", "08:05:00", "page_view", "/blog", "internal", False, True, False, {"ttfbMs": 123.5}),
        ("e06", "v3", "09:00:00.250", "page_view", "/blog", "social", True, False, False, {"ttfbMs": "x"}),
        ("e07", "v3", "09:10:00", "form_start", "/blog", "internal", False, False, False, {"ttfbMs": 400}),
        ("e08", "v3", "09:11:00", "form_submit", "/blog", "internal", False, True, True, {"ttfbMs": 500}),
        ("e09", "v4", "10:00:00", "page_view", "/", "paid_search", True, False, False, {"ttfbMs": 250}),
        ("e10", "v4", "10:02:00", "form_start", "/", "internal", False, False, False, {"other": 1}),
        ("e11", "v4", "10:03:00", "form_submit", "/", "internal", False, False, True, {"ttfbMs": None}),
        ("e12", "v6", "11:00:00", "page_view", "/pricing", "referral", True, False, True, None),
        ("e13", "v6", "11:30:00", "click", "/pricing", "internal", False, False, False, {"ttfbMs": 700}),
    ]
    for i in range(1, 11):  # ten one-entrance landing paths; /a05 converts
        ev.append(("e%d" % (20 + i), "v8", "12:%02d:00" % i, "page_view", "/a%02d" % i, "campaign", True, False,
                   i == 5, None))
    for eid, vid, hms, etype, path, src, ent, ex, conv, props in ev:
        sql.append(event(eid, vid, t(hms), etype, path, "site-a", src, ent, ex, conv, props, sid="s-" + vid))
    # another property on D: the default property aggregates it
    sql.append(event("e40", "v6", t("13:00:00"), "scroll", "/pricing", "site-b", "email", props={"ttfbMs": "250"},
                     sid="s-v6"))
    # just outside D
    sql.append(event("e50", "v7", "%s 23:59:59.999" % p, "page_view", "/out", "site-a", "direct", True, False, True,
                     {"ttfbMs": 9999}, sid="s-v7"))
    sql.append(event("e51", "v7", "%s 00:00:00.000" % n, "page_view", "/out", "site-a", "direct", True, False, False,
                     {"ttfbMs": 9999}, sid="s-v7"))
    sql += [
        # L1: new on D, linked to v4 (form_submit) and, heuristically, to the older v5
        lead("l1", t("10:03:00.000")),
        identity("i1a", "l1", "v4"),
        identity("i1b", "l1", "v5", "same_ip_ua_window", 0.35),
        # L2: v3 first seen 09:00:00.250, captured 09:11:00.500
        lead("l2", t("09:11:00.500")),
        identity("i2", "l2", "v3"),
        # L3: no identity: a new lead, but not in time-to-first-capture
        lead("l3", t("15:00:00.000")),
        # L5: its visitor was first seen after the capture: max(0, ...) = 0, still counted
        lead("l5", t("16:00:00.000")),
        identity("i5", "l5", "v9"),
        # not new on D: captured the day before, and the first instant of the next day
        lead("l4", "%s 23:59:59.999" % p, t("12:00:00")),
        identity("i4", "l4", "v1"),
        lead("l6", "%s 00:00:00.000" % n),
        form("f1", "l1", "v4", t("10:03:00.000"), sid="s-v4"),
        form("f2", "l2", "v3", t("09:11:00.500"), sid="s-v3"),
        form("f3", "l4", "v1", "%s 23:59:59.999" % p),
        form("f4", "l3", None, t("15:00:00"), status="invalid"),
        form("f5", "l6", None, "%s 00:00:00.000" % n),
        rejection("r1", "site-a", "/v1/events", t("08:00:00")),
        rejection("r2", "site-b", "/v1/events", t("09:00:00")),
        rejection("r3", "default", "/v1/events", t("23:59:59.999")),
        rejection("r4", "site-a", "/v1/leads/capture", t("10:00:00")),
        rejection("r5", "default", "/v1/leads/capture", t("11:00:00")),
        rejection("r6", "site-a", "/v1/leads/unsubscribe", t("12:00:00")),
        rejection("r7", "site-a", "/v1/events", "%s 00:00:00.000" % n),
        rejection("r8", "site-a", "/v1/leads/capture", "%s 23:59:59.999" % p),
    ]
    db.q("\n".join(sql))


L1_TTFC = 20 * DAY_MS + 10 * HOUR_MS + 3 * 60000  # v5 (first seen D-20 00:00) -> 10:03:00.000
L2_TTFC = 11 * 60000 + 250                         # v3 09:00:00.250 -> 09:11:00.500

D1_DEFAULT_METRICS = {
    "unique_visitors": 6,        # v1 v2 v3 v4 v6 v8
    "returning_visitors": 2,     # v1, v6 (first seen D-1 23:59:59.999); v2 (D 00:00:00.000) is new
    "total_page_views": 17,
    "total_entrances": 15,
    "total_exits": 2,
    "total_conversions": 4,
    "form_starts": 3,
    "form_submits": 2,
    # the rates' sessions (migrations/0008): s-v1 s-v3 s-v4 started a form, s-v3 s-v4 submitted;
    # s-v1 s-v2 s-v3 s-v4 s-v6 s-v8 entered, s-v3 s-v4 s-v6 s-v8 converted
    "form_start_sessions": 3,
    "form_completed_sessions": 2,
    "entrance_sessions": 6,
    "converted_entrance_sessions": 4,
    "new_leads": 4,              # l1 l2 l3 l5
    "time_to_first_capture_sum_ms": L1_TTFC + L2_TTFC + 0,
    "time_to_first_capture_count": 3,
    "traffic_source_breakdown": {"organic_search": 1, "internal": 8, "direct": 1, "social": 1, "paid_search": 1,
                                 "referral": 1, "campaign": 10, "email": 1},
    # entrances desc, conversions desc, path asc; at most 10 (/a09, /a10 and /blog are cut)
    "top_landing_paths": paths(("/pricing", 2, 1), ("/", 2, 0), ("/a05", 1, 1), ("/a01", 1, 0), ("/a02", 1, 0),
                               ("/a03", 1, 0), ("/a04", 1, 0), ("/a06", 1, 0), ("/a07", 1, 0), ("/a08", 1, 0)),
}
D1_DEFAULT_INGEST = {
    "events_accepted": 24,
    "events_rejected": 3,        # every property, the default's own included
    "leads_accepted": 2,         # f1 f2 (f4 invalid; f3, f5 on other days)
    "leads_rejected": 2,
    "p95_ttfb_ms": round_half_up(percentile_cont(D1_TTFB, 0.95)),
    "error_breakdown": {"eventsRejected": 3, "leadsRejected": 2},
}


@test(timeout=60)
def rollup_every_column_default_property():
    db = DB("columns")
    load_day_fixture(db)
    expect_eq(D1_DEFAULT_INGEST["p95_ttfb_ms"], 640, "hand-checked p95 of %s" % D1_TTFB)
    r = db.backfill(D1)
    expect_eq(r.stdout, "Rollup run complete for default: 2026-03-10 -> 2026-03-10 (1 day(s)).\n", "backfill stdout")
    m, i = rollup_rows(db, "default", D1)
    check_row(m, D1_DEFAULT_METRICS, "daily_metric_rollups (default, %s)" % D1)
    check_row(i, D1_DEFAULT_INGEST, "daily_ingest_rollups (default, %s)" % D1)
    check_bookkeeping(m, "default", D1, "metric row")
    check_bookkeeping(i, "default", D1, "ingest row")
    expect_eq(list(m["top_landing_paths"][0].keys()), ["path", "entrances", "conversions", "conversionRate"],
              "top_landing_paths entry keys")
    expect_eq(db.val("SELECT count(*) FROM daily_metric_rollups") + "/" +
              db.val("SELECT count(*) FROM daily_ingest_rollups"), "1/1", "rows written (one day, one property)")

    # the same day for site-a: the site-b event and other properties' rejections drop out
    db.backfill(D1, prop="site-a")
    m, i = rollup_rows(db, "site-a", D1)
    exp = dict(D1_DEFAULT_METRICS, new_leads=2, time_to_first_capture_sum_ms=L1_TTFC + L2_TTFC,
               time_to_first_capture_count=2,
               traffic_source_breakdown={k: v for k, v in D1_DEFAULT_METRICS["traffic_source_breakdown"].items()
                                         if k != "email"})
    check_row(m, exp, "daily_metric_rollups (site-a, %s)" % D1)
    check_row(i, dict(D1_DEFAULT_INGEST, events_accepted=23, events_rejected=1, leads_rejected=1,
                      error_breakdown={"eventsRejected": 1, "leadsRejected": 1}),
              "daily_ingest_rollups (site-a, %s)" % D1)


@test(timeout=60)
def rollup_empty_day_and_skipped_ttfb():
    db = DB("empty")
    db.backfill("2026-03-01")
    m, i = rollup_rows(db, "default", d("2026-03-01"))
    check_row(m, {c: 0 for c in METRIC_COLS[:11]}, "empty day metrics")
    check_row(m, {"traffic_source_breakdown": {}, "top_landing_paths": []}, "empty day json columns")
    check_row(i, {"events_accepted": 0, "events_rejected": 0, "leads_accepted": 0, "leads_rejected": 0,
                  "p95_ttfb_ms": None, "error_breakdown": {"eventsRejected": 0, "leadsRejected": 0}}, "empty day ingest")
    # only non-integer ttfbMs values: skipped, p95 NULL, nothing aborted
    db.q(visitor("v1", "2026-03-02 00:00") + "".join(
        event("e%d" % k, "v1", "2026-03-02 10:00:0%d" % k, props={"ttfbMs": val})
        for k, val in enumerate([123.5, "x", "150", None, True, {"a": 1}, [1]])))
    db.backfill("2026-03-02")
    m, i = rollup_rows(db, "default", d("2026-03-02"))
    check_row(i, {"events_accepted": 7, "p95_ttfb_ms": None}, "ingest row with only non-integer ttfbMs")
    check_row(m, {"unique_visitors": 1, "total_page_views": 7, "traffic_source_breakdown": {"direct": 7}},
              "metric row")
    # one value: its own p95
    db.q(event("e9", "v1", "2026-03-02 11:00", props={"ttfbMs": 42}))
    db.backfill("2026-03-02")
    check_row(rollup_rows(db, "default", d("2026-03-02"))[1], {"events_accepted": 8, "p95_ttfb_ms": 42},
              "ingest row with one integer ttfbMs")


@test(timeout=60)
def rollup_survives_out_of_range_ttfb():
    """props.ttfbMs is free-form (only traffic.webVitals.ttfbMs is bounded to 0-120000): an integer
    the INTEGER column cannot hold, or one a double cannot hold, must not abort the day's rollup
    (the reference's fix: a bad ttfbMs value no longer aborts the rollup)."""
    db = DB("bigttfb")
    problems = []
    cases = [("2026-03-03", 5000000000), ("2026-03-04", int("9" * 400))]
    db.q(visitor("v1", "2026-03-01 00:00"))
    for k, (day, val) in enumerate(cases):
        db.q(event("ok%d" % k, "v1", day + " 10:00", props={"ttfbMs": 100}) +
             "INSERT INTO events (id, visitor_id, event_type, path, \"timestamp\", props) VALUES ('big%d', 'v1', "
             "'page_view', '/', '%s 10:01', ('{\"ttfbMs\": %d}')::jsonb);" % (k, day, val))
        r = db.run("rollups", "backfill", "--from=" + day, "--to=" + day)
        m, i = rollup_rows(db, "default", d(day))
        if r.returncode != 0 or i is None or i.get("events_accepted") != 2:
            problems.append("ttfbMs %s on %s: backfill exit %d, stderr %r, ingest row %r" %
                            (str(val)[:20] + ("..." if len(str(val)) > 20 else ""), day, r.returncode,
                             r.stderr.strip().splitlines()[-1][:160] if r.stderr.strip() else "", i))
    if problems:
        raise Fail("the rollup aborted on an out-of-range integer ttfbMs (every event of the day, of every "
                   "property, is then missing from the rollups):\n  " + "\n  ".join(problems))


# ---------------------------------------------------------------------------------------------
# UTC day boundaries, re-runs, properties

@test(timeout=60)
def rollup_utc_day_boundaries():
    db = DB("boundaries")
    D, N = "2026-03-10", "2026-03-11"
    db.q("\n".join([
        visitor("v1", "2026-03-01 00:00"), visitor("v2", "2026-03-01 00:00"), visitor("v3", "2026-03-01 00:00"),
        event("a", "v1", D + " 00:00:00.000", ent=True, props={"ttfbMs": 10}),
        event("b", "v1", D + " 23:59:59.999", ent=True, props={"ttfbMs": 20}),
        event("c", "v2", N + " 00:00:00.000", ent=True, props={"ttfbMs": 30}),
        event("x", "v3", "2026-03-12 00:00:00.000"),
        lead("la", D + " 23:59:59.999"), identity("ia", "la", "v1"),
        lead("lb", N + " 00:00:00.000"), identity("ib", "lb", "v2"),
        form("fa", "la", "v1", D + " 23:59:59.999"), form("fb", "lb", "v2", N + " 00:00:00.000"),
        rejection("ra", "site-a", "/v1/events", D + " 23:59:59.999"),
        rejection("rb", "site-a", "/v1/events", N + " 00:00:00.000"),
        rejection("rc", "site-a", "/v1/leads/capture", N + " 00:00:00.000"),
    ]))
    db.backfill(D, N)
    m, i = rollup_rows(db, "default", d(D))
    check_row(m, {"unique_visitors": 1, "total_page_views": 2, "total_entrances": 2, "new_leads": 1,
                  "time_to_first_capture_count": 1,
                  "time_to_first_capture_sum_ms": 9 * DAY_MS + DAY_MS - 1}, "metrics of %s" % D)
    check_row(i, {"events_accepted": 2, "events_rejected": 1, "leads_accepted": 1, "leads_rejected": 0,
                  "p95_ttfb_ms": round_half_up(percentile_cont([10, 20], 0.95))}, "ingest of %s" % D)
    m, i = rollup_rows(db, "default", d(N))
    check_row(m, {"unique_visitors": 1, "total_page_views": 1, "new_leads": 1, "time_to_first_capture_count": 1,
                  "time_to_first_capture_sum_ms": 10 * DAY_MS}, "metrics of %s" % N)
    check_row(i, {"events_accepted": 1, "events_rejected": 1, "leads_accepted": 1, "leads_rejected": 1,
                  "p95_ttfb_ms": 30}, "ingest of %s" % N)


@test(timeout=60)
def rollup_rerun_updates_one_row():
    db = DB("rerun")
    D = "2026-03-10"
    db.q(visitor("v1", "2026-03-01") + visitor("v2", D + " 05:00") +
         event("a", "v1", D + " 06:00", ent=True, props={"ttfbMs": 100}) +
         rejection("r1", "x", "/v1/events", D + " 07:00"))
    db.backfill(D)
    m1, i1 = rollup_rows(db, "default", d(D))
    check_row(m1, {"unique_visitors": 1, "returning_visitors": 1, "total_page_views": 1}, "first run")
    check_row(i1, {"events_accepted": 1, "events_rejected": 1, "p95_ttfb_ms": 100}, "first run ingest")
    time.sleep(0.05)
    # change the raw rows: one more visitor and event, the rejection gone, the first event now an exit
    db.q(event("b", "v2", D + " 07:00", etype="form_start", source="social", props={"ttfbMs": 300}) +
         "DELETE FROM ingest_rejections; UPDATE events SET is_exit = true WHERE id = 'a';")
    db.backfill(D)
    m2, i2 = rollup_rows(db, "default", d(D))
    check_row(m2, {"unique_visitors": 2, "returning_visitors": 1, "total_page_views": 1, "total_exits": 1,
                   "form_starts": 1, "traffic_source_breakdown": {"direct": 1, "social": 1}}, "second run")
    check_row(i2, {"events_accepted": 2, "events_rejected": 0, "p95_ttfb_ms": round_half_up(
        percentile_cont([100, 300], 0.95)), "error_breakdown": {"eventsRejected": 0, "leadsRejected": 0}},
        "second run ingest")
    for before, after, what in ((m1, m2, "metric"), (i1, i2, "ingest")):
        expect_eq(after["id"], before["id"], "%s row id after a re-run (an update, not a new row)" % what)
        expect_eq(after["created_at"], before["created_at"], "%s created_at after a re-run" % what)
        expect(after["generated_at"] > before["generated_at"],
               "%s generated_at did not move: %s -> %s" % (what, before["generated_at"], after["generated_at"]))
        expect_eq(after["updated_at"], after["generated_at"], "%s updated_at after a re-run" % what)
    # a third run over a wider window: still one row per (property, day)
    db.backfill("2026-03-09", "2026-03-11")
    expect_eq(db.val("SELECT count(*) || '/' || count(DISTINCT day) FROM daily_metric_rollups"), "3/3",
              "metric rows / days")
    expect_eq(db.val("SELECT count(*) || '/' || count(DISTINCT day) FROM daily_ingest_rollups"), "3/3",
              "ingest rows / days")


P_DAY = d("2026-04-14")


def load_property_fixture(db):
    t = lambda hms: "%s %s" % (P_DAY, hms)  # noqa: E731
    db.q("\n".join([
        visitor("va", "2026-04-13 00:00"), visitor("vb", t("01:00")), visitor("vab", t("02:00")),
        visitor("vlate", t("03:00")), visitor("vh", "2026-04-04 00:00"),
        event("a1", "va", t("08:00"), "page_view", "/", "site-a", "direct", ent=True, props={"ttfbMs": 100}),
        event("a2", "va", t("08:05"), "form_start", "/", "site-a", "internal"),
        event("a3", "va", t("08:06"), "form_submit", "/", "site-a", "internal", conv=True, props={"ttfbMs": 300}),
        event("b1", "vb", t("09:00"), "page_view", "/b", "site-b", "social", ent=True, props={"ttfbMs": 1000}),
        event("b2", "vb", t("09:05"), "form_submit", "/b", "site-b", "internal", conv=True),
        event("ab1", "vab", t("10:00"), "page_view", "/x", "site-a", "email", ent=True),
        event("ab2", "vab", t("10:30"), "page_view", "/y", "site-b", "referral", ent=True, props={"ttfbMs": 2000}),
        event("l1", "vlate", t("12:00"), "page_view", "/late", "site-a", "organic_search", ent=True),
        # leads: which property each counts for depends on its visitors' events at or before the capture
        lead("LA", t("08:06")), identity("iA", "LA", "va"),
        lead("LB", t("09:05")), identity("iB", "LB", "vb"), identity("iBh", "LB", "vh", "same_ip_ua_window", 0.35),
        lead("LAB", t("10:30")), identity("iAB", "LAB", "vab"),       # site-b event exactly at the capture
        lead("LLate", t("11:00")), identity("iL", "LLate", "vlate"),  # its site-a event comes after
        lead("LNone", t("13:00")),
        lead("LH", t("10:45")), identity("iH", "LH", "vab", "same_ip_ua_window", 0.35),  # a heuristic link only
        form("fa", "LA", "va", t("08:06")), form("fb", "LB", "vb", t("09:05")),
        form("fab", "LAB", "vab", t("10:15")),   # site-a yes (10:00), site-b no (10:30 is after)
        form("fab2", "LAB", "vab", t("10:30")),  # exactly at vab's site-b event: both properties
        form("flate", "LLate", "vlate", t("11:00")),
        form("fnull", "LNone", None, t("13:00")),
        rejection("r1", "site-a", "/v1/events", t("01:00")), rejection("r2", "site-a", "/v1/events", t("02:00")),
        rejection("r3", "site-b", "/v1/events", t("03:00")), rejection("r4", "default", "/v1/events", t("04:00")),
        rejection("r5", "site-a", "/v1/leads/capture", t("05:00")),
        rejection("r6", "unknown", "/v1/leads/capture", t("06:00")),
    ]))


@test(timeout=60)
def rollup_property_filter():
    db = DB("properties")
    load_property_fixture(db)
    for prop in ("default", "site-a", "site-b"):
        db.backfill(P_DAY, prop=prop)
    ttfc = {"LA": DAY_MS + 8 * HOUR_MS + 6 * 60000, "LB": 10 * DAY_MS + 9 * HOUR_MS + 5 * 60000,
            "LAB": 8 * HOUR_MS + 30 * 60000, "LLate": 8 * HOUR_MS, "LH": 8 * HOUR_MS + 45 * 60000}
    expected = {
        "default": (
            {"unique_visitors": 4, "returning_visitors": 1, "total_page_views": 5, "total_entrances": 5,
             "total_exits": 0, "total_conversions": 2, "form_starts": 1, "form_submits": 2, "new_leads": 6,
             "time_to_first_capture_sum_ms": sum(ttfc.values()), "time_to_first_capture_count": 5,
             "traffic_source_breakdown": {"direct": 1, "internal": 3, "social": 1, "email": 1, "referral": 1,
                                          "organic_search": 1},
             "top_landing_paths": paths(("/", 1, 0), ("/b", 1, 0), ("/late", 1, 0), ("/x", 1, 0), ("/y", 1, 0))},
            {"events_accepted": 8, "events_rejected": 4, "leads_accepted": 6, "leads_rejected": 2,
             "p95_ttfb_ms": round_half_up(percentile_cont([100, 300, 1000, 2000], 0.95)),
             "error_breakdown": {"eventsRejected": 4, "leadsRejected": 2}}),
        "site-a": (
            {"unique_visitors": 3, "returning_visitors": 1, "total_page_views": 3, "total_entrances": 3,
             "total_exits": 0, "total_conversions": 1, "form_starts": 1, "form_submits": 1, "new_leads": 3,
             "time_to_first_capture_sum_ms": ttfc["LA"] + ttfc["LAB"] + ttfc["LH"], "time_to_first_capture_count": 3,
             "traffic_source_breakdown": {"direct": 1, "internal": 2, "email": 1, "organic_search": 1},
             "top_landing_paths": paths(("/", 1, 0), ("/late", 1, 0), ("/x", 1, 0))},
            {"events_accepted": 5, "events_rejected": 2, "leads_accepted": 3, "leads_rejected": 1,
             "p95_ttfb_ms": round_half_up(percentile_cont([100, 300], 0.95)),
             "error_breakdown": {"eventsRejected": 2, "leadsRejected": 1}}),
        "site-b": (
            {"unique_visitors": 2, "returning_visitors": 0, "total_page_views": 2, "total_entrances": 2,
             "total_exits": 0, "total_conversions": 1, "form_starts": 0, "form_submits": 1, "new_leads": 3,
             "time_to_first_capture_sum_ms": ttfc["LB"] + ttfc["LAB"] + ttfc["LH"], "time_to_first_capture_count": 3,
             "traffic_source_breakdown": {"social": 1, "internal": 1, "referral": 1},
             "top_landing_paths": paths(("/b", 1, 0), ("/y", 1, 0))},
            {"events_accepted": 3, "events_rejected": 1, "leads_accepted": 2, "leads_rejected": 0,
             "p95_ttfb_ms": round_half_up(percentile_cont([1000, 2000], 0.95)),
             "error_breakdown": {"eventsRejected": 1, "leadsRejected": 0}}),
    }
    for prop, (em, ei) in expected.items():
        m, i = rollup_rows(db, prop, P_DAY)
        check_row(m, em, "daily_metric_rollups (%s)" % prop)
        check_row(i, ei, "daily_ingest_rollups (%s)" % prop)
    # a property with nothing on the day: a row of zeros (not the default's numbers)
    db.backfill(P_DAY, prop="site-none")
    m, i = rollup_rows(db, "site-none", P_DAY)
    check_row(m, dict({c: 0 for c in METRIC_COLS[:11]}, traffic_source_breakdown={}), "site-none metrics")
    check_row(i, {"events_accepted": 0, "events_rejected": 0, "leads_accepted": 0, "leads_rejected": 0,
                  "p95_ttfb_ms": None}, "site-none ingest")


# ---------------------------------------------------------------------------------------------
# CLI: run, backfill, status, discrepancy

def one_line_error(r, what, needle):
    expect_eq(r.returncode, 1, "%s: exit code (stdout %r, stderr %r)" % (what, r.stdout, r.stderr))
    err = r.stderr.strip()
    expect(err and "\n" not in err, "%s: expected one line on stderr, got %r" % (what, r.stderr))
    expect(needle in err, "%s: stderr does not name %r: %r" % (what, needle, err))
    expect_eq(r.stdout, "", "%s: stdout" % what)


@test(timeout=60)
def rollups_run_and_backfill_cli():
    db = DB("cli", {"ROLLUP_BATCH_DAYS": 7})
    t0 = today()
    db.q(visitor("v1", "2026-01-01") + event("now", "v1", datetime.datetime.now(datetime.timezone.utc)
                                            .strftime("%Y-%m-%d %H:%M:%S.%f")[:23]))
    r = db.run("rollups", "run")
    t1 = today()
    expect_eq(r.returncode, 0, "rollups run exit code (stderr %r)" % r.stderr)
    expect(r.stdout in ["Rollup run complete for default: %s -> %s (7 day(s)).\n" % (t - datetime.timedelta(days=6), t)
                        for t in {t0, t1}], "rollups run stdout: %r (today %s)" % (r.stdout, t0))
    days = db.q("SELECT day FROM daily_metric_rollups WHERE property_id = 'default' ORDER BY day").split()
    expect_eq(days, [str(t1 - datetime.timedelta(days=6 - k)) for k in range(7)], "days rolled up by run")
    expect_eq(db.val("SELECT count(*) FROM daily_ingest_rollups"), "7", "ingest rows after run")
    expect_eq(db.val("SELECT events_accepted FROM daily_ingest_rollups WHERE day = %s" % lit(str(t1))), "1",
              "today (partial) is included")
    r = db.run("rollups", "run", "--from=2026-01-01")
    one_line_error(r, "rollups run with a flag", "--from=2026-01-01")

    # backfill defaults: to = today, from = to - (ROLLUP_BATCH_DAYS - 1), property default
    r = db.run("rollups", "backfill", env={"ROLLUP_BATCH_DAYS": "3"})
    t = today()
    expect_eq(r.returncode, 0, "backfill without flags")
    expect_eq(r.stdout, "Rollup run complete for default: %s -> %s (3 day(s)).\n" % (t - datetime.timedelta(days=2), t),
              "backfill without flags stdout")
    r = db.backfill("2026-03-01", "2026-03-03", prop="site-a")
    expect_eq(r.stdout, "Rollup run complete for site-a: 2026-03-01 -> 2026-03-03 (3 day(s)).\n", "backfill stdout")
    expect("warning" in r.stderr.lower(), "backfill before RETENTION_DAYS should warn: %r" % r.stderr)
    r = db.run("rollups", "backfill", "--from", "2026-02-27", "--to", "2026-03-01")
    expect_eq((r.returncode, r.stdout), (0, "Rollup run complete for default: 2026-02-27 -> 2026-03-01 (3 day(s)).\n"),
              "backfill with '--flag value' (leap-free February)")
    r = db.run("rollups", "backfill", "--from=2024-02-29", "--to=2024-02-29")
    expect_eq(r.returncode, 0, "backfill of 2024-02-29 (a real date)")

    before = db.val("SELECT count(*) FROM daily_metric_rollups")
    for args, needle in [
        (["--from=2026-3-01", "--to=2026-03-02"], "2026-3-01"),
        (["--from=2026-03-01", "--to=20260302"], "20260302"),
        (["--from=2026-02-30", "--to=2026-03-02"], "2026-02-30"),
        (["--from=2026-03-01", "--to=2025-02-29"], "2025-02-29"),
        (["--from=2026-03-01", "--to=2026-13-01"], "2026-13-01"),
        (["--from=2026-03-05", "--to=2026-03-04"], "--from"),
        (["--from=2026-03-01", "--bogus=1"], "--bogus"),
        (["--since=2026-03-01"], "--since"),
        (["extra"], "extra"),
    ]:
        one_line_error(db.run("rollups", "backfill", *args), "backfill %s" % " ".join(args), needle)
    expect_eq(db.val("SELECT count(*) FROM daily_metric_rollups"), before, "rows written by refused backfills")
    r = db.run("rollups", "nope")
    expect_eq(r.returncode, 1, "unknown rollups subcommand exit code")


@test(timeout=60)
def rollups_status_cli():
    db = DB("status")
    r = db.run("rollups", "status")
    expect_eq(r.returncode, 0, "status exit code (stderr %r)" % r.stderr)
    expect_eq(r.stdout, "property: default\ndaily_metric_rollups rows: 0\ndaily_ingest_rollups rows: 0\n"
              "rolledUpThrough: none\nlagDays: none\ngeneratedAt: none\n", "status of an empty database")
    db.backfill("2026-03-08", "2026-03-10")
    db.backfill("2026-03-09", prop="site-a")
    r = db.run("rollups", "status")
    gen = db.val("SELECT to_char(generated_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') FROM daily_metric_rollups "
                 "WHERE property_id = 'default' AND day = '2026-03-10'")
    lag = (today() - d("2026-03-10")).days
    expect_eq(r.returncode, 0, "status exit code")
    expect_eq(r.stdout, "property: default\ndaily_metric_rollups rows: 3\ndaily_ingest_rollups rows: 3\n"
              "rolledUpThrough: 2026-03-10\nlagDays: %d\ngeneratedAt: %s\n" % (lag, gen), "status after a backfill")
    expect(ISO_MS.match(gen), "generatedAt format %r" % gen)
    r = db.run("rollups", "status", "--property-id=site-a")
    expect_eq(r.stdout.splitlines()[:4], ["property: site-a", "daily_metric_rollups rows: 1",
                                          "daily_ingest_rollups rows: 1", "rolledUpThrough: 2026-03-09"],
              "status --property-id=site-a")
    r = db.run("rollups", "status", "--property-id=nobody")
    expect_eq(r.stdout.splitlines()[1:], ["daily_metric_rollups rows: 0", "daily_ingest_rollups rows: 0",
                                          "rolledUpThrough: none", "lagDays: none", "generatedAt: none"],
              "status of a property without rows")
    one_line_error(db.run("rollups", "status", "--verbose"), "status --verbose", "--verbose")


@test(timeout=60)
def rollups_discrepancy_cli():
    db = DB("discrepancy")
    load_day_fixture(db)
    p, D, n = "2026-03-09", "2026-03-10", "2026-03-11"
    db.backfill(p, n)
    db.backfill(p, n, prop="site-a")
    for extra in ([], ["--property-id=site-a"]):
        r = db.run("rollups", "discrepancy", "--from=" + p, "--to=" + n, *extra)
        expect_eq(r.returncode, 0, "discrepancy %s right after the rollup (stdout %r, stderr %r)" %
                  (extra, r.stdout, r.stderr))
        expect(not [l for l in r.stdout.splitlines() if l.startswith("- ")], "mismatch lines: %r" % r.stdout)
    # new raw rows after the rollup
    db.q(event("late1", "v1", D + " 22:00", "page_view", "/x", "site-a") +
         event("late2", "v1", D + " 22:01", "click", "/x", "site-b") +
         rejection("late3", "site-b", "/v1/events", D + " 22:02"))
    r = db.run("rollups", "discrepancy", "--from=" + p, "--to=" + n)
    expect_eq(r.returncode, 2, "discrepancy exit code with new raw rows (stdout %r, stderr %r)" % (r.stdout, r.stderr))
    lines = sorted(l for l in r.stdout.splitlines() if l.startswith("- "))
    expect_eq(lines, sorted(["- %s eventsAccepted raw=26 rollup=24" % D, "- %s eventsRejected raw=4 rollup=3" % D,
                             "- %s pageViews raw=18 rollup=17" % D]), "mismatch lines (default)")
    r = db.run("rollups", "discrepancy", "--from=" + p, "--to=" + n, "--property-id=site-a")
    expect_eq(r.returncode, 2, "discrepancy exit code for site-a")
    lines = sorted(l for l in r.stdout.splitlines() if l.startswith("- "))
    expect_eq(lines, sorted(["- %s eventsAccepted raw=24 rollup=23" % D, "- %s pageViews raw=18 rollup=17" % D]),
              "mismatch lines (site-a; the site-b event and rejection are not its own)")
    # a day without a rollup row counts as zeros; a day without raw rows and without a row matches
    db.q(event("old", "v1", "2026-03-05 12:00", "click", "/x", "site-a"))
    r = db.run("rollups", "discrepancy", "--from=2026-03-04", "--to=2026-03-06")
    expect_eq(r.returncode, 2, "discrepancy exit code for a day without a rollup row")
    expect_eq([l for l in r.stdout.splitlines() if l.startswith("- ")],
              ["- 2026-03-05 eventsAccepted raw=1 rollup=0"], "mismatch lines for a missing rollup row")
    r = db.run("rollups", "discrepancy", "--from=2026-03-06", "--to=2026-03-07")
    expect_eq(r.returncode, 0, "discrepancy of days without raw rows or rollups (stdout %r)" % r.stdout)
    # rolled up again: consistent
    db.backfill(D)
    r = db.run("rollups", "discrepancy", "--from=" + D, "--to=" + D)
    expect_eq(r.returncode, 0, "discrepancy after rolling the day up again (stdout %r)" % r.stdout)
    one_line_error(db.run("rollups", "discrepancy", "--from=2026-02-30"), "discrepancy bad date", "2026-02-30")


# ---------------------------------------------------------------------------------------------
# retention purge

@test(timeout=60)
def retention_purge_cli():
    db = DB("retention", {"RETENTION_DAYS": 30})
    ago = lambda days, mins=0: ("%s" % (datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)  # noqa
                                        - datetime.timedelta(days=days, minutes=mins)))[:23]
    db.q("\n".join([
        # only old events: everything goes
        visitor("vold", ago(45)), session("sold", "vold", ago(45)),
        event("o1", "vold", ago(45), sid="sold"), event("o2", "vold", ago(30, 1), sid="sold"),
        # an old session and a recent one: the old session goes, the visitor stays
        visitor("vmix", ago(40)), session("smix1", "vmix", ago(40)), session("smix2", "vmix", ago(1)),
        event("m1", "vmix", ago(40), sid="smix1"), event("m2", "vmix", ago(1), sid="smix2"),
        # old events only, but linked to a lead: the visitor stays, its empty session goes
        visitor("vlead", ago(50)), session("slead", "vlead", ago(50)), event("l1", "vlead", ago(50), sid="slead"),
        lead("lead1", ago(50)), identity("il", "lead1", "vlead"), consent("c1", "lead1", ago(50)),
        # old events only, but a form submission refers to the visitor and its session: both stay
        visitor("vform", ago(60)), session("sform", "vform", ago(60)), event("f1", "vform", ago(60), sid="sform"),
        form("fs1", None, "vform", ago(60), sid="sform"),
        # inside the window by a minute: kept
        visitor("vedge", ago(29, 23 * 60 + 59)), session("sedge", "vedge", ago(29, 23 * 60 + 59)),
        event("k1", "vedge", ago(29, 23 * 60 + 59), sid="sedge"),
        # an event without a session
        visitor("vnosess", ago(70)), event("n1", "vnosess", ago(70)),
        lead("lead2", ago(70)), form("fs2", "lead2", None, ago(70)), consent("c2", "lead2", ago(70)),
    ]))
    counts = lambda: {t: int(db.val("SELECT count(*) FROM %s" % t)) for t in  # noqa: E731
                      ("events", "sessions", "visitors", "leads", "consent_events", "form_submissions",
                       "lead_identities")}
    before = counts()
    r = db.run("retention", "purge")
    expect_eq(r.returncode, 0, "retention purge exit code (stderr %r)" % r.stderr)
    expect(re.fullmatch(r"Retention purge \(events before \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z, RETENTION_DAYS=30\): "
                        r"removed 6 event\(s\), 3 session\(s\), 2 visitor\(s\)\.\n", r.stdout),
           "retention purge output: %r (expected 6 events: o1 o2 m1 l1 f1 n1; 3 sessions: sold smix1 slead; "
           "2 visitors: vold vnosess)" % r.stdout)
    after = counts()
    expect_eq(after, dict(before, events=before["events"] - 6, sessions=before["sessions"] - 3,
                          visitors=before["visitors"] - 2), "row counts after the purge")
    expect_eq(db.q("SELECT id FROM events ORDER BY id").split(), ["k1", "m2"], "events left")
    expect_eq(db.q("SELECT id FROM sessions ORDER BY id").split(), ["sedge", "sform", "smix2"], "sessions left")
    expect_eq(db.q("SELECT id FROM visitors ORDER BY id").split(), ["vedge", "vform", "vlead", "vmix"], "visitors left")
    expect_eq(db.q("SELECT id || ':' || coalesce(visitor_id, '-') || ':' || coalesce(session_id, '-') "
                   "FROM form_submissions ORDER BY id").split(), ["fs1:vform:sform", "fs2:-:-"],
              "form submissions keep their references")
    r = db.run("retention", "purge")
    expect(r.returncode == 0 and "removed 0 event(s), 0 session(s), 0 visitor(s)." in r.stdout,
           "a second purge removes nothing: %r" % r.stdout)
    r = db.run("retention", "purge", "now")
    expect_eq(r.returncode, 1, "retention purge with an extra argument")


# ---------------------------------------------------------------------------------------------
# scheduler

@test(timeout=60)
def scheduler_runs_each_job_once_across_two():
    two_schedulers(DB("scheduler"), {})


@test(timeout=60)
def scheduler_runs_each_job_once_across_two_through_pgbouncer():
    """As on Fly Managed Postgres: DATABASE_URL is a transaction-mode PgBouncer (which would
    hand a session advisory lock's unlock to another server connection) and the schedulers take
    their locks on DIRECT_DATABASE_URL."""
    db = DB("scheduler_pgb")
    bouncer = harness.shared("pgbouncer", lambda: harness.PgBouncer(pg(), pool_size=2))
    two_schedulers(db, {"DATABASE_URL": bouncer.url(db.name), "DIRECT_DATABASE_URL": db.url})


def two_schedulers(db, overrides):
    db.q(visitor("v1", "2026-01-01") + event("old", "v1", "2020-01-01 00:00"))
    # cookieless salts (migration 0007) of three past days: two schedulers make one salt for today
    # and delete those older than 48 hours (the day before yesterday and earlier), keeping yesterday's
    db.q("INSERT INTO daily_salts (day, salt) SELECT (now() AT TIME ZONE 'UTC')::date - k, "
         "decode(repeat(to_hex(k), 64), 'hex') FROM generate_series(1, 3) k;")
    env = dict(db.env, ROLLUP_INTERVAL_MINUTES="60", **overrides)
    tmp = tempfile.mkdtemp(prefix="itmet-sched-", dir="/tmp")
    procs, logs = [], []
    try:
        for k in range(2):
            path = os.path.join(tmp, "scheduler%d.log" % k)
            f = open(path, "wb")
            logs.append(path)
            procs.append(subprocess.Popen([BACKEND_BIN, "scheduler"], env=env, cwd="/", stdin=subprocess.DEVNULL,
                                          stdout=f, stderr=subprocess.STDOUT, start_new_session=True))
            f.close()
        t0 = time.monotonic()
        harness.wait_until(lambda: db.val("SELECT count(*) FROM job_runs WHERE last_finished_at IS NOT NULL") == "5",
                           5, 0.1, "the five jobs to finish (job_runs: %s)" % db.q("SELECT * FROM job_runs"))
        took = time.monotonic() - t0
        time.sleep(1.0)  # both schedulers have made their first pass by now
        for k, p in enumerate(procs):
            expect(p.poll() is None, "scheduler %d exited early (code %s): %s" % (k, p.returncode, harness.tail(logs[k])))
        text = "".join(open(p, encoding="utf-8", errors="replace").read() for p in logs)
        jobs = db.rows("SELECT job, last_status, last_finished_at >= last_started_at AS ordered FROM job_runs "
                       "ORDER BY job")
        expect_eq(jobs, [{"job": "partitions", "last_status": "ok", "ordered": True},
                         {"job": "refresh", "last_status": "ok", "ordered": True},
                         {"job": "retention", "last_status": "ok", "ordered": True},
                         {"job": "rollups", "last_status": "ok", "ordered": True},
                         {"job": "salts", "last_status": "ok", "ordered": True}], "job_runs")
        expect_eq(len(re.findall(r"salts: finished", text)), 1, "'salts: finished' lines across both logs:\n" + text)
        expect_eq(db.val("SELECT string_agg(((now() AT TIME ZONE 'UTC')::date - day)::text, ',' ORDER BY day DESC) "
                         "FROM daily_salts"), "0,1",
                  "salts left (days before today): today's, made once, and yesterday's")
        expect_eq(db.val("SELECT octet_length(salt) FROM daily_salts WHERE day = (now() AT TIME ZONE 'UTC')::date"),
                  "32", "today's salt length")
        expect_eq(len(re.findall(r"rollups: finished", text)), 1, "'rollups: finished' lines across both logs:\n" + text)
        expect_eq(len(re.findall(r"retention: finished", text)), 1,
                  "'retention: finished' lines across both logs:\n" + text)
        expect(re.search(r"rollups: finished in \d+ ms", text), "no duration logged for rollups:\n" + text)
        expect(re.search(r"retention: finished in \d+ ms", text), "no duration logged for retention:\n" + text)
        expect_eq(text.count("scheduler started"), 2, "'scheduler started' lines (both connected and ran):\n" + text)
        expect_eq(text.count("Rollup run complete for default"), 1, "rollup run output lines")
        expect_eq(len(re.findall(r"refresh: finished", text)), 1, "'refresh: finished' lines across both logs:\n" + text)
        expect_eq(db.val("SELECT count(*) FROM daily_metric_rollups WHERE property_id = 'default'"), "7",
                  "rows written by the scheduled rollup (ROLLUP_BATCH_DAYS 7)")
        expect_eq(db.val("SELECT count(*) FROM events"), "0", "the scheduled purge removed the 2020 event")
        # SIGTERM: both exit 0 within 3 s
        for p in procs:
            p.send_signal(signal.SIGTERM)
        t1 = time.monotonic()
        for k, p in enumerate(procs):
            try:
                rc = p.wait(timeout=max(0.1, 3 - (time.monotonic() - t1)))
            except subprocess.TimeoutExpired:
                raise Fail("scheduler %d did not exit within 3 s of SIGTERM" % k)
            expect_eq(rc, 0, "scheduler %d exit code after SIGTERM (log: %s)" % (k, harness.tail(logs[k], 5)))
            expect("scheduler stopped" in harness.tail(logs[k], 3), "scheduler %d: no 'scheduler stopped' line: %s" %
                   (k, harness.tail(logs[k], 5)))
        print("NOTE metrics: two schedulers: both jobs done %.2f s after start; SIGTERM -> exit in %.2f s" %
              (took, time.monotonic() - t1), flush=True)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=5)
        for path in logs:
            try:
                os.unlink(path)
            except OSError:
                pass
        os.rmdir(tmp) if os.path.isdir(tmp) and not os.listdir(tmp) else None


# ---------------------------------------------------------------------------------------------
# GET /v1/metrics/summary

def mrow(prop, day, uv=0, ret=0, pv=0, ent=0, conv=0, fs=0, fsub=0, nl=0, tsum=0, tcnt=0, src=None,
         generated="2026-03-21 00:00:00.000"):
    return ("INSERT INTO daily_metric_rollups (id, property_id, day, unique_visitors, returning_visitors, "
            "total_page_views, total_entrances, total_exits, total_conversions, form_starts, form_submits, new_leads, "
            "time_to_first_capture_sum_ms, time_to_first_capture_count, traffic_source_breakdown, top_landing_paths, "
            "generated_at, updated_at) VALUES (%s, %s, %s, %d, %d, %d, %d, 0, %d, %d, %d, %d, %d, %d, %s, '[]', %s, %s);"
            % (lit("m-%s-%s" % (prop, day)), lit(prop), lit(day), uv, ret, pv, ent, conv, fs, fsub, nl, tsum, tcnt,
               jlit(src if src is not None else {}), lit(generated), lit(generated)))


def irow(prop, day, acc=0, rej=0, p95=None, generated="2026-03-21 00:00:00.000"):
    return ("INSERT INTO daily_ingest_rollups (id, property_id, day, events_accepted, events_rejected, leads_accepted, "
            "leads_rejected, p95_ttfb_ms, error_breakdown, generated_at, updated_at) VALUES "
            "(%s, %s, %s, %d, %d, 0, 0, %s, '{}', %s, %s);" %
            (lit("i-%s-%s" % (prop, day)), lit(prop), lit(day), acc, rej, lit(p95), lit(generated), lit(generated)))


def summary_env():
    """The summary database (rollup rows written directly) and a stack on it without a summary
    rate limit. Created once."""
    def make():
        db = DB("summary")
        db.q("\n".join([
            # current window 2026-03-10 .. 2026-03-13 (4 days; 03-11 has no rows at all)
            mrow("default", "2026-03-10", uv=10, ret=4, pv=30, ent=8, conv=2, fs=5, fsub=3, nl=2, tsum=7200000,
                 tcnt=2, src={"direct": 10, "social": 5, "email": 5}),
            irow("default", "2026-03-10", acc=40, rej=10, p95=200),
            mrow("default", "2026-03-12", uv=5, ret=1, pv=10, ent=2, conv=1, nl=1, tsum=3600000, tcnt=1,
                 src={"organic_search": 15, "unknown": 5}),
            irow("default", "2026-03-12", acc=20, rej=0, p95=403),
            irow("default", "2026-03-13", acc=0, rej=5, p95=999),  # p95 of a day without accepted events: no weight
            # comparison window 2026-03-06 .. 2026-03-09
            mrow("default", "2026-03-06", uv=10, ret=2, pv=20, ent=5, conv=1, fs=4, fsub=2, nl=1, src={"direct": 4}),
            irow("default", "2026-03-06", acc=10, rej=0, p95=None),
            # outside both windows: the latest row of the property (freshness)
            mrow("default", "2026-03-20", uv=1, generated="2026-03-21 00:05:00.123"),
            irow("default", "2026-03-20", acc=1, generated="2026-03-21 00:05:00.123"),
            # another property on the same days: never mixed in
            mrow("site-x", "2026-03-10", uv=1000, ret=1000, pv=1000, ent=1000, conv=1000, fs=1000, fsub=1000,
                 nl=1000, tsum=1000, tcnt=1000, src={"referral": 1000}, generated="2026-03-11 08:00:00.000"),
            irow("site-x", "2026-03-10", acc=1000, rej=1000, p95=1, generated="2026-03-11 08:00:00.000"),
            # zero denominators: unique 0, form starts 0, entrances 0, ttfc count 0, no sources
            mrow("zeros", "2026-03-10", nl=2, fsub=1, conv=1, tsum=5),
            irow("zeros", "2026-03-10", p95=50),
        ]))
        stack = Stack(db.url, workers=2, env={"RATE_LIMIT_SUMMARY": 0})

        return harness.DbStack(db, stack)
    return harness.shared("metrics-summary", make)


def get_summary(stack, query, headers=AUTH, method="GET"):
    qs = query if isinstance(query, str) else urllib.parse.urlencode(query)
    return stack.request(method, SUMMARY + ("?" + qs if qs else ""), headers=headers)


def ok_summary(stack, query, headers=AUTH):
    r = get_summary(stack, query, headers)
    expect_eq(r.status, 200, "status for %s" % (query,), r)
    expect_eq(r.header("Content-Type"), JSON_CT, "content-type", r)
    expect(r.body.startswith(b'{"ok":true'), "body must start with {\"ok\":true", r)
    expect(isinstance(r.json, dict), "body is not JSON", r)
    return r


def close(a, b):
    if a is None or b is None:
        return a is None and b is None
    return isinstance(a, (int, float)) and not isinstance(a, bool) and math.isclose(a, b, rel_tol=1e-12,
                                                                                     abs_tol=1e-12)


def check_metrics(r, expected):
    """expected: key -> (value, delta)."""
    got = r.json["metrics"]
    diffs = []
    for k, (v, dl) in expected.items():
        g = got.get(k)
        if not (isinstance(g, dict) and sorted(g) == ["delta", "value"] and close(g["value"], v) and close(g["delta"], dl)):
            diffs.append("%s: expected value %r delta %r, got %r" % (k, v, dl, g))
    if diffs:
        raise Fail("metrics differ:\n  " + "\n  ".join(diffs) + "\n  response: " + r.describe())


def mix_keys_in_body(r):
    m = re.search(rb'"trafficSourceMix":\{([^}]*)\}', r.body)
    expect(m, "no trafficSourceMix object in the body", r)
    return [k.decode() for k in re.findall(rb'"([a-z_]+)":', m.group(1))]


@test(timeout=60)
def summary_values_and_deltas():
    s = summary_env().stack
    lag = lambda day: (today() - d(day)).days  # noqa: E731
    r = ok_summary(s, "from=2026-03-10&to=2026-03-13&compareTo=1")
    j = r.json
    expect_eq(list(j.keys()), ["ok", "window", "compareTo", "freshness", "metrics", "ingest", "trend"], "top-level keys")
    expect_eq(j["window"], {"from": "2026-03-10", "to": "2026-03-13"}, "window", r)
    expect_eq(j["compareTo"], {"from": "2026-03-06", "to": "2026-03-09"}, "compareTo window (the 4 days before)", r)
    fr = j["freshness"]
    expect_eq((fr.get("rolledUpThrough"), fr.get("generatedAt")), ("2026-03-20", "2026-03-21T00:05:00.123Z"),
              "freshness: the property's latest row", r)
    expect(fr.get("lagDays") in (lag("2026-03-20"), lag("2026-03-20") + 1), "lagDays %r" % fr.get("lagDays"), r)
    # 03-11 has no rows, 03-13 only an ingest row: not rolled up, so their zeros in trend are no data
    expect_eq(fr.get("missingDays"), ["2026-03-11", "2026-03-13"], "freshness.missingDays", r)
    # current: unique 15, returning 5, page views 40, entrances 10, conversions 3, starts 5, submits 3,
    # new leads 3, ttfc 10 800 000 ms / 3; baseline: 10, 2, 20, 5, 1, 4, 2, 1, 0 / 0
    check_metrics(r, {
        "uniqueVisitors": (15, (15 - 10) / 10),
        "returningVisitorsPct": (5 / 15, (5 / 15 - 2 / 10) / (2 / 10)),
        "totalPageViews": (40, (40 - 20) / 20),
        "newLeads": (3, (3 - 1) / 1),  # issue 15: the sum of new_leads, with its delta
        "leadCaptureRate": (3 / 15, (3 / 15 - 1 / 10) / (1 / 10)),
        "formCompletionRate": (3 / 5, (3 / 5 - 2 / 4) / (2 / 4)),
        "landingPageConversionRate": (3 / 10, (3 / 10 - 1 / 5) / (1 / 5)),
        "avgTimeToFirstCaptureHrs": (10800000 / 3 / 3600000, None),  # baseline 0: delta null
    })
    expect_eq(type(j["metrics"]["uniqueVisitors"]["value"]), int, "uniqueVisitors is an integer")
    expect_eq(type(j["metrics"]["totalPageViews"]["value"]), int, "totalPageViews is an integer")
    expect_eq(list(j["metrics"].keys()), METRIC_KEYS + ["trafficSourceMix"], "metrics keys")
    mix = json.loads(r.body, object_pairs_hook=collections.OrderedDict)["metrics"]["trafficSourceMix"]
    expect_eq(list(mix.keys()), SOURCES, "trafficSourceMix keys in order", r)
    expect_eq(mix_keys_in_body(r), SOURCES, "trafficSourceMix key order in the body text", r)
    exp_mix = {"direct": 10 / 40, "organic_search": 15 / 40, "paid_search": 0, "social": 5 / 40, "email": 5 / 40,
               "referral": 0, "campaign": 0, "internal": 0, "unknown": 5 / 40}
    expect(all(close(mix[k], v) for k, v in exp_mix.items()), "trafficSourceMix %r, expected %r" % (dict(mix), exp_mix))
    ing = j["ingest"]
    expect_eq(list(ing.keys()), ["successPct", "p95TtfbMs", "totalEventsAccepted", "totalEventsRejected", "botsDropped"],
              "ingest keys", r)
    # p95: (200 * 40 + 403 * 20) / 60 = 267.67 -> 268; 03-13 (p95 999, accepted 0) carries no weight
    expect(close(ing["successPct"], 60 / 75), "successPct %r, expected 60/75" % ing["successPct"], r)
    expect_eq((ing["p95TtfbMs"], ing["totalEventsAccepted"], ing["totalEventsRejected"]), (268, 60, 15),
              "p95TtfbMs, accepted, rejected", r)
    expect_eq(j["trend"], [
        {"day": "2026-03-10", "uniqueVisitors": 10, "pageViews": 30, "newLeads": 2},
        {"day": "2026-03-11", "uniqueVisitors": 0, "pageViews": 0, "newLeads": 0},
        {"day": "2026-03-12", "uniqueVisitors": 5, "pageViews": 10, "newLeads": 1},
        {"day": "2026-03-13", "uniqueVisitors": 0, "pageViews": 0, "newLeads": 0}], "trend", r)

    # the same window without a comparison: same values, every delta null
    r2 = ok_summary(s, "from=2026-03-10&to=2026-03-13")
    expect_eq(r2.json["compareTo"], None, "compareTo without the parameter", r2)
    check_metrics(r2, {k: (v["value"], None) for k, v in j["metrics"].items() if k != "trafficSourceMix"})
    expect_eq({k: r2.json[k] for k in ("window", "freshness", "ingest", "trend")},
              {k: j[k] for k in ("window", "freshness", "ingest", "trend")}, "the rest without a comparison", r2)

    # the comparison window itself, compared with the 4 days before it (no rows: deltas null)
    r3 = ok_summary(s, "from=2026-03-06&to=2026-03-09&compareTo=true")
    check_metrics(r3, {"uniqueVisitors": (10, None), "returningVisitorsPct": (0.2, None), "totalPageViews": (20, None),
                       "leadCaptureRate": (0.1, None), "formCompletionRate": (0.5, None),
                       "landingPageConversionRate": (0.2, None), "avgTimeToFirstCaptureHrs": (0, None)})
    expect_eq(r3.json["ingest"], {"successPct": 1, "p95TtfbMs": None, "totalEventsAccepted": 10,
                                  "totalEventsRejected": 0, **NO_BOTS}, "ingest of the comparison window (no p95)", r3)

    # another property: only its own rows, its own freshness
    r4 = ok_summary(s, "from=2026-03-10&to=2026-03-10&propertyId=site-x")
    check_metrics(r4, {"uniqueVisitors": (1000, None), "totalPageViews": (1000, None), "returningVisitorsPct": (1, None),
                       "avgTimeToFirstCaptureHrs": (1 / 3600000, None)})
    expect_eq(r4.json["ingest"], {"successPct": 0.5, "p95TtfbMs": 1, "totalEventsAccepted": 1000,
                                  "totalEventsRejected": 1000, **NO_BOTS}, "site-x ingest", r4)
    expect_eq(r4.json["freshness"]["generatedAt"], "2026-03-11T08:00:00.000Z", "site-x generatedAt", r4)
    r5 = ok_summary(s, {"from": "2026-03-10", "to": "2026-03-10", "propertyId": "  site-x  "})
    expect_eq(r5.json["metrics"]["uniqueVisitors"]["value"], 1000, "propertyId is trimmed", r5)

    # zero denominators: every ratio 0, mix all 0, successPct 0
    r6 = ok_summary(s, "from=2026-03-10&to=2026-03-10&propertyId=zeros&compareTo=on")
    check_metrics(r6, {"uniqueVisitors": (0, None), "returningVisitorsPct": (0, None), "totalPageViews": (0, None),
                       "leadCaptureRate": (0, None), "formCompletionRate": (0, None),
                       "landingPageConversionRate": (0, None), "avgTimeToFirstCaptureHrs": (0, None)})
    expect_eq(dict(r6.json["metrics"]["trafficSourceMix"]), {k: 0 for k in SOURCES}, "mix with no sources", r6)
    expect_eq(r6.json["ingest"], {"successPct": 0, "p95TtfbMs": None, "totalEventsAccepted": 0,
                                  "totalEventsRejected": 0, **NO_BOTS}, "ingest with zero accepted (p95 50 has no weight)", r6)


@test(timeout=60)
def summary_empty_window_and_property_without_rows():
    s = summary_env().stack
    r = ok_summary(s, "from=2025-01-01&to=2025-01-03&compareTo=YES")
    j = r.json
    expect_eq(j["compareTo"], {"from": "2024-12-29", "to": "2024-12-31"}, "compareTo window", r)
    check_metrics(r, {k: (0, None) for k in METRIC_KEYS})
    expect_eq(dict(j["metrics"]["trafficSourceMix"]), {k: 0 for k in SOURCES}, "mix", r)
    expect_eq(mix_keys_in_body(r), SOURCES, "mix key order of an empty window", r)
    expect_eq(j["ingest"], {"successPct": 0, "p95TtfbMs": None, "totalEventsAccepted": 0, "totalEventsRejected": 0, **NO_BOTS},
              "ingest", r)
    expect_eq(j["trend"], [{"day": "2025-01-0%d" % k, "uniqueVisitors": 0, "pageViews": 0, "newLeads": 0}
                           for k in (1, 2, 3)], "trend of zeros", r)
    expect_eq(j["freshness"]["rolledUpThrough"], "2026-03-20", "freshness does not depend on the window", r)
    r = ok_summary(s, {"from": "2026-03-10", "to": "2026-03-10", "propertyId": "p" * 128})
    expect_eq(r.json["freshness"], {"rolledUpThrough": None, "generatedAt": None, "lagDays": None,
                                    "missingDays": ["2026-03-10"]},
              "freshness of a property without rows", r)
    check_metrics(r, {k: (0, None) for k in METRIC_KEYS})


@test(timeout=60)
def summary_compare_to_spellings():
    s = summary_env().stack
    base = "from=2026-03-10&to=2026-03-13&compareTo="
    for v in ("1", "true", "YES", "on", "True", "%20on%20"):
        r = ok_summary(s, base + v)
        expect_eq(r.json["compareTo"], {"from": "2026-03-06", "to": "2026-03-09"}, "compareTo=%s" % v, r)
        expect(close(r.json["metrics"]["uniqueVisitors"]["delta"], 0.5), "delta with compareTo=%s" % v, r)
    for v in ("0", "false", "no", "OFF"):
        r = ok_summary(s, base + v)
        expect_eq(r.json["compareTo"], None, "compareTo=%s" % v, r)
        expect(all(r.json["metrics"][k]["delta"] is None for k in METRIC_KEYS), "deltas with compareTo=%s" % v, r)
    for v in ("maybe", "2", "yess", ""):
        r = get_summary(s, base + v)
        expect_error(r, 400, "invalid_request", extra=True)
        expect_eq([i.get("path") for i in r.json.get("issues", [])], ["compareTo"], "issue paths for compareTo=%r" % v, r)


@test(timeout=60)
def summary_validation():
    s = summary_env().stack

    def bad(query, paths_):
        r = get_summary(s, query)
        expect_error(r, 400, "invalid_request", extra=True)
        expect_eq(sorted(r.json.keys()), ["error", "issues", "ok"], "body keys", r)
        got = [i.get("path") for i in r.json["issues"]]
        expect(all(isinstance(i.get("message"), str) and i["message"] for i in r.json["issues"]), "issue messages", r)
        if isinstance(paths_, set):
            expect(len(got) == 1 and got[0] in paths_, "issue paths for %s: %r, expected one of %s" %
                   (query, got, sorted(paths_)), r)
        else:
            expect_eq(sorted(got), sorted(paths_), "issue paths for %s" % query, r)

    bad("to=2026-03-10", ["from"])
    bad("from=2026-03-10", ["to"])
    bad("", ["from", "to"])
    bad("from=2026-02-30&to=2026-03-10", ["from"])
    bad("from=2026-03-01&to=2026-02-29", ["to"])
    bad("from=2026-2-3&to=2026-03-10", ["from"])
    bad("from=2026-03-01&to=2026-03-1", ["to"])
    bad("from=2026-03-01&to=2026/03/02", ["to"])
    bad("from=2026-03-02&to=2026-03-01", {"from", "to"})
    bad("from=2025-03-11&to=2026-03-12", ["to"])  # 367 days inclusive
    bad({"from": "2026-03-10", "to": "2026-03-10", "propertyId": "p" * 129}, ["propertyId"])
    bad("from=2026-02-30&to=2026-02-31&propertyId=" + "p" * 129 + "&compareTo=maybe",
        ["from", "to", "propertyId", "compareTo"])
    r = ok_summary(s, "from=2025-03-12&to=2026-03-12")  # 366 days inclusive
    expect_eq(len(r.json["trend"]), 366, "trend entries of a 366-day window", r)
    expect_eq((r.json["trend"][0]["day"], r.json["trend"][-1]["day"]), ("2025-03-12", "2026-03-12"), "trend ends", r)
    expect_eq(r.json["metrics"]["uniqueVisitors"]["value"], 25, "366-day window sum (03-06, 03-10, 03-12)", r)
    r = ok_summary(s, "from=2025-03-12&to=2026-03-12&compareTo=1")
    expect_eq(r.json["compareTo"], {"from": "2024-03-11", "to": "2025-03-11"}, "366-day comparison window", r)
    r = ok_summary(s, "from=2024-02-29&to=2024-02-29")
    expect_eq(len(r.json["trend"]), 1, "a leap day", r)
    r = ok_summary(s, "from=%202026-03-10%20&to=2026-03-10")
    expect_eq(r.json["window"]["from"], "2026-03-10", "dates are trimmed", r)
    r = ok_summary(s, "from=2026-03-10&to=2026-03-10&unknown=1")
    expect_eq(r.status, 200, "unknown query parameters are ignored", r)


@test(timeout=60)
def summary_head_and_auth():
    s = summary_env().stack
    q = "from=2026-03-10&to=2026-03-13"
    g = ok_summary(s, q)
    h = get_summary(s, q, method="HEAD")
    expect_eq(h.status, 200, "HEAD status", h)
    expect_eq(h.body, b"", "HEAD body", h)
    expect_eq(h.header("Content-Type"), JSON_CT, "HEAD content-type", h)
    h = get_summary(s, "from=2026-02-30", method="HEAD")
    expect_eq((h.status, h.body), (400, b""), "HEAD with a bad query", h)
    h = get_summary(s, q, headers={}, method="HEAD")
    expect_eq((h.status, h.body), (401, b""), "HEAD without a key", h)
    r = get_summary(s, q, headers={"Authorization": "Bearer " + ADMIN_KEY})
    expect_eq(r.status, 200, "Bearer key", r)
    expect_eq(r.json, g.json, "Bearer answer = x-admin-key answer", r)
    for hdrs, what in (({}, "no key"), ({"x-admin-key": "wrong-" + ADMIN_KEY}, "wrong key"),
                       ({"x-admin-key": ADMIN_KEY[:-1]}, "key prefix"),
                       ({"Authorization": "Bearer nope-nope-nope-nope-nope"}, "wrong Bearer"),
                       ({"Authorization": "Basic " + ADMIN_KEY}, "Basic scheme"),
                       ({"Authorization": ADMIN_KEY}, "no scheme")):
        expect_error(get_summary(s, q, headers=hdrs), 401, "unauthorized")
    # auth before validation
    for hdrs in ({}, {"x-admin-key": "wrong"}):
        for bad in ("", "from=2026-02-30&to=x", "compareTo=maybe"):
            expect_error(get_summary(s, bad, headers=hdrs), 401, "unauthorized")
    r = s.request("POST", SUMMARY + "?" + q, body={}, headers=AUTH)
    expect_error(r, 405, "method_not_allowed")


@test(timeout=60)
def summary_admin_not_configured_and_rate_limit():
    env = summary_env()
    with Stack(env.db.url, workers=1, env={"ADMIN_API_KEY": None}) as s:
        for hdrs in (AUTH, {}, {"Authorization": "Bearer " + ADMIN_KEY}):
            expect_error(get_summary(s, "from=2026-03-10&to=2026-03-10", headers=hdrs), 503,
                         "admin_auth_not_configured")
        expect_error(get_summary(s, "from=bad", headers={}), 503, "admin_auth_not_configured")
    with Stack(env.db.url, workers=2, env={"RATE_LIMIT_SUMMARY": 2}) as s:
        left = 60 - (time.time() % 60)
        if left < 8:
            time.sleep(left + 0.3)
        q = "from=2026-03-10&to=2026-03-10"
        got = [get_summary(s, q) for _ in range(3)]
        expect_eq([r.status for r in got[:2]], [200, 200], "the first two summaries")
        for r in got[:2]:
            expect_eq(r.header("X-RateLimit-Limit"), "2", "X-RateLimit-Limit", r)
        expect_error(got[2], 429, "rate_limited")
        ra = got[2].header("Retry-After")
        expect(ra is not None and ra.isdigit() and 1 <= int(ra) <= 60, "Retry-After %r" % ra, got[2])


@test(timeout=90)
def summary_reads_only_rollups():
    """Raw fixture -> backfill -> summary; then every raw row is deleted and the summary is the same."""
    db = DB("chain")
    load_day_fixture(db)
    db.backfill("2026-03-06", "2026-03-11")
    with Stack(db.url, workers=1, env={"RATE_LIMIT_SUMMARY": 0}) as s:
        q = "from=2026-03-09&to=2026-03-11&compareTo=1"
        r1 = ok_summary(s, q)
        j = r1.json
        # D-1: v7 (returning) at 23:59:59.999, lead l4; D: the one-day fixture; D+1: v7 at 00:00, lead l6
        check_metrics(r1, {
            "uniqueVisitors": (8, None), "totalPageViews": (19, None),
            "returningVisitorsPct": (4 / 8, None), "leadCaptureRate": (6 / 8, None),
            # sessions (migrations/0008): D 4 of 6 entering sessions converted, D-1 s-v7 1 of 1, D+1 0 of 1
            "formCompletionRate": (2 / 3, None), "landingPageConversionRate": (5 / 8, None),
            "avgTimeToFirstCaptureHrs": (((L1_TTFC + L2_TTFC) + (4 * DAY_MS + DAY_MS - 1)) / 4 / 3600000, None)})
        expect_eq(j["ingest"]["totalEventsAccepted"], 26, "accepted events", r1)
        expect_eq(j["ingest"]["totalEventsRejected"], 4, "rejected events (r1 r2 r3 on D, r7 on D+1)", r1)
        # p95 weighted: D 640 x 24, D-1 9999 x 1, D+1 9999 x 1
        expect_eq(j["ingest"]["p95TtfbMs"], round_half_up((640 * 24 + 9999 * 2) / 26), "p95TtfbMs", r1)
        expect_eq([(t["day"], t["uniqueVisitors"], t["pageViews"], t["newLeads"]) for t in j["trend"]],
                  [("2026-03-09", 1, 1, 1), ("2026-03-10", 6, 17, 4), ("2026-03-11", 1, 1, 1)], "trend", r1)
        db.q("DELETE FROM events; DELETE FROM ingest_rejections; DELETE FROM form_submissions; "
             "DELETE FROM lead_identities; DELETE FROM consent_events; DELETE FROM leads; DELETE FROM sessions; "
             "DELETE FROM visitors;")
        r2 = ok_summary(s, q)
        expect_eq(r2.body, r1.body, "summary after deleting every raw row", r2)


@test(timeout=90)
def summary_latency():
    """Not asserted: the summary's latency over 30 and 366 days of rollup rows (20 requests each)."""
    env = summary_env()
    env.db.q("INSERT INTO daily_metric_rollups (id, property_id, day, unique_visitors, returning_visitors, "
             "total_page_views, total_entrances, total_conversions, form_starts, form_submits, new_leads, "
             "time_to_first_capture_sum_ms, time_to_first_capture_count, traffic_source_breakdown, top_landing_paths, "
             "generated_at, updated_at) SELECT 'bench-m-' || g::date, 'bench', g::date, 500, 100, 2000, 400, 20, 30, "
             "15, 10, 36000000, 9, '{\"direct\": 200, \"organic_search\": 120, \"social\": 80, \"referral\": 40, "
             "\"internal\": 1500, \"email\": 5, \"campaign\": 30, \"paid_search\": 25}', '[]', now(), now() "
             "FROM generate_series('2025-01-01'::date, '2026-01-01'::date, interval '1 day') g;"
             "INSERT INTO daily_ingest_rollups (id, property_id, day, events_accepted, events_rejected, "
             "leads_accepted, leads_rejected, p95_ttfb_ms, error_breakdown, generated_at, updated_at) "
             "SELECT 'bench-i-' || g::date, 'bench', g::date, 3000, 12, 10, 1, 300 + extract(day FROM g)::int, "
             "'{}', now(), now() FROM generate_series('2025-01-01'::date, '2026-01-01'::date, interval '1 day') g;")
    s = env.stack
    figures = []
    for frm, to in (("2025-12-03", "2026-01-01"), ("2025-01-01", "2026-01-01")):
        q = "from=%s&to=%s&propertyId=bench" % (frm, to)
        r = ok_summary(s, q)  # warm-up (prepared statement per responder)
        ok_summary(s, q)
        times = []
        for _ in range(20):
            r = ok_summary(s, q)
            times.append(r.elapsed)
        times.sort()
        figures.append("%d days: avg %.1f ms, median %.1f ms, max %.1f ms (%d trend entries)" %
                       (len(r.json["trend"]), 1000 * sum(times) / len(times), 1000 * times[len(times) // 2],
                        1000 * times[-1], len(r.json["trend"])))
    print("NOTE metrics: summary latency over HTTP, 20 requests each: " + "; ".join(figures), flush=True)


@test(timeout=60)
def summary_ttfb_from_api_does_not_block_rollup():
    """A big integer props.ttfbMs must not stop the rollup of its day. Since issue 11 (item 9) the API
    refuses it (400 on props.ttfbMs), but rows stored before that can still hold one: the event is
    stored with a valid body and its props set as an older version would have stored them."""
    env = summary_env()
    s = env.stack
    body = {"anonId": "anon-ttfb-probe", "eventType": "page_view", "path": "/", "traffic": {"propertyId": "ttfb-probe"},
            "props": {"ttfbMs": 5000000000}}
    r = s.request("POST", "/v1/events", body=body)
    expect_eq(r.status, 400, "event with props.ttfbMs 5000000000", r)
    expect_eq([i["path"] for i in r.json["issues"]], ["props.ttfbMs"], "issue paths", r)
    body["props"] = {"ttfbMs": 500}
    r = s.request("POST", "/v1/events", body=body)
    expect_eq(r.status, 202, "event with props.ttfbMs 500", r)
    env.db.q("UPDATE events SET props = '{\"ttfbMs\": 5000000000}' WHERE property_id = 'ttfb-probe'")
    day = env.db.val("SELECT \"timestamp\"::date FROM events WHERE property_id = 'ttfb-probe'")
    stored = env.db.val("SELECT props->>'ttfbMs' FROM events WHERE property_id = 'ttfb-probe'")
    res = env.db.run("rollups", "backfill", "--from=" + day, "--to=" + day, "--property-id=ttfb-probe")
    expect(res.returncode == 0,
           "rollup of %s for the property aborted after an API-accepted event with props.ttfbMs %s: exit %d, "
           "stderr %r" % (day, stored, res.returncode, res.stderr.strip()))
    expect_eq(env.db.val("SELECT events_accepted FROM daily_ingest_rollups WHERE property_id = 'ttfb-probe'"), "1",
              "events_accepted")


# ---------------------------------------------------------------------------------------------
# benchmark (BENCH_ROLLUP=1)

if os.environ.get("BENCH_ROLLUP") == "1":
    @test(timeout=600)
    def bench_rollup_100k_events():
        db = DB("bench")
        day = "2026-03-10"
        t0 = time.monotonic()
        db.q("INSERT INTO visitors (id, anon_id, first_seen_at, last_seen_at, updated_at) "
             "SELECT 'bv' || g, 'banon' || g, %s::timestamp - (g %% 40) * interval '1 day', %s::timestamp, now() "
             "FROM generate_series(1, 10000) g;" % (lit(day), lit(day)) +
             "INSERT INTO events (id, visitor_id, event_type, path, \"timestamp\", props, property_id, traffic_source, "
             "device_type, is_entrance, is_exit, is_conversion) "
             "SELECT 'be' || g, 'bv' || (g %% 10000 + 1), "
             "(ARRAY['page_view','page_view','page_view','form_start','form_submit','click'])[g %% 6 + 1], "
             "'/p' || (g %% 50), %s::timestamp + (g * 0.864) * interval '1 second', "
             "CASE WHEN g %% 10 = 0 THEN jsonb_build_object('ttfbMs', 'x') "
             "ELSE jsonb_build_object('ttfbMs', g %% 1000) END, 'site-' || (g %% 3), "
             "(enum_range(NULL::\"TrafficSource\"))[g %% 9 + 1], 'desktop', g %% 4 = 0, g %% 7 = 0, g %% 20 = 0 "
             "FROM generate_series(0, 99999) g; ANALYZE;" % lit(day), timeout=300)
        load = time.monotonic() - t0
        expect_eq(db.val("SELECT count(*) FROM events WHERE \"timestamp\"::date = %s" % lit(day)), "100000", "events")
        figures = []
        for prop in (None, "site-1"):
            t1 = time.monotonic()
            db.backfill(day, prop=prop)
            figures.append("%s %.2f s" % (prop or "default", time.monotonic() - t1))
        i = rollup_rows(db, "default", d(day))[1]
        expect_eq(i["events_accepted"], 100000, "events_accepted")
        print("NOTE metrics: rollup of one day of 100000 events (10000 visitors; load %.1f s): %s" %
              (load, "; ".join(figures)), flush=True)


@test(timeout=60)
def retention_purge_keeps_a_returning_visitor():
    """A visitor whose events are all past RETENTION_DAYS comes back while the purge runs: its new
    event, accepted before the purge reached the visitor, must survive (nothing accepted is lost)."""
    db = DB("retrace", {"RETENTION_DAYS": 30})
    old = ("%s" % (datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
                   - datetime.timedelta(days=60)))[:23]
    # the old session is closed already, so the returning event locks only the visitor's row: the
    # purge then waits at its visitors step, the one that must not delete it
    db.q("\n".join([visitor("vback", old), session("sback", "vback", old), event("eold", "vback", old, sid="sback"),
                    "UPDATE sessions SET ended_at = last_event_at WHERE id = 'sback';"]))
    p = pg()
    psql = [os.path.join(harness.PG_BIN, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
            "-h", p.sockdir, "-p", str(p.port), "-U", "postgres", "-d", db.name]
    # the returning visitor's event, in a transaction left open: it holds the visitor's row
    tx = subprocess.Popen(psql, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        tx.stdin.write("BEGIN;\nSELECT event_id FROM ingest_event('anon-vback', (now() AT TIME ZONE 'UTC')::timestamp(3), "
                       "'ip', 'ua', 'page_view', '/back', NULL, NULL, NULL, NULL, NULL, NULL, 30, 'vnew', 'snew', "
                       "'enew', '[\"v1\",', ',\"x\"]', NULL, 'site-a', 'direct', 'desktop', NULL, true, false, false);\n"
                       "SELECT 'in-tx';\n")
        tx.stdin.flush()
        harness.wait_until(lambda: db.val("SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                                          "AND state = 'idle in transaction'" % lit(db.name)) == "1", 10, 0.05,
                           "the open transaction (psql stderr: %s)" % tx.stderr)
        purge = subprocess.Popen([harness.BACKEND_BIN, "retention", "purge"], env=db.env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)  # the purge reaches the locked visitor row and waits
        expect(purge.poll() is None, "the purge did not wait for the open transaction: %r" %
               (purge.communicate() if purge.poll() is not None else None,))
        tx.stdin.write("COMMIT;\n")
        tx.stdin.close()
        tx.wait(timeout=10)
        out, err = purge.communicate(timeout=30)
        expect_eq(purge.returncode, 0, "purge exit code (stderr %r)" % err)
    finally:
        if tx.poll() is None:
            tx.kill()
    expect_eq(db.val("SELECT count(*) FROM events WHERE id = 'enew'"), "1", "the new event survived the purge")
    expect_eq(db.val("SELECT count(*) FROM visitors WHERE id = 'vback'"), "1", "its visitor survived")
    expect_eq(db.val("SELECT count(*) FROM events WHERE id = 'eold'"), "0", "the old event was purged")


@test(timeout=60)
def summary_refuses_dates_before_1970():
    """Years Postgres cannot hold (0000) or a comparison window reaching before them are a 400 on
    `from`, never a 500; 1970-01-01 with a comparison window is fine."""
    url = harness.migrated_database("metrics_dates")
    with Stack(url, workers=1) as s:
        h = {"x-admin-key": ADMIN_KEY}
        for q, paths in (("from=0000-01-01&to=0000-01-02", ["from", "to"]),
                         ("from=0001-01-01&to=0001-01-02&compareTo=true", ["from", "to"]),
                         ("from=1969-12-31&to=1970-01-02", ["from"])):
            r = s.request("GET", "/v1/metrics/summary?" + q, headers=h)
            expect_error(r, 400, "invalid_request", extra=True)
            expect_eq([i["path"] for i in r.json["issues"]], paths, "issue paths for %s" % q, r)
        r = s.request("GET", "/v1/metrics/summary?from=1970-01-01&to=1970-01-31&compareTo=1", headers=h)
        expect_eq(r.status, 200, "1970-01-01 with a comparison window", r)
        expect_eq(r.json["compareTo"], {"from": "1969-12-01", "to": "1969-12-31"}, "comparison window", r)
        r = s.request("GET", "/v1/metrics/summary?from=9999-12-01&to=9999-12-31", headers=h)
        expect_eq(r.status, 200, "the last representable month", r)


# ---------------------------------------------------------------------------------------------
# issue 15 item 6: the rates are shares (0-1) by construction

@test(timeout=90)
def summary_rates_are_shares():
    """formCompletionRate = sessions with a form_start that also submitted / sessions with a
    form_start; landingPageConversionRate = sessions that entered and converted / sessions that
    entered (docs/API.md). The events came back as 2 and as more than 1 when counted per event."""
    db = DB("rates")
    D, E, F = "2026-04-01", "2026-04-02", "2026-04-03"
    sql = [visitor(v, "2026-03-01 00:00") for v in ("v1", "v2", "v3", "v4", "v5")]
    sql += [session("s" + v[1:], v, D + " 00:00") for v in ("v1", "v2", "v3", "v4", "v5")]
    ev = [
        # s1: entered, started a form, submitted it twice (two captures: two form_submit events)
        ("a1", "v1", D, "09:00", "page_view", True, False, "s1"),
        ("a2", "v1", D, "09:01", "form_start", False, False, "s1"),
        ("a3", "v1", D, "09:02", "form_submit", False, True, "s1"),
        ("a4", "v1", D, "09:03", "form_submit", False, True, "s1"),
        # s2: entered, started, never submitted
        ("b1", "v2", D, "10:00", "page_view", True, False, "s2"),
        ("b2", "v2", D, "10:01", "form_start", False, False, "s2"),
        # s3: captures without any form_start (the server-side form_submit of /v1/leads/capture), no entrance
        ("c1", "v3", D, "11:00", "form_submit", False, True, "s3"),
        ("c2", "v3", D, "11:05", "form_submit", False, True, "s3"),
        ("c3", "v3", D, "11:06", "form_submit", False, True, "s3"),
        # s4: one entrance, three conversions
        ("d1", "v4", D, "12:00", "page_view", True, True, "s4"),
        ("d2", "v4", D, "12:01", "click", False, True, "s4"),
        ("d3", "v4", D, "12:02", "click", False, True, "s4"),
        # E: captures only, no form_start and no entrance at all (zero denominators)
        ("e1", "v5", E, "09:00", "form_submit", False, True, "s5"),
        ("e2", "v5", E, "09:01", "form_submit", False, True, "s5"),
        # F: an event without a session: its visitor stands for the session
        ("f1", "v5", F, "09:00", "page_view", True, False, None),
        ("f2", "v5", F, "09:01", "form_start", False, False, None),
        ("f3", "v5", F, "09:02", "form_submit", False, True, None),
    ]
    for eid, vid, day, hm, etype, ent, conv, sid in ev:
        sql.append(event(eid, vid, "%s %s" % (day, hm), etype, ent=ent, conv=conv, sid=sid))
    db.q("\n".join(sql))
    db.backfill(D, F)
    # rollups discrepancy compares raw and rollup events: still in agreement
    r = db.run("rollups", "discrepancy", "--from=" + D, "--to=" + F)
    expect_eq(r.returncode, 0, "rollups discrepancy exit (stdout %r)" % r.stdout)
    with Stack(db.url, workers=1, env={"RATE_LIMIT_SUMMARY": 0}) as s:
        # per event these were 5/2 = 2.5 and 8/3: 1 of the 2 sessions that started submitted,
        # 2 of the 3 that entered converted
        check_metrics(ok_summary(s, "from=%s&to=%s" % (D, D)),
                      {"formCompletionRate": (1 / 2, None), "landingPageConversionRate": (2 / 3, None)})
        m, _ = rollup_rows(db, "default", d(D))
        check_row(m, {"form_starts": 2, "form_submits": 5, "total_entrances": 3, "total_conversions": 8,
                      "form_start_sessions": 2, "form_completed_sessions": 1, "entrance_sessions": 3,
                      "converted_entrance_sessions": 2}, "rate columns of %s" % D)
        check_row(rollup_rows(db, "default", d(E))[0], {"form_start_sessions": 0, "form_completed_sessions": 0,
                                                         "entrance_sessions": 0, "converted_entrance_sessions": 0},
                  "rate columns of %s (captures only)" % E)
        check_row(rollup_rows(db, "default", d(F))[0], {"form_start_sessions": 1, "form_completed_sessions": 1,
                                                         "entrance_sessions": 1, "converted_entrance_sessions": 1},
                  "rate columns of %s (no session id)" % F)
        # zero denominators (no form_start, no entrance, conversions anyway): 0, as every ratio of the summary
        check_metrics(ok_summary(s, "from=%s&to=%s" % (E, E)),
                      {"formCompletionRate": (0, None), "landingPageConversionRate": (0, None)})
        # sums over days: (1 + 0 + 1) / (2 + 0 + 1), (2 + 0 + 1) / (3 + 0 + 1); never above 1
        check_metrics(ok_summary(s, "from=%s&to=%s" % (D, F)),
                      {"formCompletionRate": (2 / 3, None), "landingPageConversionRate": (3 / 4, None)})
        # a row rolled up before migration 0008 (NULL rate columns): the bound min(numerator, denominator)
        db.q("UPDATE daily_metric_rollups SET form_start_sessions = NULL, form_completed_sessions = NULL, "
             "entrance_sessions = NULL, converted_entrance_sessions = NULL WHERE day = %s" % lit(D))
        check_metrics(ok_summary(s, "from=%s&to=%s" % (D, D)),
                      {"formCompletionRate": (1, None), "landingPageConversionRate": (1, None)})
        # recomputing the day (rollups backfill, or the scheduler's next run) restores the shares
        db.backfill(D)
        check_metrics(ok_summary(s, "from=%s&to=%s" % (D, D)),
                      {"formCompletionRate": (1 / 2, None), "landingPageConversionRate": (2 / 3, None)})


# ---------------------------------------------------------------------------------------------
# issue 15 item 7: today's numbers are refreshed, and a day without a rollup is marked

@test(timeout=150)
def scheduler_refreshes_today():
    """The fault: the rollup of today ran before the day's events, and the summary said
    rolledUpThrough today, lagDays 0, with zeros. The refresh job (every ROLLUP_REFRESH_MINUTES)
    recomputes today, and yesterday while its rollup is not final (computed before its end)."""
    db = DB("refresh")
    now = db.val("SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS')")
    td = now[:10]
    yd = str(d(td) - datetime.timedelta(days=1))
    # yesterday: one event, and a rollup row computed at noon, before the event (not final)
    db.q(visitor("v0", yd + " 00:00") + event("y1", "v0", yd + " 13:00", prop="site-a") +
         mrow("default", yd, generated="%s 12:00:00.000" % yd))
    # ROLLUP_BATCH_DAYS 1: the hourly batch job covers today only, so yesterday is the refresh's
    env = dict(db.env, ROLLUP_INTERVAL_MINUTES="60", ROLLUP_REFRESH_MINUTES="1", ROLLUP_BATCH_DAYS="1")
    with harness.scheduler_process(env, "itmet-refresh-") as (_, log):
        with Stack(db.url, workers=1, env={"RATE_LIMIT_SUMMARY": 0}) as s:
            harness.wait_until(lambda: db.val("SELECT count(*) FROM job_runs WHERE last_finished_at IS NOT NULL "
                                              "AND job IN ('rollups', 'refresh')") == "2", 10, 0.1,
                               "rollups and refresh to finish (job_runs: %s; log: %s)" %
                               (db.q("SELECT * FROM job_runs"), harness.tail(log, 8)))
            m, _ = rollup_rows(db, "default", d(yd))
            check_row(m, {"unique_visitors": 1, "total_page_views": 1}, "yesterday recomputed by the refresh")
            text = open(log, encoding="utf-8", errors="replace").read()
            expect("Rollup refresh complete for default: %s (2 day(s))." % yd in text,
                   "refresh of yesterday and today in the log:\n" + text)

            # the day's events arrive after its rollup: fresh by the freshness block, zeros by the counts
            db.q(visitor("v1", td + " 00:00") + "".join(
                event("t%d" % k, "v1", now, prop="site-a", ent=(k == 0)) for k in range(3)))
            q = "from=%s&to=%s" % (yd, td)
            r = ok_summary(s, q)
            expect_eq((r.json["freshness"]["rolledUpThrough"], r.json["freshness"]["lagDays"],
                       r.json["freshness"]["missingDays"]), (td, 0, []), "freshness before the refresh", r)
            expect_eq(r.json["trend"][-1]["pageViews"], 0, "today's page views before the refresh", r)
            before = r.json["freshness"]["generatedAt"]

            # the refresh is due again (as ROLLUP_REFRESH_MINUTES later): the next tick recomputes today
            db.q("UPDATE job_runs SET last_started_at = last_started_at - interval '1 hour' WHERE job = 'refresh'")
            harness.wait_until(lambda: ok_summary(s, q).json["trend"][-1]["pageViews"] == 3, 45, 0.5,
                               "today's page views in the summary after a refresh (log: %s)" % harness.tail(log, 8))
            r = ok_summary(s, q)
            expect(r.json["freshness"]["generatedAt"] > before, "generatedAt %r moves on from %r" %
                   (r.json["freshness"]["generatedAt"], before), r)
            expect_eq(r.json["metrics"]["totalPageViews"]["value"], 4, "page views of yesterday and today", r)
            text = open(log, encoding="utf-8", errors="replace").read()
            # yesterday is final once computed after its end: the second refresh does today only
            expect("Rollup refresh complete for default: %s (1 day(s))." % td in text,
                   "second refresh of today only:\n" + text)
            # a day of the window not rolled up is listed, not just shown as zeros
            r = ok_summary(s, "from=%s&to=%s" % (str(d(yd) - datetime.timedelta(days=1)), td))
            expect_eq(r.json["freshness"]["missingDays"], [str(d(yd) - datetime.timedelta(days=1))],
                      "missingDays of a window reaching before the first rollup", r)
