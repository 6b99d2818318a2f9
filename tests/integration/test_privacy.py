"""test_privacy.py - issue 14, the server side of the tracker's privacy modes, through real lighttpd +
responders + Postgres: cookieless visitors (no anonId) under the daily salt, a new salt the next day,
Sec-GPC / DNT (and HONOR_GLOBAL_PRIVACY_CONTROL=false), the no-JavaScript pixel GET /v1/p.gif, and
bots dropped with their reasons counted (BOT_POLICY=drop, and label for the old behaviour).

The module uses its own database (`itprivacy`). The salt job and two schedulers are checked in
test_metrics.scheduler_runs_each_job_once_across_two."""

import datetime
import hashlib
import json
import re
import uuid

import harness
from harness import ADMIN_KEY, ALLOWED_ORIGIN, BROWSER_UA, Stack, backend, expect, expect_eq, expect_error, test

DB = "itprivacy"
HOST = "www.Privacy.test"  # the site host is privacy.test
SITE = "privacy.test"
CK_RE = re.compile(r"ck:[0-9a-f]{32}")
GIF_MAGIC = b"GIF89a"


def db_url():
    return harness.migrated_database(DB)


def sql(q):
    return harness.shared_postgres().psql(q, db=DB).strip()


def stack(**env):
    key = "privacy-stack-" + ",".join("%s=%s" % kv for kv in sorted(env.items()))
    return harness.shared(key, lambda: Stack(db_url(), workers=1, env=dict({"RATE_LIMIT_EVENTS": 0}, **env)))


def post(path, body, headers=None, s=None):
    h = {"Host": HOST}
    h.update(headers or {})
    return (s or stack()).request("POST", path, body, h)


def event(headers=None, s=None, **fields):
    b = {"eventType": "page_view", "path": "/p"}
    b.update(fields)
    return post("/v1/events", b, headers, s)


def accepted(r):
    expect_eq(r.status, 202, "status", r)
    return r.json


def visitor_anon(visitor_id):
    return sql("SELECT anon_id FROM visitors WHERE id = '%s'" % visitor_id)


def today():
    return datetime.datetime.now(datetime.timezone.utc).date()


def salt_of(day):
    return sql("SELECT encode(salt, 'hex') FROM daily_salts WHERE day = '%s'" % day)


def expected_id(salt_hex, host, ip, ua):
    """The cookieless id as the service computes it: BLAKE2b keyed with the salt (libsodium's
    crypto_generichash), 16 bytes, over the length-prefixed host, address and user agent."""
    h = hashlib.blake2b(key=bytes.fromhex(salt_hex), digest_size=16)
    for f in (host, ip, ua):
        b = f.encode()
        h.update(len(b).to_bytes(8, "little") + b)
    return "ck:" + h.hexdigest()


@test(timeout=60)
def cookieless_visitor_same_day_new_salt_next_day():
    s = stack()
    day = today()
    j1 = accepted(event(path="/a"))
    anon = visitor_anon(j1["visitorId"])
    expect(CK_RE.fullmatch(anon), "stored anon_id of a cookieless visitor: %r" % anon)
    expect_eq(sql("SELECT count(*) FROM daily_salts WHERE day = '%s'" % day), "1", "today's salt, made on demand")
    expect_eq(anon, expected_id(salt_of(day), SITE, "127.0.0.1", BROWSER_UA), "anon_id = keyed hash of the triple")
    # the same browser again (also with anonId null): the same visitor and session
    j2 = accepted(event(path="/b", anonId=None))
    expect_eq((j2["visitorId"], j2["sessionId"]), (j1["visitorId"], j1["sessionId"]), "second view, same day")
    # another user agent, another site host: other visitors
    j3 = accepted(event({"User-Agent": BROWSER_UA + " Edg/120.0"}, path="/c"))
    expect(j3["visitorId"] != j1["visitorId"], "another user agent made the same visitor")
    j4 = accepted(event({"Host": "other.privacy-site.test"}, path="/d"))
    expect(j4["visitorId"] != j1["visitorId"], "another site host made the same visitor")
    # an empty anonId is still a 400; a client's own id works as before
    expect_error(event(anonId=""), 400, "invalid_request", extra=True)
    jc = accepted(event(anonId="client-id-0001"))
    expect_eq(visitor_anon(jc["visitorId"]), "client-id-0001", "a sent anonId is stored as sent")
    # exact retries without anonId: the eventId within the day's id
    eid = str(uuid.uuid4())
    r1, r2 = accepted(event(path="/retry", eventId=eid)), accepted(event(path="/retry-later", eventId=eid))
    expect_eq(r2, r1, "a retried eventId without anonId answers the first event's ids")
    expect_eq(sql("SELECT count(*) FROM events WHERE path IN ('/retry', '/retry-later')"), "1", "rows of the retry")

    # the next day: today's salt becomes yesterday's (as at midnight) and the responder's day cache
    # goes with a restart; the same browser is an unrelated visitor under the new day's salt
    old = salt_of(day)
    sql("UPDATE daily_salts SET day = day - 1 WHERE day = '%s'" % day)
    s.stop()
    s.start()
    j5 = accepted(event(path="/next-day"))
    new = salt_of(day)
    expect(new and new != old, "a new salt for the day after (old %s, new %s)" % (old, new))
    expect(j5["visitorId"] != j1["visitorId"], "the same browser on the next day is the same visitor")
    expect_eq(visitor_anon(j5["visitorId"]), expected_id(new, SITE, "127.0.0.1", BROWSER_UA), "next day's id")
    expect_eq(sql("SELECT count(*) FROM visitors WHERE anon_id = '%s'" % anon), "1", "the old id is not reused")


