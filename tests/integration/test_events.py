"""test_events.py - POST /v1/events through real lighttpd + responders + Postgres: the 202 answer
and the stored rows (events, visitors, sessions), enrichment, hashing, session continuation and
rotation, dedupe, validation (every rule, both sides of every limit), content types and body size,
ingest_rejections, the honeypot, CORS, the rate limit and a database outage.
API.md sections 1, 2 and 3 (`POST /v1/events`); schema-reference.md.

The module uses its own database (`itevents`, migrated once), so row counts and the dump of every
table see only what these tests wrote. Tests run one after another in file order."""

import datetime
import hashlib
import hmac
import json
import re
import time
import uuid

import harness
from harness import (ALLOWED_ORIGIN, OTHER_ALLOWED_ORIGIN, PEPPER, Fail, Stack, expect, expect_eq,
                     expect_error, test)

DB = "itevents"
JSON_CT = "application/json; charset=utf-8"
HOST = "api.events.test"  # sent by default, so that no row ever gets a property id from 127.0.0.1
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
HEX64_RE = re.compile(r"[0-9a-f]{64}")
CLIENT_IP = "127.0.0.1"
UA_MOBILE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"


# ---- shared resources

def pg():
    return harness.shared_postgres()


def db_url():
    """This module's own database, created and migrated once per run."""
    return harness.migrated_database(DB)


def main_stack():
    # the events limit is off here: the validation tests alone send far more than 180 a minute
    return harness.shared("events-main-stack",
                          lambda: Stack(db_url(), workers=4, env={"RATE_LIMIT_EVENTS": 0}))


def many_origins_stack():
    """ENFORCE_ORIGIN=false, as for a site that posts from many origins: the site-host rules read
    Origins that are not allowlisted (test_origin.py checks the enforcement itself)."""
    return harness.shared("events-many-origins-stack", lambda: Stack(db_url(), workers=1, env={
        "RATE_LIMIT_EVENTS": 0, "ENFORCE_ORIGIN": "false"}))


def label_stack():
    """BOT_POLICY=label: the old behaviour, where events without a User-Agent or from a bot are stored
    (labelled device_type bot) rather than dropped (test_privacy.py checks the drop)."""
    return harness.shared("events-label-stack", lambda: Stack(db_url(), workers=1, env={
        "RATE_LIMIT_EVENTS": 0, "BOT_POLICY": "label"}))


def sql(q):
    return pg().psql(q, db=DB)


def lit(s):
    return "'" + str(s).replace("'", "''") + "'"


def rows(query):
    """The rows of query as a list of dicts (through json_agg: timestamps as ISO without zone)."""
    out = sql("SELECT coalesce(json_agg(x), '[]'::json) FROM (%s) x" % query).strip()
    return json.loads(out)


def one(query):
    r = rows(query)
    if len(r) != 1:
        raise Fail("expected exactly one row from %s, got %d: %r" % (query, len(r), r[:5]))
    return r[0]


def scalar(query):
    return sql(query).strip()


def count(query):
    return int(scalar("SELECT count(*) FROM (%s) x" % query))


def tables():
    return scalar("SELECT string_agg(table_name, ' ' ORDER BY table_name) FROM information_schema.tables "
                  "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'").split()


def table_counts():
    names = tables()
    q = " UNION ALL ".join("SELECT %s, count(*) FROM \"%s\"" % (lit(t), t) for t in names)
    return dict((l.split("|")[0], int(l.split("|")[1])) for l in sql(q).splitlines() if "|" in l)


def rejections():
    return {r["id"]: r for r in rows("SELECT id, property_id, endpoint, reason, status_code, occurred_at "
                                     "FROM ingest_rejections")}


def new_rejections(before):
    return [r for k, r in rejections().items() if k not in before]


def hmac_hex(msg):
    return hmac.new(PEPPER.encode(), msg.encode(), hashlib.sha256).hexdigest()


def anon(tag):
    return "it-%s-%s" % (tag, uuid.uuid4().hex[:12])


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def iso(dt):
    """Naive UTC datetime -> ISO-8601 with milliseconds and Z."""
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


def epoch_ms(dt):
    return int(round(dt.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000))


def dbts(s):
    """A timestamp(3) value as json_agg renders it -> naive datetime."""
    if s is None:
        return None
    return datetime.datetime.fromisoformat(s)


def body(a=None, **kw):
    b = {"anonId": a or anon("b"), "eventType": "page_view", "path": "/"}
    b.update(kw)
    return b


def post(b, headers=None, stack=None, content_type="application/json", timeout=10):
    """POST /v1/events. b: a dict (sent as UTF-8 JSON, key order kept), str or bytes (sent as is).
    Host is api.events.test unless headers say otherwise; a header whose value is None is left out."""
    s = stack or main_stack()
    h = {"Host": HOST}
    if content_type is not None:
        h["Content-Type"] = content_type
    h.update(headers or {})
    # None is left out; the harness reads User-Agent: None as "send none" (else a browser's)
    h = {k: v for k, v in h.items() if v is not None or k.lower() == "user-agent"}
    if isinstance(b, (dict, list)):
        data = json.dumps(b, ensure_ascii=False).encode("utf-8")
    elif isinstance(b, str):
        data = b.encode("utf-8")
    else:
        data = b
    return s.request("POST", "/v1/events", data, h, timeout=timeout)


def accepted(r):
    """r is 202 {"ok":true,"eventId","visitorId","sessionId"} with UUID ids; returns the JSON."""
    expect_eq(r.status, 202, "status", r)
    expect_eq(r.header("Content-Type"), JSON_CT, "content-type", r)
    expect(r.body.startswith(b'{"ok":true'), 'success body must start with "ok": true', r)
    expect(isinstance(r.json, dict), "body is not a JSON object", r)
    expect_eq(sorted(r.json), ["eventId", "ok", "sessionId", "visitorId"], "body keys", r)
    expect_eq(r.json["ok"], True, "ok", r)
    for k in ("eventId", "visitorId", "sessionId"):
        v = r.json[k]
        expect(isinstance(v, str) and UUID_RE.fullmatch(v), "%s is not a lowercase UUID string: %r" % (k, v), r)
    return r.json


def ingest(b, headers=None, stack=None, content_type="application/json"):
    return accepted(post(b, headers, stack, content_type))


def expect_issues(r, paths):
    """400 invalid_request whose issues have exactly these paths (as a multiset)."""
    expect_error(r, 400, "invalid_request", extra=True)
    expect_eq(sorted(r.json), ["error", "issues", "ok"], "body keys", r)
    issues = r.json["issues"]
    expect(isinstance(issues, list) and issues, "issues must be a non-empty list", r)
    for i in issues:
        expect(isinstance(i, dict) and isinstance(i.get("path"), str) and isinstance(i.get("message"), str)
               and i["message"], "malformed issue %r" % (i,), r)
    expect_eq(sorted(i["path"] for i in issues), sorted(paths), "issue paths", r)


def event_row(event_id):
    return one("SELECT * FROM events WHERE id = %s" % lit(event_id))


def session_row(session_id):
    return one("SELECT * FROM sessions WHERE id = %s" % lit(session_id))


def visitor_row(visitor_id):
    return one("SELECT * FROM visitors WHERE id = %s" % lit(visitor_id))


def events_of(anon_id):
    return rows("SELECT e.* FROM events e JOIN visitors v ON v.id = e.visitor_id WHERE v.anon_id = %s "
                "ORDER BY e.\"timestamp\", e.created_at" % lit(anon_id))


def sessions_of(anon_id):
    return rows("SELECT s.* FROM sessions s JOIN visitors v ON v.id = s.visitor_id WHERE v.anon_id = %s "
                "ORDER BY s.started_at" % lit(anon_id))


def vary_has_origin(r):
    return "origin" in [v.strip().lower() for v in r.header("Vary", "").split(",")]


def near_now(dt, what, slack=10):
    now = utcnow()
    expect(dt is not None and abs((now - dt).total_seconds()) <= slack,
           "%s = %s is not within %d s of now (%s UTC)" % (what, dt, slack, now))


# ---- the accepted event and its row

@test
def accepted_event_and_row():
    a = anon("happy")
    b = body(a, eventType="page_view", path="/pricing?plan=pro", timestamp="2026-03-01T10:00:00+02:00",
             referrer="https://www.google.co.uk/search?q=x",
             traffic={"countryCode": "de", "scrollDepthPercent": 40,
                      "webVitals": {"lcpMs": "2500", "clsScore": 0.1}},
             props={"plan": "pro", "lcpMs": 1, "nested": {"k": [1, "two", None, True]}})
    r = post(b, {"Origin": ALLOWED_ORIGIN, "User-Agent": UA_MOBILE})
    j = accepted(r)
    expect_eq(r.header("Access-Control-Allow-Origin"), ALLOWED_ORIGIN, "Access-Control-Allow-Origin", r)
    e = event_row(j["eventId"])
    expect_eq(e["visitor_id"], j["visitorId"], "events.visitor_id = visitorId")
    expect_eq(e["session_id"], j["sessionId"], "events.session_id = sessionId")
    expect_eq(e["event_type"], "page_view", "event_type")
    expect_eq(e["path"], "/pricing", "path (stored without its query string)")
    expect_eq(dbts(e["timestamp"]), datetime.datetime(2026, 3, 1, 8, 0, 0),
              "timestamp (2026-03-01T10:00:00+02:00 in UTC)")
    expect_eq(e["property_id"], "allowed.example", "property_id (the Origin host)")
    expect_eq(e["traffic_source"], "organic_search", "traffic_source (referrer www.google.co.uk)")
    expect_eq(e["device_type"], "mobile", "device_type (iPhone user agent)")
    expect_eq(e["country_code"], "DE", "country_code (upper-cased)")
    expect_eq((e["is_entrance"], e["is_exit"], e["is_conversion"]), (True, False, False),
              "is_entrance/is_exit/is_conversion of a page_view")
    expect_eq(e["props"], {"plan": "pro", "lcpMs": 2500, "clsScore": 0.1, "scrollDepthPercent": 40,
                           "nested": {"k": [1, "two", None, True]}},
              "props (body props + traffic metrics, traffic wins, coerced \"2500\" stored as a number)")
    expect_eq(e["ip_hash"], hmac_hex(CLIENT_IP), "ip_hash = HMAC-SHA256(pepper, client IP)")
    expect_eq(e["ua_hash"], hmac_hex(UA_MOBILE), "ua_hash = HMAC-SHA256(pepper, User-Agent)")
    expect(isinstance(e["dedupe_key"], str) and HEX64_RE.fullmatch(e["dedupe_key"]),
           "dedupe_key is not 64 lowercase hex: %r" % e["dedupe_key"])
    near_now(dbts(e["created_at"]), "events.created_at")
    v = visitor_row(j["visitorId"])
    expect_eq(v["anon_id"], a, "visitors.anon_id")
    s = session_row(j["sessionId"])
    expect_eq(s["visitor_id"], j["visitorId"], "sessions.visitor_id")
    expect_eq(count("SELECT 1 FROM events WHERE visitor_id = %s" % lit(j["visitorId"])), 1, "events of the visitor")


