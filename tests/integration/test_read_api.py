"""test_read_api.py - the read APIs of issue 15 item 2 (/work/notes/i15-contract.md; docs/API.md):
GET /v1/metrics/site, /timeseries, /breakdown, /realtime and /export.csv, and the summary's
metrics.newLeads. Rollup rows are written directly with psql, so every expected number here is
computed in Python from the fixture, independently of the SQL; realtime reads raw events written
with timestamps relative to now."""

import csv
import datetime
import io
import os
import re
import tempfile
import urllib.parse
import zoneinfo

import harness
from harness import ADMIN_KEY, APP_HOME, Stack, expect, expect_eq, expect_error, test
from test_metrics import DB, event, irow, lit, mrow, visitor

AUTH = {"Authorization": "Bearer " + ADMIN_KEY}
JSON_CT = "application/json; charset=utf-8"
CSV_CT = "text/csv; charset=utf-8"
DIMENSIONS = ["page", "landing_page", "source", "referrer_host", "utm_source", "utm_medium", "utm_campaign",
              "device", "country"]
BOUNDS_H = os.path.join(APP_HOME, "fcgi-app", "src", "core", "bounds.h")
SQL_C = os.path.join(APP_HOME, "fcgi-app", "src", "store", "sql.c")


def bound(name):
    with open(BOUNDS_H) as f:
        m = re.search(r"^#define %s (\d+)\s*$" % name, f.read(), re.M)
    expect(m, "bounds.h defines %s" % name)
    return int(m.group(1))


def D(s):
    return datetime.date.fromisoformat(s)


# ---------------------------------------------------------------------------------------------
# the fixture: rollup rows of a window 2026-02-25 .. 2026-03-10 (written directly)

WIN = ("2026-02-25", "2026-03-10")
# day -> (visitors, page views, new leads, conversions) of the default property
METRIC = {"2026-02-25": (3, 7, 1, 2), "2026-02-28": (5, 11, 0, 1), "2026-03-01": (2, 4, 2, 0),
          "2026-03-02": (7, 20, 1, 3), "2026-03-08": (1, 1, 0, 0), "2026-03-09": (4, 9, 1, 1),
          "2026-03-20": (50, 50, 5, 5)}  # outside the window: freshness only
INGEST = {"2026-02-25": (50, 2), "2026-03-02": (80, 0), "2026-03-05": (3, 1)}  # accepted, rejected
# (day, value) -> (visitors, page views, entrances, conversions), dimension page, property default
INJECT = ["=1+2", "+cmd", "-2", "@x", "\tTAB", 'say "hi", ok\nnext line', "café € ☕"]
PAGE = {
    ("2026-02-25", "/pricing"): (3, 5, 1, 1), ("2026-02-25", "/"): (2, 2, 2, 0), ("2026-02-25", "=1+2"): (1, 1, 0, 0),
    ("2026-03-02", "/pricing"): (2, 4, 0, 1), ("2026-03-02", "/blog"): (5, 6, 3, 0),
    ("2026-03-02", "(other)"): (1, 1, 0, 0), ("2026-03-02", "(none)"): (1, 0, 0, 0),
    ("2026-03-09", "/"): (3, 3, 1, 0),
    # a tie on visitors and page views: byte order puts "B" before "a" (a locale's order would not)
    ("2026-03-09", "B"): (1, 2, 0, 0), ("2026-03-09", "a"): (1, 2, 0, 0),
    ("2026-03-10", "+cmd"): (1, 1, 0, 0), ("2026-03-10", "-2"): (1, 1, 0, 0), ("2026-03-10", "@x"): (1, 1, 0, 0),
    ("2026-03-10", "\tTAB"): (1, 1, 0, 0), ("2026-03-10", 'say "hi", ok\nnext line'): (1, 1, 0, 0),
    ("2026-03-10", "café € ☕"): (1, 1, 0, 0),
    ("2026-03-20", "/pricing"): (100, 100, 100, 100),  # outside the window
}


def brow(prop, day, dim, value, vis, pv, ent, conv):
    return ("INSERT INTO daily_breakdown_rollups (property_id, day, dimension, value, visitors, page_views, entrances, "
            "conversions, generated_at) VALUES (%s, %s, %s, %s, %d, %d, %d, %d, '2026-03-21 00:00:00');"
            % (lit(prop), lit(day), lit(dim), lit(value), vis, pv, ent, conv))


