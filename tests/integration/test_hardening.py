"""test_hardening.py - issue 11 (hardening), the domain items, through real lighttpd + responders +
Postgres: no 500 after a committed capture (item 4), one form_submit event per capture (item 6), no
personal data in stored paths and referrers (item 7), pinned search_path of every SQL function and
bounded metrics (item 9), and the client's eventId as the idempotency key of an event (item 10).

The module uses its own database (`hardening`, migrated once), so its row counts are its own."""

import json
import os
import signal
import threading
import time
import urllib.parse
import uuid

import harness
from harness import ALLOWED_ORIGIN, Fail, Stack, expect, expect_eq, expect_error, service_env, test

DB = "hardening"
CAPTURE = "/v1/leads/capture"
EVENTS = "/v1/events"
FORM_CT = "application/x-www-form-urlencoded"
UA = "itest-hardening/1.0 (X11; Linux x86_64)"


def pg():
    return harness.shared_postgres()


def db_url():
    return harness.migrated_database(DB)


def main_stack():
    return harness.shared("hardening-main-stack", lambda: Stack(db_url(), workers=2, env={
        "RATE_LIMIT_CAPTURE": 0, "RATE_LIMIT_EVENTS": 0}))


def uid():
    return uuid.uuid4().hex[:12]


lit = harness.sql_lit  # SQL literals for the psql checks


def rows(sql, db=DB):
    out = pg().psql("SELECT coalesce(json_agg(t), '[]'::json) FROM (%s) t" % sql, db=db).strip()
    return json.loads(out)


def scalar(sql, db=DB):
    return pg().psql(sql, db=db).strip()


def count(sql_from_where, db=DB):
    return int(scalar("SELECT count(*) FROM " + sql_from_where, db=db))


def post(s, path, body, headers=None, content_type=None):
    h = {"User-Agent": UA}
    if content_type:
        h["Content-Type"] = content_type
    h.update(headers or {})
    return s.request("POST", path, body, headers=h)


def form_post(s, fields, headers=None):
    return post(s, CAPTURE, urllib.parse.urlencode(fields).encode(), headers, content_type=FORM_CT)


def wait_for_dedupe_bucket(need_s=3.0):
    """Sleeps until the current 30-second dedupe bucket has at least need_s seconds left."""
    left = 30 - (time.time() % 30)
    if left < need_s:
        time.sleep(left + 0.2)


# =============================================================================================
# item 4: a form post whose Location would not fit the header limit is never a 500 after a commit

@test
def form_post_long_path_redirects_after_commit():
    s = main_stack()
    for origin, want in ((None, "/"), (ALLOWED_ORIGIN, ALLOWED_ORIGIN + "/")):
        email, a = "long-%s@example.com" % uid(), "anon-long-%s" % uid()
        path = "/" + "p" * 2000  # 2,001 characters: a valid path, too long for the Location header
        r = form_post(s, [("email", email), ("anonId", a), ("path", path)],
                      headers={"Origin": origin} if origin else None)
        expect_eq(r.status, 303, "form post with a 2,001-character path (origin %s)" % origin, r)
        expect_eq(r.header("Location"), want, "Location falls back to the site root", r)
        expect_eq(count("leads WHERE email_normalized = %s" % lit(email)), 1, "leads written")
        expect_eq(count("form_submissions f JOIN leads l ON l.id = f.lead_id WHERE l.email_normalized = %s"
                        % lit(email)), 1, "submissions written")
    # a long query string goes, the path stays
    email = "longq-%s@example.com" % uid()
    r = form_post(s, [("email", email), ("anonId", "anon-longq-%s" % uid()), ("path", "/thanks?" + "q" * 1500)])
    expect_eq((r.status, r.header("Location")), (303, "/thanks"), "a long query string is dropped", r)


# =============================================================================================
# item 9: every SQL function pins search_path, in public and in another DATABASE_SCHEMA

UNPINNED_SQL = """
SELECT p.oid::regprocedure::text AS fn, p.proconfig::text AS config
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = %s AND p.prokind IN ('f', 'p')
   AND NOT EXISTS (SELECT 1 FROM pg_depend d
                    WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
   AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c
                    WHERE c = 'search_path=' || quote_ident(%s) || ', pg_catalog, pg_temp')
 ORDER BY 1"""


