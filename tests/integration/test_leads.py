"""test_leads.py - the lead routes through real lighttpd + responders + Postgres: POST
/v1/leads/capture (JSON and form posts), /v1/leads/unsubscribe and /v1/leads/delete, checked
against the rows they leave (API.md sections 1-3; schema-reference.md for the tables).

Every request comes from 127.0.0.1. Heuristic linking joins visitors by (last ip hash, last ua
hash), so each test that counts links sends its own User-Agent: visitors of other tests then never
qualify. The module uses its own database (`leads`), so row counts are its own."""

import datetime
import hashlib
import hmac
import http.client
import json
import re
import time
import urllib.parse
import uuid

import harness
from harness import (ADMIN_KEY, ALLOWED_ORIGIN, PEPPER, CIDict, Fail, Response, Stack, expect, expect_eq,
                     expect_error, test)

DB = "leads"
JSON_CT = "application/json; charset=utf-8"
FORM_CT = "application/x-www-form-urlencoded"
CAPTURE = "/v1/leads/capture"
UNSUBSCRIBE = "/v1/leads/unsubscribe"
DELETE = "/v1/leads/delete"
DEFAULT_UA = "itest-leads/1.0 (X11; Linux x86_64)"
IP_HASH = hmac.new(PEPPER.encode(), b"127.0.0.1", hashlib.sha256).hexdigest()
HEURISTIC_WINDOW_MIN = 15
HEURISTIC_MAX = 20

# Every email and payload value the module sends: none of them may reach a log (API.md §2, README).
SENSITIVE = set()


# ---- shared resources

def pg():
    return harness.shared_postgres()


def db_url():
    return harness.migrated_database(DB)


def main_stack():
    """The module's stack: limits of the lead routes off (all requests share one client IP),
    LOG_LEVEL=debug so that the log check sees everything the responders can say."""
    return harness.shared("leads-main-stack", lambda: Stack(db_url(), workers=3, env={
        "RATE_LIMIT_CAPTURE": 0, "RATE_LIMIT_UNSUBSCRIBE": 0, "RATE_LIMIT_DELETE": 0, "RATE_LIMIT_EVENTS": 0,
        "LOG_LEVEL": "debug"}))


def no_heuristic_stack():
    return harness.shared("leads-noheur-stack", lambda: Stack(db_url(), workers=1, env={
        "ENABLE_HEURISTIC_LINKING": "false", "RATE_LIMIT_CAPTURE": 0, "RATE_LIMIT_EVENTS": 0}))


def no_admin_stack():
    return harness.shared("leads-noadmin-stack", lambda: Stack(db_url(), workers=1, env={"ADMIN_API_KEY": None}))


def uid():
    return uuid.uuid4().hex[:12]


def new_email(tag="lead", domain="example.com"):
    e = "%s-%s@%s" % (tag, uid(), domain)
    SENSITIVE.add(e)
    return e


def anon(tag="anon"):
    return "%s-%s" % (tag, uid())


def own_ua(tag):
    return "itest-leads-%s-%s/1.0" % (tag, uid())


# ---- database helpers

lit = harness.sql_lit  # SQL literals for the psql checks


def rows(sql):
    """The rows of a SELECT as a list of dicts (through json_agg: types survive psql)."""
    out = pg().psql("SELECT coalesce(json_agg(t), '[]'::json) FROM (%s) t" % sql, db=DB).strip()
    return json.loads(out)


def one(sql):
    r = rows(sql)
    if len(r) != 1:
        raise Fail("expected one row from %s, got %r" % (sql, r))
    return r[0]


def scalar(sql):
    return pg().psql(sql, db=DB).strip()


def count(sql_from_where):
    return int(scalar("SELECT count(*) FROM " + sql_from_where))


def lead_row(email_normalized):
    r = rows("SELECT * FROM leads WHERE email_normalized = %s" % lit(email_normalized))
    return r[0] if r else None


def consent_rows(lead_id):
    return rows("SELECT id, status::text AS status, source, ip_hash, \"timestamp\" FROM consent_events "
                "WHERE lead_id = %s ORDER BY \"timestamp\", created_at" % lit(lead_id))


def identities(lead_id, source=None):
    where = "lead_id = %s" % lit(lead_id)
    if source:
        where += " AND link_source = %s" % lit(source)
    return rows("SELECT visitor_id, link_source::text AS link_source, confidence FROM lead_identities WHERE "
                + where + " ORDER BY link_source, visitor_id")


def visitor_id(anon_id):
    r = rows("SELECT id FROM visitors WHERE anon_id = %s" % lit(anon_id))
    return r[0]["id"] if r else None


def rejections(endpoint=CAPTURE):
    return count("ingest_rejections WHERE endpoint = %s" % lit(endpoint))


def table_counts():
    return {t: count(t) for t in ("visitors", "sessions", "events", "leads", "lead_identities", "form_submissions",
                                  "consent_events", "ingest_rejections")}


# ---- request helpers

def post(s, path, body, ua=DEFAULT_UA, headers=None, content_type=None):
    h = {"User-Agent": ua}
    if content_type:
        h["Content-Type"] = content_type
    h.update(headers or {})
    return s.request("POST", path, body, headers=h)


def capture(s, body, ua=DEFAULT_UA, headers=None):
    return post(s, CAPTURE, body, ua, headers)


def capture_ok(s, body, ua=DEFAULT_UA, headers=None):
    """A capture that must succeed; returns the parsed body after checking its shape."""
    r = capture(s, body, ua, headers)
    expect_eq(r.status, 200, "capture status", r)
    expect_eq(r.header("Content-Type"), JSON_CT, "content-type", r)
    expect(r.body.startswith(b'{"ok":true'), "success body must start with \"ok\": true", r)
    j = r.json
    expect_eq(sorted(j), ["heuristicLinksCreated", "leadId", "ok", "sessionId", "visitorId"], "body keys", r)
    for k in ("leadId", "visitorId", "sessionId"):
        expect(isinstance(j[k], str) and re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                                                          j[k]), "%s is not a UUID" % k, r)
    expect(isinstance(j["heuristicLinksCreated"], int) and not isinstance(j["heuristicLinksCreated"], bool)
           and j["heuristicLinksCreated"] >= 0, "heuristicLinksCreated is not a count", r)
    return j


def page_view(s, anon_id, ua, path="/", timestamp=None):
    body = {"anonId": anon_id, "eventType": "page_view", "path": path}
    if timestamp is not None:
        body["timestamp"] = timestamp
    r = post(s, "/v1/events", body, ua)
    expect_eq(r.status, 202, "page_view status", r)
    return r.json


def form_post(s, fields, ua=DEFAULT_UA, headers=None, raw=None):
    """A form post (application/x-www-form-urlencoded): fields is a list of pairs or a dict."""
    body = raw if raw is not None else urllib.parse.urlencode(fields)
    return post(s, CAPTURE, body.encode(), ua, headers, content_type=FORM_CT)


def request_from(s, source_ip, method, path, body=None, headers=None):
    """Like Stack.request, but from another loopback address (a different client IP)."""
    headers = dict(headers or {})
    if isinstance(body, dict):
        body = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10, source_address=(source_ip, 0))
    t0 = time.monotonic()
    try:
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        return Response(method, path, r.status, r.reason, CIDict(r.getheaders()), data, time.monotonic() - t0)
    finally:
        conn.close()


def iso_ago(minutes):
    t = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=minutes)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


def issue_paths(r):
    expect(isinstance(r.json, dict) and isinstance(r.json.get("issues"), list), "no issues list", r)
    for i in r.json["issues"]:
        expect(isinstance(i, dict) and isinstance(i.get("path"), str) and isinstance(i.get("message"), str)
               and i["message"], "malformed issue %r" % (i,), r)
    return sorted(i["path"] for i in r.json["issues"])


def expect_invalid(r, paths, what=""):
    """400 invalid_request whose issues name exactly these paths (each at least once)."""
    expect_error(r, 400, "invalid_request", extra=True)
    expect_eq(sorted(set(issue_paths(r))), sorted(set(paths)), "issue paths %s" % what, r)