def read_env():
    """The fixture database and a stack on it (no summary rate limit). Created once."""
    def make():
        db = DB("read_api")
        sql = []
        for day, (uv, pv, nl, conv) in METRIC.items():
            gen = "2026-03-21 00:05:00.123" if day == "2026-03-20" else "2026-03-21 00:00:00.000"
            sql.append(mrow("default", day, uv=uv, pv=pv, nl=nl, conv=conv, ent=uv, generated=gen))
        for day, (acc, rej) in INGEST.items():
            sql.append(irow("default", day, acc=acc, rej=rej))
        # other properties: never mixed in; their first and last days for /site
        for prop, day in (("site-b", "2026-01-10"), ("site-b", "2026-03-02"), ("a-prop", "2026-02-01"),
                          ("Zed", "2025-12-31")):
            sql.append(mrow(prop, day, uv=1000, pv=1000, nl=1000, conv=1000))
        for (day, value), v in PAGE.items():
            sql.append(brow("default", day, "page", value, *v))
            sql.append(brow("site-b", day, "page", value, 1000, 1000, 1000, 1000))
        sql.append(brow("default", "2026-03-02", "source", "direct", 9, 9, 9, 9))
        db.q("\n".join(sql))
        stack = Stack(db.url, workers=2, env={"RATE_LIMIT_SUMMARY": 0})

        return harness.DbStack(db, stack)
    return harness.shared("read-api", make)


def get(stack, route, query, headers=AUTH, method="GET"):
    qs = query if isinstance(query, str) else urllib.parse.urlencode(query)
    return stack.request(method, "/v1/metrics/" + route + ("?" + qs if qs else ""), headers=headers)


def ok(stack, route, query="", headers=AUTH):
    r = get(stack, route, query, headers)
    expect_eq(r.status, 200, "status of %s?%s" % (route, query), r)
    expect_eq(r.header("Content-Type"), JSON_CT, "content-type", r)
    expect(r.body.startswith(b'{"ok":true'), "body starts with {\"ok\":true", r)
    return r.json


def bad(stack, route, query, paths):
    r = get(stack, route, query)
    expect_error(r, 400, "invalid_request", extra=True)
    got = sorted(i.get("path") for i in r.json.get("issues", []))
    expect_eq(got, sorted(paths), "issue paths of %s?%s" % (route, query), r)
    expect(all(isinstance(i.get("message"), str) and i["message"] for i in r.json["issues"]), "issue messages", r)
    return r


def days(frm, to):
    d, out = D(frm), []
    while d <= D(to):
        out.append(d)
        d += datetime.timedelta(days=1)
    return out


def expected_buckets(frm, to, interval):
    """Buckets computed here: ISO weeks (Monday first) or calendar months, clipped to the window."""
    out = []
    for d in days(frm, to):
        if interval == "day":
            key = d
        elif interval == "week":
            key = d - datetime.timedelta(days=d.weekday())
        else:
            key = d.replace(day=1)
        if not out or out[-1]["key"] != key:
            out.append({"key": key, "start": str(d), "end": str(d), "visitors": 0, "pageViews": 0, "leads": 0,
                        "conversions": 0, "complete": True})
        b = out[-1]
        b["end"] = str(d)
        m = METRIC.get(str(d))
        if m is None:
            b["complete"] = False
        else:
            b["visitors"] += m[0]
            b["pageViews"] += m[1]
            b["leads"] += m[2]
            b["conversions"] += m[3]
    for b in out:
        del b["key"]
    return out


def expected_values(frm, to, table=PAGE):
    """[(value, visitors, page views, entrances, conversions)] summed over the window's days,
    ordered by visitors desc, page views desc, value (byte order)."""
    acc = {}
    for (day, value), v in table.items():
        if frm <= day <= to:
            a = acc.setdefault(value, [0, 0, 0, 0])
            for k in range(4):
                a[k] += v[k]
    rows = [(value,) + tuple(a) for value, a in acc.items()]
    rows.sort(key=lambda r: (-r[1], -r[2], r[0].encode()))
    return rows


# ---------------------------------------------------------------------------------------------
# /site and /timeseries