@test(timeout=60)
def gpc_and_dnt_make_events_and_captures_cookieless():
    ua = BROWSER_UA + " itest-privacy-gpc"
    for hdr in ({"Sec-GPC": "1"}, {"DNT": "1"}):
        sent = "client-id-gpc-%s" % list(hdr)[0].lower()
        j = accepted(event(dict(hdr, **{"User-Agent": ua}), anonId=sent))
        expect(CK_RE.fullmatch(visitor_anon(j["visitorId"])), "%s: the sent anonId was used" % hdr)
        expect_eq(sql("SELECT count(*) FROM visitors WHERE anon_id = '%s'" % sent), "0", "%s: visitor %s" % (hdr, sent))
    # DNT: 0 and Sec-GPC: 0 change nothing
    j = accepted(event({"DNT": "0", "Sec-GPC": "0", "User-Agent": ua}, anonId="client-id-dnt-zero"))
    expect_eq(visitor_anon(j["visitorId"]), "client-id-dnt-zero", "DNT: 0 keeps the client's id")

    # a capture under GPC makes no heuristic links, while the same capture without it does
    cap = {"email": "gpc-lead@example.com", "anonId": "client-id-capture-1", "path": "/signup"}
    r = post("/v1/leads/capture", cap, {"User-Agent": ua, "Sec-GPC": "1"})
    expect_eq(r.status, 200, "capture under GPC", r)
    expect_eq(r.json["heuristicLinksCreated"], 0, "heuristic links from a GPC capture", r)
    expect(CK_RE.fullmatch(visitor_anon(r.json["visitorId"])), "GPC capture's visitor is cookieless")
    r = post("/v1/leads/capture", dict(cap, email="no-gpc-lead@example.com"), {"User-Agent": ua})
    expect_eq(r.status, 200, "capture without GPC", r)
    expect(r.json["heuristicLinksCreated"] > 0, "the control capture made no heuristic link (%s)" % r.json)
    # a capture without anonId (a form post without JavaScript) is cookieless
    r = post("/v1/leads/capture", "email=form-lead%40example.com&path=%2Fthanks",
             {"User-Agent": ua, "Content-Type": "application/x-www-form-urlencoded"})
    expect_eq(r.status, 303, "form post without anonId", r)
    vid = sql("SELECT visitor_id FROM form_submissions fs JOIN leads l ON l.id = fs.lead_id "
              "WHERE l.email_normalized = 'form-lead@example.com'")
    expect(CK_RE.fullmatch(visitor_anon(vid)), "form post's visitor is cookieless")

    # HONOR_GLOBAL_PRIVACY_CONTROL=false: the old behaviour
    off = stack(HONOR_GLOBAL_PRIVACY_CONTROL="false")
    j = accepted(event({"Sec-GPC": "1", "DNT": "1", "User-Agent": ua}, s=off, anonId="client-id-gpc-off"))
    expect_eq(visitor_anon(j["visitorId"]), "client-id-gpc-off", "GPC with the setting off")


