"""test_origin.py - writes only from the site's own pages (ENFORCE_ORIGIN, API.md §2 CORS) and the
CORS headers a browser client needs (Allow-Credentials, Expose-Headers), through real lighttpd +
responders + Postgres. tests/browser/ checks the same with a real browser.

A POST carrying an Origin that is neither in CORS_ALLOWED_ORIGINS nor the service's own origin is
403 origin_not_allowed and stores nothing at all (no rejection row either); no Origin (a
server-side caller), GETs and ENFORCE_ORIGIN=false are processed as before. The module uses its
own database (`origin`), so row counts are its own."""

import json
import urllib.parse
import uuid

import harness
from harness import ADMIN_KEY, ALLOWED_ORIGIN, OTHER_ALLOWED_ORIGIN, Stack, expect, expect_eq, expect_error, test

DB = "origin"
FOREIGN = ["https://evil.example", "null", ALLOWED_ORIGIN + "/", ALLOWED_ORIGIN.upper(), "http://allowed.example"]
TABLES = ("visitors", "sessions", "events", "leads", "lead_identities", "form_submissions", "consent_events",
          "ingest_rejections")
RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
EXPOSED = ["retry-after", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"]


def pg():
    return harness.shared_postgres()


def db_url():
    return harness.migrated_database(DB)


def main_stack():
    """Enforcement on (the default), lead and event limits off (every request comes from 127.0.0.1)."""
    return harness.shared("origin-main-stack", lambda: Stack(db_url(), workers=2, env={
        "RATE_LIMIT_EVENTS": 0, "RATE_LIMIT_CAPTURE": 0, "RATE_LIMIT_UNSUBSCRIBE": 0, "RATE_LIMIT_DELETE": 0}))


def count(sql_from_where):
    return int(pg().psql("SELECT count(*) FROM " + sql_from_where, db=DB).strip())


lit = harness.sql_lit  # SQL literals for the psql checks


def table_counts():
    return {t: count(t) for t in TABLES}


def uid():
    return uuid.uuid4().hex[:12]


def event_body(a):
    return {"anonId": a, "eventType": "page_view", "path": "/origin-test"}


def lead_fields(email, a):
    return [("email", email), ("anonId", a), ("consentStatus", "express"), ("sourceChannel", "origin-test"),
            ("firstName", "Ada"), ("lastName", "Lovelace"), ("company", "Engines"), ("path", "/thanks")]


def writes(s, origin, tag):
    """Every kind of write a page can make, with this Origin (None: no Origin header). Yields
    (what, Response, anonId or email that would be stored)."""
    h = {} if origin is None else {"Origin": origin}
    a = "o-%s-%s" % (tag, uid())
    yield "JSON event", s.request("POST", "/v1/events", event_body(a), dict(h)), a
    a = "o-%s-%s" % (tag, uid())
    yield "text/plain beacon", s.request("POST", "/v1/events", json.dumps(event_body(a)),
                                         dict(h, **{"Content-Type": "text/plain;charset=UTF-8"})), a
    email = "origin-%s-%s@example.com" % (tag, uid())
    yield "form post", s.request("POST", "/v1/leads/capture", urllib.parse.urlencode(lead_fields(email, uid())),
                                 dict(h, **{"Content-Type": "application/x-www-form-urlencoded"})), email
    email = "origin-%s-%s@example.com" % (tag, uid())
    yield "JSON capture", s.request("POST", "/v1/leads/capture", {"email": email, "anonId": uid(),
                                                                  "consentStatus": "express"}, dict(h)), email


def stored(key):
    if "@" in key:
        return count("leads WHERE email_normalized = %s" % lit(key))
    return count("events e JOIN visitors v ON v.id = e.visitor_id WHERE v.anon_id = %s" % lit(key))


def refused(r, what):
    expect_error(r, 403, "origin_not_allowed")
    expect("Access-Control-Allow-Origin" not in r.headers, "ACAO on the refused %s" % what, r)
    for h in RATE_HEADERS:
        expect(h not in r.headers, "%s on the refused %s (not counted)" % (h, what), r)


@test
def foreign_origin_writes_store_nothing():
    s = main_stack()
    before = table_counts()
    for origin in FOREIGN:
        for what, r, key in writes(s, origin, "foreign"):
            refused(r, "%s from %r" % (what, origin))
            expect_eq(stored(key), 0, "rows of the refused %s from %r" % (what, origin))
        # bodies that would leave a rejection row, and the other write routes
        cases = [
            ("/v1/events", "{", {"Content-Type": "application/json"}),
            ("/v1/events", {"anonId": "short"}, {}),
            ("/v1/leads/capture", "email=not-an-email", {"Content-Type": "application/x-www-form-urlencoded"}),
            ("/v1/leads/capture", {"email": "x"}, {"Content-Type": "text/html"}),
            ("/v1/leads/unsubscribe", {"email": "someone@example.com"}, {}),
            ("/v1/leads/delete", {"email": "someone@example.com"}, {"x-admin-key": ADMIN_KEY}),
        ]
        for path, body, hdrs in cases:
            r = s.request("POST", path, body, dict(hdrs, Origin=origin))
            refused(r, "POST %s %r from %r" % (path, body, origin))
    expect_eq(table_counts(), before, "row counts after the refused writes (rejection rows included)")


@test
def allowed_and_server_side_writes_are_stored():
    s = main_stack()
    for origin in (ALLOWED_ORIGIN, OTHER_ALLOWED_ORIGIN, None, ""):
        for what, r, key in writes(s, origin, "allowed"):
            expect(r.status in (200, 202, 303), "%s from %r: status %d" % (what, origin, r.status), r)
            expect_eq(stored(key), 1, "rows of the %s from %r" % (what, origin))
            if origin:
                expect_eq(r.header("Access-Control-Allow-Origin"), origin, "ACAO", r)


@test
def own_origin_counts_as_allowed():
    s = main_stack()
    own = "http://127.0.0.1:%d" % s.port  # http.client sends Host: 127.0.0.1:<port>
    for what, r, key in writes(s, own, "self"):
        expect(r.status in (200, 202, 303), "%s from the service's own origin: status %d" % (what, r.status), r)
        expect_eq(stored(key), 1, "rows of the %s from the own origin" % what)
        expect("Access-Control-Allow-Origin" not in r.headers, "ACAO for a same-origin request", r)
    # https is the own scheme only when lighttpd says so; a forwarding header from a client that is
    # not a trusted proxy changes nothing
    https_own = "https://127.0.0.1:%d" % s.port
    for hdrs in ({}, {"X-Forwarded-Proto": "https"}, {"X-Forwarded-Proto": "https", "X-Forwarded-For": "10.0.0.1"}):
        a = "o-https-%s" % uid()
        r = s.request("POST", "/v1/events", event_body(a), dict(hdrs, Origin=https_own))
        refused(r, "event from %s with %r" % (https_own, hdrs))
        expect_eq(stored(a), 0, "rows of the refused event")
    # another port on the same host is another origin
    a = "o-port-%s" % uid()
    r = s.request("POST", "/v1/events", event_body(a), {"Origin": "http://127.0.0.1:%d" % (s.port + 1)})
    refused(r, "event from another port")
    # a Host that names the Origin makes a request "own" only for what a browser cannot forge anyway
    a = "o-host-%s" % uid()
    r = s.request("POST", "/v1/events", event_body(a), {"Origin": "http://site.example", "Host": "site.example"})
    expect_eq(r.status, 202, "an Origin equal to scheme + Host", r)


@test
def own_https_origin_behind_a_trusted_proxy():
    # the proxy (here 127.0.0.1, listed in TRUSTED_PROXIES) terminates TLS and says so in
    # X-Forwarded-Proto; lighttpd's mod_extforward applies it and sets HTTPS=on for the responder
    s = harness.shared("origin-proxy-stack", lambda: Stack(db_url(), workers=1, env={
        "TRUSTED_PROXIES": "127.0.0.1", "RATE_LIMIT_EVENTS": 0}))
    own = "https://127.0.0.1:%d" % s.port
    a = "o-proxy-%s" % uid()
    r = s.request("POST", "/v1/events", event_body(a),
                  {"Origin": own, "X-Forwarded-For": "198.51.100.20", "X-Forwarded-Proto": "https"})
    expect_eq(r.status, 202, "own https origin through a trusted proxy", r)
    expect_eq(stored(a), 1, "rows of the event through the proxy")
    a = "o-proxy-%s" % uid()
    r = s.request("POST", "/v1/events", event_body(a),
                  {"Origin": "http://127.0.0.1:%d" % s.port, "X-Forwarded-For": "198.51.100.20",
                   "X-Forwarded-Proto": "https"})
    refused(r, "the http origin of a request the proxy received over https")
    expect_eq(stored(a), 0, "rows of the refused event")


@test
def foreign_reads_are_processed():
    s = main_stack()
    r = s.request("GET", "/v1/readyz", headers={"Origin": "https://evil.example"})
    expect_eq(r.status, 200, "GET /v1/readyz from a foreign origin", r)
    expect("Access-Control-Allow-Origin" not in r.headers, "ACAO for a foreign GET", r)
    r = s.request("HEAD", "/v1/readyz", headers={"Origin": "null"})
    expect_eq(r.status, 200, "HEAD /v1/readyz from Origin null", r)
    r = s.request("GET", "/v1/metrics/summary?from=2026-01-01&to=2026-01-02",
                  headers={"Origin": "https://evil.example", "x-admin-key": ADMIN_KEY})
    expect_eq(r.status, 200, "admin GET with the key and a foreign Origin (a browser page cannot send the key)", r)
    expect("Access-Control-Allow-Origin" not in r.headers, "ACAO for a foreign admin GET", r)
    # and the preflight a page would need to send the key is refused
    r = s.request("OPTIONS", "/v1/metrics/summary", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "x-admin-key"})
    expect_error(r, 403, "origin_not_allowed")