@test(timeout=60)
def site_lists_properties_and_today():
    s = read_env().stack
    j = ok(s, "site")
    expect_eq(list(j.keys()), ["ok", "timeZone", "today", "defaultPropertyId", "properties"], "keys")
    expect_eq((j["timeZone"], j["defaultPropertyId"]), ("UTC", "default"), "zone and default property")
    now = datetime.datetime.now(datetime.timezone.utc).date()
    expect(j["today"] in (str(now), str(now + datetime.timedelta(days=1))), "today %r (UTC %s)" % (j["today"], now))
    expect_eq(j["properties"], [
        {"propertyId": "Zed", "firstDay": "2025-12-31", "lastDay": "2025-12-31"},
        {"propertyId": "a-prop", "firstDay": "2026-02-01", "lastDay": "2026-02-01"},
        {"propertyId": "default", "firstDay": "2026-02-25", "lastDay": "2026-03-20"},
        {"propertyId": "site-b", "firstDay": "2026-01-10", "lastDay": "2026-03-02"}], "properties in byte order")


@test(timeout=90)
def site_lists_at_most_properties_list_max():
    cap = bound("PROPERTIES_LIST_MAX")
    db = DB("read_api_props")
    db.q("\n".join(mrow("p%04d" % i, "2026-01-01") for i in range(cap + 5)))
    with Stack(db.url, workers=1) as s:
        j = ok(s, "site")
        expect_eq(len(j["properties"]), cap, "properties listed (PROPERTIES_LIST_MAX %d, %d stored)" % (cap, cap + 5))
        expect_eq(j["properties"][-1]["propertyId"], "p%04d" % (cap - 1), "the first ones by id")


@test(timeout=60)
def timeseries_day_week_month_zero_filled_and_clipped():
    s = read_env().stack
    for interval in ("day", "week", "month"):
        j = ok(s, "timeseries", {"from": WIN[0], "to": WIN[1], "interval": interval})
        expect_eq(list(j.keys()), ["ok", "window", "interval", "timeZone", "freshness", "buckets"], "keys")
        expect_eq((j["window"], j["interval"], j["timeZone"]), ({"from": WIN[0], "to": WIN[1]}, interval, "UTC"),
                  "window, interval, zone")
        expect_eq(j["buckets"], expected_buckets(WIN[0], WIN[1], interval), "%s buckets" % interval)
        expect_eq((j["freshness"]["rolledUpThrough"], j["freshness"]["generatedAt"]),
                  ("2026-03-20", "2026-03-21T00:05:00.123Z"), "freshness as the summary's")
        # the window's days without a rollup, as the summary lists them, whatever the bucket size
        expect_eq(j["freshness"]["missingDays"], [str(d) for d in days(WIN[0], WIN[1]) if str(d) not in METRIC],
                  "%s: missingDays" % interval)
        summary = ok(s, "summary", {"from": WIN[0], "to": WIN[1]})
        expect_eq(j["freshness"], summary["freshness"], "%s: the summary's freshness" % interval)
    weeks = ok(s, "timeseries", {"from": WIN[0], "to": WIN[1], "interval": "week"})["buckets"]
    # 2026-02-25 is a Wednesday: the first week is clipped to Wed..Sun, the last to Mon..Tue
    expect_eq([(b["start"], b["end"]) for b in weeks],
              [("2026-02-25", "2026-03-01"), ("2026-03-02", "2026-03-08"), ("2026-03-09", "2026-03-10")], "week edges")
    months = ok(s, "timeseries", {"from": WIN[0], "to": WIN[1], "interval": "month"})["buckets"]
    expect_eq([(b["start"], b["end"], b["visitors"]) for b in months],
              [("2026-02-25", "2026-02-28", 8), ("2026-03-01", "2026-03-10", 14)], "month edges and sums")
    # the default interval is day; a year of days; a property without rows is all zeros, incomplete
    j = ok(s, "timeseries", {"from": "2025-03-11", "to": "2026-03-11"})
    expect_eq((j["interval"], len(j["buckets"])), ("day", 366), "366 day buckets by default")
    j = ok(s, "timeseries", {"from": "2025-03-11", "to": "2026-03-11", "interval": "month"})
    expect_eq(len(j["buckets"]), 13, "13 month buckets of a 366-day window")
    j = ok(s, "timeseries", {"from": WIN[0], "to": WIN[1], "interval": "week", "propertyId": "nobody"})
    expect(all(b["visitors"] == 0 and b["complete"] is False for b in j["buckets"]), "zeros for a property without rows")
    expect_eq(j["freshness"], {"rolledUpThrough": None, "generatedAt": None, "lagDays": None,
                               "missingDays": [str(d) for d in days(WIN[0], WIN[1])]}, "no freshness, every day missing")
    j = ok(s, "timeseries", {"from": "2026-03-02", "to": "2026-03-02", "interval": "month", "propertyId": "site-b"})
    expect_eq(j["buckets"], [{"start": "2026-03-02", "end": "2026-03-02", "visitors": 1000, "pageViews": 1000,
                              "leads": 1000, "conversions": 1000, "complete": True}], "another property's own rows")


