"""test_summary_sql.py - GET /v1/metrics/summary over 30 and 366 days of seeded rollups gives, byte
for byte, the answers the per-day computation in C gave before the window was aggregated in SQL
(issue 17 item 3). tests/integration/golden/summary_sql.json holds those answers, written by the
code before the change (commit 6135734) from the same seed; `lagDays` depends on today and is
compared separately.

The seed (random.Random(17), fixed days 2025-01-01 .. 2026-02-14) covers what the old code read
one day at a time: days without any row, ingest rows without a metric row, rows from before
migration 0008 (the session shares NULL), traffic-source objects with unknown keys, string values,
halves, an array or NULL instead of an object, p95 NULL or without accepted events, bot drops of
two properties, and a second property.

SUMMARY_GOLDEN_WRITE=1 rewrites the golden file from the running binary (only ever from the code
before the change: the file is the reference)."""

import datetime
import json
import os
import random
import re
import tempfile

import harness
from harness import ADMIN_KEY, Fail, Stack, expect, expect_eq, migrate, service_env, test

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "summary_sql.json")
SOURCES = ["direct", "organic_search", "paid_search", "social", "email", "referral", "campaign", "internal",
           "unknown"]
FIRST = datetime.date(2025, 1, 1)
DAYS = 410
QUERIES = [
    "from=2026-01-01&to=2026-01-30",
    "from=2026-01-01&to=2026-01-30&compareTo=1",
    "from=2025-02-14&to=2026-02-14&compareTo=1",
    "from=2025-02-14&to=2026-02-14",
    "from=2025-01-01&to=2025-12-31&compareTo=1",
    "from=2025-06-01&to=2025-06-30&propertyId=site-b&compareTo=1",
    "from=2025-06-01&to=2026-06-01&propertyId=site-b",
    "from=2024-01-01&to=2024-01-30&compareTo=1",
    "from=2026-02-10&to=2026-03-10&compareTo=1",
    "from=2025-03-03&to=2025-03-03&compareTo=1",
]
LAG = re.compile(rb'"lagDays":(-?\d+|null)')


def lit(v):
    return harness.sql_lit(v)


def seed_sql():
    rng = random.Random(17)
    out = []
    for k in range(DAYS):
        day = (FIRST + datetime.timedelta(days=k)).isoformat()
        gen = "2026-02-15 00:%02d:%02d.%03d" % (k % 60, (k * 7) % 60, k % 1000)
        for prop in ("default", "site-b"):
            if prop == "site-b" and rng.random() < 0.5:
                continue
            if rng.random() < 0.9:
                uv = rng.randint(0, 900)
                ent, fs = rng.randint(0, 400), rng.randint(0, 60)
                old = rng.random() < 0.2  # rolled up before migration 0008: the shares are NULL
                shares = ("NULL, NULL, NULL, NULL" if old else "%d, %d, %d, %d" % (
                    rng.randint(0, ent), rng.randint(0, 50), rng.randint(0, fs), rng.randint(0, 30)))
                r = rng.random()
                if r < 0.05:
                    src = "NULL"
                elif r < 0.08:
                    src = "'[1, 2]'::jsonb"
                elif r < 0.1:
                    src = "'{}'::jsonb"
                else:
                    o = {s: rng.randint(0, 300) for s in SOURCES if rng.random() < 0.7}
                    if rng.random() < 0.2:
                        o["other"] = rng.randint(1, 50)  # not a source the summary knows
                    if rng.random() < 0.1:
                        o[rng.choice(SOURCES)] = "12"  # not a number: skipped
                    if rng.random() < 0.1:
                        o[rng.choice(SOURCES)] = rng.randint(0, 40) + 0.5
                    src = lit(json.dumps(o)) + "::jsonb"
                out.append(
                    "INSERT INTO daily_metric_rollups (id, property_id, day, unique_visitors, returning_visitors, "
                    "total_page_views, total_entrances, total_exits, total_conversions, form_starts, form_submits, "
                    "new_leads, time_to_first_capture_sum_ms, time_to_first_capture_count, traffic_source_breakdown, "
                    "top_landing_paths, entrance_sessions, converted_entrance_sessions, form_start_sessions, "
                    "form_completed_sessions, generated_at, updated_at) VALUES (%s, %s, %s, %d, %d, %d, %d, 0, %d, %d, "
                    "%d, %d, %d, %d, %s, '[]', %s, %s, %s);" % (
                        lit("m-%s-%s" % (prop, day)), lit(prop), lit(day), uv, rng.randint(0, uv),
                        rng.randint(uv, 3 * uv + 1), ent, rng.randint(0, 80), fs, rng.randint(0, 40),
                        rng.randint(0, 25), rng.randint(0, 10 ** 9), rng.randint(0, 25), src, shares, lit(gen),
                        lit(gen)))
            if rng.random() < 0.85:
                acc = 0 if rng.random() < 0.05 else rng.randint(1, 5000)
                p95 = "NULL" if rng.random() < 0.1 else str(rng.randint(20, 3000))
                out.append(
                    "INSERT INTO daily_ingest_rollups (id, property_id, day, events_accepted, events_rejected, "
                    "leads_accepted, leads_rejected, p95_ttfb_ms, error_breakdown, generated_at, updated_at) VALUES "
                    "(%s, %s, %s, %d, %d, 0, 0, %s, '{}', %s, %s);" % (
                        lit("i-%s-%s" % (prop, day)), lit(prop), lit(day), acc, rng.randint(0, 50), p95, lit(gen),
                        lit(gen)))
            for reason in ("empty_ua", "bot_ua", "headless"):
                if rng.random() < 0.3:
                    out.append("INSERT INTO ingest_bot_drops (day, property_id, reason, dropped) VALUES "
                               "(%s, %s, %s, %d);" % (lit(day), lit(prop), lit(reason), rng.randint(1, 99)))
    return "\n".join(out)