@test
def refused_writes_do_not_count_against_the_limit():
    s = harness.shared("origin-limited-stack", lambda: Stack(db_url(), workers=1, env={"RATE_LIMIT_EVENTS": 2}))
    for _ in range(5):
        r = s.request("POST", "/v1/events", event_body("o-lim-%s" % uid()), {"Origin": "https://evil.example"})
        refused(r, "event from a foreign origin")
    r = s.request("POST", "/v1/events", event_body("o-lim-%s" % uid()), {"Origin": ALLOWED_ORIGIN})
    expect_eq(r.status, 202, "the first allowed event", r)
    expect_eq(r.header("X-RateLimit-Remaining"), "1", "X-RateLimit-Remaining after five refused writes", r)


@test
def enforce_origin_false_processes_foreign_writes():
    s = harness.shared("origin-off-stack", lambda: Stack(db_url(), workers=1, env={
        "ENFORCE_ORIGIN": "false", "RATE_LIMIT_EVENTS": 0, "RATE_LIMIT_CAPTURE": 0}))
    for what, r, key in writes(s, "https://evil.example", "off"):
        expect(r.status in (200, 202, 303), "%s with ENFORCE_ORIGIN=false: status %d" % (what, r.status), r)
        expect_eq(stored(key), 1, "rows of the %s with ENFORCE_ORIGIN=false" % what)
        expect("Access-Control-Allow-Origin" not in r.headers, "ACAO for a foreign origin", r)