def wait_for_dedupe_bucket(need_s=3.0):
    """Sleeps until the current 30-second dedupe bucket has at least need_s seconds left."""
    left = 30 - (time.time() % 30)
    if left < need_s:
        time.sleep(left + 0.2)


def wait_for_fresh_minute(need_s):
    left = 60 - (time.time() % 60)
    if left < need_s:
        time.sleep(left + 0.3)


# =============================================================================================
# capture: a new lead, the upsert by normalised email

@test
def capture_new_lead():
    s = main_stack()
    email, a = new_email("new"), anon()
    before = time.time()
    j = capture_ok(s, {"email": email, "anonId": a, "sourceChannel": "newsletter", "consentStatus": "express"})
    expect_eq(j["visitorId"], visitor_id(a), "visitorId = the visitor of anonId")
    lead = lead_row(email)
    expect(lead is not None, "no leads row for %s" % email)
    expect_eq(lead["id"], j["leadId"], "leadId")
    expect_eq(lead["email_normalized"], email, "email_normalized")
    expect_eq(lead["email_domain"], "example.com", "email_domain")
    expect_eq(lead["consent_status"], "express", "consent_status from consentStatus")
    expect_eq(lead["source_channel"], "newsletter", "source_channel")
    expect_eq(lead["first_captured_at"], lead["last_captured_at"], "first = last captured_at for a new lead")
    expect_eq(lead["created_at"], lead["first_captured_at"], "created_at")
    expect(lead["updated_at"] is not None, "updated_at not set")
    age = float(scalar("SELECT extract(epoch FROM (now() AT TIME ZONE 'UTC') - first_captured_at) FROM leads "
                       "WHERE id = %s" % lit(lead["id"])))
    expect(-1 <= age <= time.time() - before + 2, "first_captured_at is not the server's UTC now (age %.3f s)" % age)
    sess = one("SELECT visitor_id FROM sessions WHERE id = %s" % lit(j["sessionId"]))
    expect_eq(sess["visitor_id"], j["visitorId"], "sessionId belongs to the visitor")

    # defaults: consent pending, no source channel; the domain is lower-cased with the rest
    email2 = new_email("Defaults", "Mail.Example.ORG")
    j2 = capture_ok(s, {"email": email2, "anonId": anon()})
    lead2 = lead_row(email2.lower())
    expect(lead2 is not None, "no lead stored under the lower-cased email %s" % email2.lower())
    expect_eq(lead2["id"], j2["leadId"], "leadId")
    expect_eq(lead2["email_domain"], "mail.example.org", "email_domain")
    expect_eq(lead2["consent_status"], "pending", "consent_status default")
    expect_eq(lead2["source_channel"], None, "source_channel default")
    expect(j2["leadId"] != j["leadId"], "two emails, one lead id")

    # the fields are trimmed; unknown keys are ignored; text/plain carries JSON too (sendBeacon)
    email3 = new_email("beacon")
    j3 = capture_ok(s, {"email": email3, "anonId": "  %s  " % a, "sourceChannel": "  ads  ", "whatever": [1, 2],
                        "consentStatus": " implied "})
    expect_eq(j3["visitorId"], j["visitorId"], "trimmed anonId is the same visitor")
    lead3 = lead_row(email3)
    expect_eq(lead3["source_channel"], "ads", "source_channel trimmed")
    expect_eq(lead3["consent_status"], "implied", "consentStatus trimmed")
    r = post(s, CAPTURE, json.dumps({"email": new_email("plain"), "anonId": anon()}).encode(),
             content_type="text/plain;charset=UTF-8")
    expect_eq(r.status, 200, "capture with text/plain JSON", r)


@test
def capture_dedupes_by_normalised_email():
    s = main_stack()
    tag = uid()
    sent = "Person.%s@Example.COM" % tag
    norm = sent.lower()
    SENSITIVE.update((sent, norm))
    a = anon()
    j1 = capture_ok(s, {"email": sent, "anonId": a, "sourceChannel": "newsletter", "consentStatus": "express"})
    first = lead_row(norm)
    expect(first is not None, "no lead under %s" % norm)
    time.sleep(0.02)
    j2 = capture_ok(s, {"email": norm, "anonId": a})
    expect_eq(j2["leadId"], j1["leadId"], "leadId of the second capture")
    expect_eq(count("leads WHERE lower(email_normalized) = %s" % lit(norm)), 1, "lead rows")
    second = lead_row(norm)
    expect_eq(second["source_channel"], None, "source_channel overwritten with null when omitted")
    expect_eq(second["consent_status"], "express", "consent untouched without consentStatus")
    expect_eq(second["first_captured_at"], first["first_captured_at"], "first_captured_at kept")
    expect(second["last_captured_at"] > first["last_captured_at"],
           "last_captured_at not moved: %s -> %s" % (first["last_captured_at"], second["last_captured_at"]))
    expect_eq(second["created_at"], first["created_at"], "created_at kept")
    expect_eq(second["email_domain"], "example.com", "email_domain")

    # a third capture sets the channel again; a different visitor joins the same lead
    b = anon()
    j3 = capture_ok(s, {"email": "PERSON.%s@EXAMPLE.COM" % tag.upper(), "anonId": b, "sourceChannel": "webinar"})
    SENSITIVE.add("PERSON.%s@EXAMPLE.COM" % tag.upper())
    expect_eq(j3["leadId"], j1["leadId"], "leadId of an upper-case capture")
    expect_eq(lead_row(norm)["source_channel"], "webinar", "source_channel overwritten")
    links = identities(j1["leadId"], "form_submit")
    expect_eq(sorted(l["visitor_id"] for l in links), sorted([visitor_id(a), visitor_id(b)]),
              "form_submit links of both visitors")
    # the email is validated as sent: a leading space is not trimmed away first
    r = capture(s, {"email": " " + norm, "anonId": a})
    expect_invalid(r, ["email"], "for a leading space")


@test
def capture_long_valid_emails():
    """An address at the 320 limit is valid however it is split: the part after '@' can be longer
    than leads.email_domain (VARCHAR(255)), which must not turn a valid capture into a 500."""
    s = main_stack()
    local = "l%s-" % uid()
    email = local + "a" * (320 - len(local) - len("@example.com")) + "@example.com"
    SENSITIVE.add(email)
    expect_eq(len(email), 320, "length")
    j = capture_ok(s, {"email": email, "anonId": anon()})
    expect_eq(lead_row(email)["id"], j["leadId"], "lead of a 320-character email")
    r = capture(s, {"email": "a" + email, "anonId": anon()})
    expect_invalid(r, ["email"], "for 321 characters")
    # a domain of 311 characters (valid per the pattern, 313 in all)
    domain = "d%s" % uid() + "b" * (250 - 13) + "." + "c" * 60
    long_domain = "ld@" + domain
    SENSITIVE.add(long_domain)
    expect(len(domain) > 255 and len(long_domain) <= 320, "shape of the long-domain address")
    r = capture(s, {"email": long_domain, "anonId": anon()})
    expect_eq(r.status, 200, "capture of a valid email whose domain is %d characters (API.md: 500 is never for "
              "anything a client can send)" % len(domain), r)
    expect(lead_row(long_domain) is not None, "no lead for the long-domain email")


# ---- the form_submit event

