"""test_breakdowns.py - daily_breakdown_rollups (issue 15 item 1, migrations/0009): per site day and
dimension, the visitors, page views, entrances and conversions of each value, written by the rollup
job with the day's totals; at most BREAKDOWN_VALUES_PER_DAY_MAX values per day and dimension, the rest
as '(other)'. Expected rows are computed here in Python from the rows sent, independently of SQL."""

import collections
import os
import re

from harness import expect, expect_eq, test
from test_metrics import DB, event, lit, visitor

HERE = os.path.dirname(os.path.abspath(__file__))
BOUNDS_H = os.path.join(HERE, "..", "..", "fcgi-app", "src", "core", "bounds.h")
DIMENSIONS = ["page", "landing_page", "source", "referrer_host", "utm_source", "utm_medium", "utm_campaign",
              "device", "country"]


def session_row(sid, vid, started, referrer=None, utm=(None, None, None)):
    return ("INSERT INTO sessions (id, visitor_id, started_at, last_event_at, landing_path, referrer, utm_source, "
            "utm_medium, utm_campaign, updated_at) VALUES (%s, %s, %s, %s, '/', %s, %s, %s, %s, now());" %
            (lit(sid), lit(vid), lit(started), lit(started), lit(referrer), lit(utm[0]), lit(utm[1]), lit(utm[2])))


def event_row(e):
    sql = event(e["id"], e["vid"], e["ts"], e["type"], e["path"], e["prop"], e["source"], e["ent"], False, e["conv"],
                sid=e["sid"])
    # device and country: test_metrics.event() writes desktop and no country
    return sql + ("UPDATE events SET device_type = %s::\"DeviceType\", country_code = %s WHERE id = %s;" %
                  (lit(e["device"]), lit(e["country"]), lit(e["id"])))