@test
def property_id_sources():
    cases = [
        # (traffic.propertyId, headers, expected property_id)
        ("  prop-explicit  ", {"Origin": ALLOWED_ORIGIN}, "prop-explicit"),
        (None, {"Origin": "https://www.Example.com:8443"}, "example.com"),
        (None, {"Origin": ALLOWED_ORIGIN}, "allowed.example"),
        (None, {"Origin": OTHER_ALLOWED_ORIGIN}, "also-allowed.example"),
        (None, {"Origin": "http://WWW.www.Double.example"}, "www.double.example"),
        (None, {"Host": "WWW.Site.Example:8080"}, "site.example"),
        (None, {"Host": "api.events.test"}, "api.events.test"),
        (None, {"Origin": "https://origin-wins.example", "Host": "www.host-loses.example"}, "origin-wins.example"),
        ("p" * 128, {"Origin": ALLOWED_ORIGIN}, "p" * 128),
    ]
    for prop, hdrs, want in cases:
        b = body(traffic={"propertyId": prop} if prop is not None else {})
        j = ingest(b, hdrs, stack=many_origins_stack())
        got = event_row(j["eventId"])["property_id"]
        expect_eq(got, want, "property_id for propertyId %r and headers %r" % (prop, hdrs))


@test
def property_id_unknown_without_origin_or_host():
    s = main_stack()
    data = json.dumps(body(path="/no-host")).encode()
    req = (b"POST /v1/events HTTP/1.0\r\nContent-Type: application/json\r\nUser-Agent: %s\r\n"
           b"Content-Length: %d\r\n\r\n" % (harness.BROWSER_UA.encode(), len(data))) + data
    status, hdrs, resp, raw, _ = s.raw(req)
    expect_eq(status, 202, "HTTP/1.0 POST without Host: status (raw %r)" % raw[:400])
    j = json.loads(resp.decode())
    expect_eq(event_row(j["eventId"])["property_id"], "unknown", "property_id without propertyId, Origin or Host")
    # an empty Origin names no site: the Host does
    j = ingest(body(path="/empty-origin"), {"Origin": "", "Host": "www.fallback.example"})
    expect_eq(event_row(j["eventId"])["property_id"], "fallback.example", "property_id with an empty Origin")
    # an Origin host too long for the column is no reason to fail
    accepted(post(body(path="/long-origin"), {"Origin": "https://" + "a" * 200 + ".example"},
                  stack=many_origins_stack()))


@test
def traffic_source_rules():
    site = {"Origin": "https://www.shop.example"}
    cases = [
        ({}, site, "direct"),
        ({"referrer": "https://shop.example/cart"}, site, "internal"),
        ({"referrer": "https://WWW.Shop.Example:443/x?y=1"}, site, "internal"),
        ({"referrer": "https://news.google.co.uk/"}, site, "organic_search"),
        ({"referrer": "https://www.google.com/search?q=a"}, site, "organic_search"),
        ({"referrer": "https://duckduckgo.com/"}, site, "organic_search"),
        ({"referrer": "https://search.yahoo.com/s"}, site, "organic_search"),
        ({"referrer": "https://m.facebook.com/story"}, site, "social"),
        ({"referrer": "https://t.co/abc"}, site, "social"),
        ({"referrer": "https://old.reddit.com/r/x"}, site, "social"),
        ({"referrer": "https://microsoft.com/"}, site, "referral"),
        ({"referrer": "https://notgoogle.com/"}, site, "referral"),
        ({"referrer": "https://blog.partner.example/post"}, site, "referral"),
        ({"referrer": "android-app://com.google.android.gm/"}, site, "direct"),
        ({"referrer": "not a url"}, site, "direct"),
        ({"utm": {"medium": "CPC"}, "referrer": "https://m.facebook.com/"}, site, "paid_search"),
        ({"utm": {"medium": " Email "}}, site, "email"),
        ({"utm": {"medium": "social"}}, site, "social"),
        ({"utm": {"medium": "organic"}}, site, "organic_search"),
        ({"utm": {"source": "google.com"}}, site, "organic_search"),
        ({"utm": {"source": "www.facebook.com"}}, site, "social"),
        ({"utm": {"source": "newsletter"}, "referrer": "https://shop.example/"}, site, "campaign"),
        # the site host comes from Origin (or Host), never from traffic.propertyId
        ({"referrer": "https://ref.example/", "traffic": {"propertyId": "ref.example"}}, site, "referral"),
        ({"referrer": "https://shop.example/", "traffic": {"propertyId": "other"}}, site, "internal"),
        ({"referrer": "https://hosted.example/a"}, {"Host": "www.hosted.example:8080"}, "internal"),
        # an origin that is not allowlisted still names the site
        ({"referrer": "https://not-allowed.example/a"}, {"Origin": "https://not-allowed.example"}, "internal"),
    ]
    for extra, hdrs, want in cases:
        j = ingest(body(**extra), hdrs, stack=many_origins_stack())
        got = event_row(j["eventId"])["traffic_source"]
        expect_eq(got, want, "traffic_source for %r with %r" % (extra, hdrs))


@test
def device_type_rules():
    cases = [
        (None, None, "desktop"),  # no User-Agent: "unknown" -> desktop
        ("Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0", None, "desktop"),
        (UA_MOBILE, None, "mobile"),
        ("Mozilla/5.0 (Linux; Android 14; Pixel 8)", None, "mobile"),
        ("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X)", None, "tablet"),
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", None, "bot"),
        ("Mozilla/5.0 HeadlessChrome/120.0", None, "bot"),
        ("Mozilla/5.0 (compatible; Googlebot/2.1)", "tablet", "tablet"),
        (UA_MOBILE, "unknown", "unknown"),
    ]
    for ua, given, want in cases:
        j = ingest(body(traffic={"deviceType": given} if given else {}), {"User-Agent": ua}, stack=label_stack())
        expect_eq(event_row(j["eventId"])["device_type"], want, "device_type for UA %r, deviceType %r" % (ua, given))


@test
def entrance_exit_conversion_flags():
    cases = [
        ("page_view", {}, (True, False, False)),
        ("form_submit", {}, (False, False, True)),
        ("form_start", {}, (False, False, False)),
        ("click", {}, (False, False, False)),
        ("page_view", {"isEntrance": False, "isExit": True}, (False, True, False)),
        ("form_submit", {"isConversion": False}, (False, False, False)),
        ("click", {"isEntrance": True, "isConversion": True}, (True, False, True)),
    ]
    for et, flags, want in cases:
        j = ingest(body(eventType=et, traffic=flags))
        e = event_row(j["eventId"])
        expect_eq((e["is_entrance"], e["is_exit"], e["is_conversion"]), want,
                  "is_entrance/is_exit/is_conversion for %s with %r" % (et, flags))
        expect_eq(e["event_type"], et, "event_type")
    j = ingest(body(traffic={"countryCode": " fr "}))
    expect_eq(event_row(j["eventId"])["country_code"], "FR", "country_code from ' fr '")
    j = ingest(body())
    expect_eq(event_row(j["eventId"])["country_code"], None, "country_code when absent")


@test
def props_merge_with_traffic_metrics():
    j = ingest(body(props={"custom": "x", "fcpMs": 1, "scrollDepthPercent": "body", "engagedTimeMs": None},
                    traffic={"engagedTimeMs": "1e3", "scrollDepthPercent": " 65 ", "propertyId": "p-merge",
                             "countryCode": "us", "deviceType": "mobile", "isExit": True, "unknownKey": 5,
                             "webVitals": {"fcpMs": "120", "lcpMs": 2500, "inpMs": 80, "ttfbMs": 100.0,
                                           "clsScore": "0.05", "other": 1}}))
    expect_eq(event_row(j["eventId"])["props"],
              {"custom": "x", "fcpMs": 120, "scrollDepthPercent": 65, "engagedTimeMs": 1000, "lcpMs": 2500,
               "inpMs": 80, "ttfbMs": 100, "clsScore": 0.05},
              "props: traffic metrics override body props, coerced strings are numbers, nothing else copied")
    # numbers keep their JSON spelling as a JavaScript service would write them: 2500, not 2500.0
    texts = rows("SELECT props->>'fcpMs' AS fcp, props->>'engagedTimeMs' AS engaged, props->>'ttfbMs' AS ttfb, "
                 "props->>'clsScore' AS cls FROM events WHERE id = %s" % lit(j["eventId"]))[0]
    expect_eq(texts, {"fcp": "120", "engaged": "1000", "ttfb": "100", "cls": "0.05"}, "props numbers as text")
    j = ingest(body(props={"qty": 2, "neg": -7, "price": 19.99, "big": 9007199254740991, "zero": 0}))
    texts = rows("SELECT props->>'qty' AS qty, props->>'neg' AS neg, props->>'price' AS price, "
                 "props->>'big' AS big, props->>'zero' AS zero FROM events WHERE id = %s" % lit(j["eventId"]))[0]
    expect_eq(texts, {"qty": "2", "neg": "-7", "price": "19.99", "big": "9007199254740991", "zero": "0"},
              "body props numbers as text")
    j = ingest(body(traffic={"webVitals": {"clsScore": 10}}))
    p = event_row(j["eventId"])["props"]
    expect(p == {"clsScore": 10}, "props with clsScore 10 only: %r" % (p,))
    for extra, what in (({}, "no props, no traffic"), ({"props": {}}, "props {}"),
                        ({"props": {}, "traffic": {"countryCode": "de", "webVitals": {}}}, "props {} and no metrics")):
        j = ingest(body(**extra))
        expect_eq(scalar("SELECT props IS NULL FROM events WHERE id = %s" % lit(j["eventId"])), "t",
                  "props IS NULL for %s" % what)
    j = ingest(body(traffic={"scrollDepthPercent": 0}))
    expect_eq(event_row(j["eventId"])["props"], {"scrollDepthPercent": 0}, "props with only a metric of 0")