@test
def capture_form_submit_event():
    s = main_stack()
    ua = own_ua("event")
    a = anon()
    wait_for_dedupe_bucket()
    j = capture_ok(s, {"email": new_email("event"), "anonId": a, "path": "/pricing",
                       "referrer": "https://www.google.com/search?q=x", "formName": "demo_request",
                       "sourceChannel": "ads", "utm": {"source": "google", "medium": "cpc", "campaign": "spring"}},
                   ua=ua, headers={"Origin": ALLOWED_ORIGIN})
    ev = rows("SELECT * FROM events WHERE visitor_id = %s" % lit(j["visitorId"]))
    expect_eq(len(ev), 1, "events of the capturing visitor")
    e = ev[0]
    expect_eq(e["event_type"], "form_submit", "event_type")
    expect_eq(e["is_conversion"], True, "is_conversion")
    expect_eq(e["is_entrance"], False, "is_entrance")
    expect_eq(e["is_exit"], False, "is_exit")
    expect_eq(e["path"], "/pricing", "path")
    expect_eq(e["props"], {"formName": "demo_request", "sourceChannel": "ads"}, "props")
    expect_eq(e["session_id"], j["sessionId"], "session_id")
    expect_eq(e["ip_hash"], IP_HASH, "ip_hash")
    expect_eq(e["ua_hash"], hmac.new(PEPPER.encode(), ua.encode(), hashlib.sha256).hexdigest(), "ua_hash")
    expect_eq(e["property_id"], "allowed.example", "property_id (site host of the Origin)")
    expect_eq(e["traffic_source"], "paid_search", "traffic_source (utm medium cpc)")
    expect_eq(e["device_type"], "desktop", "device_type")
    expect(e["dedupe_key"] and re.fullmatch(r"[0-9a-f]{64}", e["dedupe_key"]), "dedupe_key %r" % e["dedupe_key"])
    sess = one("SELECT landing_path, referrer, utm_source, utm_medium, utm_campaign, utm_term FROM sessions "
               "WHERE id = %s" % lit(j["sessionId"]))
    expect_eq(sess, {"landing_path": "/pricing", "referrer": "https://www.google.com/search",
                     "utm_source": "google", "utm_medium": "cpc", "utm_campaign": "spring", "utm_term": None},
              "session of the capture")
    vis = one("SELECT last_ip_hash, first_ip_hash FROM visitors WHERE id = %s" % lit(j["visitorId"]))
    expect_eq(vis, {"last_ip_hash": IP_HASH, "first_ip_hash": IP_HASH}, "visitor hashes")

    # another capture (another email) within the dedupe bucket: its own event and submission
    # (issue 11 item 6: the event used to be deduplicated, under-counting conversions)
    again = capture_ok(s, {"email": new_email("event2"), "anonId": a, "path": "/pricing",
                           "referrer": "https://www.google.com/search?q=x", "formName": "demo_request",
                           "sourceChannel": "ads", "utm": {"source": "google", "medium": "cpc", "campaign": "spring"}},
                       ua=ua, headers={"Origin": ALLOWED_ORIGIN})
    expect_eq(again["sessionId"], j["sessionId"], "sessionId of the repeated capture")
    expect_eq(count("events WHERE visitor_id = %s" % lit(j["visitorId"])), 2,
              "events after a capture of another email in the same 30-second bucket")
    expect_eq(count("form_submissions WHERE visitor_id = %s" % lit(j["visitorId"])), 2, "form submissions")

    # defaults: path "/", formName lead_capture, props without sourceChannel, no Origin: Host
    b = anon()
    k = capture_ok(s, {"email": new_email("event3"), "anonId": b}, ua=ua)
    e2 = one("SELECT event_type, path, props, is_conversion, property_id, traffic_source::text AS ts "
             "FROM events WHERE visitor_id = %s" % lit(k["visitorId"]))
    expect_eq(e2, {"event_type": "form_submit", "path": "/", "props": {"formName": "lead_capture"},
                   "is_conversion": True, "property_id": "127.0.0.1", "ts": "direct"}, "default form_submit event")
    sub = one("SELECT form_name FROM form_submissions WHERE visitor_id = %s" % lit(k["visitorId"]))
    expect_eq(sub["form_name"], "lead_capture", "default form_name")


# ---- identity links and submissions

@test
def capture_identity_link_and_submission():
    s = main_stack()
    ua = own_ua("ident")
    email, a = new_email("ident"), anon()
    payload = {"firstName": "Ada-%s" % uid(), "company": "Analytical Engines", "employees": 12,
               "nested": {"list": [1, "two", None], "ok": True}, "note": "caf\u00e9 \u2603"}
    SENSITIVE.add(payload["firstName"])
    j = capture_ok(s, {"email": email, "anonId": a, "formName": "contact", "payload": payload}, ua=ua)
    links = identities(j["leadId"])
    expect_eq(links, [{"visitor_id": j["visitorId"], "link_source": "form_submit", "confidence": 1.0}],
              "lead_identities after the first capture")
    subs = rows("SELECT * FROM form_submissions WHERE lead_id = %s" % lit(j["leadId"]))
    expect_eq(len(subs), 1, "form_submissions rows")
    sub = subs[0]
    expect_eq(sub["visitor_id"], j["visitorId"], "submission visitor_id")
    expect_eq(sub["session_id"], j["sessionId"], "submission session_id")
    expect_eq(sub["form_name"], "contact", "form_name")
    expect_eq(sub["payload"], payload, "payload")
    expect_eq(scalar("SELECT payload->>'employees' FROM form_submissions WHERE id = %s" % lit(sub["id"])), "12",
              "an integer in the payload is stored as an integer")
    expect_eq(sub["validation_status"], "accepted", "validation_status")
    expect(sub["submitted_at"] is not None, "submitted_at")

    # a lower confidence is raised back to 1.0 by the next capture of the same visitor
    pg().psql("UPDATE lead_identities SET confidence = 0.5 WHERE lead_id = %s" % lit(j["leadId"]), db=DB)
    j2 = capture_ok(s, {"email": email, "anonId": a, "formName": "contact-2"}, ua=ua)
    expect_eq(identities(j2["leadId"]), [{"visitor_id": j["visitorId"], "link_source": "form_submit",
                                          "confidence": 1.0}], "lead_identities after the second capture")
    subs = rows("SELECT form_name, payload FROM form_submissions WHERE lead_id = %s ORDER BY submitted_at, form_name"
                % lit(j["leadId"]))
    expect_eq(sorted(subs, key=lambda x: x["form_name"]),
              [{"form_name": "contact", "payload": payload}, {"form_name": "contact-2", "payload": None}],
              "one submission per capture (no payload: NULL)")


# ---- consent

@test
def consent_rows_and_sticky_withdrawal():
    s = main_stack()
    email, a = new_email("consent"), anon()
    j = capture_ok(s, {"email": email, "anonId": a})
    lead_id = j["leadId"]
    seen = set()

    def step(what, want_status, want_rows):
        """want_rows: the (status, source) of the consent_events rows this step must have added."""
        all_rows = consent_rows(lead_id)
        new = [r for r in all_rows if r["id"] not in seen]
        seen.update(r["id"] for r in all_rows)
        expect_eq([(r["status"], r["source"]) for r in new], want_rows, "consent rows written by %s" % what)
        for r in new:
            expect_eq(r["ip_hash"], IP_HASH, "consent ip_hash (%s)" % what)
            expect(re.fullmatch(r"[0-9a-f]{64}", r["ip_hash"]), "ip_hash is not 64 hex")
        expect_eq(lead_row(email)["consent_status"], want_status, "consent_status after %s" % what)

    step("a new lead without consentStatus", "pending", [("pending", "form_submit")])
    capture_ok(s, {"email": email, "anonId": a})
    step("a capture without consentStatus", "pending", [("pending", "form_submit")])
    capture_ok(s, {"email": email, "anonId": a, "consentStatus": "express"})
    step("a capture with express", "express", [("express", "form_submit")])
    capture_ok(s, {"email": email, "anonId": a, "consentStatus": "express"})
    step("the same status again (a row all the same)", "express", [("express", "form_submit")])
    capture_ok(s, {"email": email, "anonId": a, "consentStatus": "pending"})
    step("pending after express (only withdrawal is sticky)", "pending", [("pending", "form_submit")])

    r = post(s, UNSUBSCRIBE, {"email": email})
    expect_eq(r.status, 200, "unsubscribe", r)
    step("unsubscribe", "withdrawn", [("withdrawn", "unsubscribe")])
    capture_ok(s, {"email": email, "anonId": a, "consentStatus": "pending"})
    step("pending after withdrawal (sticky: nothing written)", "withdrawn", [])
    capture_ok(s, {"email": email, "anonId": a})
    step("a capture without consentStatus after withdrawal", "withdrawn", [("withdrawn", "form_submit")])
    r = post(s, UNSUBSCRIBE, {"email": email, "reason": "again"})
    expect_eq(r.status, 200, "second unsubscribe", r)
    step("a second unsubscribe", "withdrawn", [("withdrawn", "unsubscribe")])
    capture_ok(s, {"email": email, "anonId": a, "consentStatus": "express"})
    step("express after withdrawal", "express", [("express", "form_submit")])
    capture_ok(s, {"email": email, "anonId": a, "consentStatus": "implied"})
    step("implied", "implied", [("implied", "form_submit")])

    # a new lead with a status gets exactly one row with it
    email2 = new_email("consent2")
    j2 = capture_ok(s, {"email": email2, "anonId": anon(), "consentStatus": "implied"})
    expect_eq([(r["status"], r["source"]) for r in consent_rows(j2["leadId"])], [("implied", "form_submit")],
              "consent rows of a new lead with implied")