def functions_of(schema, db):
    return scalar("SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                  "WHERE n.nspname = %s AND p.prokind IN ('f', 'p')" % lit(schema), db=db)


@test(timeout=120)
def sql_functions_pin_search_path():
    url = db_url()
    expect(int(functions_of("public", DB)) >= 7, "functions in public: %s" % functions_of("public", DB))
    bad = rows(UNPINNED_SQL % (lit("public"), lit("public")))
    expect_eq(bad, [], "functions of schema public without search_path = public, pg_catalog, pg_temp")

    # another schema, mixed case: the pin names that schema, and the functions still work there
    pg().create_db("hardschema")
    env = service_env(pg().url("hardschema"), {"DATABASE_SCHEMA": "Hard Mkt"})
    r = harness.migrate(env)
    expect_eq(r.returncode, 0, "migrate into schema \"Hard Mkt\" (stdout %s stderr %s)" % (r.stdout[-400:],
                                                                                        r.stderr[-400:]))
    expect(int(functions_of("Hard Mkt", "hardschema")) >= 7, "functions in schema Hard Mkt")
    bad = rows(UNPINNED_SQL % (lit("Hard Mkt"), lit("Hard Mkt")), db="hardschema")
    expect_eq(bad, [], "functions of schema \"Hard Mkt\" without a pinned search_path")
    expect_eq(functions_of("public", "hardschema"), "0", "functions created in public instead")
    with Stack(pg().url("hardschema"), env={"DATABASE_SCHEMA": "Hard Mkt"}, workers=1) as s:
        r = post(s, EVENTS, {"anonId": "hard-schema-1", "eventType": "page_view", "path": "/"})
        expect_eq(r.status, 202, "an event into schema Hard Mkt", r)
        r = post(s, CAPTURE, {"email": "hs-%s@example.com" % uid(), "anonId": "hard-schema-1"})
        expect_eq(r.status, 200, "a capture into schema Hard Mkt", r)
    expect_eq(scalar('SELECT count(*) FROM "Hard Mkt".events', db="hardschema"), "2", "events in Hard Mkt")
    # a caller whose own search_path names no schema at all still reaches the tables
    out = scalar("SET search_path = pg_catalog; SELECT deduplicated FROM \"Hard Mkt\".ingest_event("
                 "'hard-schema-2', now()::timestamp(3), 'ip', 'ua', 'page_view', '/', NULL, NULL, NULL, NULL, "
                 "NULL, NULL, 30, gen_random_uuid()::text, gen_random_uuid()::text, gen_random_uuid()::text, "
                 "'[\"v1\",', ',\"x\"]', NULL, 'p', 'direct', 'desktop', NULL, true, false, false)",
                 db="hardschema")
    expect_eq(out, "f", "ingest_event called with search_path = pg_catalog")


# ---- item 9: absurd metrics are a 400 and are not stored

def issue_paths(r):
    expect(isinstance(r.json, dict) and isinstance(r.json.get("issues"), list), "no issues list", r)
    return sorted(set(i["path"] for i in r.json["issues"]))


@test
def absurd_metrics_are_refused():
    s = main_stack()
    a = "anon-metric-%s" % uid()
    cases = [
        ({"props": {"ttfbMs": 1e308}}, "props.ttfbMs"),
        ({"props": {"lcpMs": -5}}, "props.lcpMs"),
        ({"props": {"clsScore": "Infinity"}}, "props.clsScore"),
        ({"props": {"engagedTimeMs": 1e20}}, "props.engagedTimeMs"),
        ({"traffic": {"webVitals": {"ttfbMs": 1e308}}}, "traffic.webVitals.ttfbMs"),
        ({"traffic": {"webVitals": {"ttfbMs": "1e308"}}}, "traffic.webVitals.ttfbMs"),
        ({"traffic": {"webVitals": {"clsScore": 1e308}}}, "traffic.webVitals.clsScore"),
    ]
    for extra, path in cases:
        body = {"anonId": a, "eventType": "page_view", "path": "/m"}
        body.update(extra)
        r = post(s, EVENTS, body)
        expect_error(r, 400, "invalid_request", extra=True)
        expect_eq(issue_paths(r), [path], "issue paths for %r" % (extra,), r)
    # 1e309 is not even a double: the JSON itself is refused
    r = post(s, EVENTS, b'{"anonId":"%s","eventType":"page_view","path":"/m","props":{"ttfbMs":1e309}}' % a.encode(),
             content_type="application/json")
    expect_eq(r.status, 400, "ttfbMs 1e309", r)
    expect_eq(count("events e JOIN visitors v ON v.id = e.visitor_id WHERE v.anon_id = %s" % lit(a)), 0,
              "events stored from absurd metrics")
    # in bounds, and a props metric that traffic overrides, are stored as before
    r = post(s, EVENTS, {"anonId": a, "eventType": "page_view", "path": "/m", "props": {"ttfbMs": 800, "lcpMs": "x"},
                         "traffic": {"webVitals": {"lcpMs": 2500}}})
    expect_eq(r.status, 202, "metrics in bounds", r)
    got = rows("SELECT e.props FROM events e JOIN visitors v ON v.id = e.visitor_id WHERE v.anon_id = %s" % lit(a))
    expect_eq(got, [{"props": {"ttfbMs": 800, "lcpMs": 2500}}], "stored props")


# =============================================================================================
# item 7: no personal data in stored paths and referrers

def pg_dump(db=DB):
    p = pg()
    r = p._pg("pg_dump", "--data-only", "-h", p.sockdir, "-p", str(p.port), "-U", "postgres", "-d", db)
    if r.returncode != 0:
        raise Fail("pg_dump failed: %s" % r.stderr[-800:])
    return r.stdout


@test
def stored_paths_hold_no_query_strings():
    s = main_stack()
    zed = "zed-%s@example.com" % uid()
    enc = urllib.parse.quote(zed, safe="")
    a = "anon-strip-%s" % uid()
    r = post(s, EVENTS, {"anonId": a, "eventType": "page_view", "path": "/x?email=%s#f" % zed,
                         "referrer": "https://%s:pw@mail.example/inbox?to=%s#m" % (zed.split("@")[0], enc),
                         "utm": {"source": "newsletter", "medium": "email"}})
    expect_eq(r.status, 202, "event", r)
    r = post(s, EVENTS, {"anonId": a, "eventType": "click", "path": "https://site.example/y?e=%s" % enc})
    expect_eq(r.status, 202, "event with a full URL as path", r)
    lead = "lead-%s@example.com" % uid()
    r = post(s, CAPTURE, {"email": lead, "anonId": a, "path": "/signup?email=%s" % zed,
                          "referrer": "https://www.google.com/search?q=%s" % enc})
    expect_eq(r.status, 200, "capture", r)
    r = form_post(s, [("email", lead), ("anonId", a), ("path", "/thanks?email=%s" % zed),
                      ("referrer", "https://news.example/?u=%s" % zed)])
    expect_eq(r.status, 303, "form post", r)
    expect_eq(r.header("Location"), "/thanks?email=%s" % zed, "the redirect keeps the page's query (not stored)", r)

    dump = pg_dump()
    for needle in (zed, enc, zed.split("@")[0]):
        expect(needle not in dump, "%r stored somewhere: %s" % (
            needle, [l[:200] for l in dump.splitlines() if needle in l][:5]))
    ev = rows("SELECT e.event_type, e.path, e.traffic_source::text AS src FROM events e JOIN visitors v "
              "ON v.id = e.visitor_id WHERE v.anon_id = %s ORDER BY e.created_at, e.event_type" % lit(a))
    expect_eq(sorted((e["event_type"], e["path"]) for e in ev),
              [("click", "https://site.example/y"), ("form_submit", "/signup"), ("form_submit", "/thanks"),
               ("page_view", "/x")], "stored paths")
    sess = rows("SELECT s.landing_path, s.referrer, s.utm_source, s.utm_medium FROM sessions s JOIN visitors v "
                "ON v.id = s.visitor_id WHERE v.anon_id = %s ORDER BY s.started_at" % lit(a))
    expect_eq(sess[0], {"landing_path": "/x", "referrer": "https://mail.example/inbox", "utm_source": "newsletter",
                        "utm_medium": "email"}, "first session: stripped, UTM kept")
    expect(all("?" not in (x["referrer"] or "") for x in sess), "a session referrer with a query: %r" % sess)
    expect_eq(ev[0]["src"] if ev[0]["event_type"] == "page_view" else "email", "email", "traffic source")
    # the referrer's host still decides the source: google → organic_search
    src = scalar("SELECT e.traffic_source FROM events e JOIN visitors v ON v.id = e.visitor_id "
                 "WHERE v.anon_id = %s AND e.path = '/signup'" % lit(a))
    expect_eq(src, "organic_search", "traffic source of the capture (from the full referrer)")


@test
def path_query_allowlist_keeps_named_keys():
    with Stack(db_url(), workers=1, env={"PATH_QUERY_ALLOWLIST": "page, lang", "RATE_LIMIT_EVENTS": 0}) as s:
        a = "anon-allow-%s" % uid()
        zed = "zed-%s@example.com" % uid()
        r = post(s, EVENTS, {"anonId": a, "eventType": "page_view",
                             "path": "/list?email=%s&page=2&lang=de#x" % zed})
        expect_eq(r.status, 202, "event", r)
        got = scalar("SELECT e.path FROM events e JOIN visitors v ON v.id = e.visitor_id WHERE v.anon_id = %s"
                     % lit(a))
        expect_eq(got, "/list?page=2&lang=de", "path with the allowed keys")
        expect(zed not in pg_dump(), "the email was stored")
        r = harness.backend(["check-config"], s.env)
        expect("PATH_QUERY_ALLOWLIST=page,lang" in r.stdout, "check-config prints the setting: %s" % r.stdout[-500:])
    r = harness.backend(["check-config"], service_env(db_url(), {"PATH_QUERY_ALLOWLIST": "a=b"}))
    expect(r.returncode != 0 and "PATH_QUERY_ALLOWLIST" in r.stderr + r.stdout,
           "a bad PATH_QUERY_ALLOWLIST stops the process naming it: rc %d %s" % (r.returncode, r.stderr[-300:]))


@test
def distinct_queries_stay_distinct_events():
    """The dedupe key uses the stored path plus an HMAC of what was stripped: two views of one path
    with different queries in one bucket stay two events; an exact repeat is deduplicated."""
    s = main_stack()
    a = "anon-dq-%s" % uid()
    wait_for_dedupe_bucket(5)
    ids = []
    for q in ("a", "b", "a"):
        r = post(s, EVENTS, {"anonId": a, "eventType": "page_view", "path": "/search?q=" + q})
        expect_eq(r.status, 202, "event", r)
        ids.append(r.json["eventId"])
    expect(ids[0] != ids[1], "different queries were deduplicated into one event")
    expect_eq(ids[2], ids[0], "the exact repeat's eventId")
    expect_eq(count("events e JOIN visitors v ON v.id = e.visitor_id WHERE v.anon_id = %s" % lit(a)), 2, "events")



# =============================================================================================
# item 6: one form_submit event per accepted capture; an exact retry writes nothing twice

TABLES = ("visitors", "sessions", "events", "leads", "lead_identities", "form_submissions", "consent_events")


def table_counts():
    return {t: count(t) for t in TABLES}


@test
def each_capture_gets_its_own_event():
    s = main_stack()
    a = "anon-cap-%s" % uid()
    wait_for_dedupe_bucket(8)
    first = {"email": "one-%s@example.com" % uid(), "anonId": a, "path": "/signup", "formName": "demo"}
    second = dict(first, email="two-%s@example.com" % uid())
    r1 = post(s, CAPTURE, first)
    expect_eq(r1.status, 200, "first capture", r1)
    time.sleep(2)
    r2 = post(s, CAPTURE, second)
    expect_eq(r2.status, 200, "second capture, 2 s later, another email", r2)
    vid = r1.json["visitorId"]
    expect_eq(count("leads WHERE email_normalized IN (%s, %s)" % (lit(first["email"]), lit(second["email"]))), 2,
              "leads")
    expect_eq(count("form_submissions WHERE visitor_id = %s" % lit(vid)), 2, "form submissions")
    expect_eq(count("events WHERE visitor_id = %s AND event_type = 'form_submit'" % lit(vid)), 2,
              "form_submit events (one per accepted capture)")
    # another payload or consent is another capture too
    third = dict(second, payload={"company": "Acme"})
    r3 = post(s, CAPTURE, third)
    expect_eq(r3.status, 200, "third capture: the second's email with a payload", r3)
    expect_eq(count("events WHERE visitor_id = %s AND event_type = 'form_submit'" % lit(vid)), 3,
              "form_submit events after a capture with a payload")
    # an exact repeat (the browser sends the same request again) makes no second event; the capture
    # itself is recorded again (API.md: every capture leaves a submission and a consent row)
    before = table_counts()
    r4 = post(s, CAPTURE, third)
    expect_eq(r4.status, 200, "exact repeat", r4)
    expect_eq((r4.json["leadId"], r4.json["visitorId"], r4.json["sessionId"]),
              (r3.json["leadId"], r3.json["visitorId"], r3.json["sessionId"]), "the repeat's answer")
    after = table_counts()
    expect_eq({t: after[t] - before[t] for t in TABLES},
              {"visitors": 0, "sessions": 0, "events": 0, "leads": 0, "lead_identities": 0, "form_submissions": 1,
               "consent_events": 1}, "rows added by an exact repeat")


# =============================================================================================
# item 10: the client's eventId is the idempotency key of an event

def events_of(anon_id):
    return count("events e JOIN visitors v ON v.id = e.visitor_id WHERE v.anon_id = %s" % lit(anon_id))


@test(timeout=90)
def event_id_retry_after_a_5xx_stores_one_row():
    """The first request's INSERT waits on a lock; its responder is SIGKILLed (lighttpd answers 5xx);
    the lock goes and Postgres commits the orphaned statement. The client retries the same body
    later (here: in the next 30-second dedupe bucket, as a retry after a backoff would): 202 and
    still one row."""
    with Stack(db_url(), workers=1, env={"RATE_LIMIT_EVENTS": 0}) as s:
        a = "anon-eid-%s" % uid()
        eid = str(uuid.uuid4())
        body = {"anonId": a, "eventType": "page_view", "path": "/retry", "eventId": eid}
        locker = harness.PsqlSession(pg(), DB)
        result = {}
        try:
            locker.send("BEGIN; LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE; SELECT 'lock-' || 'held';")
            expect(locker.wait_for("lock-held", 10), "psql could not take the lock")
            responder = s.responder_pids()[0]
            sent_at = time.time()

            def send():
                try:
                    result["r"] = post(s, EVENTS, body)
                except Exception as e:  # the connection may be cut
                    result["e"] = e

            t = threading.Thread(target=send, daemon=True)
            t.start()
            harness.wait_until(lambda: scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock' "
                "AND query LIKE %s" % (lit(DB), lit("%ingest_event%"))) == "1", 1.0, 0.01,
                "the event's statement to wait on the lock")
            os.kill(responder, signal.SIGKILL)
            harness.wait_until(lambda: not harness.proc_alive(responder), 2, 0.005, "the responder to die")
        finally:
            if locker.p.poll() is None:
                locker.send("ROLLBACK;")
            locker.close()
        t.join(15)
        r = result.get("r")
        expect(r is not None and r.status >= 500, "the first request's answer: %r" % (r or result.get("e")))
        harness.wait_until(lambda: events_of(a) == 1, 5, 0.05, "Postgres to commit the orphaned event")
        # a retry in another dedupe bucket: without eventId, another key
        wait = 30 - (sent_at % 30) + 0.3
        time.sleep(wait)
        harness.wait_until(lambda: s.responder_pids(), 5, 0.05, "lighttpd to respawn the responder")
        r2 = post(s, EVENTS, body)
        expect_eq(r2.status, 202, "the retry", r2)
        expect_eq(events_of(a), 1, "events after the retry with the same eventId")
        stored = scalar("SELECT e.id FROM events e JOIN visitors v ON v.id = e.visitor_id WHERE v.anon_id = %s"
                        % lit(a))
        expect_eq(r2.json["eventId"], stored, "the retry answers with the stored event's id")