@test(timeout=60)
def read_routes_refuse_bad_queries():
    s = read_env().stack
    w = "from=%s&to=%s" % WIN
    for route in ("timeseries", "breakdown", "export.csv"):
        extra = "&dimension=page" if route != "timeseries" else ""
        bad(s, route, "to=2026-03-10" + extra, ["from"])
        bad(s, route, "from=2026-02-30&to=2026-03-10" + extra, ["from"])
        bad(s, route, "from=2026-03-02&to=2026-03-01" + extra, ["from"])
        bad(s, route, "from=2025-03-11&to=2026-03-12" + extra, ["to"])  # 367 days
        bad(s, route, w + "&propertyId=" + "p" * 129 + extra, ["propertyId"])
    bad(s, "realtime", "propertyId=" + "p" * 129, ["propertyId"])
    bad(s, "realtime", "propertyId=", ["propertyId"])
    for v in ("hour", "", "Week", "days"):
        r = bad(s, "timeseries", w + "&interval=" + v, ["interval"])
        expect("day, week, month" in r.json["issues"][0]["message"], "the message lists the intervals", r)
    for route in ("breakdown", "export.csv"):
        bad(s, route, w, ["dimension"])
        r = bad(s, route, w + "&dimension=pages", ["dimension"])
        expect(", ".join(DIMENSIONS) in r.json["issues"][0]["message"], "the message lists the dimensions", r)
    bad(s, "breakdown", w + "&dimension=daily", ["dimension"])  # daily is the export's only
    lmax, omax = bound("BREAKDOWN_LIMIT_MAX"), bound("BREAKDOWN_OFFSET_MAX")
    for v in ("0", str(lmax + 1), "-1", "x", "", "1.5"):
        bad(s, "breakdown", w + "&dimension=page&limit=" + v, ["limit"])
    for v in ("-1", str(omax + 1), "y"):
        bad(s, "breakdown", w + "&dimension=page&offset=" + v, ["offset"])
    bad(s, "breakdown", "dimension=nope&limit=0&offset=-1", ["from", "to", "dimension", "limit", "offset"])
    j = ok(s, "breakdown", w + "&dimension=page&limit=%d&offset=%d" % (lmax, omax))
    expect_eq((j["limit"], j["offset"], j["values"]), (lmax, omax, []), "the bounds themselves are accepted")


@test(timeout=60)
def read_routes_need_the_admin_key():
    s = read_env().stack
    w = "from=%s&to=%s" % WIN
    for route, q in (("site", ""), ("timeseries", w), ("breakdown", w + "&dimension=page"), ("realtime", ""),
                     ("export.csv", w + "&dimension=daily")):
        for hdrs in ({}, {"Authorization": "Bearer wrong-wrong-wrong-wrong"}, {"x-admin-key": ADMIN_KEY[:-1]}):
            expect_error(get(s, route, q, headers=hdrs), 401, "unauthorized")
        expect_error(get(s, route, "from=bad", headers={}), 401, "unauthorized")  # auth before validation
        r = s.request("POST", "/v1/metrics/%s?%s" % (route, q), body={}, headers=AUTH)
        expect_error(r, 405, "method_not_allowed")
        expect_eq(get(s, route, q, headers={"x-admin-key": ADMIN_KEY}).status, 200, "x-admin-key works too")


# ---------------------------------------------------------------------------------------------
# /breakdown


