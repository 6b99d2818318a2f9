"""test_timezone.py - SITE_TIME_ZONE (issue 15 item 3): rollup days, `rollups discrepancy`, lag and
the summary's windows are calendar days of the site's zone, also across daylight-saving changes
(America/Toronto: 2026-03-08 has 23 hours, 2026-11-01 has 25). Expected counts come from Python's
zoneinfo, independently of Postgres; each test has its own database (test_metrics.DB)."""

import datetime
import os
import shutil
import tempfile
import zoneinfo

import harness
from harness import ADMIN_KEY, Stack, backend, expect, expect_eq, service_env, test
from test_metrics import DB, check_row, event, lit, mrow, rejection, rollup_rows, visitor

TORONTO = zoneinfo.ZoneInfo("America/Toronto")
UTC = datetime.timezone.utc
AUTH = {"x-admin-key": ADMIN_KEY}
MS = datetime.timedelta(milliseconds=1)


def local_midnight_utc(day):
    """The UTC instant at which the Toronto calendar day `day` starts."""
    return datetime.datetime.combine(day, datetime.time(0), TORONTO).astimezone(UTC)


def pg_ts(t):
    """A UTC instant as a timestamp(3) literal (UTC wall time, as the columns hold)."""
    return t.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="milliseconds")


def fill_dst_days(db, dst_day):
    """Page views on every UTC hour from two days before dst_day to two days after, by three
    visitors in turn, plus one at the last millisecond before each local midnight and one at each
    local midnight; a rejection just before and one at the day's local midnight. Returns
    {local day: (events, distinct visitors, rejections)} counted with zoneinfo."""
    start = datetime.datetime.combine(dst_day - datetime.timedelta(days=2), datetime.time(0), UTC)
    stamps = [start + datetime.timedelta(hours=h) for h in range(24 * 5)]
    for k in range(-1, 3):
        m = local_midnight_utc(dst_day + datetime.timedelta(days=k))
        stamps += [m - MS, m]
    sql = [visitor("v%d" % k, "2026-01-01 00:00") for k in range(3)]
    expected = {}
    for n, t in enumerate(stamps):
        vid = "v%d" % (n % 3)
        sql.append(event("e%d" % n, vid, pg_ts(t), path="/p%d" % (n % 5), ent=n % 2 == 0))
        day = t.astimezone(TORONTO).date()
        ev, vs, rj = expected.get(day, (0, set(), 0))
        expected[day] = (ev + 1, vs | {vid}, rj)
    m = local_midnight_utc(dst_day)
    for n, t in enumerate([m - MS, m]):
        sql.append(rejection("r%d" % n, "site-a", "/v1/events", pg_ts(t)))
        day = t.astimezone(TORONTO).date()
        ev, vs, rj = expected[day]
        expected[day] = (ev, vs, rj + 1)
    db.q("\n".join(sql))
    return expected


def check_days(db, expected, days, what):
    for day in days:
        ev, vs, rj = expected[day]
        got = db.rows("SELECT m.unique_visitors, m.total_page_views, i.events_accepted, i.events_rejected "
                      "FROM daily_metric_rollups m JOIN daily_ingest_rollups i USING (property_id, day) "
                      "WHERE property_id = 'default' AND day = %s" % lit(str(day)))
        expect_eq(got, [{"unique_visitors": len(vs), "total_page_views": ev, "events_accepted": ev,
                         "events_rejected": rj}], "%s: rollup of %s" % (what, day))