# ---- heuristic links

def _links(lead_id):
    return identities(lead_id, "same_ip_ua_window")


@test
def heuristic_links_same_ip_and_ua():
    s = main_stack()
    ua, other_ua = own_ua("heur"), own_ua("heur-other")
    seen_a, seen_b = anon("seen-a"), anon("seen-b")
    page_view(s, seen_a, ua)
    page_view(s, seen_b, ua, timestamp=iso_ago(HEURISTIC_WINDOW_MIN - 1))  # inside the window
    old = anon("old")
    page_view(s, old, ua, timestamp=iso_ago(HEURISTIC_WINDOW_MIN + 5))     # seen too long ago
    other = anon("other-ua")
    page_view(s, other, other_ua)                                          # another user agent
    other_ip = anon("other-ip")
    r = request_from(s, "127.0.0.2", "POST", "/v1/events",
                     {"anonId": other_ip, "eventType": "page_view", "path": "/"}, {"User-Agent": ua})
    expect_eq(r.status, 202, "page_view from 127.0.0.2", r)
    expect(one("SELECT last_ip_hash FROM visitors WHERE anon_id = %s" % lit(other_ip))["last_ip_hash"] != IP_HASH,
           "127.0.0.2 hashed like 127.0.0.1")

    email, me = new_email("heur"), anon("me")
    j = capture_ok(s, {"email": email, "anonId": me}, ua=ua)
    got = _links(j["leadId"])
    want = sorted(visitor_id(x) for x in (seen_a, seen_b))
    expect_eq(sorted(l["visitor_id"] for l in got), want,
              "heuristic links (same IP and UA, within %d minutes)" % HEURISTIC_WINDOW_MIN)
    for l in got:
        expect_eq(l["confidence"], 0.35, "heuristic confidence")
    expect_eq(j["heuristicLinksCreated"], 2, "heuristicLinksCreated")
    expect(visitor_id(me) not in [l["visitor_id"] for l in got], "the capturing visitor linked to itself")

    # the same capture again: nothing new
    j2 = capture_ok(s, {"email": email, "anonId": me}, ua=ua)
    expect_eq(j2["heuristicLinksCreated"], 0, "heuristicLinksCreated of an identical second capture")
    expect_eq(len(_links(j["leadId"])), 2, "heuristic links after the second capture")

    # a new visitor appears: the next capture creates exactly that one link
    late = anon("late")
    page_view(s, late, ua)
    j3 = capture_ok(s, {"email": email, "anonId": me}, ua=ua)
    expect_eq(j3["heuristicLinksCreated"], 1, "heuristicLinksCreated after one more visitor")
    expect_eq(len(_links(j["leadId"])), 3, "heuristic links")


@test
def heuristic_links_at_most_20():
    s = main_stack()
    ua = own_ua("heur25")
    others = [anon("many%02d" % i) for i in range(25)]
    for r in s.parallel([("POST", "/v1/events", {"anonId": a, "eventType": "page_view", "path": "/"},
                          {"User-Agent": ua}) for a in others[:13]]):
        expect_eq(r.status, 202, "page_view", r)
    for r in s.parallel([("POST", "/v1/events", {"anonId": a, "eventType": "page_view", "path": "/"},
                          {"User-Agent": ua}) for a in others[13:]]):
        expect_eq(r.status, 202, "page_view", r)
    expect_eq(count("visitors WHERE anon_id IN (%s)" % ",".join(lit(a) for a in others)), 25, "visitors seen")
    j = capture_ok(s, {"email": new_email("heur25"), "anonId": anon("me")}, ua=ua)
    expect_eq(j["heuristicLinksCreated"], HEURISTIC_MAX, "heuristicLinksCreated with 25 candidates")
    links = _links(j["leadId"])
    expect_eq(len(links), HEURISTIC_MAX, "heuristic link rows")
    ids = {visitor_id(a) for a in others}
    expect(all(l["visitor_id"] in ids for l in links), "a link to a visitor outside the group: %r" % links)
    # whatever a repeated capture adds, the count it answers is the number of rows it created
    before = len(links)
    j2 = capture_ok(s, {"email": lead_row_email(j["leadId"]), "anonId": anon("me2")}, ua=ua)
    after = len(_links(j["leadId"]))
    expect_eq(j2["heuristicLinksCreated"], after - before, "heuristicLinksCreated = links newly created")
    expect(j2["heuristicLinksCreated"] <= HEURISTIC_MAX, "more than 20 links in one capture")


def lead_row_email(lead_id):
    return one("SELECT email_normalized FROM leads WHERE id = %s" % lit(lead_id))["email_normalized"]


@test
def heuristic_linking_disabled():
    s = no_heuristic_stack()
    ua = own_ua("noheur")
    a, b = anon("noheur-a"), anon("noheur-b")
    page_view(s, a, ua)
    page_view(s, b, ua)
    j = capture_ok(s, {"email": new_email("noheur"), "anonId": anon("me")}, ua=ua)
    expect_eq(j["heuristicLinksCreated"], 0, "heuristicLinksCreated with ENABLE_HEURISTIC_LINKING=false")
    expect_eq(_links(j["leadId"]), [], "same_ip_ua_window rows")
    expect_eq(len(identities(j["leadId"], "form_submit")), 1, "the strong link is still made")


# =============================================================================================
# form posts