@test
def timestamp_column():
    cases = [
        ("2026-03-01T10:00:00+02:00", datetime.datetime(2026, 3, 1, 8, 0, 0)),
        ("2026-03-01T10:00:00.123Z", datetime.datetime(2026, 3, 1, 10, 0, 0, 123000)),
        ("2026-02-28T23:30:00-01:15", datetime.datetime(2026, 3, 1, 0, 45, 0)),
        (1772359200123, datetime.datetime(2026, 3, 1, 10, 0, 0, 123000)),
    ]
    for ts, want in cases:
        j = ingest(body(timestamp=ts))
        expect_eq(dbts(event_row(j["eventId"])["timestamp"]), want, "events.timestamp for %r" % (ts,))
    for extra, what in (({}, "absent"), ({"timestamp": None}, "null")):
        j = ingest(body(**extra))
        e = event_row(j["eventId"])
        near_now(dbts(e["timestamp"]), "events.timestamp with timestamp %s" % what)
        s = session_row(j["sessionId"])
        expect_eq(s["started_at"], e["timestamp"], "sessions.started_at = the event's time (timestamp %s)" % what)


@test
def hashes_and_no_raw_ip_or_user_agent_stored():
    ua = "itest-UA-Probe/7.3 (Windows NT 10.0; Secret-Marker-q9z)"
    a = anon("hash")
    j1 = ingest(body(a, props={"k": "v"}, traffic={"countryCode": "se"}), {"User-Agent": ua})
    j2 = ingest(body(a, path="/two"), {"User-Agent": None}, stack=label_stack())  # no User-Agent (stored: label)
    e1, e2 = event_row(j1["eventId"]), event_row(j2["eventId"])
    for e in (e1, e2):
        for col in ("ip_hash", "ua_hash"):
            expect(isinstance(e[col], str) and HEX64_RE.fullmatch(e[col]), "%s is not 64 lowercase hex: %r" %
                   (col, e[col]))
        expect_eq(e["ip_hash"], hmac_hex(CLIENT_IP), "ip_hash")
    expect_eq(e1["ua_hash"], hmac_hex(ua), "ua_hash with a User-Agent")
    expect_eq(e2["ua_hash"], hmac_hex("unknown"), "ua_hash without a User-Agent (HMAC of 'unknown')")
    v = visitor_row(j1["visitorId"])
    expect_eq((v["first_ip_hash"], v["last_ip_hash"]), (hmac_hex(CLIENT_IP),) * 2, "visitor ip hashes")
    # forwarding headers from an untrusted peer change nothing (no TRUSTED_PROXIES here)
    j3 = ingest(body(a, path="/xff"), {"X-Forwarded-For": "203.0.113.9", "Fly-Client-IP": "203.0.113.8",
                                       "X-Real-IP": "203.0.113.7"})
    expect_eq(event_row(j3["eventId"])["ip_hash"], hmac_hex(CLIENT_IP), "ip_hash with spoofed forwarding headers")
    # dump every column of every table as text and look for the raw values
    names = tables()
    expect("events" in names and "visitors" in names, "tables: %r" % names)
    dump = sql(" UNION ALL ".join("SELECT %s || ': ' || coalesce(string_agg(t::text, E'\\n'), '') FROM \"%s\" t"
                                  % (lit(n), n) for n in names))
    expect(j1["eventId"] in dump, "the dump does not contain the new event (dump is broken?)")
    for raw in (CLIENT_IP, ua, "Secret-Marker-q9z", "itest-UA-Probe", "203.0.113."):
        for line in dump.splitlines():
            expect(raw not in line, "the database holds %r: %s" % (raw, line[:400]))
    # nor do the logs
    s = main_stack()
    logs = harness.tail(s.stderr_path, n=10 ** 6, limit=10 ** 8) + "\n".join(s.access_log_lines())
    expect("Secret-Marker-q9z" not in logs, "the user agent appears in the logs")


# ---- visitors

@test
def visitor_first_and_last_values():
    a = anon("visitor")
    ua1, ua2 = "itest-UA-first/1.0", "itest-UA-second/2.0"
    t1 = datetime.datetime(2026, 4, 1, 9, 0, 0)
    t2 = t1 + datetime.timedelta(minutes=5)
    t3 = t1 + datetime.timedelta(minutes=7)
    j1 = ingest(body(a, timestamp=iso(t1)), {"User-Agent": ua1})
    v = visitor_row(j1["visitorId"])
    expect_eq((dbts(v["first_seen_at"]), dbts(v["last_seen_at"])), (t1, t1), "first/last seen of a new visitor")
    expect_eq((v["first_ua_hash"], v["last_ua_hash"]), (hmac_hex(ua1), hmac_hex(ua1)), "ua hashes of a new visitor")
    expect_eq((v["first_ip_hash"], v["last_ip_hash"]), (hmac_hex(CLIENT_IP),) * 2, "ip hashes of a new visitor")
    near_now(dbts(v["created_at"]), "visitors.created_at")
    expect(v["updated_at"] is not None, "visitors.updated_at is NULL")
    j2 = ingest(body(a, path="/2", timestamp=iso(t2)), {"User-Agent": ua2})
    expect_eq(j2["visitorId"], j1["visitorId"], "visitorId of the second event")
    v = visitor_row(j1["visitorId"])
    expect_eq((dbts(v["first_seen_at"]), dbts(v["last_seen_at"])), (t1, t2), "first/last seen after the 2nd event")
    expect_eq((v["first_ua_hash"], v["last_ua_hash"]), (hmac_hex(ua1), hmac_hex(ua2)),
              "ua hashes after a second event with another UA (first kept, last updated)")
    j3 = ingest(body(a, path="/3", timestamp=iso(t3)), {"User-Agent": None}, stack=label_stack())
    v = visitor_row(j1["visitorId"])
    expect_eq((v["first_ua_hash"], v["last_ua_hash"]), (hmac_hex(ua1), hmac_hex("unknown")),
              "ua hashes after an event without a User-Agent")
    expect_eq(dbts(v["last_seen_at"]), t3, "last_seen_at after the 3rd event")
    expect_eq(count("SELECT 1 FROM visitors WHERE anon_id = %s" % lit(a)), 1, "visitors with this anonId")
    expect_eq(j3["visitorId"], j1["visitorId"], "visitorId of the third event")
    # a late event (client time before the first one) never changes the first-seen values
    j4 = ingest(body(a, path="/late", timestamp=iso(t1 - datetime.timedelta(minutes=20))), {"User-Agent": ua2})
    expect_eq(j4["visitorId"], j1["visitorId"], "visitorId of the late event")
    v = visitor_row(j1["visitorId"])
    expect_eq((dbts(v["first_seen_at"]), v["first_ua_hash"], v["first_ip_hash"]),
              (t1, hmac_hex(ua1), hmac_hex(CLIENT_IP)), "first-seen values after a late event")
    expect_eq(j4["sessionId"], j1["sessionId"], "a late event continues the session")
    expect_eq(dbts(session_row(j1["sessionId"])["started_at"]), t1, "started_at after a late event")


# ---- sessions

@test
def session_continuation_and_inactivity_rotation():
    a = anon("sess")
    T = datetime.datetime(2026, 5, 1, 12, 0, 0)
    m = lambda n, ms=0: T + datetime.timedelta(minutes=n, milliseconds=ms)  # noqa: E731
    j1 = ingest(body(a, path="/landing", referrer="https://ref.example/x", timestamp=iso(m(0))))
    s = session_row(j1["sessionId"])
    expect_eq((dbts(s["started_at"]), dbts(s["last_event_at"]), s["ended_at"]), (m(0), m(0), None),
              "started_at/last_event_at/ended_at of a new session")
    j2 = ingest(body(a, path="/second", timestamp=iso(m(10))))
    expect_eq(j2["sessionId"], j1["sessionId"], "sessionId 10 minutes later")
    s = session_row(j1["sessionId"])
    expect_eq((dbts(s["started_at"]), dbts(s["last_event_at"]), dbts(s["ended_at"])), (m(0), m(10), m(10)),
              "started_at/last_event_at/ended_at after a continuation")
    expect_eq(s["landing_path"], "/landing", "landing_path stays the first event's")
    j3 = ingest(body(a, path="/third", timestamp=iso(m(40))))  # exactly 30 minutes: not "more than"
    expect_eq(j3["sessionId"], j1["sessionId"], "sessionId exactly 30 minutes after the last event")
    j4 = ingest(body(a, path="/fourth", timestamp=iso(m(70, 1))))  # 30 min + 1 ms
    expect(j4["sessionId"] != j1["sessionId"], "no new session 30 min + 1 ms after the last event")
    expect_eq(j4["visitorId"], j1["visitorId"], "visitorId")
    old, new = session_row(j1["sessionId"]), session_row(j4["sessionId"])
    expect_eq((dbts(old["last_event_at"]), dbts(old["ended_at"])), (m(40), m(40)), "old session last_event/ended")
    expect_eq((dbts(new["started_at"]), dbts(new["last_event_at"]), new["ended_at"]), (m(70, 1), m(70, 1), None),
              "new session")
    expect_eq(new["landing_path"], "/fourth", "new session landing_path")
    expect_eq(new["referrer"], None, "new session referrer (the event had none)")
    got = [(e["path"], e["session_id"]) for e in events_of(a)]
    expect_eq(got, [("/landing", j1["sessionId"]), ("/second", j1["sessionId"]), ("/third", j1["sessionId"]),
                    ("/fourth", j4["sessionId"])], "events and their sessions")
    # a session of one event (ended_at unset) rotated: ended_at = its last_event_at
    b = anon("sess1")
    k1 = ingest(body(b, timestamp=iso(m(0))))
    k2 = ingest(body(b, path="/later", timestamp=iso(m(31))))
    expect(k2["sessionId"] != k1["sessionId"], "no rotation after 31 minutes")
    old = session_row(k1["sessionId"])
    expect_eq((dbts(old["last_event_at"]), dbts(old["ended_at"])), (m(0), m(0)),
              "rotated one-event session: ended_at = last_event_at")
    expect_eq(len(sessions_of(b)), 2, "sessions of the visitor")