def dst_case(name, dst_day, hours):
    db = DB(name, {"SITE_TIME_ZONE": "America/Toronto"})
    expected = fill_dst_days(db, dst_day)
    days = [dst_day + datetime.timedelta(days=k) for k in (-1, 0, 1)]
    # the premise: one page view per hour of the local day, plus the two boundary events
    length = local_midnight_utc(days[2]) - local_midnight_utc(days[1])
    expect_eq((length, expected[dst_day][0]), (datetime.timedelta(hours=hours), hours + 2),
              "zoneinfo's length of %s and the events sent in it" % dst_day)
    db.backfill(str(days[0]), str(days[-1]))
    check_days(db, expected, days, "SITE_TIME_ZONE=America/Toronto")
    r = db.run("rollups", "discrepancy", "--from=%s" % days[0], "--to=%s" % days[-1])
    expect_eq((r.returncode, [l for l in r.stdout.splitlines() if l.startswith("- ")]), (0, []),
              "discrepancy in the site's zone (stdout %r, stderr %r)" % (r.stdout, r.stderr))
    # the same rows read with UTC days do not agree: the zone is what moved the boundaries
    r = db.run("rollups", "discrepancy", "--from=%s" % days[0], "--to=%s" % days[-1], env={"SITE_TIME_ZONE": "UTC"})
    expect_eq(r.returncode, 2, "discrepancy with UTC days against Toronto rollups (stdout %r)" % r.stdout)

    # the summary's window is the site's days too
    stack = Stack(db.url, workers=1, env={"SITE_TIME_ZONE": "America/Toronto", "RATE_LIMIT_SUMMARY": 0})
    try:
        r = stack.request("GET", "/v1/metrics/summary?from=%s&to=%s" % (days[0], days[-1]), headers=AUTH)
        expect_eq(r.status, 200, "summary status", r)
        expect_eq([(t["day"], t["pageViews"], t["uniqueVisitors"]) for t in r.json["trend"]],
                  [(str(day), expected[day][0], len(expected[day][1])) for day in days], "summary trend")
        expect_eq(r.json["metrics"]["totalPageViews"]["value"], sum(expected[day][0] for day in days),
                  "summary page views")
        expect_eq(r.json["ingest"]["totalEventsRejected"], 2, "summary rejections")
        # the responders count lagDays from the site's today (around local midnight either is right)
        lags = {(datetime.datetime.now(TORONTO).date() - days[-1]).days + k for k in (-1, 0)}
        expect(r.json["freshness"]["lagDays"] in lags, "freshness.lagDays %r, expected one of %s" %
               (r.json["freshness"]["lagDays"], sorted(lags)), r)
    finally:
        stack.cleanup()


@test(timeout=120)
def dst_spring_forward_23_hour_day():
    dst_case("tz_spring", datetime.date(2026, 3, 8), 23)


@test(timeout=120)
def dst_fall_back_25_hour_day():
    dst_case("tz_fall", datetime.date(2026, 11, 1), 25)


@test(timeout=60)
def today_and_lag_are_the_sites():
    """`rollups status` counts lagDays from the site's today: Kiritimati (UTC+14) and Pago Pago
    (UTC-11) are always on different dates."""
    db = DB("tz_lag")
    db.backfill("2026-03-10")
    for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago", "UTC"):
        before = datetime.datetime.now(zoneinfo.ZoneInfo(zone)).date()
        r = db.run("rollups", "status", env={"SITE_TIME_ZONE": zone})
        after = datetime.datetime.now(zoneinfo.ZoneInfo(zone)).date()
        expect_eq(r.returncode, 0, "status with %s (stderr %r)" % (zone, r.stderr))
        lags = {"lagDays: %d" % (t - datetime.date(2026, 3, 10)).days for t in (before, after)}
        expect([l for l in r.stdout.splitlines() if l in lags], "%s: lag line in %r, expected one of %s" %
               (zone, r.stdout, sorted(lags)))


@test(timeout=60)
def bad_zone_stops_start():
    """A zone that is not in tzdata stops check-config and every command, naming the variable."""
    env = service_env("postgresql://u:p@127.0.0.1:1/x")
    for bad in ("Mars/Olympus_Mons", "America", "../../etc/passwd", "EST5EDT,M3.2.0,M11.1.0"):
        for args in (["check-config", "--offline"], ["rollups", "status"], ["serve"]):
            r = backend(args, dict(env, SITE_TIME_ZONE=bad))
            expect_eq(r.returncode, 1, "%s with SITE_TIME_ZONE=%r exit code (stderr %r)" % (args, bad, r.stderr))
            expect("SITE_TIME_ZONE" in r.stderr, "%s: stderr names SITE_TIME_ZONE: %r" % (args, r.stderr))
    r = backend(["check-config", "--offline"], dict(env, SITE_TIME_ZONE="America/Toronto"))
    expect_eq(r.returncode, 0, "check-config with America/Toronto (stderr %r)" % r.stderr)
    expect("SITE_TIME_ZONE=America/Toronto\n" in r.stdout, "check-config prints the zone: %r" % r.stdout)