@test(timeout=60)
def breakdown_order_share_and_pages():
    s = read_env().stack
    exp = expected_values(*WIN)
    tv = sum(r[1] for r in exp)
    totals = {"visitors": tv, "pageViews": sum(r[2] for r in exp), "entrances": sum(r[3] for r in exp),
              "conversions": sum(r[4] for r in exp)}

    def as_json(rows):
        return [{"value": r[0], "visitors": r[1], "pageViews": r[2], "entrances": r[3], "conversions": r[4],
                 "share": r[1] / tv} for r in rows]

    j = ok(s, "breakdown", {"from": WIN[0], "to": WIN[1], "dimension": "page", "limit": 100})
    expect_eq(list(j.keys()), ["ok", "window", "dimension", "totals", "values", "limit", "offset", "valuesTotal"],
              "keys")
    expect_eq((j["dimension"], j["totals"], j["valuesTotal"]), ("page", totals, len(exp)), "dimension, totals, count")
    expect_eq(j["values"], as_json(exp), "every value, ordered, with its share")
    # spot checks a reader makes: /pricing 3+2 visitors first; B before a (byte order)
    expect_eq((j["values"][0]["value"], j["values"][0]["visitors"]), ("/pricing", 5), "the top value")
    names = [v["value"] for v in j["values"]]
    expect(names.index("B") < names.index("a"), "B before a: %r" % names)
    expect(abs(sum(v["share"] for v in j["values"]) - 1) < 1e-9, "shares add up to 1 (other and none included)")
    # the default page: 10 values, offset 0
    j = ok(s, "breakdown", {"from": WIN[0], "to": WIN[1], "dimension": "page"})
    expect_eq((j["limit"], j["offset"], j["values"]), (10, 0, as_json(exp[:10])), "default limit 10")
    # pages of 4 cover the list once, in order
    got = []
    for off in range(0, len(exp) + 4, 4):
        j = ok(s, "breakdown", {"from": WIN[0], "to": WIN[1], "dimension": "page", "limit": 4, "offset": off})
        expect_eq((j["totals"], j["valuesTotal"]), (totals, len(exp)), "totals on every page (offset %d)" % off)
        got += j["values"]
    expect_eq(got, as_json(exp), "the pages of 4 in a row")
    # one day; a dimension without rows; a window without rows (share 0, not a division by zero)
    j = ok(s, "breakdown", {"from": "2026-03-02", "to": "2026-03-02", "dimension": "source"})
    expect_eq(j["values"], [{"value": "direct", "visitors": 9, "pageViews": 9, "entrances": 9, "conversions": 9,
                             "share": 1}], "another dimension's rows")
    j = ok(s, "breakdown", {"from": WIN[0], "to": WIN[1], "dimension": "country"})
    expect_eq((j["totals"], j["values"], j["valuesTotal"]),
              ({"visitors": 0, "pageViews": 0, "entrances": 0, "conversions": 0}, [], 0), "no rows")
    j = ok(s, "breakdown", {"from": "2026-03-02", "to": "2026-03-02", "dimension": "page", "propertyId": "site-b"})
    expect(all(v["visitors"] == 1000 and v["share"] == 0.25 for v in j["values"]) and len(j["values"]) == 4,
           "site-b's own rows: %r" % j["values"])


# ---------------------------------------------------------------------------------------------
# /export.csv


def csv_rows(r):
    expect_eq(r.status, 200, "export status", r)
    expect_eq(r.header("Content-Type"), CSV_CT, "export content-type", r)
    text = r.body.decode("utf-8")
    expect(text.endswith("\r\n"), "rows end with CRLF", r)
    return list(csv.reader(io.StringIO(text, newline=""), strict=True))