@test
def session_rotation_on_utm_change():
    a = anon("utm")
    T = datetime.datetime(2026, 5, 2, 8, 0, 0)
    m = lambda n: iso(T + datetime.timedelta(minutes=n))  # noqa: E731
    j1 = ingest(body(a, path="/u1", timestamp=m(0), utm={"source": " Google ", "medium": "cpc "}))
    s1 = session_row(j1["sessionId"])
    expect_eq([s1["utm_" + k] for k in ("source", "medium", "campaign", "term", "content")],
              ["Google", "cpc", None, None, None], "stored UTM tuple (trimmed, absent = NULL)")
    j2 = ingest(body(a, path="/u2", timestamp=m(1), utm={"medium": "cpc", "source": "Google"}))
    expect_eq(j2["sessionId"], j1["sessionId"], "same UTM tuple after trimming: same session")
    j3 = ingest(body(a, path="/u3", timestamp=m(2), utm={"source": "Google", "medium": "cpc", "campaign": "spring"}))
    expect(j3["sessionId"] != j1["sessionId"], "a campaign added to the UTM tuple did not start a new session")
    expect_eq(dbts(session_row(j1["sessionId"])["ended_at"]), T + datetime.timedelta(minutes=1),
              "the rotated session's ended_at")
    j4 = ingest(body(a, path="/u4", timestamp=m(3)))
    expect(j4["sessionId"] != j3["sessionId"], "an event without UTM after a session with UTM did not rotate")
    s3 = session_row(j3["sessionId"])
    expect_eq(dbts(s3["ended_at"]), T + datetime.timedelta(minutes=2), "ended_at of the UTM session")
    s4 = session_row(j4["sessionId"])
    expect_eq([s4["utm_" + k] for k in ("source", "medium", "campaign", "term", "content")], [None] * 5,
              "UTM of a session without UTM")
    j5 = ingest(body(a, path="/u5", timestamp=m(4), utm={}))
    expect_eq(j5["sessionId"], j4["sessionId"], "utm {} is the all-null tuple: same session as no utm")
    j6 = ingest(body(a, path="/u6", timestamp=m(5), utm={"source": "google", "medium": "cpc"}))
    expect(j6["sessionId"] != j4["sessionId"], "UTM after a session without UTM did not rotate")
    j7 = ingest(body(a, path="/u7", timestamp=m(6), utm={"source": "google", "medium": "cpc", "term": "x"}))
    expect(j7["sessionId"] != j6["sessionId"], "a term added did not rotate")
    j8 = ingest(body(a, path="/u8", timestamp=m(7), utm={"source": "google", "medium": "cpc", "term": "x",
                                                          "content": "banner"}))
    expect(j8["sessionId"] != j7["sessionId"], "a content added did not rotate")
    j9 = ingest(body(a, path="/u9", timestamp=m(8), utm={"source": "google", "medium": "cpc", "term": "x",
                                                          "content": "banner", "unknown": "ignored"}))
    expect_eq(j9["sessionId"], j8["sessionId"], "an unknown utm key changed the session")
    expect_eq(len(sessions_of(a)), 6, "sessions of the visitor")
    expect_eq(len({j["visitorId"] for j in (j1, j2, j3, j4, j5, j6, j7, j8, j9)}), 1, "one visitor")


@test
def new_session_stores_landing_referrer_and_utm():
    a = anon("land")
    utm = {"source": "  newsletter ", "medium": "email", "campaign": "Spring Sale", "term": "shoes",
           "content": "hero-banner"}
    j = ingest(body(a, eventType="form_start", path="/landing/page?x=1", referrer="https://mail.example/inbox",
                    utm=utm, timestamp="2026-05-03T07:00:00Z"))
    s = session_row(j["sessionId"])
    expect_eq(s["visitor_id"], j["visitorId"], "sessions.visitor_id")
    expect_eq(s["landing_path"], "/landing/page", "landing_path (without its query string)")
    expect_eq(s["referrer"], "https://mail.example/inbox", "referrer")
    expect_eq([s["utm_" + k] for k in ("source", "medium", "campaign", "term", "content")],
              ["newsletter", "email", "Spring Sale", "shoes", "hero-banner"], "utm columns (trimmed)")
    expect_eq(dbts(s["started_at"]), datetime.datetime(2026, 5, 3, 7, 0, 0), "started_at")
    near_now(dbts(s["created_at"]), "sessions.created_at")
    expect(s["updated_at"] is not None, "sessions.updated_at is NULL")
    expect_eq(event_row(j["eventId"])["traffic_source"], "email", "traffic_source")


@test
def concurrent_first_events_one_visitor_one_session():
    a = anon("race")
    reqs = [("POST", "/v1/events", json.dumps(body(a, path="/p%d" % i)).encode(),
             {"Content-Type": "application/json", "Host": HOST}) for i in range(20)]
    got = main_stack().parallel(reqs, timeout=15)
    js = [accepted(r) for r in got]
    expect_eq(len({j["visitorId"] for j in js}), 1, "distinct visitorIds over 20 concurrent first events")
    expect_eq(len({j["sessionId"] for j in js}), 1, "distinct sessionIds over 20 concurrent first events")
    expect_eq(len({j["eventId"] for j in js}), 20, "distinct eventIds")
    expect_eq(count("SELECT 1 FROM visitors WHERE anon_id = %s" % lit(a)), 1, "visitor rows")
    expect_eq(len(sessions_of(a)), 1, "session rows")
    expect_eq(len(events_of(a)), 20, "event rows")


@test
def concurrent_events_after_inactivity_one_new_session():
    a = anon("race2")
    T = datetime.datetime(2026, 5, 8, 9, 0, 0)
    j0 = ingest(body(a, timestamp=iso(T)))
    later = iso(T + datetime.timedelta(hours=2))
    reqs = [("POST", "/v1/events", json.dumps(body(a, path="/q%d" % i, timestamp=later)).encode(),
             {"Content-Type": "application/json", "Host": HOST}) for i in range(12)]
    js = [accepted(r) for r in main_stack().parallel(reqs, timeout=15)]
    sids = {j["sessionId"] for j in js}
    expect_eq(len(sids), 1, "sessions among 12 concurrent events after the inactivity gap: %r" % sids)
    expect(j0["sessionId"] not in sids, "the old session was continued after 2 hours")
    expect_eq(len(sessions_of(a)), 2, "session rows")
    expect_eq(dbts(session_row(j0["sessionId"])["ended_at"]), T, "the old session's ended_at")
    expect_eq(len(events_of(a)), 13, "event rows")


# ---- dedupe

@test
def dedupe_identical_retry_with_timestamp():
    a = anon("dup")
    b = body(a, eventType="click", path="/buy", timestamp="2026-05-04T10:00:00.250Z", referrer="https://r.example/",
             utm={"source": "x"}, traffic={"countryCode": "de", "webVitals": {"clsScore": 0.1}},
             props={"sku": "A-1", "qty": 2})
    j1 = ingest(b)
    j2 = ingest(b)
    expect_eq(j2, j1, "response to the identical retry (the existing event's ids)")
    # a different event in between (same session) does not break the dedupe of a later retry
    ingest(body(a, eventType="click", path="/other", timestamp="2026-05-04T10:00:01Z", utm={"source": "x"}))
    j3 = ingest(b)
    expect_eq(j3, j1, "response to a retry after another event")
    expect_eq(count("SELECT 1 FROM events WHERE visitor_id = %s AND path = '/buy'" % lit(j1["visitorId"])), 1,
              "rows for the retried event")


@test
def dedupe_identical_retry_without_timestamp():
    left = 30 - (time.time() % 30)
    if left < 3:  # the 30-second bucket ends too soon: wait for the next one
        time.sleep(left + 0.3)
    a = anon("dupnow")
    b = body(a, eventType="click", path="/now", props={"a": 1})
    j1 = ingest(b)
    j2 = ingest(b)
    expect_eq(j2, j1, "response to an identical retry without timestamp in the same 30-second bucket")
    expect_eq(len(events_of(a)), 1, "event rows")