@test(timeout=60)
def check_config_asks_the_database_about_the_zone():
    """A zone this machine's tzdata has but the database's does not (a TZDIR with an extra zone
    file here) passes --offline and is refused by the online check, naming SITE_TIME_ZONE."""
    url = harness.migrated_database()
    tzdir = tempfile.mkdtemp(prefix="itst-tz-", dir="/tmp")
    try:
        os.makedirs(os.path.join(tzdir, "America"))
        shutil.copy("/usr/share/zoneinfo/America/Toronto", os.path.join(tzdir, "America", "Toronto"))
        shutil.copy("/usr/share/zoneinfo/America/Toronto", os.path.join(tzdir, "America", "Not_A_Pg_Zone"))
        env = dict(service_env(url), TZDIR=tzdir)
        r = backend(["check-config"], dict(env, SITE_TIME_ZONE="America/Toronto"))
        expect_eq(r.returncode, 0, "online check-config with America/Toronto (stderr %r)" % r.stderr)
        r = backend(["check-config", "--offline"], dict(env, SITE_TIME_ZONE="America/Not_A_Pg_Zone"))
        expect_eq(r.returncode, 0, "offline check-config with a zone only this machine has (stderr %r)" % r.stderr)
        r = backend(["check-config"], dict(env, SITE_TIME_ZONE="America/Not_A_Pg_Zone"))
        expect_eq(r.returncode, 1, "online check-config with a zone the database lacks (stdout %r)" % r.stdout)
        expect_eq(r.stderr, "config error: SITE_TIME_ZONE: the database does not know the time zone "
                  "'America/Not_A_Pg_Zone'\n", "its one line")
    finally:
        shutil.rmtree(tzdir, ignore_errors=True)


@test(timeout=60)
def rollup_day_refuses_a_null_zone():
    """A caller that forgets the zone gets an error, not a day of zeros."""
    db = DB("tz_null")
    db.q(visitor("v1", "2026-01-01 00:00") + event("e1", "v1", "2026-03-08 12:00"))
    try:
        db.q("SELECT rollup_day('default', '2026-03-08', true, NULL)")
        raise AssertionError("rollup_day with a NULL zone did not fail")
    except harness.Fail as e:
        expect("p_tz (SITE_TIME_ZONE) is required" in str(e), "the reason: %s" % e)
    expect_eq(db.val("SELECT count(*) FROM daily_metric_rollups"), "0", "rows written with a NULL zone")


@test(timeout=90)
def refresh_keeps_yesterday_open_until_the_sites_midnight():
    """The refresh job recomputes yesterday while its rollup was computed before yesterday ended in
    the site's zone. Etc/GMT+12 (UTC-12): yesterday ends at 12:00 UTC of the site's today, so a row
    computed at 11:00 UTC is not final (a UTC day end would have called it final at 00:00)."""
    zone = zoneinfo.ZoneInfo("Etc/GMT+12")
    db = DB("tz_refresh")
    td = datetime.datetime.now(zone).date()
    yd = td - datetime.timedelta(days=1)
    yd_end = datetime.datetime.combine(td, datetime.time(0), zone)
    # an event at the site's yesterday noon; yesterday's row (zeros) computed an hour before its end
    db.q(visitor("v0", "2026-01-01 00:00") +
         event("y1", "v0", pg_ts(yd_end - datetime.timedelta(hours=12)), prop="site-a") +
         mrow("default", str(yd), generated=pg_ts(yd_end - datetime.timedelta(hours=1))))
    env = dict(db.env, SITE_TIME_ZONE="Etc/GMT+12", ROLLUP_INTERVAL_MINUTES="60", ROLLUP_REFRESH_MINUTES="1",
               ROLLUP_BATCH_DAYS="1")
    with harness.scheduler_process(env, "ittz-refresh-") as (_, log):
        harness.wait_until(lambda: db.val("SELECT count(*) FROM job_runs WHERE last_finished_at IS NOT NULL "
                                          "AND job IN ('rollups', 'refresh')") == "2", 15, 0.1,
                           "rollups and refresh to finish (log: %s)" % harness.tail(log, 8))
        m, _ = rollup_rows(db, "default", yd)
        check_row(m, {"unique_visitors": 1, "total_page_views": 1}, "the site's yesterday recomputed by the refresh")
        text = open(log, encoding="utf-8", errors="replace").read()
        expect("Rollup refresh complete for default: %s (2 day(s))." % yd in text,
               "refresh of the site's yesterday and today in the log:\n" + text)