@test
def form_post_maps_fields_and_redirects():
    s = main_stack()
    email, a = new_email("form"), anon()
    first = "Grace-%s" % uid()
    SENSITIVE.add(first)
    fields = [("email", email), ("anonId", a), ("formName", "newsletter"), ("path", "/thanks?x=1"),
              ("referrer", "https://news.example/"), ("sourceChannel", "footer"), ("consentStatus", "express"),
              ("honeypot", ""), ("utm_source", "mail"), ("utm_medium", "email"), ("utm_campaign", "may"),
              ("utm_term", "t"), ("utm_content", "c"), ("firstName", first), ("employees", "42"),
              ("note", "caf\u00e9 & more = yes"), ("empty", "")]
    r = form_post(s, fields)
    expect_eq(r.status, 303, "form post status", r)
    expect_eq(r.body, b"", "303 body", r)
    expect_eq(r.header("Location"), "/thanks?x=1", "Location", r)
    lead = lead_row(email)
    expect(lead is not None, "no lead from the form post")
    expect_eq((lead["consent_status"], lead["source_channel"]), ("express", "footer"), "lead fields")
    sub = one("SELECT form_name, payload, session_id, visitor_id FROM form_submissions WHERE lead_id = %s"
              % lit(lead["id"]))
    expect_eq(sub["form_name"], "newsletter", "form_name")
    # empty inputs mean "not given": an HTML form sends every input, filled or not
    expect_eq(sub["payload"], {"firstName": first, "employees": "42", "note": "caf\u00e9 & more = yes"},
              "payload: every other non-empty field, as strings")
    sess = one("SELECT landing_path, referrer, utm_source, utm_medium, utm_campaign, utm_term, utm_content "
               "FROM sessions WHERE id = %s" % lit(sub["session_id"]))
    expect_eq(sess, {"landing_path": "/thanks", "referrer": "https://news.example/", "utm_source": "mail",
                     "utm_medium": "email", "utm_campaign": "may", "utm_term": "t", "utm_content": "c"},
              "session (utm_* fields became utm)")
    ev = one("SELECT event_type, path, props, traffic_source::text AS ts FROM events WHERE visitor_id = %s"
             % lit(sub["visitor_id"]))
    expect_eq(ev, {"event_type": "form_submit", "path": "/thanks",
                   "props": {"formName": "newsletter", "sourceChannel": "footer"}, "ts": "email"}, "event")

    # a form with no other fields has no payload; an unknown utm_ key is neither utm nor payload
    email2 = new_email("form2")
    r = form_post(s, [("email", email2), ("anonId", anon()), ("utm_foo", "bar")])
    expect_eq(r.status, 303, "status", r)
    sub2 = one("SELECT f.payload, s.utm_source FROM form_submissions f JOIN sessions s ON s.id = f.session_id "
               "JOIN leads l ON l.id = f.lead_id WHERE l.email_normalized = %s" % lit(email2))
    expect_eq(sub2, {"payload": None, "utm_source": None}, "payload and utm of a bare form")

    # a charset parameter on the content type changes nothing; GET is not a capture
    email3 = new_email("form3")
    r = post(s, CAPTURE, urllib.parse.urlencode({"email": email3, "anonId": anon(), "path": "/ok"}).encode(),
             content_type=FORM_CT + "; charset=UTF-8")
    expect_eq((r.status, r.header("Location")), (303, "/ok"), "form post with a charset parameter", r)
    expect(lead_row(email3) is not None, "no lead from the form post with a charset")
    r = s.request("GET", CAPTURE)
    expect_error(r, 405, "method_not_allowed")
    expect_eq(r.header("Allow"), "POST", "Allow", r)


@test
def form_post_location():
    s = main_stack()
    evil_origin = "https://evil.example"
    cases = [
        # (path or None, Origin header or None, expected Location)
        ("/thanks", None, "/thanks"),
        ("  /thanks  ", None, "/thanks"),
        ("/", None, "/"),
        ("//evil.example", None, "/"),
        ("//evil.example/thanks", None, "/"),
        ("/\\evil", None, "/"),
        ("https://evil.example/", None, "/"),
        ("thanks", None, "/"),
        (None, None, "/"),
        ("/thanks", ALLOWED_ORIGIN, ALLOWED_ORIGIN + "/thanks"),
        ("/a/b?c=d", harness.OTHER_ALLOWED_ORIGIN, harness.OTHER_ALLOWED_ORIGIN + "/a/b?c=d"),
        ("//evil.example", ALLOWED_ORIGIN, ALLOWED_ORIGIN + "/"),
        (None, ALLOWED_ORIGIN, ALLOWED_ORIGIN + "/"),
    ]
    for path, origin, want in cases:
        fields = [("email", new_email("loc")), ("anonId", anon())]
        if path is not None:
            fields.append(("path", path))
        r = form_post(s, fields, headers={"Origin": origin} if origin else None)
        expect_eq(r.status, 303, "status for path %r origin %r" % (path, origin), r)
        expect_eq(r.header("Location"), want, "Location for path %r origin %r" % (path, origin), r)
        expect_eq(r.body, b"", "303 body", r)
        if origin == ALLOWED_ORIGIN:
            expect_eq(r.header("Access-Control-Allow-Origin"), ALLOWED_ORIGIN, "ACAO", r)
    # a form on a foreign page: refused, no redirect (ENFORCE_ORIGIN, test_origin.py)
    r = form_post(s, [("email", new_email("loc")), ("anonId", anon()), ("path", "/thanks")],
                  headers={"Origin": evil_origin})
    expect_error(r, 403, "origin_not_allowed")
    expect("Location" not in r.headers, "Location for a foreign origin", r)
    expect("Access-Control-Allow-Origin" not in r.headers, "ACAO for a foreign origin", r)
    # header injection through path: a safe Location and no injected header
    r = form_post(s, [("email", new_email("crlf")), ("anonId", anon()), ("path", "/a\r\nSet-Cookie: x=1")])
    expect_eq(r.status, 303, "status for a CRLF path", r)
    expect_eq(r.header("Location"), "/", "Location for a CRLF path", r)
    expect("Set-Cookie" not in r.headers, "an injected Set-Cookie header", r)


@test
def form_post_errors_stay_json():
    s = main_stack()
    before = rejections()
    r = form_post(s, [("email", "not-an-email"), ("anonId", anon())])
    expect_invalid(r, ["email"], "of a form post")
    expect("Location" not in r.headers, "a 400 with a Location", r)
    r = form_post(s, [("email", new_email("rep")), ("anonId", anon()), ("email", new_email("rep2"))])
    expect_invalid(r, ["email"], "for a repeated key")
    r = form_post(s, [("email", new_email("rep3")), ("anonId", anon()), ("company", "a"), ("company", "b")])
    expect_invalid(r, ["company"], "for a repeated payload key")
    r = form_post(s, None, raw="email=%s&anonId=%s&bad=%%zz" % (urllib.parse.quote(new_email("pct")), anon()))
    expect_invalid(r, ["bad"], "for a malformed escape")
    r = form_post(s, None, raw="email=%s&anonId=%s&nul=a%%00b" % (urllib.parse.quote(new_email("nul")), anon()))
    expect_invalid(r, ["nul"], "for U+0000 in a form value")
    r = form_post(s, [("anonId", "short")])
    expect_invalid(r, ["anonId", "email"], "of a form post missing email")
    after = rejections()
    expect_eq(after - before, 6, "ingest_rejections rows for 6 refused form posts")
    # a honeypot form post: 202 {"ok":true}, nothing stored
    email = new_email("formbot")
    r = form_post(s, [("email", email), ("anonId", anon()), ("honeypot", "http://spam.example")])
    expect_eq(r.status, 202, "honeypot form post", r)
    expect_eq(r.json, {"ok": True}, "honeypot body", r)
    expect(lead_row(email) is None, "the honeypot form post stored a lead")
    # form bodies are for the capture only
    r = post(s, UNSUBSCRIBE, urllib.parse.urlencode({"email": new_email("x")}).encode(), content_type=FORM_CT)
    expect_error(r, 415, "unsupported_media_type")


# =============================================================================================
# validation