@test
def dedupe_ignores_key_order():
    a = anon("order")
    b1 = {"anonId": a, "eventType": "click", "path": "/k", "timestamp": "2026-05-05T10:00:00Z",
          "utm": {"source": "s", "medium": "m"},
          "traffic": {"countryCode": "DE", "deviceType": "mobile", "webVitals": {"lcpMs": 1, "fcpMs": 2}},
          "props": {"b": 1, "a": 2, "n": {"y": [1, {"q": 1, "p": 2}], "x": None}}}
    b2 = {"props": {"n": {"x": None, "y": [1, {"p": 2, "q": 1}]}, "a": 2, "b": 1},
          "traffic": {"webVitals": {"fcpMs": 2, "lcpMs": 1}, "deviceType": "mobile", "countryCode": "DE"},
          "utm": {"medium": "m", "source": "s"},
          "timestamp": "2026-05-05T10:00:00Z", "path": "/k", "eventType": "click", "anonId": a}
    expect(json.dumps(b1) != json.dumps(b2), "the two bodies must differ as text")
    j1, j2 = ingest(b1), ingest(b2)
    expect_eq(j2, j1, "key order in body, utm, traffic and props changed the dedupe key")
    expect_eq(len(events_of(a)), 1, "event rows")
    # validated values, not their spelling, make the key
    b3 = dict(b1, utm={"source": " s ", "medium": "m  "},
              traffic={"countryCode": "de", "deviceType": "mobile", "webVitals": {"lcpMs": "1", "fcpMs": 2.0}})
    j3 = ingest(b3)
    expect_eq(j3, j1, "trimmed utm / coerced metrics / upper-cased country changed the dedupe key")
    expect_eq(len(events_of(a)), 1, "event rows after the respelled retry")


@test
def dedupe_distinguishes_props_user_agent_and_fields():
    a = anon("diff")
    base = body(a, eventType="click", path="/d", timestamp="2026-05-06T10:00:00Z", props={"v": 1})
    j0 = ingest(base)
    variants = [
        (dict(base, props={"v": 2}), None, "a different props value"),
        (dict(base, props={"v": "1"}), None, "props value 1 vs \"1\""),
        (dict(base, props={"v": 1, "w": None}), None, "an extra props key"),
        (base, {"User-Agent": "itest-UA-other/1.0"}, "a different User-Agent"),
        (dict(base, path="/d2"), None, "a different path"),
        (dict(base, eventType="click2"), None, "a different eventType"),
        (dict(base, timestamp="2026-05-06T10:00:00.001Z"), None, "a timestamp 1 ms later"),
        (dict(base, referrer="https://r.example/"), None, "a referrer"),
        (dict(base, traffic={"countryCode": "de"}), None, "traffic"),
    ]
    ids = {j0["eventId"]}
    for b, hdrs, what in variants:
        j = ingest(b, hdrs)
        expect(j["eventId"] not in ids, "%s was deduplicated into an earlier event" % what)
        ids.add(j["eventId"])
        expect_eq(j["visitorId"], j0["visitorId"], "visitorId (%s)" % what)
    expect_eq(len(events_of(a)), len(variants) + 1, "event rows")


@test
def dedupe_concurrent_identical_requests():
    a = anon("duprace")
    data = json.dumps(body(a, eventType="click", path="/race", timestamp="2026-05-07T10:00:00Z")).encode()
    got = main_stack().parallel([("POST", "/v1/events", data, {"Content-Type": "application/json", "Host": HOST})]
                                * 10, timeout=15)
    js = [accepted(r) for r in got]
    expect_eq(len({(j["eventId"], j["visitorId"], j["sessionId"]) for j in js}), 1,
              "distinct (eventId, visitorId, sessionId) over 10 concurrent identical events: %r" % js)
    expect_eq(len(events_of(a)), 1, "event rows")
    expect_eq(len(sessions_of(a)), 1, "session rows")


# ---- validation

@test
def validation_required_fields_and_all_issues():
    # anonId may be left out (or null) since issue 14: the visitor is then cookieless (test_privacy.py)
    expect_issues(post({}), ["eventType", "path"])
    expect_issues(post({"anonId": "abcdefgh", "path": "/"}), ["eventType"])
    expect_issues(post({"anonId": "abcdefgh", "eventType": "x"}), ["path"])
    # every issue of a body, not only the first
    r = post({"anonId": "short", "eventType": "", "path": 5, "traffic": {"countryCode": "XYZ"}})
    expect_issues(r, ["anonId", "eventType", "path", "traffic.countryCode"])
    r = post({"anonId": None, "eventType": None, "path": None, "referrer": None, "utm": None, "traffic": None,
              "props": None, "honeypot": None})
    expect_issues(r, ["eventType", "path", "referrer", "utm", "traffic", "props", "honeypot"])
    r = post(body(utm={"source": "", "medium": " ", "campaign": 1, "term": "x" * 256, "content": None},
                  traffic={"propertyId": "", "deviceType": "phone", "countryCode": "1A", "isEntrance": "true",
                           "isExit": 1, "isConversion": None, "engagedTimeMs": -1, "scrollDepthPercent": 101,
                           "webVitals": {"fcpMs": 120001, "lcpMs": "x", "inpMs": True, "ttfbMs": 1.5,
                                         "clsScore": 10.01}}))
    expect_issues(r, ["utm.source", "utm.medium", "utm.campaign", "utm.term", "utm.content", "traffic.propertyId",
                      "traffic.deviceType", "traffic.countryCode", "traffic.isEntrance", "traffic.isExit",
                      "traffic.isConversion", "traffic.engagedTimeMs", "traffic.scrollDepthPercent",
                      "traffic.webVitals.fcpMs", "traffic.webVitals.lcpMs", "traffic.webVitals.inpMs",
                      "traffic.webVitals.ttfbMs", "traffic.webVitals.clsScore"])
    expect_issues(post(body(utm="google", traffic=[1], props=[1])), ["utm", "traffic", "props"])
    expect_issues(post(body(traffic={"webVitals": 5})), ["traffic.webVitals"])
    expect_issues(post(body(props="x")), ["props"])
    expect_issues(post(body(honeypot=12)), ["honeypot"])
    for v in (12345678, True, ["abcdefgh"], {"a": "abcdefgh"}):
        expect_issues(post(body(anonId=v)), ["anonId"])


def _check_limit(field_path, make_body, ok_values, bad_values):
    for v in ok_values:
        r = post(make_body(v))
        expect_eq(r.status, 202, "%s = %r (%d code points) must be accepted" % (field_path, v[:20] + "...", len(v)), r)
    for v in bad_values:
        expect_issues(post(make_body(v)), [field_path])


@test
def validation_string_limits():
    _check_limit("anonId", lambda v: body(anonId=v),
                 ["a" * 8, "a" * 128, "é" * 8, "😀" * 8, "😀" * 128, "😀" * 100, "  " + "b" * 8 + "  ",
                  "\u00a0" + "c" * 128 + "\u3000"],
                 ["a" * 7, "a" * 129, "é" * 7, "😀" * 7, "😀" * 129, "  " + "b" * 7 + "  ", " " * 12, ""])
    _check_limit("eventType", lambda v: body(eventType=v), ["e", "e" * 64, "é" * 64, " " + "e" * 64 + " "],
                 ["", "  ", "e" * 65, "é" * 65])
    # 2048 code points, and (an indexed column) at most 2600 bytes
    _check_limit("path", lambda v: body(path=v), ["/", "/" + "p" * 2047, "/" + "é" * 1299],
                 ["", " ", "/" + "p" * 2048, "/" + "é" * 2047, "/" + "é" * 2048])
    _check_limit("referrer", lambda v: body(referrer=v),
                 ["r", "https://r.example/" + "q" * (2048 - 18), "https://r.example/" + "😀" * (2048 - 18)],
                 ["", "   ", "https://r.example/" + "q" * (2049 - 18)])
    for k in ("source", "medium", "campaign", "term", "content"):
        _check_limit("utm." + k, lambda v: body(utm={k: v}), ["u", "u" * 255, "ü" * 255, " " + "u" * 255 + " "],
                     ["", "    ", "u" * 256, "ü" * 256])
    # all five at once: five issues
    expect_issues(post(body(utm={k: "u" * 256 for k in ("source", "medium", "campaign", "term", "content")})),
                  ["utm.source", "utm.medium", "utm.campaign", "utm.term", "utm.content"])
    _check_limit("traffic.propertyId", lambda v: body(traffic={"propertyId": v}),
                 ["p", "p" * 128, "ä" * 128, " " + "p" * 128 + " "], ["", "  ", "p" * 129, "ä" * 129])
    # the stored values: trimmed, multi-byte intact
    a = "  " + "😀" * 10 + "  "
    j = ingest(body(anonId=a, path="/é", traffic={"propertyId": " ä-prop "}))
    expect_eq(visitor_row(j["visitorId"])["anon_id"], "😀" * 10, "stored anon_id (trimmed)")
    e = event_row(j["eventId"])
    expect_eq((e["path"], e["property_id"]), ("/é", "ä-prop"), "stored path and property_id")