@test(timeout=60)
def pixel_gif():
    s = stack()
    q = "/v1/p.gif?p=%2Femail%2Fwelcome%3Ftoken%3Dx&r=https%3A%2F%2Fmail.example%2Finbox&pid=news-site" \
        "&utm_source=newsletter&utm_medium=email&unknown=ignored"
    r = s.request("GET", q, headers={"Host": HOST})
    expect_eq(r.status, 200, "pixel status", r)
    expect_eq(r.header("Content-Type"), "image/gif", "pixel content type", r)
    expect_eq(r.header("Cache-Control"), "no-store", "pixel Cache-Control", r)
    expect(r.body.startswith(GIF_MAGIC) and len(r.body) == 43, "pixel body: %r" % r.body)
    row = json.loads(sql("SELECT row_to_json(t) FROM (SELECT e.path, e.event_type, e.property_id, "
                         "e.traffic_source::text, s.referrer, s.utm_source, v.anon_id FROM events e "
                         "JOIN sessions s ON s.id = e.session_id JOIN visitors v ON v.id = e.visitor_id "
                         "WHERE e.path = '/email/welcome') t"))
    expect_eq({k: row[k] for k in ("event_type", "property_id", "traffic_source", "referrer", "utm_source")},
              {"event_type": "page_view", "property_id": "news-site", "traffic_source": "email",
               "referrer": "https://mail.example/inbox", "utm_source": "newsletter"}, "stored pixel event")
    expect(CK_RE.fullmatch(row["anon_id"]), "pixel visitor is cookieless: %r" % row["anon_id"])
    # e names another event type
    r = s.request("GET", "/v1/p.gif?p=/mail/open&e=email_open", headers={"Host": HOST})
    expect_eq(r.status, 200, "pixel with e", r)
    expect_eq(sql("SELECT event_type FROM events WHERE path = '/mail/open'"), "email_open", "event type from e")
    # validation as for /v1/events, issues under the query names, a rejection row
    before = int(sql("SELECT count(*) FROM ingest_rejections WHERE endpoint = '/v1/p.gif'"))
    for path, issues in (("/v1/p.gif", ["p"]), ("/v1/p.gif?p=/x&e=", ["e"]), ("/v1/p.gif?p=/x&p=/y", ["p"]),
                         ("/v1/p.gif?p=/x&utm_source=" + "s" * 256, ["utm_source"]),
                         ("/v1/p.gif?p=/x&eid=nope", ["eid"])):
        r = s.request("GET", path, headers={"Host": HOST})
        expect_error(r, 400, "invalid_request", extra=True)
        expect_eq(sorted(i["path"] for i in r.json["issues"]), issues, "issues of %s" % path[:60], r)
    expect_eq(int(sql("SELECT count(*) FROM ingest_rejections WHERE endpoint = '/v1/p.gif'")), before + 5,
              "rejection rows of the pixel")
    # HEAD answers like the image and stores nothing; POST is 405
    n = sql("SELECT count(*) FROM events")
    r = s.request("HEAD", "/v1/p.gif?p=/head", headers={"Host": HOST})
    expect_eq((r.status, r.header("Content-Type"), r.body), (200, "image/gif", b""), "HEAD pixel", r)
    expect_eq(sql("SELECT count(*) FROM events"), n, "events after a HEAD")
    expect_error(s.request("POST", "/v1/p.gif?p=/x", b"", {"Host": HOST}), 405, "method_not_allowed")


@test(timeout=90)
def bots_dropped_and_counted():
    s = stack()
    prop = "bots.privacy.test"
    before = sql("SELECT count(*) FROM events")
    cases = [(None, "empty_ua"), ("   ", "empty_ua"),
             ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "bot_ua"),
             ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/120.0 Safari/537.36", "headless"),
             ("Mozilla/5.0 PhantomJS/2.1.1", "headless"), ("facebookexternalhit/1.1", "bot_ua")]
    for ua, reason in cases:
        r = event({"Host": prop, "User-Agent": ua}, path="/bot")
        expect_eq((r.status, r.json), (202, {"ok": True}), "answer to a %s (%r)" % (reason, ua), r)
    r = s.request("GET", "/v1/p.gif?p=/bot-pixel", headers={"Host": prop, "User-Agent": "AhrefsBot/7.0"})
    expect_eq((r.status, r.header("Content-Type")), (200, "image/gif"), "pixel answer to a bot", r)
    expect_eq(sql("SELECT count(*) FROM events"), before, "events stored from bots")
    counts = dict(l.split("|") for l in sql("SELECT reason || '|' || dropped FROM ingest_bot_drops "
                                            "WHERE property_id = '%s'" % prop).splitlines())
    expect_eq(counts, {"empty_ua": "2", "bot_ua": "3", "headless": "2"}, "ingest_bot_drops of %s" % prop)
    # an HTTP library is not a bot here (server-side senders are legitimate callers)
    accepted(event({"Host": prop, "User-Agent": "curl/8.5.0"}, path="/curl"))

    day = today().isoformat()
    env = harness.service_env(db_url())
    r = backend(["rollups", "run"], env)
    expect_eq(r.returncode, 0, "rollups run (%s)" % r.stderr)
    for pid in (prop, "default"):
        r = s.request("GET", "/v1/metrics/summary?from=%s&to=%s&propertyId=%s" % (day, day, pid),
                      headers={"x-admin-key": ADMIN_KEY})
        expect_eq(r.status, 200, "summary", r)
        got = r.json["ingest"]["botsDropped"]
        if pid == prop:
            expect_eq(got, {"empty_ua": 2, "bot_ua": 3, "headless": 2}, "botsDropped of %s" % pid, r)
        else:
            expect(got["bot_ua"] >= 3 and got["headless"] >= 2 and got["empty_ua"] >= 2,
                   "botsDropped of default aggregates every property: %s" % got)
    r = backend(["rollups", "discrepancy", "--from=" + day, "--to=" + day, "--property-id=" + prop], env)
    expect("%s botsDropped empty_ua=2 bot_ua=3 headless=2" % day in r.stdout, "discrepancy output: %r" % r.stdout)

    # BOT_POLICY=label: stored and labelled, as before
    lab = stack(BOT_POLICY="label")
    j = accepted(event({"Host": prop, "User-Agent": "Mozilla/5.0 (compatible; Googlebot/2.1)"}, s=lab,
                       anonId="label-bot-0001", path="/labelled"))
    expect_eq(sql("SELECT device_type FROM events WHERE id = '%s'" % j["eventId"]), "bot", "labelled bot")
    expect_eq(sql("SELECT sum(dropped) FROM ingest_bot_drops WHERE property_id = '%s'" % prop), "7",
              "no drop counted under BOT_POLICY=label")