def expected_rows(events, sessions, cap=None):
    """{(dimension, value): (visitors, page_views, entrances, conversions)} as the reference defines."""
    acc = collections.defaultdict(lambda: [set(), 0, 0, 0])
    for e in events:
        s = sessions.get(e["sid"], {})
        ref = s.get("referrer")
        m = re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?([^/?#:]+)", ref or "")
        utm = s.get("utm", (None, None, None))
        values = {"page": e["path"], "source": e["source"], "referrer_host": m.group(1).lower() if m else None,
                  "utm_source": utm[0], "utm_medium": utm[1], "utm_campaign": utm[2], "device": e["device"],
                  "country": e["country"]}
        if e["ent"]:
            values["landing_page"] = e["path"] or ""
        for dim, v in values.items():
            a = acc[(dim, v or "(none)")]
            a[0].add(e["vid"])
            a[1] += e["type"] == "page_view"
            a[2] += bool(e["ent"])
            a[3] += bool(e["conv"])
    return {k: (len(a[0]), a[1], a[2], a[3]) for k, a in acc.items()}


def stored(db, prop, day):
    rows = db.rows("SELECT dimension, value, visitors, page_views, entrances, conversions FROM daily_breakdown_rollups "
                   "WHERE property_id = %s AND day = %s" % (lit(prop), lit(day)))
    return {(r["dimension"], r["value"]): (r["visitors"], r["page_views"], r["entrances"], r["conversions"])
            for r in rows}


def fixture():
    """Two site days in America/Toronto (EST, UTC-5 in January): events by four visitors across
    sessions with and without referrer and UTM, one event without a session, one without a path; a
    site-b event; events one millisecond either side of the local midnight between the days."""
    sessions = {
        "s1": {"vid": "v1", "referrer": "https://www.Google.com/search?q=x", "utm": (None, None, None)},
        "s2": {"vid": "v2", "referrer": "http://user@news.example.org:8080/a", "utm": ("news", "email", "spring")},
        "s3": {"vid": "v3", "referrer": None, "utm": ("news", "cpc", None)},
        "s4": {"vid": "v4", "referrer": "not a url", "utm": ("", None, "spring")},
    }
    base = dict(type="page_view", prop="site-a", source="direct", ent=False, conv=False, device="desktop",
                country="CA")
    specs = [
        ("a1", "v1", "s1", "2026-01-15 05:00:00.000", dict(path="/", ent=True, source="organic_search")),
        ("a2", "v1", "s1", "2026-01-15 05:10:00.000", dict(path="/pricing")),
        ("a3", "v1", "s1", "2026-01-15 05:11:00.000", dict(path="/pricing", type="click", conv=True)),
        ("b1", "v2", "s2", "2026-01-15 12:00:00.000", dict(path="/blog/x", ent=True, source="email", device="mobile",
                                                           country="FR")),
        ("b2", "v2", "s2", "2026-01-15 12:01:00.000", dict(path="/pricing", source="email", device="mobile",
                                                           country="FR", conv=True)),
        ("c1", "v3", "s3", "2026-01-16 04:59:59.999", dict(path="/", ent=True, source="paid_search", device="tablet",
                                                           country=None)),
        ("d1", "v4", "s4", "2026-01-16 05:00:00.000", dict(path="/", ent=True, source="campaign")),
        ("d2", "v4", None, "2026-01-16 06:00:00.000", dict(path=None, type="form_submit", conv=True)),
        ("d3", "v1", "s1", "2026-01-16 07:00:00.000", dict(path="/pricing", ent=True)),
        ("x1", "v1", "s1", "2026-01-15 13:00:00.000", dict(path="/other-site", prop="site-b")),
    ]
    events = []
    for eid, vid, sid, ts, over in specs:
        e = dict(base, id=eid, vid=vid, sid=sid, ts=ts)
        e.update(over)
        events.append(e)
    return sessions, events


@test(timeout=90)
def counts_per_dimension_equal_what_was_sent():
    db = DB("breakdowns", {"SITE_TIME_ZONE": "America/Toronto"})
    sessions, events = fixture()
    sql = [visitor(v, "2026-01-01 00:00") for v in ("v1", "v2", "v3", "v4")]
    sql += [session_row(sid, s["vid"], "2026-01-15 05:00", s["referrer"], s["utm"]) for sid, s in sessions.items()]
    sql += [event_row(e) for e in events]
    db.q("\n".join(sql))
    db.backfill("2026-01-14", "2026-01-16")
    db.backfill("2026-01-15", "2026-01-16", prop="site-a")
    local_day = {"2026-01-15": lambda e: e["ts"] < "2026-01-16 05:00", "2026-01-16": lambda e: e["ts"] >= "2026-01-16 05:00"}
    for prop in ("default", "site-a"):
        for day, in_day in local_day.items():
            mine = [e for e in events if in_day(e) and (prop == "default" or e["prop"] == prop)]
            exp = expected_rows(mine, sessions)
            expect_eq(stored(db, prop, day), exp, "breakdown rows of %s on %s" % (prop, day))
            # every event has one value per dimension: page views add up to the day's total
            total = db.val("SELECT total_page_views FROM daily_metric_rollups WHERE property_id = %s AND day = %s" %
                           (lit(prop), lit(day)))
            for dim in DIMENSIONS:
                if dim != "landing_page":
                    expect_eq(sum(v[1] for (d, _), v in exp.items() if d == dim), int(total),
                              "%s %s: %s page views add up to the day's" % (prop, day, dim))
    expect_eq(stored(db, "default", "2026-01-14"), {}, "a day without events has no breakdown rows")
    # the spot checks a reader would make
    b = stored(db, "default", "2026-01-15")
    expect_eq(b[("referrer_host", "www.google.com")], (1, 3, 1, 1), "google referrals (2026-01-15, site-b's included)")
    expect_eq(b[("referrer_host", "news.example.org")], (1, 2, 1, 1), "referrer host without userinfo and port")
    expect_eq(b[("landing_page", "/blog/x")], (1, 1, 1, 0), "landing page /blog/x")
    expect(("page", "/other-site") in b and ("page", "/other-site") not in stored(db, "site-a", "2026-01-15"),
           "the default property has every property's values, site-a only its own")
    # c1, 2026-01-16 04:59:59.999 UTC, is 23:59:59.999 EST on the 15th: the only event without a country
    expect_eq(b[("country", "(none)")], (1, 1, 1, 0), "the event a millisecond before local midnight")
    expect(("country", "(none)") not in stored(db, "default", "2026-01-16"), "... is not on the next day")
    r = db.run("rollups", "discrepancy", "--from=2026-01-14", "--to=2026-01-16")
    expect_eq((r.returncode, [l for l in r.stdout.splitlines() if l.startswith("- ")]), (0, []),
              "rollups discrepancy still agrees (stdout %r)" % r.stdout)

    # rolled up again after a raw row went away: the day's rows are replaced, none left stale
    db.q("DELETE FROM events WHERE id = 'b1';")
    db.backfill("2026-01-15")
    mine = [e for e in events if local_day["2026-01-15"](e) and e["id"] != "b1"]
    expect_eq(stored(db, "default", "2026-01-15"), expected_rows(mine, sessions), "rows after a re-run")
    expect(("landing_page", "/blog/x") not in stored(db, "default", "2026-01-15"), "a stale value is gone")


@test(timeout=120)
def cap_keeps_the_top_values_and_sums_the_rest_as_other():
    db = DB("breakdown_cap")
    cap = int(db.val("SELECT rollup_breakdown_cap()"))
    n = cap + 5
    # /top by three visitors; then n distinct paths by one visitor each (ranked by value after that);
    # one event whose path is literally '(other)' goes to the '(other)' row too
    db.q("\n".join([
        "INSERT INTO visitors (id, anon_id, first_seen_at, last_seen_at, updated_at) "
        "SELECT 'v' || g, 'anon-v' || g, '2026-02-01', '2026-02-01', now() FROM generate_series(0, %d) g;" % n,
        "INSERT INTO events (id, visitor_id, event_type, path, \"timestamp\", property_id, is_entrance, is_conversion) "
        "SELECT 'p' || g, 'v' || g, 'page_view', '/p' || lpad(g::text, 5, '0'), '2026-02-02 10:00', 'site-a', true, "
        "g %% 2 = 0 FROM generate_series(1, %d) g;" % n,
        "INSERT INTO events (id, visitor_id, event_type, path, \"timestamp\", property_id) "
        "SELECT 't' || g, 'v' || g, 'page_view', '/top', '2026-02-02 11:00', 'site-a' FROM generate_series(1, 3) g;",
        "INSERT INTO events (id, visitor_id, event_type, path, \"timestamp\", property_id) "
        "VALUES ('o', 'v0', 'page_view', '(other)', '2026-02-02 12:00', 'site-a');",
    ]))
    db.backfill("2026-02-02")
    b = stored(db, "default", "2026-02-02")
    pages = {v: c for (d, v), c in b.items() if d == "page"}
    expect_eq(len(pages), cap + 1, "page values kept: the cap and '(other)'")
    expect_eq(pages.get("/top"), (3, 3, 0, 0), "the value with most visitors is kept")
    kept = ["/p%05d" % g for g in range(1, cap)]  # cap - 1 of them beside /top, by value
    expect_eq(sorted(v for v in pages if v not in ("/top", "(other)")), kept, "the values kept")
    rest = ["/p%05d" % g for g in range(cap, n + 1)]
    rest_conv = sum(1 for g in range(cap, n + 1) if g % 2 == 0)
    expect_eq(pages.get("(other)"), (len(rest) + 1, len(rest) + 1, len(rest), rest_conv),
              "'(other)': the %d values past the cap and the literal '(other)' path" % len(rest))
    expect_eq(sum(c[1] for c in pages.values()), n + 4, "page views over all page rows equal those sent")
    landing = {v: c for (d, v), c in b.items() if d == "landing_page"}
    expect_eq(len(landing), cap + 1, "landing pages: the cap and '(other)'")
    expect_eq(landing.get("(other)"), (n - cap, n - cap, n - cap, sum(1 for g in range(cap + 1, n + 1) if g % 2 == 0)),
              "landing '(other)'")
    expect_eq(b[("device", "unknown")], (n + 1, n + 4, n, n // 2), "a dimension under the cap: one value")
    r = db.run("rollups", "discrepancy", "--from=2026-02-02", "--to=2026-02-02")
    expect_eq(r.returncode, 0, "discrepancy after a capped day (stdout %r)" % r.stdout)


@test(timeout=60)
def cap_mirrors_bounds_h():
    with open(BOUNDS_H) as f:
        m = re.search(r"^#define BREAKDOWN_VALUES_PER_DAY_MAX (\d+)\b", f.read(), re.M)
    expect(m, "BREAKDOWN_VALUES_PER_DAY_MAX is not defined in bounds.h")
    db = DB("breakdown_bounds")
    expect_eq(db.val("SELECT rollup_breakdown_cap()"), m.group(1), "SQL rollup_breakdown_cap() vs bounds.h")


@test(timeout=60)
def breakdowns_and_totals_commit_together():
    """A day's breakdowns are written in the transaction of its totals: when writing them fails,
    the totals of that day are not written either (and the day is reported failed)."""
    db = DB("breakdown_tx")
    db.q(visitor("v1", "2026-01-01 00:00") +
         event("e1", "v1", "2026-02-03 10:00", path="/a", ent=True) +
         "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
         "BEGIN RAISE EXCEPTION 'breakdown write refused by the test'; END $$;"
         "CREATE TRIGGER refuse BEFORE INSERT ON daily_breakdown_rollups FOR EACH ROW EXECUTE FUNCTION refuse();")
    r = db.run("rollups", "backfill", "--from=2026-02-03", "--to=2026-02-03")
    expect_eq(r.returncode, 1, "backfill exit code when the breakdowns cannot be written (stderr %r)" % r.stderr)
    expect("refused by the test" in r.stderr, "the reason is reported: %r" % r.stderr)
    expect_eq(db.val("SELECT count(*) FROM daily_metric_rollups") + "/" + db.val("SELECT count(*) FROM daily_ingest_rollups"),
              "0/0", "totals written without their breakdowns")
    db.q("DROP TRIGGER refuse ON daily_breakdown_rollups;")
    db.backfill("2026-02-03")
    expect_eq(db.val("SELECT total_page_views FROM daily_metric_rollups WHERE property_id = 'default'"), "1",
              "totals once the breakdowns can be written")
    expect_eq(stored(db, "default", "2026-02-03")[("page", "/a")], (1, 1, 1, 0), "the breakdown row")