@test
def capture_validation_paths():
    s = main_stack()
    a = anon()
    # one accepted example of every bound, so that the refusals below are about the bound alone
    ok = {"email": new_email("bounds"), "anonId": "12345678", "formName": "\u00e9" * 255, "path": "/" + "p" * 2047,
          "referrer": "https://r.example/" + "r" * (2048 - 18), "sourceChannel": "\u00e9" * 255,
          "consentStatus": "implied", "payload": {}, "utm": {"source": "s" * 255, "medium": "m", "campaign": "c",
                                                             "term": "t", "content": "x"}}
    capture_ok(s, ok)
    base = {"email": new_email("valid"), "anonId": a}
    cases = [
        ({"email": None}, ["email"]),
        ({"email": 5}, ["email"]),
        ({"email": ""}, ["email"]),
        ({"email": "a..b@example.com"}, ["email"]),
        ({"email": "a@b.c"}, ["email"]),
        ({"email": "a@example.com "}, ["email"]),
        ({"email": "x" * 309 + "@example.com"}, ["email"]),  # 321
        ({"email": "j\u00f6rg@example.com"}, ["email"]),
        ({"email": "a\u0000b@example.com"}, ["email"]),
        ({"anonId": "1234567"}, ["anonId"]),
        ({"anonId": "  1234567  "}, ["anonId"]),
        ({"anonId": "a" * 129}, ["anonId"]),
        ({"anonId": 12345678}, ["anonId"]),
        # ({"anonId": None} is absent since issue 14: a cookieless visitor, test_privacy.py)
        ({"anonId": ""}, ["anonId"]),
        ({"formName": ""}, ["formName"]),
        ({"formName": "   "}, ["formName"]),
        ({"formName": "\u00e9" * 256}, ["formName"]),
        ({"formName": 1}, ["formName"]),
        ({"path": ""}, ["path"]),
        ({"path": "/" + "p" * 2048}, ["path"]),
        ({"referrer": ""}, ["referrer"]),
        ({"referrer": "r" * 2049}, ["referrer"]),
        ({"sourceChannel": ""}, ["sourceChannel"]),
        ({"sourceChannel": "s" * 256}, ["sourceChannel"]),
        ({"sourceChannel": None}, ["sourceChannel"]),
        ({"consentStatus": "withdrawn"}, ["consentStatus"]),
        ({"consentStatus": "EXPRESS"}, ["consentStatus"]),
        ({"consentStatus": ""}, ["consentStatus"]),
        ({"consentStatus": None}, ["consentStatus"]),
        ({"payload": [1, 2]}, ["payload"]),
        ({"payload": "x"}, ["payload"]),
        ({"payload": None}, ["payload"]),
        ({"payload": {"a": "x\u0000y"}}, ["payload"]),
        ({"payload": {"a": {"b": ["c\u0000"]}}}, ["payload"]),
        ({"utm": "google"}, ["utm"]),
        ({"utm": {"source": ""}}, ["utm.source"]),
        ({"utm": {"medium": "m" * 256}}, ["utm.medium"]),
        ({"utm": {"campaign": 1, "term": "", "content": None}}, ["utm.campaign", "utm.term", "utm.content"]),
        ({"honeypot": 1}, ["honeypot"]),
    ]
    before = rejections()
    for over, paths in cases:
        body = dict(base)
        body.update(over)
        r = capture(s, body)
        expect_invalid(r, paths, "for %r" % (over,))
    # every issue of a body is reported
    r = capture(s, {"email": "bad", "anonId": "x", "formName": "", "path": "", "referrer": "", "sourceChannel": "",
                    "consentStatus": "withdrawn", "payload": [], "utm": {"source": "", "term": 5}})
    expect_invalid(r, ["email", "anonId", "formName", "path", "referrer", "sourceChannel", "consentStatus",
                       "payload", "utm.source", "utm.term"], "of a body wrong everywhere")
    # U+0000 in a payload key (jansson refuses it while parsing): still the field's path
    raw = ('{"email":"%s","anonId":"%s","payload":{"k\\u0000":1}}' % (new_email("nulkey"), a)).encode()
    r = post(s, CAPTURE, raw, content_type="application/json")
    expect_invalid(r, ["payload"], "for U+0000 in a payload key")
    expect_eq(rejections() - before, len(cases) + 2, "one ingest_rejections row per refused capture")
    expect_eq(count("leads WHERE email_normalized = %s" % lit(base["email"])), 0, "a refused capture stored a lead")


@test
def capture_rejection_rows():
    s = main_stack()
    before = rows("SELECT id FROM ingest_rejections")
    seen = {r["id"] for r in before}

    def new_rows():
        got = rows("SELECT id, property_id, endpoint, reason, status_code FROM ingest_rejections")
        new = [r for r in got if r["id"] not in seen]
        seen.update(r["id"] for r in got)
        return [(r["property_id"], r["endpoint"], r["reason"], r["status_code"]) for r in new]

    r = capture(s, {"email": "nope", "anonId": anon()})
    expect_invalid(r, ["email"])
    expect_eq(new_rows(), [("default", CAPTURE, "invalid_request", 400)], "rejection of an invalid body")
    r = post(s, CAPTURE, b'{"email": "a@b.co", "anonId": ', content_type="application/json")
    expect_error(r, 400, "invalid_json")
    expect_eq(new_rows(), [("default", CAPTURE, "invalid_json", 400)], "rejection of broken JSON")
    r = post(s, CAPTURE, b'{"email":"a@b.co","email":"c@d.co","anonId":"12345678"}', content_type="application/json")
    expect_error(r, 400, "invalid_json")
    expect_eq(new_rows(), [("default", CAPTURE, "invalid_json", 400)], "rejection of duplicate keys")
    r = post(s, CAPTURE, b"", content_type="application/json")
    expect_invalid(r, [""], "of an empty body")
    expect_eq(new_rows(), [("default", CAPTURE, "invalid_request", 400)], "rejection of an empty body")
    r = post(s, CAPTURE, b"[1]", content_type="application/json")
    expect_invalid(r, [""], "of an array body")
    expect_eq(new_rows(), [("default", CAPTURE, "invalid_request", 400)], "rejection of an array body")
    r = post(s, CAPTURE, b"\xff\xfe{}", content_type="application/json")
    expect_error(r, 400, "invalid_json")
    expect_eq(new_rows(), [("default", CAPTURE, "invalid_json", 400)], "rejection of non-UTF-8")
    # the property of the rejected body, when it names a valid one
    r = capture(s, {"email": "nope", "anonId": anon(), "propertyId": "  site-a  "})
    expect_invalid(r, ["email"])
    expect_eq(new_rows(), [("site-a", CAPTURE, "invalid_request", 400)], "rejection with propertyId")
    # a form post refused for a repeated field still names its propertyId, and one refused by the
    # capture's own rules too
    r = post(s, CAPTURE, b"email=a%40b.co&anonId=abcdefgh12&propertyId=site-f&x=1&x=2",
             content_type="application/x-www-form-urlencoded")
    expect_invalid(r, ["x"], "of a form with a repeated field")
    expect_eq(new_rows(), [("site-f", CAPTURE, "invalid_request", 400)], "rejection of a form with a repeated field")
    r = post(s, CAPTURE, b"email=nope&anonId=abcdefgh12&propertyId=site-g",
             content_type="application/x-www-form-urlencoded")
    expect_invalid(r, ["email"], "of a form with a bad email")
    expect_eq(new_rows(), [("site-g", CAPTURE, "invalid_request", 400)], "rejection of a form with a bad email")
    # not a validation failure: no row
    r = post(s, CAPTURE, b"email=x", content_type="text/html")
    expect_error(r, 415, "unsupported_media_type")
    expect_eq(new_rows(), [], "rows for a 415")
    capture_ok(s, {"email": new_email("fine"), "anonId": anon()})
    expect_eq(new_rows(), [], "rows for an accepted capture")


@test
def capture_honeypot():
    s = main_stack()
    ua = own_ua("honeypot")
    page_view(s, anon("hp-seen"), ua)  # a heuristic candidate that must stay unlinked
    counts = table_counts()
    email, a = new_email("bot"), anon("bot")
    for hp in ("I am a bot", "  x  "):
        r = capture(s, {"email": email, "anonId": a, "honeypot": hp, "payload": {"x": "y"}}, ua=ua)
        expect_eq(r.status, 202, "honeypot status", r)
        expect_eq(r.json, {"ok": True}, "honeypot body", r)
        expect_eq(r.header("Content-Type"), JSON_CT, "content-type", r)
    expect_eq(table_counts(), counts, "row counts after honeypot captures (nothing at all is written)")
    expect(visitor_id(a) is None, "the honeypot capture created a visitor")
    # validation comes first: an invalid body with a honeypot is a 400 (and a rejection row)
    r = capture(s, {"email": "bad", "anonId": a, "honeypot": "bot"}, ua=ua)
    expect_invalid(r, ["email"], "of an invalid honeypot body")
    expect_eq(rejections() - counts["ingest_rejections"], 1, "rejection row for the invalid honeypot body")
    # a blank honeypot is no honeypot
    j = capture_ok(s, {"email": email, "anonId": a, "honeypot": "   "}, ua=ua)
    expect(lead_row(email) is not None and lead_row(email)["id"] == j["leadId"], "a blank honeypot was refused")


# =============================================================================================
# unsubscribe