@test
def validation_traffic_fields():
    def ok(traffic, what):
        r = post(body(traffic=traffic))
        expect_eq(r.status, 202, "%s must be accepted" % what, r)
        return r.json

    def bad(traffic, path):
        expect_issues(post(body(traffic=traffic)), [path])

    # countryCode: exactly two letters, stored upper-case
    for v in ("de", "DE", "dE", " de "):
        ok({"countryCode": v}, "countryCode %r" % v)
    for v in ("D", "DEU", "D1", "12", "", "  ", "d-", 49, None, True):
        bad({"countryCode": v}, "traffic.countryCode")
    # deviceType
    for v in ("desktop", "mobile", "tablet", "bot", "unknown"):
        ok({"deviceType": v}, "deviceType %r" % v)
    for v in ("phone", "Mobile", "", 1, None):
        bad({"deviceType": v}, "traffic.deviceType")
    # booleans: JSON booleans only
    for k in ("isEntrance", "isExit", "isConversion"):
        ok({k: True}, "%s true" % k)
        ok({k: False}, "%s false" % k)
        for v in ("true", "false", 1, 0, None, "", [True]):
            bad({k: v}, "traffic." + k)
    # coerced integers
    ints = [("scrollDepthPercent", "traffic.scrollDepthPercent", 100),
            ("engagedTimeMs", "traffic.engagedTimeMs", 86400000)]
    ints += [(k, "traffic.webVitals." + k, 120000) for k in ("fcpMs", "lcpMs", "inpMs", "ttfbMs")]
    for key, path, top in ints:
        wrap = (lambda v, key=key: {"webVitals": {key: v}}) if path.startswith("traffic.webVitals") else \
            (lambda v, key=key: {key: v})
        for v in (0, top, "0", str(top), " 65 ", "65", 65.0, "65.0", "1e1"):
            ok(wrap(v), "%s = %r" % (key, v))
        for v in (-1, top + 1, str(top + 1), "-1", "", "  ", True, False, None, 1.5, "1.5", "abc", "0x10", "65abc",
                  "1e400", [1], {"v": 1}, "6\u00005"):
            bad(wrap(v), path)
    j = ok({"engagedTimeMs": "1e3"}, "engagedTimeMs '1e3'")
    expect_eq(event_row(j["eventId"])["props"], {"engagedTimeMs": 1000}, "props for engagedTimeMs '1e3'")
    j = ok({"scrollDepthPercent": "65"}, "scrollDepthPercent '65'")
    expect_eq(event_row(j["eventId"])["props"], {"scrollDepthPercent": 65}, "props for scrollDepthPercent '65'")
    # clsScore: coerced number 0-10
    for v in (0, 10, "10", 0.25, "0.25", " 1e-3 ", 9.99):
        ok({"webVitals": {"clsScore": v}}, "clsScore %r" % (v,))
    for v in (10.01, "10.01", -0.01, "-0.5", 11, "", True, None, "x", [0.1]):
        bad({"webVitals": {"clsScore": v}}, "traffic.webVitals.clsScore")
    j = ok({"webVitals": {"clsScore": "0.25"}}, "clsScore '0.25'")
    expect_eq(event_row(j["eventId"])["props"], {"clsScore": 0.25}, "props for clsScore '0.25'")
    # all four vitals at the limit / over it
    ok({"webVitals": {"fcpMs": 120000, "lcpMs": 120000, "inpMs": 120000, "ttfbMs": 120000}}, "vitals at 120000")
    expect_issues(post(body(traffic={"webVitals": {"fcpMs": 120001, "lcpMs": 120001, "inpMs": 120001,
                                                   "ttfbMs": 120001}})),
                  ["traffic.webVitals.fcpMs", "traffic.webVitals.lcpMs", "traffic.webVitals.inpMs",
                   "traffic.webVitals.ttfbMs"])


@test
def validation_timestamp():
    now = utcnow()
    for v in (epoch_ms(now + datetime.timedelta(hours=23, minutes=59)), iso(now + datetime.timedelta(hours=23)),
              iso(now), "2026-03-01T10:00:00+02:00", "2026-03-01T10:00:00.5+02:00",
              " 2026-03-01T10:00:00Z ", 0, 1772359200000):
        r = post(body(timestamp=v))
        expect_eq(r.status, 202, "timestamp %r must be accepted" % (v,), r)
    for v in (epoch_ms(now + datetime.timedelta(hours=24, minutes=1)), iso(now + datetime.timedelta(hours=25)),
              (now + datetime.timedelta(hours=24, minutes=1)).strftime("%Y-%m-%dT%H:%M:%S+00:00"),
              "2026-03-01T10:00:00", "2026-03-01", "2026-02-30T10:00:00Z", "2026-13-01T10:00:00Z",
              "2026-03-01T25:00:00Z", "yesterday", "", "1772359200000", 1772359200000.5, True, [], {}):
        expect_issues(post(body(timestamp=v)), ["timestamp"])
    # null is absent: the event gets the server time
    j = ingest(body(timestamp=None))
    near_now(dbts(event_row(j["eventId"])["timestamp"]), "timestamp for timestamp null")


@test
def validation_nul_anywhere():
    Z = "\u0000"
    cases = [
        (body(anonId="abcd" + Z + "efgh"), ["anonId"]),
        (body(eventType="page" + Z), ["eventType"]),
        (body(path="/" + Z), ["path"]),
        (body(referrer="https://r.example/" + Z), ["referrer"]),
        (body(timestamp="2026-03-01T10:00:00Z" + Z), ["timestamp"]),
        (body(utm={"source": "s" + Z}), ["utm.source"]),
        (body(traffic={"propertyId": "p" + Z}), ["traffic.propertyId"]),
        (body(traffic={"countryCode": "d" + Z}), ["traffic.countryCode"]),
        (body(traffic={"engagedTimeMs": "6" + Z}), ["traffic.engagedTimeMs"]),
        (body(honeypot=Z), ["honeypot"]),
        (body(props={"a": "x" + Z}), ["props"]),
        (body(props={"a": {"b": [1, {"c": Z}]}}), ["props"]),
        (body(props={"a" + Z: 1}), ["props"]),
        (body(props={"a": {"b" + Z: 1}}), ["props"]),
        (body(props={Z: Z}), ["props"]),
        (body(anonId="abcd" + Z + "efgh", props={"a": Z}), ["anonId", "props"]),
    ]
    for b, paths in cases:
        raw = json.dumps(b)
        expect("\\u0000" in raw, "test bug: no \\u0000 escape in %r" % raw)
        expect_issues(post(raw), paths)
    # the key case spelled exactly as in the brief, with traffic before props
    r = post('{"anonId":"abcdefgh","eventType":"x","path":"/","traffic":{"countryCode":"de"},'
             '"props":{"a\\u0000":1}}')
    expect_issues(r, ["props"])


@test
def unknown_keys_are_ignored():
    b = body(extra={"anything": [1, 2]}, propertyId=5, email=None,
             utm={"source": "s", "utmFoo": 1, "SOURCE": None},
             traffic={"countryCode": "de", "foo": "bar", "host": "x", "webVitals": {"fcpMs": 5, "bar": "x", "cls": 1}})
    j = ingest(b)
    e = event_row(j["eventId"])
    expect_eq(e["props"], {"fcpMs": 5}, "props (unknown traffic keys are not copied)")
    expect_eq(e["country_code"], "DE", "country_code")
    # unknown keys inside props are the props themselves
    j = ingest(body(props={"unknown": {"deep": True}}))
    expect_eq(event_row(j["eventId"])["props"], {"unknown": {"deep": True}}, "free-form props")


@test
def malformed_json_is_invalid_json():
    good = json.dumps(body(traffic={"propertyId": "p-malformed"}))
    cases = [
        ('{"anonId":', "truncated"),
        ("{anonId: 'abcdefgh'}", "unquoted keys"),
        (good[:-1] + ',}', "trailing comma"),
        (good + " x", "trailing garbage"),
        (good + good, "two objects"),
        ('{"anonId":"abcdefgh","anonId":"abcdefgh","eventType":"x","path":"/"}', "duplicate top-level key"),
        ('{"anonId":"abcdefgh","eventType":"x","path":"/","props":{"a":1,"a":2}}', "duplicate key in props"),
        ('{"anonId":"abcdefgh","eventType":"x","path":"/","props":{"a":1,"\\u0061":2}}', "duplicate key via escape"),
        ('{"anonId":"abcdefgh","eventType":"x","path":"/","traffic":{"isExit":true,"isExit":false}}',
         "duplicate key in traffic"),
        (b'{"anonId":"abc\xff\xfedefgh","eventType":"x","path":"/"}', "bytes that are not UTF-8"),
        (b'{"anonId":"abcdefgh","eventType":"x","path":"/\xc0\xaf"}', "overlong UTF-8"),
        (b'{"anonId":"abcdefgh","eventType":"x","path":"/\xed\xa0\x80"}', "UTF-8-encoded surrogate"),
        (b'{"anonId":"abcd\x00efgh","eventType":"x","path":"/"}', "a raw NUL byte in a string"),
        ("{'a': 1}", "single quotes"),
        ("nul", "a bad literal"),
    ]
    for data, what in cases:
        r = post(data)
        expect_eq((r.status, r.json.get("error") if isinstance(r.json, dict) else None), (400, "invalid_json"),
                  "status and error for %s" % what, r)
        expect_error(r, 400, "invalid_json")


@test
def non_object_and_empty_bodies():
    for data, what in (("[]", "an empty array"), (json.dumps([body()]), "an array of an event"), ("42", "a number"),
                       ('"abcdefgh"', "a string"), ("null", "null"), ("true", "true"), (b"", "an empty body")):
        r = post(data)
        expect_issues(r, [""])
    r = main_stack().request("POST", "/v1/events", None, {"Host": HOST, "Content-Type": "application/json"})
    expect_issues(r, [""])


@test
def content_types():
    b = json.dumps(body())
    for ct in ("application/json", "application/json; charset=utf-8", "Application/JSON", "text/plain",
               "text/plain;charset=UTF-8", "TEXT/PLAIN; charset=utf-8"):
        j = ingest(json.dumps(body(path="/ct")), content_type=ct)
        expect_eq(event_row(j["eventId"])["path"], "/ct", "stored path for Content-Type %r" % ct)
    before = rejections()
    counts = table_counts()
    for ct, data in (("application/x-www-form-urlencoded", "anonId=abcdefgh&eventType=x&path=%2F"),
                     ("text/html", b), ("application/xml", b), ("multipart/form-data; boundary=x", b),
                     ("application/jsonp", b), (None, b)):
        r = post(data, content_type=ct)
        expect_error(r, 415, "unsupported_media_type")
    expect_eq(new_rejections(before), [], "ingest_rejections rows written for 415 answers")
    expect_eq(table_counts(), counts, "row counts after 415 answers")
    # an invalid body under an unsupported type is still a 415
    r = post("not json", content_type="text/html")
    expect_error(r, 415, "unsupported_media_type")


@test
def chunked_request_body_accepted():
    s = main_stack()
    data = json.dumps(body(path="/chunked")).encode()
    req = (("POST /v1/events HTTP/1.1\r\nHost: %s\r\nContent-Type: text/plain;charset=UTF-8\r\n"
            "User-Agent: %s\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" %
            (HOST, harness.BROWSER_UA)).encode()
           + b"%x\r\n" % 10 + data[:10] + b"\r\n" + b"%x\r\n" % (len(data) - 10) + data[10:] + b"\r\n0\r\n\r\n")
    status, hdrs, resp, raw, _ = s.raw(req)
    expect_eq(status, 202, "chunked POST: status (raw %r)" % raw[:400])
    expect_eq(event_row(json.loads(resp.decode())["eventId"])["path"], "/chunked", "stored path")