@test(timeout=60)
def export_daily_year_and_dimension():
    s = read_env().stack
    r = get(s, "export.csv", {"from": "2025-03-11", "to": "2026-03-11", "dimension": "daily"})
    rows = csv_rows(r)
    expect_eq(r.header("Content-Disposition"), 'attachment; filename="metrics-daily-2025-03-11-2026-03-11.csv"',
              "content-disposition", r)
    expect_eq(rows[0], ["day", "visitors", "page_views", "entrances", "conversions", "leads", "events_accepted",
                        "events_rejected", "rolled_up"], "daily header")
    expect_eq(len(rows), 366 + 1, "366 days and the header")
    expect_eq([x[0] for x in rows[1:]], [str(d) for d in days("2025-03-11", "2026-03-11")], "every day in order")
    for row in rows[1:]:
        m, i = METRIC.get(row[0]), INGEST.get(row[0], (0, 0))
        want = [row[0]] + ([str(m[0]), str(m[1]), str(m[0]), str(m[3]), str(m[2])] if m else ["0"] * 5) + \
            [str(i[0]), str(i[1]), "true" if m else "false"]
        expect_eq(row, want, "daily row %s" % row[0])
    # a dimension: every value (no limit), breakdown's order, share
    r = get(s, "export.csv", {"from": WIN[0], "to": WIN[1], "dimension": "page"})
    rows = csv_rows(r)
    expect_eq(r.header("Content-Disposition"), 'attachment; filename="metrics-page-%s-%s.csv"' % WIN, "filename", r)
    expect_eq(rows[0], ["value", "visitors", "page_views", "entrances", "conversions", "share"], "dimension header")
    exp = expected_values(*WIN)
    tv = sum(x[1] for x in exp)
    defused = {v: "'" + v for v in INJECT if v[0] in "=+-@\t"}
    expect_eq([x[:5] for x in rows[1:]], [[defused.get(e[0], e[0])] + [str(n) for n in e[1:]] for e in exp],
              "values, counts and order as breakdown's (formula cells prefixed)")
    for x, e in zip(rows[1:], exp):
        expect(abs(float(x[5]) - e[1] / tv) < 1e-12, "share of %r: %s, expected %s" % (e[0], x[5], e[1] / tv))
    # the raw text: a formula never starts a cell; quotes doubled, the field with , " LF quoted
    body = r.body.decode("utf-8")
    for v in ("=1+2", "+cmd", "-2", "@x"):
        expect(("\r\n'%s," % v) in body, "%r is written as '%s" % (v, v))
        expect(("\r\n%s," % v) not in body, "%r never starts a cell" % v)
    expect('\r\n"say ""hi"", ok\nnext line",' in body, "quotes doubled, the cell quoted: %r" % body[-400:])
    expect("\r\ncafé € ☕," in body, "UTF-8 as it is")
    expect("\r\n'\tTAB," in body, "a leading TAB is prefixed too")
    # nothing in the window: the header alone; HEAD: the headers without a body
    rows = csv_rows(get(s, "export.csv", {"from": "2020-01-01", "to": "2020-01-02", "dimension": "country"}))
    expect_eq(len(rows), 1, "an empty export is its header")
    h = get(s, "export.csv", {"from": WIN[0], "to": WIN[1], "dimension": "page"}, method="HEAD")
    expect_eq((h.status, h.header("Content-Type"), h.body), (200, CSV_CT, b""), "HEAD", h)
    # the stack still answers on the same responders after a HEAD (its stream was abandoned)
    for _ in range(4):
        expect_eq(len(csv_rows(get(s, "export.csv", {"from": WIN[0], "to": WIN[1], "dimension": "page"}))),
                  len(exp) + 1, "export after a HEAD")


@test(timeout=180)
def export_streams_without_growing_the_responder():
    """A dimension export of ~55 000 values (~11 MB of CSV) from a year of rows: the responder's peak
    RSS (VmHWM) grows by far less than the body, in both DATABASE_STATEMENTS modes. Reading the
    whole result first (a PGresult of every row) or building the file in memory would add at least
    the body's size."""
    db = DB("read_api_big")
    per_day = 150
    db.q("INSERT INTO daily_breakdown_rollups (property_id, day, dimension, value, visitors, page_views, entrances, "
         "conversions, generated_at) SELECT 'default', d::date, 'page', "
         "'/p/' || to_char(d, 'YYYYMMDD') || '/' || i || '/' || repeat('x', 180), 1 + i %% 7, 2, 1, 0, now() "
         "FROM generate_series('2025-03-11'::date, '2026-03-11'::date, interval '1 day') d, "
         "generate_series(1, %d) i;" % per_day, timeout=300)
    db.q("ANALYZE daily_breakdown_rollups;")
    q = {"from": "2025-03-11", "to": "2026-03-11", "dimension": "page"}
    env = {"RATE_LIMIT_SUMMARY": 0}
    if os.environ.get("SANITIZE"):
        # ASan keeps freed blocks in quarantine (256 MB by default): every row's freed result would
        # count as growth. Without it ASan's peak is the program's.
        env["ASAN_OPTIONS"] = (os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=0").lstrip(":")
    for mode in ("unnamed", "prepared"):
        with Stack(db.url, workers=1, env=dict(env, DATABASE_STATEMENTS=mode)) as s:
            pid = s.responder_pids()[0]
            # warm up: the connection, the statements, the buffers of a small export
            csv_rows(get(s, "export.csv", {"from": "2025-03-11", "to": "2025-03-11", "dimension": "page"}))
            before = hwm_kb(pid)
            r = get(s, "export.csv", q)
            after = hwm_kb(pid)
            rows = csv_rows(r)
            expect_eq(len(rows), 366 * per_day + 1, "%s: every value and the header" % mode)
            expect_eq(s.responder_pids(), [pid], "%s: the same responder answered" % mode)
            mb = len(r.body) / 1e6
            grew = (after - before) / 1e3
            print("NOTE read_api: export %s: %.1f MB of CSV, responder VmHWM %d -> %d kB (+%.1f MB)"
                  % (mode, mb, before, after, grew), flush=True)
            expect(mb > 10, "%s: the export is big enough to tell (%.1f MB)" % (mode, mb))
            expect(grew < 2.0, "%s: the responder's peak RSS grew by %.1f MB for a %.1f MB export" % (mode, grew, mb))


def hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM for %d" % pid)


# ---------------------------------------------------------------------------------------------
# /realtime


def utc_wall(delta_s):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=delta_s)
    return t.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