@test
def unsubscribe():
    s = main_stack()
    email = new_email("Unsub", "Example.COM")
    j = capture_ok(s, {"email": email, "anonId": anon(), "consentStatus": "express"})
    norm = email.lower()
    r = post(s, UNSUBSCRIBE, {"email": email.upper(), "reason": "too many mails"})
    SENSITIVE.add(email.upper())
    expect_eq(r.status, 200, "unsubscribe status", r)
    expect_eq(r.json, {"ok": True, "found": True}, "unsubscribe body", r)
    expect(r.body.startswith(b'{"ok":true'), "success body must start with \"ok\": true", r)
    expect_eq(lead_row(norm)["consent_status"], "withdrawn", "consent_status")
    unsub = [(c["status"], c["ip_hash"]) for c in consent_rows(j["leadId"]) if c["source"] == "unsubscribe"]
    expect_eq(unsub, [("withdrawn", IP_HASH)], "the unsubscribe consent row (status, ip_hash)")
    # reason: 1-512 code points after trimming
    r = post(s, UNSUBSCRIBE, {"email": norm, "reason": "\u00e9" * 512})
    expect_eq(r.status, 200, "reason of 512", r)
    counts = table_counts()
    r = post(s, UNSUBSCRIBE, {"email": norm, "reason": "\u00e9" * 513})
    expect_invalid(r, ["reason"], "for a reason of 513")
    for bad, paths in (({"email": norm, "reason": ""}, ["reason"]),
                       ({"email": norm, "reason": "  "}, ["reason"]),
                       ({"email": norm, "reason": 5}, ["reason"]),
                       ({"email": " " + norm}, ["email"]),
                       ({"email": "a@b"}, ["email"]),
                       ({"email": "a..b@example.com"}, ["email"]),
                       ({"email": "x" * 309 + "@example.com"}, ["email"]),
                       ({"reason": "x"}, ["email"]),
                       ({"email": 1, "reason": 2}, ["email", "reason"])):
        r = post(s, UNSUBSCRIBE, bad)
        expect_invalid(r, paths, "for %r" % (bad,))
    r = post(s, UNSUBSCRIBE, b"", content_type="application/json")
    expect_invalid(r, [""], "of an empty body")
    r = post(s, UNSUBSCRIBE, b"{", content_type="application/json")
    expect_error(r, 400, "invalid_json")
    expect_eq(table_counts(), counts, "rows after refused unsubscribes (no ingest_rejections either)")
    # unknown email
    r = post(s, UNSUBSCRIBE, {"email": new_email("nobody")})
    expect_error(r, 404, "not_found")
    expect_eq(table_counts(), counts, "rows after an unknown unsubscribe")


# =============================================================================================
# delete

@test
def delete_auth():
    s = main_stack()
    email = new_email("authdel")
    capture_ok(s, {"email": email, "anonId": anon()})
    counts = table_counts()
    for hdrs in ({}, {"x-admin-key": "wrong-key-wrong-key-wrong-key"}, {"x-admin-key": ""},
                 {"x-admin-key": ADMIN_KEY[:-1]}, {"x-admin-key": ADMIN_KEY + "x"},
                 {"Authorization": "Bearer wrong-key-wrong-key-wrong"}, {"Authorization": ADMIN_KEY},
                 {"Authorization": "Basic " + ADMIN_KEY}):
        r = post(s, DELETE, {"email": email}, headers=hdrs)
        expect_error(r, 401, "unauthorized")
        # auth before validation: a body that would be refused still gets 401
        r = post(s, DELETE, {"email": "not an email"}, headers=hdrs)
        expect_error(r, 401, "unauthorized")
        r = post(s, DELETE, b"{", headers=dict(hdrs, **{"Content-Type": "application/json"}))
        expect_error(r, 401, "unauthorized")
    expect(lead_row(email) is not None, "the lead went away without a valid key")
    expect_eq(table_counts(), counts, "rows after refused deletes")
    # validation with a valid key: 400, no rejection rows
    for bad in ({"email": "nope"}, {"email": " " + email}, {}, {"email": None}):
        r = post(s, DELETE, bad, headers={"x-admin-key": ADMIN_KEY})
        expect_invalid(r, ["email"], "for %r" % (bad,))
    r = post(s, DELETE, b"{", headers={"x-admin-key": ADMIN_KEY, "Content-Type": "application/json"})
    expect_error(r, 400, "invalid_json")
    expect_eq(table_counts(), counts, "rows after invalid deletes (no ingest_rejections)")
    r = post(s, DELETE, {"email": new_email("unknown")}, headers={"x-admin-key": ADMIN_KEY})
    expect_error(r, 404, "not_found")
    # Authorization: Bearer works (and matches the email case-insensitively)
    r = post(s, DELETE, {"email": email.upper()}, headers={"Authorization": "Bearer " + ADMIN_KEY})
    SENSITIVE.add(email.upper())
    expect_eq(r.status, 200, "delete with Bearer", r)
    expect_eq(r.json, {"ok": True, "deleted": True}, "delete body", r)
    expect(lead_row(email) is None, "lead still there after delete")
    # x-admin-key works
    email2 = new_email("authdel2")
    capture_ok(s, {"email": email2, "anonId": anon()})
    r = post(s, DELETE, {"email": email2}, headers={"x-admin-key": ADMIN_KEY})
    expect_eq(r.status, 200, "delete with x-admin-key", r)
    expect_eq(r.json, {"ok": True, "deleted": True}, "delete body", r)


@test
def delete_without_admin_key_configured():
    s = no_admin_stack()
    for hdrs in ({}, {"x-admin-key": ADMIN_KEY}, {"Authorization": "Bearer " + ADMIN_KEY}):
        r = post(s, DELETE, {"email": new_email("noadmin")}, headers=hdrs)
        expect_error(r, 503, "admin_auth_not_configured")
        r = post(s, DELETE, {"email": "bad"}, headers=hdrs)
        expect_error(r, 503, "admin_auth_not_configured")
    # the other lead routes need no key
    r = post(s, UNSUBSCRIBE, {"email": new_email("noadmin2")})
    expect_error(r, 404, "not_found")


@test
def delete_erases_the_lead():
    s = main_stack()
    ua = own_ua("erase")
    email, a, b = new_email("Erase.Me", "Example.COM"), anon("erase-a"), anon("erase-b")
    norm = email.lower()
    secret = "secret-%s" % uid()
    SENSITIVE.add(secret)
    page_view(s, b, ua)
    j = capture_ok(s, {"email": email, "anonId": a, "payload": {"phone": secret}, "consentStatus": "express"}, ua=ua)
    capture_ok(s, {"email": norm, "anonId": b, "payload": {"phone": secret + "-2"}}, ua=ua)
    post(s, UNSUBSCRIBE, {"email": norm})
    lead_id = j["leadId"]
    expect(len(identities(lead_id)) >= 2, "identities before delete: %r" % identities(lead_id))
    expect(len(consent_rows(lead_id)) == 3, "consent rows before delete: %r" % consent_rows(lead_id))
    subs = [r["id"] for r in rows("SELECT id FROM form_submissions WHERE lead_id = %s" % lit(lead_id))]
    expect_eq(len(subs), 2, "submissions before delete")
    # another lead, to check that the erasure is scoped
    other = new_email("bystander")
    oj = capture_ok(s, {"email": other, "anonId": a, "payload": {"keep": "me"}}, ua=ua)
    analytics = {t: count(t) for t in ("visitors", "sessions", "events")}
    digest = scalar("SELECT md5(string_agg(x, ',' ORDER BY x)) FROM (SELECT ROW(v.*)::text x FROM visitors v "
                    "UNION ALL SELECT ROW(s.*)::text FROM sessions s UNION ALL SELECT ROW(e.*)::text FROM events e) q")

    r = post(s, DELETE, {"email": email}, headers={"x-admin-key": ADMIN_KEY})
    expect_eq(r.status, 200, "delete status", r)
    expect_eq(r.json, {"ok": True, "deleted": True}, "delete body", r)
    expect(lead_row(norm) is None, "the lead row is still there")
    expect_eq(count("lead_identities WHERE lead_id = %s" % lit(lead_id)), 0, "lead_identities left")
    expect_eq(count("consent_events WHERE lead_id = %s" % lit(lead_id)), 0, "consent_events left")
    left = rows("SELECT id, lead_id, payload, visitor_id, session_id, form_name FROM form_submissions WHERE id IN (%s)"
                % ",".join(lit(x) for x in subs))
    expect_eq(len(left), 2, "form_submissions kept")
    for sub in left:
        expect_eq(sub["lead_id"], None, "submission lead_id after delete")
        expect_eq(sub["payload"], None, "submission payload after delete")
        expect(sub["visitor_id"] is not None and sub["session_id"] is not None, "analytics links of a submission")
    expect_eq(count("form_submissions WHERE payload::text LIKE %s" % lit("%" + secret + "%")), 0,
              "the payload survives somewhere")
    expect_eq({t: count(t) for t in ("visitors", "sessions", "events")}, analytics, "anonymous analytics counts")
    expect_eq(scalar("SELECT md5(string_agg(x, ',' ORDER BY x)) FROM (SELECT ROW(v.*)::text x FROM visitors v "
                     "UNION ALL SELECT ROW(s.*)::text FROM sessions s UNION ALL SELECT ROW(e.*)::text FROM events e) "
                     "q"), digest, "anonymous analytics rows")
    # the other lead is untouched
    expect(lead_row(other) is not None, "the other lead went too")
    expect_eq(one("SELECT payload FROM form_submissions WHERE lead_id = %s" % lit(oj["leadId"]))["payload"],
              {"keep": "me"}, "the other lead's payload")
    expect_eq(len(identities(oj["leadId"], "form_submit")), 1, "the other lead's identity")
    # gone: a second delete and an unsubscribe are 404; a new capture starts a new lead
    r = post(s, DELETE, {"email": email}, headers={"x-admin-key": ADMIN_KEY})
    expect_error(r, 404, "not_found")
    r = post(s, UNSUBSCRIBE, {"email": email})
    expect_error(r, 404, "not_found")
    j2 = capture_ok(s, {"email": email, "anonId": a}, ua=ua)
    expect(j2["leadId"] != lead_id, "a recaptured email got the deleted lead's id")
    expect_eq(lead_row(norm)["consent_status"], "pending", "consent of the new lead")