def _sized_body(n):
    """A valid event body of exactly n bytes (props padded): (bytes, anonId, padding length)."""
    b = body(props={"pad": ""})
    pad = n - len(json.dumps(b).encode())
    b["props"]["pad"] = "x" * pad
    data = json.dumps(b).encode()
    if len(data) != n:
        raise Fail("test bug: body of %d bytes, wanted %d" % (len(data), n))
    return data, b["anonId"], pad


@test
def body_size_limit():
    with Stack(db_url(), workers=1, env={"MAX_BODY_BYTES": 2048, "RATE_LIMIT_EVENTS": 0}) as s:
        data, a, pad = _sized_body(2048)
        j = ingest(data, stack=s)
        expect_eq(len(event_row(j["eventId"])["props"]["pad"]), pad, "stored padding of the 2048-byte body")
        before = rejections()
        counts = table_counts()
        data, a, _ = _sized_body(2049)
        r = post(data, stack=s)
        expect_error(r, 413, "payload_too_large")
        r = post(b"x" * 2049, stack=s)  # not even JSON: the size is checked first
        expect_error(r, 413, "payload_too_large")
        expect_eq(new_rejections(before), [], "ingest_rejections rows written for a 413")
        expect_eq(table_counts(), counts, "row counts after 413 answers")
        expect_eq(count("SELECT 1 FROM visitors WHERE anon_id = %s" % lit(a)), 0, "visitor of the refused body")
    # the default limit: 64 KiB
    data, _, _ = _sized_body(65536)
    accepted(post(data))
    data, _, _ = _sized_body(65537)
    expect_error(post(data), 413, "payload_too_large")


# ---- ingest_rejections

@test
def ingest_rejection_rows():
    cases = [
        # (body, reason, expected property_id)
        (body(anonId="short", traffic={"propertyId": "  rej-prop-1  "}), "invalid_request", "rej-prop-1"),
        (body(traffic={"propertyId": "rej-prop-2", "countryCode": "XYZ"}), "invalid_request", "rej-prop-2"),
        (body(anonId="short", traffic={"propertyId": "p" * 129}), "invalid_request", "default"),
        (body(anonId="short", traffic={"propertyId": "   "}), "invalid_request", "default"),
        (body(anonId="short", traffic={"propertyId": 42}), "invalid_request", "default"),
        (body(anonId="short", traffic={"propertyId": "rej\u0000prop"}), "invalid_request", "default"),
        (body(anonId="short"), "invalid_request", "default"),
        (body(anonId="short", traffic="rej-prop-3"), "invalid_request", "default"),
        (body(anonId="short", traffic={"propertyId": "ä" * 128}), "invalid_request", "ä" * 128),
        ('{"anonId":"abcdefgh","eventType":"x","path":"/","traffic":{"propertyId":"rej-json"},"x":1,"x":2}',
         "invalid_json", "default"),
        ('{"traffic":{"propertyId":"rej-json"}', "invalid_json", "default"),
        ("[]", "invalid_request", "default"),
        (b"", "invalid_request", "default"),
        ('{"anonId":"abcdefgh","eventType":"x","path":"/","props":{"k\\u0000":1}}', "invalid_request", "default"),
        (body(honeypot="i am a bot", anonId="short"), "invalid_request", "default"),
    ]
    for b, reason, prop in cases:
        before = rejections()
        r = post(b)
        expect_eq((r.status, r.json.get("error") if isinstance(r.json, dict) else None), (400, reason),
                  "answer to %r" % (b,), r)
        new = new_rejections(before)
        expect_eq(len(new), 1, "ingest_rejections rows written for %r" % (b,))
        row = new[0]
        expect_eq((row["endpoint"], row["reason"], row["status_code"], row["property_id"]),
                  ("/v1/events", reason, 400, prop), "ingest_rejections row for %r" % (b,))
        expect(UUID_RE.fullmatch(row["id"] or ""), "ingest_rejections.id is not a UUID: %r" % row["id"])
        near_now(dbts(row["occurred_at"]), "ingest_rejections.occurred_at")
    # an accepted event, a preflight and a 405 write none
    before = rejections()
    ingest(body(traffic={"propertyId": "rej-none"}))
    main_stack().request("OPTIONS", "/v1/events", headers={"Origin": ALLOWED_ORIGIN,
                                                           "Access-Control-Request-Method": "POST"})
    r = main_stack().request("GET", "/v1/events")
    expect_error(r, 405, "method_not_allowed")
    expect_eq(new_rejections(before), [], "ingest_rejections rows for an accepted event, a preflight and a 405")


# ---- honeypot

@test
def honeypot_writes_nothing():
    for hp in ("I am a bot", "  x  ", "\u00a0y", "0"):
        a = anon("hp")
        counts = table_counts()
        before = rejections()
        r = post(body(a, honeypot=hp, utm={"source": "s"}, props={"k": 1}, traffic={"propertyId": "hp-prop"}),
                 {"Origin": ALLOWED_ORIGIN, "User-Agent": "itest-UA-bot/1.0"})
        expect_eq(r.status, 202, "status with honeypot %r" % hp, r)
        expect_eq(r.header("Content-Type"), JSON_CT, "content-type", r)
        expect_eq(r.json, {"ok": True}, "body with honeypot %r" % hp, r)
        expect_eq(r.body.replace(b" ", b""), b'{"ok":true}', "body bytes", r)
        expect_eq(r.header("Access-Control-Allow-Origin"), ALLOWED_ORIGIN, "ACAO on the honeypot answer", r)
        expect_eq(table_counts(), counts, "row counts of every table after a honeypot post (%r)" % hp)
        expect_eq(new_rejections(before), [], "ingest_rejections rows after a honeypot post")
        expect_eq(count("SELECT 1 FROM visitors WHERE anon_id = %s" % lit(a)), 0, "visitor rows")


@test
def honeypot_blank_is_empty():
    for hp in ("", "   ", "\t\n", "\u00a0\u3000"):
        a = anon("hpblank")
        j = ingest(body(a, honeypot=hp))
        expect_eq(event_row(j["eventId"])["visitor_id"], j["visitorId"], "stored event for honeypot %r" % hp)
        expect_eq(count("SELECT 1 FROM visitors WHERE anon_id = %s" % lit(a)), 1, "visitor for honeypot %r" % hp)


# ---- CORS