@test(timeout=90)
def realtime_counts_raw_events():
    db = DB("read_api_rt")
    sql = [visitor(v, "2026-01-01 00:00") for v in ("v1", "v2", "v3", "v4", "v5")]
    # (id, visitor, seconds from now, type, property)
    for eid, vid, ago, etype, prop in (("e1", "v1", -120, "page_view", "site-a"), ("e2", "v1", -180, "click", "site-a"),
                                       ("e3", "v2", -240, "page_view", "site-a"), ("e4", "v3", -600, "page_view", "site-a"),
                                       ("e5", "v3", -900, "page_view", "site-a"), ("e6", "v4", -2400, "page_view", "site-a"),
                                       ("e7", "v5", -60, "page_view", "site-b"), ("e8", "v4", 600, "page_view", "site-a"),
                                       ("e9", "v2", -1500, "click", "site-a")):
        sql.append(event(eid, vid, utc_wall(ago), etype, prop=prop))
    db.q("\n".join(sql))
    with Stack(db.url, workers=1) as s:
        j = ok(s, "realtime")
        expect_eq(list(j.keys()), ["ok", "generatedAt", "last5Minutes", "last30Minutes"], "keys")
        expect(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", j["generatedAt"]), "generatedAt %r" % j["generatedAt"])
        # the default property counts every property (as its rollups); e6 is 40 min old, e8 in the future
        expect_eq((j["last5Minutes"], j["last30Minutes"]),
                  ({"visitors": 3, "pageViews": 3}, {"visitors": 4, "pageViews": 5}), "default property")
        j = ok(s, "realtime", "propertyId=site-a")
        expect_eq((j["last5Minutes"], j["last30Minutes"]),
                  ({"visitors": 2, "pageViews": 2}, {"visitors": 3, "pageViews": 4}), "site-a")
        j = ok(s, "realtime", "propertyId=nobody")
        expect_eq((j["last5Minutes"], j["last30Minutes"]),
                  ({"visitors": 0, "pageViews": 0}, {"visitors": 0, "pageViews": 0}), "a property without events")


def realtime_sql():
    """STMT_REALTIME's text as store/sql.c writes it (its string literals joined), so the plan
    checked is the statement the service runs."""
    with open(SQL_C) as f:
        src = f.read()
    m = re.search(r"\[STMT_REALTIME\] =\s*\{\"realtime\",(.*?)NULL, 4, true\}", src, re.S)
    expect(m, "STMT_REALTIME in sql.c")
    block = re.sub(r"/\*.*?\*/", "", m.group(1), flags=re.S)
    return "".join(p.replace('\\"', '"') for p in re.findall(r'"((?:[^"\\]|\\.)*)"', block))


@test(timeout=180)
def realtime_reads_an_index_range_never_a_scan():
    db = DB("read_api_plan")
    # 60 days of events (200 000 rows), two properties: a range of the last 30 minutes is a sliver
    db.q(visitor("pv", "2026-01-01 00:00") +
         "INSERT INTO events (id, visitor_id, event_type, path, \"timestamp\", property_id) "
         "SELECT 'e' || i, 'pv', 'page_view', '/', (now() AT TIME ZONE 'UTC') - (i * interval '26 seconds'), "
         "CASE WHEN i % 2 = 0 THEN 'site-a' ELSE 'site-b' END FROM generate_series(1, 200000) i; ANALYZE events;",
         timeout=300)
    text = realtime_sql()
    expect(text.startswith("SELECT ") and "FROM events WHERE" in text, "the statement's text: %s" % text)
    short, long_ = bound("REALTIME_SHORT_MINUTES"), bound("REALTIME_LONG_MINUTES")
    script = ["PREPARE rt(text, boolean, integer, integer) AS %s;" % text]
    for mode in ("force_custom_plan", "force_generic_plan"):
        script.append("SET plan_cache_mode = %s;" % mode)
        script.append("EXPLAIN EXECUTE rt('default', true, %d, %d);" % (short, long_))
        script.append("EXPLAIN EXECUTE rt('site-a', false, %d, %d);" % (short, long_))
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write("\n".join(script) + "\n")
    try:
        out = harness.shared_postgres().psql(file=f.name, db=db.name)
    finally:
        os.unlink(f.name)
    plans = [p for p in re.split(r"\n(?=Aggregate)", out.strip()) if p.strip()]
    expect_eq(len(plans), 4, "four plans (custom and generic, both property kinds):\n%s" % out)
    for p in plans:
        expect("Seq Scan" not in p, "no sequential scan of events:\n%s" % p)
        # events is partitioned by month (migrations/0017): the index of each month left after pruning
        expect(re.search(r"Index (Only )?Scan using events_(\w+_)?(property_id_)?timestamp_idx on events|"
                         r"Bitmap Index Scan on events_(\w+_)?(property_id_)?timestamp_idx", p),
               "a range of a timestamp index:\n%s" % p)
    print("NOTE read_api: realtime plan: " + plans[0].replace("\n", " | ")[:300], flush=True)


# ---------------------------------------------------------------------------------------------
# SITE_TIME_ZONE


@test(timeout=120)
def site_zone_days_and_today():
    """A stack in America/Toronto: /site's today is the site's, and rollup days (a backfill in the
    zone) are the site's days in timeseries, breakdown and the daily export."""
    zone = "America/Toronto"
    db = DB("read_api_zone", {"SITE_TIME_ZONE": zone})
    sql = [visitor(v, "2026-01-01 00:00") for v in ("z1", "z2")]
    # 04:30 UTC on the 16th is 23:30 EST on the 15th; 05:30 UTC is 00:30 on the 16th
    sql.append(event("z-a", "z1", "2026-01-16 04:30:00.000", path="/late"))
    sql.append(event("z-b", "z2", "2026-01-16 05:30:00.000", path="/early"))
    db.q("\n".join(sql))
    db.backfill("2026-01-15", "2026-01-16")
    with Stack(db.url, workers=1, env={"SITE_TIME_ZONE": zone}) as s:
        j = ok(s, "site")
        local = datetime.datetime.now(zoneinfo.ZoneInfo(zone)).date()
        expect_eq(j["timeZone"], zone, "timeZone")
        expect(j["today"] in (str(local), str(local + datetime.timedelta(days=1))),
               "today in %s: %r (local %s)" % (zone, j["today"], local))
        j = ok(s, "timeseries", {"from": "2026-01-15", "to": "2026-01-16"})
        expect_eq(j["timeZone"], zone, "timeseries timeZone")
        expect_eq([(b["start"], b["visitors"], b["pageViews"]) for b in j["buckets"]],
                  [("2026-01-15", 1, 1), ("2026-01-16", 1, 1)], "one event on each site day (UTC: both on the 16th)")
        j = ok(s, "breakdown", {"from": "2026-01-15", "to": "2026-01-15", "dimension": "page"})
        expect_eq([v["value"] for v in j["values"]], ["/late"], "the 15th's page (23:30 local)")
        rows = csv_rows(get(s, "export.csv", {"from": "2026-01-15", "to": "2026-01-16", "dimension": "daily"}))
        expect_eq([(x[0], x[2], x[-1]) for x in rows[1:]], [("2026-01-15", "1", "true"), ("2026-01-16", "1", "true")],
                  "daily export by site day")


@test(timeout=60)
def read_routes_answer_503_without_a_database():
    """No Postgres at the URL: every read route answers 503 database_unavailable (JSON, Retry-After),
    the export before any CSV byte; a refused query is still a 400, without the database."""
    with Stack("postgresql://postgres@127.0.0.1:%d/none" % harness.free_port(), workers=1,
               env={"RATE_LIMIT_SUMMARY": 0}) as s:
        w = "from=%s&to=%s" % WIN
        for route, q in (("site", ""), ("timeseries", w), ("breakdown", w + "&dimension=page"), ("realtime", ""),
                         ("export.csv", w + "&dimension=daily"), ("export.csv", w + "&dimension=page")):
            r = get(s, route, q)
            expect_error(r, 503, "database_unavailable")
            expect_eq(r.header("Content-Type"), JSON_CT, "%s: a JSON answer" % route, r)
            expect(r.header("Retry-After", "").isdigit(), "%s: Retry-After" % route, r)
            expect(r.elapsed < 2.0, "%s: 503 within 2 s (%.2f s)" % (route, r.elapsed), r)
        bad(s, "export.csv", w + "&dimension=nope", ["dimension"])