def summary_stack():
    def make():
        url = harness.shared_postgres().create_db("summary_sql")
        r = migrate(service_env(url))
        if r.returncode != 0:
            raise Fail("migrate failed: %s" % r.stderr[-800:])
        fd, path = tempfile.mkstemp(suffix=".sql")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(seed_sql())
            os.chmod(path, 0o644)  # psql runs as the postgres user
            harness.shared_postgres().psql(file=path, db="summary_sql", timeout=120)
        finally:
            os.unlink(path)
        return Stack(url, workers=1, env={"RATE_LIMIT_SUMMARY": 0})
    return harness.shared("summary-sql", make)


def lag_days(body):
    m = LAG.search(body)
    return None if not m or m.group(1) == b"null" else int(m.group(1))


@test(timeout=120)
def summary_answers_are_the_per_day_computations():
    st = summary_stack()
    got = {}
    for q in QUERIES:
        r = st.request("GET", "/v1/metrics/summary?" + q, headers={"x-admin-key": ADMIN_KEY})
        expect_eq(r.status, 200, "status of %s" % q, r)
        expect_eq(r.header("Content-Type"), "application/json; charset=utf-8", "content type of %s" % q, r)
        # lagDays counts from today to the property's newest rolled-up day
        lag = lag_days(r.body)
        if lag is not None:
            newest = datetime.date.fromisoformat(r.json["freshness"]["rolledUpThrough"])
            want_lag = (datetime.datetime.now(datetime.timezone.utc).date() - newest).days
            expect(abs(lag - want_lag) <= 1, "lagDays of %s: %d, expected %d (±1 at midnight)" % (q, lag, want_lag), r)
        got[q] = LAG.sub(b'"lagDays":0', r.body).decode()
    if os.environ.get("SUMMARY_GOLDEN_WRITE") == "1":
        os.makedirs(os.path.dirname(GOLDEN), exist_ok=True)
        with open(GOLDEN, "w") as f:
            json.dump(got, f, indent=1, sort_keys=True)
            f.write("\n")
        print("NOTE: wrote %s" % GOLDEN)
    with open(GOLDEN) as f:
        want = json.load(f)
    expect_eq(sorted(want), sorted(QUERIES), "the golden file's queries")
    for q in QUERIES:
        if got[q] != want[q]:
            i = next((k for k in range(min(len(got[q]), len(want[q]))) if got[q][k] != want[q][k]),
                     min(len(got[q]), len(want[q])))
            raise Fail("summary %s differs from the per-day computation at byte %d:\n  got  ...%s\n  want ...%s"
                       % (q, i, got[q][max(0, i - 80):i + 80], want[q][max(0, i - 80):i + 80]))
    # the 366-day answer really covers the year: a trend entry per day, and figures that are not zero
    j = json.loads(got[QUERIES[2]])
    expect_eq(len(j["trend"]), 366, "trend days of the year")
    expect(j["metrics"]["uniqueVisitors"]["value"] > 0 and sum(j["metrics"]["trafficSourceMix"].values()) > 0.99,
           "the year has visitors and a source mix: %r" % j["metrics"])
