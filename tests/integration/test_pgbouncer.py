"""test_pgbouncer.py - the service behind a transaction-mode PgBouncer, as on Fly Managed Postgres
(`fly mpg attach`: DATABASE_URL is the pooled URL, DIRECT_DATABASE_URL the direct one).

A real Debian pgbouncer (harness.PgBouncer) sits in front of the test Postgres with fewer server
connections than responders, so every responder's transactions land on server connections other
responders used before: named statements prepared at connect and session settings would collide or
leak there. The database runs with TimeZone America/Toronto and the schema is "Pgb App" (not on
the default search_path), so a responder that relied on session settings it no longer has stores
local times or finds no tables."""

import json
import os
import re
import threading
import time
import uuid

import harness
from harness import ADMIN_KEY, ALLOWED_ORIGIN, Fail, PgBouncer, Stack, expect, expect_eq, migrate, service_env, test

SCHEMA = "Pgb App"
JSON_CT = "application/json"


def pg():
    return harness.shared_postgres()


def bouncer():
    # 2 server connections for 3 responders (and the jobs' tests): transactions interleave
    return harness.shared("pgbouncer", lambda: PgBouncer(pg(), pool_size=2))


def database():
    """(direct URL, pooled URL) of database pgb, migrated through the direct URL."""
    def make():
        url = pg().create_db("pgb")
        pg().psql("ALTER DATABASE pgb SET timezone = 'America/Toronto'", db="postgres")
        r = migrate(service_env(bouncer().url("pgb"), {"DIRECT_DATABASE_URL": url, "DATABASE_SCHEMA": SCHEMA}))
        if r.returncode != 0:
            raise Fail("migrate through DIRECT_DATABASE_URL failed (rc %d): %s" % (r.returncode, r.stderr[-800:]))
        return harness._Value((url, bouncer().url("pgb")))
    return harness.shared("pgb-db", make).value


def sql(q):
    return pg().psql('SET search_path = "%s"; %s' % (SCHEMA, q), db="pgb")


def pooled_stack():
    direct, pooled = database()
    return harness.shared("pgb-stack", lambda: Stack(pooled, workers=3, env={
        "DIRECT_DATABASE_URL": direct, "DATABASE_SCHEMA": SCHEMA, "RATE_LIMIT_EVENTS": 0,
        "RATE_LIMIT_CAPTURE": 0, "RATE_LIMIT_UNSUBSCRIBE": 0, "RATE_LIMIT_DELETE": 0}))


def post(stack, path, body, admin=False):
    h = {"Content-Type": JSON_CT, "Origin": ALLOWED_ORIGIN}
    if admin:
        h["x-admin-key"] = ADMIN_KEY
    return stack.request("POST", path, json.dumps(body), headers=h)


def event(tag, i=0):
    return {"anonId": "pgb-%s-%d" % (tag, i), "eventType": "page_view", "path": "/pgb/%s/%d" % (tag, i),
            "eventId": str(uuid.uuid4())}


def summary_path():
    today = time.strftime("%Y-%m-%d", time.gmtime())
    return "/v1/metrics/summary?from=%s&to=%s" % (today, today)


def expect_utc(query, what):
    """The timestamp query returns is within 2 minutes of the current UTC wall time."""
    got = sql("SELECT extract(epoch FROM ((%s) - (now() AT TIME ZONE 'UTC')))" % query).strip()
    expect(got and abs(float(got)) < 120, "%s is %s s away from UTC wall time" % (what, got))


def no_errors_in_log(stack):
    text = stack.stderr(400)
    for bad in ("42P05", "42P01", "42883", "statement ", "session setup failed"):
        expect(bad not in text, "the responders' log mentions %r:\n%s" % (bad, text))