@test
def event_id_rules():
    s = main_stack()
    a = "anon-eidr-%s" % uid()
    eid = str(uuid.uuid4())
    r = post(s, EVENTS, {"anonId": a, "eventType": "page_view", "path": "/", "eventId": "not-a-uuid"})
    expect_error(r, 400, "invalid_request", extra=True)
    expect_eq(issue_paths(r), ["eventId"], "issue paths", r)
    r1 = post(s, EVENTS, {"anonId": a, "eventType": "page_view", "path": "/", "eventId": eid})
    expect_eq(r1.status, 202, "first", r1)
    expect(r1.json["eventId"] != eid, "the response's eventId is the server's id of the row")
    # the same eventId in upper case with another body and time: the same event, nothing written
    before = table_counts()
    r2 = post(s, EVENTS, {"anonId": a, "eventType": "click", "path": "/other", "eventId": eid.upper(),
                          "timestamp": "2026-01-01T00:00:00Z"})
    expect_eq(r2.status, 202, "repeat", r2)
    expect_eq((r2.json["eventId"], r2.json["visitorId"], r2.json["sessionId"]),
              (r1.json["eventId"], r1.json["visitorId"], r1.json["sessionId"]), "the repeat's ids")
    expect_eq(table_counts(), before, "row counts after a repeated eventId")
    # the same eventId from another visitor is another event
    b = "anon-eidr2-%s" % uid()
    r3 = post(s, EVENTS, {"anonId": b, "eventType": "page_view", "path": "/", "eventId": eid})
    expect_eq(r3.status, 202, "another anonId", r3)
    expect(r3.json["eventId"] != r1.json["eventId"], "another visitor's event was returned")
    expect_eq(events_of(b), 1, "events of the other visitor")
    # without eventId nothing changes: an identical body in one bucket is still deduplicated
    wait_for_dedupe_bucket(3)
    x = post(s, EVENTS, {"anonId": a, "eventType": "scroll", "path": "/"})
    y = post(s, EVENTS, {"anonId": a, "eventType": "scroll", "path": "/"})
    expect_eq(y.json["eventId"], x.json["eventId"], "dedupe without eventId")