# =============================================================================================
# concurrency and rate limits

@test
def concurrent_captures_of_one_new_email():
    s = main_stack()
    ua = own_ua("conc")
    email = new_email("conc")
    anons = [anon("conc%02d" % i) for i in range(10)]
    got = s.parallel([("POST", CAPTURE, {"email": email, "anonId": x, "payload": {"i": i}},
                       {"User-Agent": ua}) for i, x in enumerate(anons)], timeout=15)
    for r in got:
        expect_eq(r.status, 200, "status of a concurrent capture", r)
    lead_ids = {r.json["leadId"] for r in got}
    expect_eq(len(lead_ids), 1, "distinct leadIds among 10 concurrent captures")
    expect_eq(count("leads WHERE email_normalized = %s" % lit(email)), 1, "lead rows")
    lead_id = lead_ids.pop()
    expect_eq(count("form_submissions WHERE lead_id = %s" % lit(lead_id)), 10, "form_submissions")
    expect_eq(sorted(int(r["i"]) for r in rows("SELECT payload->>'i' AS i FROM form_submissions WHERE lead_id = %s"
                                                  % lit(lead_id))), list(range(10)), "payloads")
    strong = identities(lead_id, "form_submit")
    expect_eq(sorted(l["visitor_id"] for l in strong), sorted(visitor_id(x) for x in anons), "form_submit links")
    expect_eq(count("consent_events WHERE lead_id = %s" % lit(lead_id)), 10, "consent_events (one per capture)")
    expect_eq(lead_row(email)["consent_status"], "pending", "consent_status")
    expect_eq(sum(r.json["heuristicLinksCreated"] for r in got), len(_links(lead_id)),
              "sum of heuristicLinksCreated = heuristic rows (each counts only what it created)")
    expect_eq(count("events WHERE event_type = 'form_submit' AND visitor_id IN (%s)"
                    % ",".join(lit(visitor_id(x)) for x in anons)), 10, "form_submit events")


@test(timeout=60)
def capture_rate_limit():
    with Stack(db_url(), workers=2, env={"RATE_LIMIT_CAPTURE": 2}) as s:
        wait_for_fresh_minute(5)
        emails = [new_email("rl%d" % i) for i in range(3)]
        for i in range(2):
            r = capture(s, {"email": emails[i], "anonId": anon()})
            expect_eq(r.status, 200, "capture %d under the limit" % (i + 1), r)
            expect_eq(r.header("X-RateLimit-Limit"), "2", "X-RateLimit-Limit", r)
            expect_eq(r.header("X-RateLimit-Remaining"), str(1 - i), "X-RateLimit-Remaining", r)
        before = rejections()
        r = capture(s, {"email": emails[2], "anonId": anon()})
        expect_error(r, 429, "rate_limited")
        ra = r.header("Retry-After")
        expect(ra is not None and ra.isdigit() and 1 <= int(ra) <= 60, "Retry-After missing or bad", r)
        expect_eq(r.header("X-RateLimit-Remaining"), "0", "X-RateLimit-Remaining", r)
        expect(lead_row(emails[2]) is None, "the refused capture stored a lead")
        # a refused form post and an invalid body are refused the same way, before validation
        r = form_post(s, [("email", new_email("rl-form")), ("anonId", anon())])
        expect_error(r, 429, "rate_limited")
        r = capture(s, {"email": "bad"})
        expect_error(r, 429, "rate_limited")
        expect_eq(rejections(), before, "ingest_rejections rows for rate-limited requests")
        # other routes keep their own counts
        r = post(s, UNSUBSCRIBE, {"email": new_email("rl-unsub")})
        expect_error(r, 404, "not_found")


# =============================================================================================
# personal data never reaches a log (keep this test last)

@test(timeout=60)
def logs_hold_no_personal_data():
    s = main_stack()
    # some traffic of its own, so that the check means something when run alone
    email, secret = new_email("Logged", "Example.COM"), "pii-value-%s" % uid()
    SENSITIVE.add(secret)
    capture_ok(s, {"email": email, "anonId": anon(), "payload": {"ssn": secret}})
    expect_eq(form_post(s, [("email", email), ("anonId", anon()), ("phone", secret)]).status, 303, "form post")
    expect_eq(capture(s, {"email": email + ".", "anonId": anon(), "payload": {"x": secret}}).status, 400, "invalid")
    expect_eq(post(s, UNSUBSCRIBE, {"email": email, "reason": secret}).status, 200, "unsubscribe")
    expect_eq(post(s, DELETE, {"email": email}, headers={"x-admin-key": ADMIN_KEY}).status, 200, "delete")
    expect_eq(post(s, DELETE, {"email": email}, headers={"x-admin-key": ADMIN_KEY}).status, 404, "delete again")
    rc, _ = s.stop()
    stacks = [("main", s)]
    for key in ("leads-noheur-stack", "leads-noadmin-stack"):
        other = harness._SHARED.get(key)
        if other is not None and other.alive():
            other.stop()
            stacks.append((key, other))
    try:
        expect_eq(rc, 0, "lighttpd exit code")
        access = s.access_log_lines()
        expect(any(CAPTURE in l for l in access), "no capture in the access log: %r" % access[-5:])
        for name, st in stacks:
            with open(st.stderr_path, "rb") as f:
                err = f.read().decode("utf-8", "replace")
            logs = {"stderr of %s" % name: err, "access log of %s" % name: "\n".join(st.access_log_lines())}
            for where, text in logs.items():
                low = text.lower()
                for value in sorted(SENSITIVE):
                    expect(value.lower() not in low, "%s contains %r:\n%s" % (where, value, text[-3000:]))
                    local = value.split("@")[0].lower()
                    if "@" in value and len(local) >= 8:
                        expect(local not in low, "%s contains the local part %r" % (where, local))
                for secret_value in (PEPPER, ADMIN_KEY):
                    expect(secret_value not in text, "%s contains a secret" % where)
    finally:
        for key in ("leads-main-stack", "leads-noheur-stack", "leads-noadmin-stack"):
            harness.drop_shared(key)