@test(timeout=90)
def routes_work_through_transaction_pooler():
    s = pooled_stack()
    direct, pooled = database()
    # readiness, many times: each responder's first statements land on pooled server connections
    for _ in range(6):
        r = s.request("GET", "/v1/readyz")
        expect_eq(r.status, 200, "GET /v1/readyz through PgBouncer", r)
    # events from all responders at once, several rounds (transactions interleave on 2 server conns)
    for rnd in range(4):
        rs = s.parallel([("POST", "/v1/events", json.dumps(event("par%d" % rnd, i)),
                          {"Content-Type": JSON_CT, "Origin": ALLOWED_ORIGIN}) for i in range(12)])
        for r in rs:
            expect_eq(r.status, 202, "POST /v1/events through PgBouncer", r)
    # stored in UTC wall time although the database's TimeZone is America/Toronto
    expect_utc("SELECT \"timestamp\" FROM events WHERE path = '/pgb/par0/0'", "the event's timestamp")
    # a refused event writes its rejection row (raw SQL, not a function): in the schema, in UTC
    before = int(sql("SELECT count(*) FROM ingest_rejections").strip())
    r = post(s, "/v1/events", {"anonId": "pgb-bad", "eventType": "page_view"})
    expect_eq(r.status, 400, "invalid event", r)
    expect_eq(int(sql("SELECT count(*) FROM ingest_rejections").strip()), before + 1, "rejection rows")
    expect_utc("SELECT max(occurred_at) FROM ingest_rejections", "the rejection's occurred_at (a column default)")
    # capture, unsubscribe, delete
    email = "pgb-%s@example.com" % uuid.uuid4().hex[:8]
    r = post(s, "/v1/leads/capture", {"email": email, "anonId": "pgb-lead", "formName": "pgb",
                                      "consentStatus": "express", "path": "/pgb"})
    expect(r.status in (200, 201, 202), "capture through PgBouncer: %s" % r.describe())
    expect_eq(sql("SELECT count(*) FROM leads WHERE email_normalized = '%s'" % email).strip(), "1", "lead row")
    r = post(s, "/v1/leads/unsubscribe", {"email": email})
    expect(r.status in (200, 202), "unsubscribe through PgBouncer: %s" % r.describe())
    r = post(s, "/v1/leads/delete", {"email": email}, admin=True)
    expect(r.status in (200, 202), "delete through PgBouncer: %s" % r.describe())
    expect_eq(sql("SELECT count(*) FROM leads WHERE email_normalized = '%s'" % email).strip(), "0", "lead deleted")
    # rollups on the direct URL (DATABASE_URL unreachable: only the direct one can have worked)
    env = service_env("postgresql://nobody@127.0.0.1:1/none", {"DIRECT_DATABASE_URL": direct,
                                                               "DATABASE_SCHEMA": SCHEMA})
    r = harness.backend(["rollups", "run"], env)
    expect_eq(r.returncode, 0, "rollups run on DIRECT_DATABASE_URL (stderr %r)" % r.stderr)
    r = s.request("GET", summary_path(), headers={"x-admin-key": ADMIN_KEY})
    expect_eq(r.status, 200, "GET /v1/metrics/summary through PgBouncer", r)
    expect(r.json["metrics"]["totalPageViews"]["value"] >= 48, "summary counts the 48 page views: %s" % r.body[:600])
    no_errors_in_log(s)
    # nothing the responders set stays on the pooled server connections
    out = harness.run([os.path.join(harness.PG_BIN, "psql"), "-X", "-A", "-t", "-c",
                       "SELECT current_setting('search_path') || '|' || current_setting('statement_timeout')",
                       pooled], timeout=20)
    expect_eq(out.stdout.strip(), '"$user", public|0', "session settings on a pooled server connection "
              "(stderr %r)" % out.stderr)