@test
def enforce_origin_bad_value_stops_start():
    env = harness.service_env(db_url(), {"ENFORCE_ORIGIN": "sometimes"})
    r = harness.backend(["check-config"], env)
    expect(r.returncode != 0, "check-config accepted ENFORCE_ORIGIN=sometimes")
    expect("ENFORCE_ORIGIN" in r.stderr, "the error names ENFORCE_ORIGIN: %r" % r.stderr)
    r = harness.backend(["check-config"], harness.service_env(db_url()))
    expect_eq(r.returncode, 0, "check-config rc with the default (%s)" % r.stderr)
    expect("ENFORCE_ORIGIN=true" in r.stdout, "check-config prints ENFORCE_ORIGIN=true: %r" % r.stdout)


def exposed(r):
    return [v.strip().lower() for v in r.header("Access-Control-Expose-Headers", "").split(",") if v.strip()]


@test
def cors_headers_a_browser_client_needs():
    s = harness.shared("origin-limited-stack", lambda: Stack(db_url(), workers=1, env={"RATE_LIMIT_EVENTS": 2}))
    # the preflight of sendBeacon with an application/json Blob (credentials mode "include")
    r = s.request("OPTIONS", "/v1/events", headers={"Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "POST",
                                                    "Access-Control-Request-Headers": "content-type"})
    expect_eq(r.status, 204, "preflight", r)
    expect_eq(r.header("Access-Control-Allow-Origin"), ALLOWED_ORIGIN, "preflight ACAO (never *)", r)
    expect_eq(r.header("Access-Control-Allow-Credentials"), "true", "preflight Allow-Credentials", r)
    # answers: credentials allowed, back-off headers readable, on a 202 and on the 429
    saw_429 = False
    for _ in range(4):
        r = s.request("POST", "/v1/events", event_body("o-cors-%s" % uid()), {"Origin": ALLOWED_ORIGIN})
        expect_eq(r.header("Access-Control-Allow-Credentials"), "true", "Allow-Credentials on a %d" % r.status, r)
        expect_eq(sorted(exposed(r)), EXPOSED, "Access-Control-Expose-Headers on a %d" % r.status, r)
        if r.status == 429:
            saw_429 = True
            expect(r.header("Retry-After") is not None, "Retry-After on the 429", r)
    expect(saw_429, "no 429 after four events with RATE_LIMIT_EVENTS=2")
    # no credentials or exposed headers for a foreign origin or without Origin
    for h in ({"Origin": "https://evil.example"}, {}):
        r = s.request("GET", "/v1/readyz", headers=h)
        for name in ("Access-Control-Allow-Credentials", "Access-Control-Expose-Headers"):
            expect(name not in r.headers, "%s with %r" % (name, h), r)