@test
def cors_on_the_beacon():
    for origin in (ALLOWED_ORIGIN, OTHER_ALLOWED_ORIGIN):
        r = post(json.dumps(body()), {"Origin": origin}, content_type="text/plain;charset=UTF-8")
        accepted(r)
        expect_eq(r.header("Access-Control-Allow-Origin"), origin, "ACAO on the 202", r)
        expect(vary_has_origin(r), "Vary: Origin missing on the 202", r)
        r = post(body(anonId="short"), {"Origin": origin})
        expect_issues(r, ["anonId"])
        expect_eq(r.header("Access-Control-Allow-Origin"), origin, "ACAO on the 400", r)
        expect(vary_has_origin(r), "Vary: Origin missing on the 400", r)
        r = post("{", {"Origin": origin})
        expect_error(r, 400, "invalid_json")
        expect_eq(r.header("Access-Control-Allow-Origin"), origin, "ACAO on an invalid_json 400", r)
        r = post(json.dumps(body()), {"Origin": origin}, content_type="text/html")
        expect_error(r, 415, "unsupported_media_type")
        expect_eq(r.header("Access-Control-Allow-Origin"), origin, "ACAO on the 415", r)
    for origin in ("https://evil.example", ALLOWED_ORIGIN + "/", ALLOWED_ORIGIN.upper(), "null"):
        # a write from a foreign page: refused before anything is read (ENFORCE_ORIGIN, test_origin.py)
        r = post(body(), {"Origin": origin})
        expect_error(r, 403, "origin_not_allowed")
        expect("Access-Control-Allow-Origin" not in r.headers, "ACAO sent to origin %r" % origin, r)
        r = post(body(anonId="short"), {"Origin": origin}, stack=many_origins_stack())
        expect_issues(r, ["anonId"])
        expect("Access-Control-Allow-Origin" not in r.headers, "ACAO on a 400 for origin %r" % origin, r)
    r = post(body())
    accepted(r)
    expect("Access-Control-Allow-Origin" not in r.headers, "ACAO without Origin", r)
    r = main_stack().request("OPTIONS", "/v1/events", headers={
        "Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    expect_eq(r.status, 204, "preflight status", r)
    expect_eq(r.body, b"", "preflight body", r)
    expect_eq(r.header("Access-Control-Allow-Origin"), ALLOWED_ORIGIN, "preflight ACAO", r)
    expect_eq(r.header("Access-Control-Allow-Methods"), "GET, HEAD, POST", "preflight methods", r)
    expect_eq(r.header("Access-Control-Allow-Headers"), "content-type", "preflight headers", r)
    expect_eq(r.header("Access-Control-Max-Age"), "600", "preflight max-age", r)
    r = main_stack().request("OPTIONS", "/v1/events", headers={"Origin": "https://evil.example",
                                                               "Access-Control-Request-Method": "POST"})
    expect_error(r, 403, "origin_not_allowed")


@test
def events_route_methods_and_paths():
    s = main_stack()
    for m in ("GET", "PUT", "DELETE"):
        r = s.request(m, "/v1/events", headers={"Host": HOST})
        expect_error(r, 405, "method_not_allowed")
        expect_eq(r.header("Allow"), "POST", "Allow", r)
    r = s.request("HEAD", "/v1/events")
    expect_eq(r.status, 405, "HEAD /v1/events", r)
    for p in ("/v1/events/", "/v1/Events", "/v1/event", "/events"):
        r = s.request("POST", p, json.dumps(body()).encode(), {"Content-Type": "application/json", "Host": HOST})
        expect_error(r, 404, "not_found")
    # a query string does not change the route
    r = s.request("POST", "/v1/events?x=1", json.dumps(body()).encode(),
                  {"Content-Type": "application/json", "Host": HOST})
    accepted(r)


# ---- rate limit

def _activity(s):
    names = ",".join("'backend-%d'" % p for p in s.responder_pids())
    out = pg().psql("SELECT application_name, query_start FROM pg_stat_activity WHERE application_name IN (%s)"
                    % names)
    return dict(l.split("|", 1) for l in out.splitlines() if "|" in l)


@test(timeout=90)
def rate_limit_events():
    with Stack(db_url(), workers=2, env={"RATE_LIMIT_EVENTS": 3}) as s:
        left = 60 - (time.time() % 60)
        if left < 6:
            time.sleep(left + 0.3)
        a = anon("rl")
        got = [post(body(a, path="/r%d" % i), stack=s) for i in range(3)]
        for r in got:
            accepted(r)
            expect_eq(r.header("X-RateLimit-Limit"), "3", "X-RateLimit-Limit", r)
        expect_eq([r.header("X-RateLimit-Remaining") for r in got], ["2", "1", "0"], "X-RateLimit-Remaining")
        counts = table_counts()
        before_rej = rejections()
        act = _activity(s)
        refused = [post(body(a, path="/r3"), stack=s),
                   post(body(anonId="short", traffic={"propertyId": "rl-prop"}), stack=s),
                   post("{", stack=s),
                   post(body(a, honeypot="bot"), stack=s),
                   post(json.dumps(body(a, path="/r4")), stack=s, content_type="text/html")]
        for r in refused:
            expect_error(r, 429, "rate_limited")
            expect_eq(r.header("X-RateLimit-Limit"), "3", "X-RateLimit-Limit on the 429", r)
            expect_eq(r.header("X-RateLimit-Remaining"), "0", "X-RateLimit-Remaining on the 429", r)
            ra = r.header("Retry-After", "")
            expect(ra.isdigit() and 1 <= int(ra) <= 60, "Retry-After missing or out of range", r)
        expect_eq(table_counts(), counts, "row counts after 429s (no event, no rejection)")
        expect_eq(new_rejections(before_rej), [], "ingest_rejections rows for 429s")
        expect_eq(len(events_of(a)), 3, "events stored")
        expect_eq(_activity(s), act, "the responders' last query (a 429 must come before any database work)")
        # a preflight is not limited
        r = s.request("OPTIONS", "/v1/events", headers={"Origin": ALLOWED_ORIGIN,
                                                        "Access-Control-Request-Method": "POST"})
        expect_eq(r.status, 204, "preflight after the limit", r)


# ---- parsing edge cases (kept separate so that each failure names one problem)

@test
def big_numbers_are_well_formed_json():
    """Numbers beyond int64/double are well-formed JSON (RFC 8259 sets no range): props takes
    any JSON value, and a field out of range is a validation issue, not invalid_json."""
    a = anon("big")
    raw = ('{"anonId":"%s","eventType":"x","path":"/","props":{"big":123456789012345678901234567890}}' % a)
    r = post(raw)
    expect_eq(r.status, 202, "props with a 30-digit integer", r)
    raw = '{"anonId":"abcdefgh","eventType":"x","path":"/","traffic":{"engagedTimeMs":99999999999999999999}}'
    expect_issues(post(raw), ["traffic.engagedTimeMs"])
    raw = '{"anonId":"abcdefgh","eventType":"x","path":"/","timestamp":99999999999999999999}'
    expect_issues(post(raw), ["timestamp"])


@test
def nul_in_props_key_reports_every_issue():
    """U+0000 in a props key is invalid_request with path props - and, as for every invalid body,
    the other issues of the body are reported with it (API.md §1: all issues, not only the first)."""
    r = post('{"anonId":"short","eventType":"x","path":"/","props":{"a\\u0000":1}}')
    expect_issues(r, ["anonId", "props"])
    # the body is well-formed JSON, so its rejection row names its property
    before = rejections()
    r = post('{"anonId":"abcdefgh","eventType":"x","path":"/","traffic":{"propertyId":"p-nulkey"},'
             '"props":{"x":{"a\\u0000":1}}}')
    expect_issues(r, ["props"])
    new = new_rejections(before)
    expect_eq([(x["reason"], x["property_id"]) for x in new], [("invalid_request", "p-nulkey")],
              "ingest_rejections row for a NUL key in props")


# ---- database outage (last: it stops the shared Postgres)

@test(timeout=120)
def database_outage_503_then_recovery():
    s = main_stack()
    p = pg()
    for r in s.parallel([("POST", "/v1/events", json.dumps(body()).encode(),
                          {"Content-Type": "application/json", "Host": HOST})] * 4):
        accepted(r)
    a = anon("outage")
    p.stop()
    try:
        answers = [post(body(a, path="/down%d" % i), timeout=10) for i in range(2)]
        answers += s.parallel([("POST", "/v1/events", json.dumps(body(a, path="/par%d" % i)).encode(),
                                {"Content-Type": "application/json", "Host": HOST}) for i in range(4)], timeout=10)
        for r in answers:
            expect_error(r, 503, "database_unavailable")
            ra = r.header("Retry-After", "")
            expect(ra.isdigit() and int(ra) >= 1, "503 without a numeric Retry-After", r)
            expect(r.elapsed < 2.0, "503 took %.3f s (must be < 2 s)" % r.elapsed, r)
        # validation needs no database: still a 400, still fast
        r = post(body(anonId="short"), timeout=10)
        expect_issues(r, ["anonId"])
        expect(r.elapsed < 2.0, "400 during the outage took %.3f s" % r.elapsed, r)
        # the honeypot writes nothing anyway
        r = post(body(a, honeypot="bot"), timeout=10)
        expect_eq((r.status, r.json), (202, {"ok": True}), "honeypot during the outage", r)
    finally:
        p.start()
    r = post(body(a, path="/back"))
    j = accepted(r)
    e = event_row(j["eventId"])
    expect_eq((e["path"], e["visitor_id"]), ("/back", j["visitorId"]), "the first event after recovery is stored")
    expect_eq([x["path"] for x in events_of(a)], ["/back"], "events of the visitor (none from the outage)")
    for r in s.parallel([("POST", "/v1/events", json.dumps(body(path="/after%d" % i)).encode(),
                          {"Content-Type": "application/json", "Host": HOST}) for i in range(6)]):
        accepted(r)


@test
def trusted_proxy_sets_the_client_address():
    """Behind a proxy listed in TRUSTED_PROXIES lighttpd takes the client address from the header
    CLIENT_IP_HEADER names (here Fly-Client-IP), so ip_hash and the rate-limit count are the client's,
    not the proxy's; from any other peer it changes nothing (hashes_and_no_raw_ip_or_user_agent_stored).
    X-Forwarded-For and the one-header rule: test_edge.py."""
    with Stack(db_url(), workers=1, env={"TRUSTED_PROXIES": "127.0.0.1, ::1", "CLIENT_IP_HEADER": "Fly-Client-IP",
                                         "RATE_LIMIT_EVENTS": 2}) as s:
        e1 = ingest(body(anon("fly")), headers={"Fly-Client-IP": "203.0.113.7"}, stack=s)
        expect_eq(event_row(e1["eventId"])["ip_hash"], hmac_hex("203.0.113.7"), "ip_hash from Fly-Client-IP")
        e2 = ingest(body(anon("fly2")), headers={"Fly-Client-IP": "198.51.100.23"}, stack=s)
        expect_eq(event_row(e2["eventId"])["ip_hash"], hmac_hex("198.51.100.23"), "ip_hash of a second client")
        # the rate limit counts per client address: a third client is not limited by the first two
        r = post(body(anon("third")), headers={"Fly-Client-IP": "192.0.2.44"}, stack=s)
        expect_eq(r.status, 202, "a new client's first event", r)
        expect_eq(r.header("X-RateLimit-Remaining"), "1", "its own count", r)


@test
def path_is_bounded_in_bytes():
    """events.path is indexed, so besides 2048 code points it is bounded to 2600 bytes: a long
    non-ASCII path is a 400 naming it, never a 500 from the index; the bound itself is stored."""
    at = "/" + "\u4e2d" * 866 + "a"  # 1 + 2598 + 1 = 2600 bytes, 868 code points
    expect_eq(len(at.encode()), 2600, "test path length")
    e = ingest(body(anon("pathbytes"), path=at))
    expect_eq(event_row(e["eventId"])["path"], at, "stored path")
    r = post(body(anon("pathbytes"), path=at + "c"))
    expect_issues(r, ["path"])
    r = post(body(anon("pathcjk"), path="/" + "\u4e2d" * 2047))  # 2048 code points, 6142 bytes
    expect_issues(r, ["path"])


@test
def session_inactivity_minutes_is_configurable():
    """SESSION_INACTIVITY_MINUTES reaches the session step: with 5, an event 5 minutes after the
    last one continues the session and one 5 minutes and 1 ms after starts a new one."""
    T = datetime.datetime(2026, 5, 2, 9, 0, 0)
    m = lambda n, ms=0: T + datetime.timedelta(minutes=n, milliseconds=ms)  # noqa: E731
    with Stack(db_url(), workers=1, env={"SESSION_INACTIVITY_MINUTES": 5, "RATE_LIMIT_EVENTS": 0}) as s:
        a = anon("inact5")
        j1 = ingest(body(a, timestamp=iso(m(0))), stack=s)
        j2 = ingest(body(a, path="/b", timestamp=iso(m(5))), stack=s)
        expect_eq(j2["sessionId"], j1["sessionId"], "sessionId exactly 5 minutes later")
        j3 = ingest(body(a, path="/c", timestamp=iso(m(10, 1))), stack=s)
        expect(j3["sessionId"] != j1["sessionId"], "no new session 5 min + 1 ms after the last event")