@test(timeout=60)
def migrate_and_rollups_use_the_direct_url():
    direct, pooled = database()
    dead = "postgresql://nobody@127.0.0.1:1/none"
    env = service_env(dead, {"DIRECT_DATABASE_URL": direct, "DATABASE_SCHEMA": SCHEMA})
    r = migrate(env, "status")
    expect_eq(r.returncode, 0, "migrate status with only DIRECT_DATABASE_URL reachable (stderr %r)" % r.stderr)
    r = harness.backend(["rollups", "status"], env)
    expect_eq(r.returncode, 0, "rollups status with only DIRECT_DATABASE_URL reachable (stderr %r)" % r.stderr)
    # without DIRECT_DATABASE_URL the jobs fall back to DATABASE_URL
    r = migrate(service_env(direct, {"DATABASE_SCHEMA": SCHEMA}), "status")
    expect_eq(r.returncode, 0, "migrate status on DATABASE_URL alone (stderr %r)" % r.stderr)
    r = migrate(service_env(direct, {"DIRECT_DATABASE_URL": dead, "DATABASE_SCHEMA": SCHEMA}), "status")
    expect(r.returncode != 0 and "DIRECT_DATABASE_URL" in r.stderr,
           "migrate with a dead DIRECT_DATABASE_URL fails naming it: rc %d %r" % (r.returncode, r.stderr))


@test(timeout=90)
def connections_recycled_under_load_without_errors():
    """DATABASE_MAX_LIFETIME_SECONDS=2 under load through PgBouncer: every request answers 2xx
    while each responder replaces its connection every 2 s; DATABASE_MAX_IDLE_SECONDS recycles an
    idle one before its next request."""
    direct, pooled = database()
    with Stack(pooled, workers=3, env={"DIRECT_DATABASE_URL": direct, "DATABASE_SCHEMA": SCHEMA,
                                       "RATE_LIMIT_EVENTS": 0, "DATABASE_MAX_LIFETIME_SECONDS": 2,
                                       "DATABASE_MAX_IDLE_SECONDS": 1}) as s:
        statuses, lock, stop = {}, threading.Lock(), time.monotonic() + 6.5

        def load(k):
            i = 0
            while time.monotonic() < stop:
                try:
                    st = post(s, "/v1/events", event("life%d" % k, i)).status
                except OSError as e:
                    st = repr(e)
                with lock:
                    statuses[st] = statuses.get(st, 0) + 1
                i += 1

        threads = [threading.Thread(target=load, args=(k,), daemon=True) for k in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        total = sum(statuses.values())
        expect(total > 100 and set(statuses) == {202}, "statuses under load with a 2 s lifetime: %s" % statuses)
        log = s.stderr(2000)
        recycled = len(re.findall(r"recycled after its maximum lifetime \(DATABASE_MAX_LIFETIME_SECONDS\)", log))
        expect(recycled >= 3 * 2, "recycles in 6.5 s with 3 responders and a 2 s lifetime: %d\n%s" %
               (recycled, log[-3000:]))
        no_errors_in_log(s)
        # idle: a responder unused for over 1 s replaces its connection before the next request
        time.sleep(1.5)
        r = post(s, "/v1/events", event("idle"))
        expect_eq(r.status, 202, "first request after an idle period", r)
        expect(re.search(r"recycled after being idle for DATABASE_MAX_IDLE_SECONDS", s.stderr(50)), "no idle recycle logged:\n%s" % s.stderr(20))
        print("NOTE pgbouncer: %d requests with a 2 s lifetime, %d recycles, 0 errors" % (total, recycled),
              flush=True)


@test(timeout=60)
def prepared_statements_on_a_direct_connection():
    """DATABASE_STATEMENTS=prepared (named statements prepared at connect, for a direct connection
    or a pooler that supports protocol-level prepared statements) still serves every route."""
    direct, pooled = database()
    with Stack(direct, workers=1, env={"DATABASE_SCHEMA": SCHEMA, "DATABASE_STATEMENTS": "prepared"}) as s:
        expect_eq(s.request("GET", "/v1/readyz").status, 200, "readyz with prepared statements")
        for i in range(3):
            r = post(s, "/v1/events", event("prep", i))
            expect_eq(r.status, 202, "event with prepared statements", r)
        r = s.request("GET", summary_path(), headers={"x-admin-key": ADMIN_KEY})
        expect_eq(r.status, 200, "summary with prepared statements", r)
