"""test_lead_access.py - issue 16 items 4 and 7: GET /v1/leads/access?email= (everything stored about
one person, in one JSON document) and linking that cannot mislabel people (no heuristic link from a
cookieless, GPC or DNT capture; unsubscribing drops the heuristic links; the access document shows
each link's confidence). Through real lighttpd + responders + Postgres.

Every request comes from 127.0.0.1: the NAT of the issue (two people behind one address, same
browser build) is two anonIds sending the same User-Agent."""

import hashlib
import json
import urllib.parse
import uuid

import harness
from harness import ADMIN_KEY, Stack, expect, expect_eq, expect_error, test

DB = "access"
CAPTURE = "/v1/leads/capture"
ACCESS = "/v1/leads/access"
UNSUB = "/v1/leads/unsubscribe"
ADMIN = {"x-admin-key": ADMIN_KEY}
FORM_CT = "application/x-www-form-urlencoded"
SECRET = "7e" * 32
EVENTS_MAX = 10000  # LEAD_ACCESS_EVENTS_MAX


def pg():
    return harness.shared_postgres()


def db_url():
    return harness.migrated_database(DB)


def main_stack():
    return harness.shared("access-main", lambda: Stack(db_url(), workers=2, env={
        "UNSUBSCRIBE_SECRET": SECRET, "RATE_LIMIT_CAPTURE": 0, "RATE_LIMIT_EVENTS": 0, "RATE_LIMIT_SUMMARY": 0,
        "RATE_LIMIT_UNSUBSCRIBE": 0}))


def uid():
    return uuid.uuid4().hex[:12]


lit = harness.sql_lit


def rows(sql):
    out = pg().psql("SELECT coalesce(json_agg(x), '[]'::json) FROM (%s) x" % sql, db=DB).strip()
    return json.loads(out)


def visitor_of(anon_id):
    r = rows("SELECT id FROM visitors WHERE anon_id = %s" % lit(anon_id))
    return r[0]["id"] if r else None


def page_view(s, anon_id, ua, path="/"):
    r = s.request("POST", "/v1/events", {"anonId": anon_id, "eventType": "page_view", "path": path},
                  headers={"User-Agent": ua})
    expect_eq(r.status, 202, "page_view", r)


def capture(s, body, ua, headers=None):
    r = s.request("POST", CAPTURE, body, headers=dict(headers or {}, **{"User-Agent": ua}))
    expect_eq(r.status, 200, "capture", r)
    return r.json


def heuristic_links(lead_id):
    return rows("SELECT visitor_id, confidence FROM lead_identities WHERE lead_id = %s "
                "AND link_source = 'same_ip_ua_window' ORDER BY visitor_id" % lit(lead_id))


def access(s, email):
    r = s.request("GET", ACCESS + "?email=" + urllib.parse.quote(email), headers=ADMIN)
    expect_eq(r.status, 200, "access", r)
    expect_eq(r.header("Content-Type"), "application/json; charset=utf-8", "content-type", r)
    expect(r.body.startswith(b'{"ok":true'), "the envelope's ok first", r)
    return r.json


def nat(s, tag):
    """Two other people behind this address with this browser, seen just now."""
    ua = "itest-access-%s-%s/1.0" % (tag, uid())
    a, b = "nat-a-" + uid(), "nat-b-" + uid()
    page_view(s, a, ua)
    page_view(s, b, ua)
    return ua, {visitor_of(a), visitor_of(b)}


@test
def no_heuristic_link_from_cookieless_gpc_or_dnt():
    s = main_stack()
    ua, others = nat(s, "nolink")
    cases = [
        ("cookieless (no anonId)", {}, {}),
        ("GPC", {"anonId": "gpc-" + uid()}, {"Sec-GPC": "1"}),
        ("DNT", {"anonId": "dnt-" + uid()}, {"DNT": "1"}),
    ]
    for what, extra, hdrs in cases:
        email = "nolink-%s@example.com" % uid()
        j = capture(s, dict({"email": email}, **extra), ua, hdrs)
        expect_eq(j["heuristicLinksCreated"], 0, "heuristicLinksCreated of a %s capture" % what)
        expect_eq(heuristic_links(j["leadId"]), [], "heuristic links of a %s capture" % what)
    # the tracker's cookieless form: the anonId input disabled, so the form posts none
    email = "nolink-form-%s@example.com" % uid()
    body = urllib.parse.urlencode([("email", email), ("path", "/thanks"), ("anonId", "")])
    r = s.request("POST", CAPTURE, body, headers={"User-Agent": ua, "Content-Type": FORM_CT})
    expect_eq(r.status, 303, "cookieless form post", r)
    lead = rows("SELECT id FROM leads WHERE email_normalized = %s" % lit(email))[0]["id"]
    expect_eq(heuristic_links(lead), [], "heuristic links of a cookieless form post")

    # with an anonId and no signal, as before: every visitor behind the address with that browser
    j = capture(s, {"email": "linked-%s@example.com" % uid(), "anonId": "me-" + uid()}, ua)
    got = {l["visitor_id"] for l in heuristic_links(j["leadId"])}
    expect(others <= got, "the NAT's visitors linked: %r vs %r" % (got, others))
    expect_eq(j["heuristicLinksCreated"], len(got), "heuristicLinksCreated")


@test
def no_heuristic_link_to_cookieless_gpc_or_dnt_visitors():
    """The other side of a link: a consented capture behind the NAT must not be tied to the browsing
    of people who sent no id, GPC or DNT (their visitor is the IP + UA hash, "ck:...", exactly what
    the heuristic matches on)."""
    s = main_stack()
    ua, others = nat(s, "ckside")
    for hdrs, body in [({}, {}), ({"Sec-GPC": "1"}, {"anonId": "gpc-" + uid()}),
                       ({"DNT": "1"}, {"anonId": "dnt-" + uid()})]:
        r = s.request("POST", "/v1/events", dict({"eventType": "page_view", "path": "/private"}, **body),
                      headers=dict(hdrs, **{"User-Agent": ua}))
        expect_eq(r.status, 202, "a privacy-mode page_view", r)
    ck = {r["id"] for r in rows("SELECT DISTINCT v.id FROM visitors v JOIN events e ON e.visitor_id = v.id "
                                 "WHERE e.path = '/private' AND v.anon_id LIKE 'ck:%%' "
                                 "AND v.last_seen_at > (now() AT TIME ZONE 'UTC') - interval '5 minutes'")}
    expect(ck, "the privacy-mode visitors exist")
    j = capture(s, {"email": "ckside-%s@example.com" % uid(), "anonId": "me-" + uid()}, ua)
    got = {l["visitor_id"] for l in heuristic_links(j["leadId"])}
    expect(others <= got, "the NAT's consented visitors are still linked: %r vs %r" % (got, others))
    expect_eq(got & ck, set(), "heuristic links to cookieless, GPC or DNT visitors")
    expect_eq(j["heuristicLinksCreated"], len(got), "heuristicLinksCreated")


@test
def access_document():
    s = main_stack()
    ua, others = nat(s, "doc")
    me = "me-" + uid()
    email = "Doc-%s@Example.COM" % uid()
    norm = email.lower()
    page_view(s, me, ua, "/pricing")
    j = capture(s, {"email": email, "anonId": me, "consentStatus": "express", "formName": "demo",
                    "sourceChannel": "footer", "payload": {"company": "Acme", "seats": 12}}, ua)
    lead_id = j["leadId"]
    # the wording's evidence as the capture of item 3 records it (set here in SQL)
    version, text = "v-" + uid(), "Yes, send me the newsletter. You can unsubscribe at any time."
    sha = hashlib.sha256(text.encode()).hexdigest()
    pg().psql("INSERT INTO consent_wordings (version, text, text_sha256) VALUES (%s, %s, %s);"
              "UPDATE consent_events SET wording_version = %s, wording_sha256 = %s, method = 'checkbox', "
              "page_path = '/pricing', form_name = 'demo' WHERE lead_id = %s"
              % (lit(version), lit(text), lit(sha), lit(version), lit(sha), lit(lead_id)), db=DB)

    d = access(s, email.upper())
    expect_eq(sorted(d), sorted(["ok", "eventsMax", "lead", "consentEvents", "formSubmissions", "identityLinks",
                                 "visitors", "sessions", "sessionsTotal", "sessionsTruncated", "events",
                                 "eventsTotal", "eventsTruncated"]), "document keys")
    expect_eq((d["lead"]["id"], d["lead"]["email"], d["lead"]["consentStatus"], d["lead"]["sourceChannel"]),
              (lead_id, norm, "express", "footer"), "the lead")
    expect_eq(len(d["consentEvents"]), 1, "consent events")
    ce = d["consentEvents"][0]
    expect_eq((ce["status"], ce["source"], ce["wordingVersion"], ce["wordingText"], ce["wordingSha256"],
               ce["wordingTextSha256"], ce["method"], ce["pagePath"], ce["formName"]),
              ("express", "form_submit", version, text, sha, sha, "checkbox", "/pricing", "demo"),
              "the consent event with its wording")
    expect_eq([(f["formName"], f["payload"], f["visitorId"]) for f in d["formSubmissions"]],
              [("demo", {"company": "Acme", "seats": 12}, j["visitorId"])], "form submissions")
    links = {(l["visitorId"], l["linkSource"]): l["confidence"] for l in d["identityLinks"]}
    expect_eq(links.get((j["visitorId"], "form_submit")), 1.0, "the form_submit link's confidence")
    for v in others:
        expect_eq(links.get((v, "same_ip_ua_window")), 0.35, "a heuristic link's confidence")
    linked = {l["visitorId"] for l in d["identityLinks"]}
    expect_eq({v["id"] for v in d["visitors"]}, linked, "the visitors are the linked ones")
    mine = [v for v in d["visitors"] if v["id"] == j["visitorId"]][0]
    expect_eq(mine["anonId"], me, "the visitor's anonId")
    expect(mine["firstSeenAt"] <= mine["lastSeenAt"], "first/last seen: %r" % mine)
    want_events = rows("SELECT id FROM events WHERE visitor_id IN (%s) ORDER BY \"timestamp\", id"
                       % ",".join(lit(v) for v in linked))
    expect_eq([e["id"] for e in d["events"]], [e["id"] for e in want_events], "the linked visitors' events")
    expect_eq((d["eventsTotal"], d["eventsTruncated"], d["eventsMax"]), (len(want_events), False, EVENTS_MAX),
              "events bound")
    expect({"page_view", "form_submit"} <= {e["eventType"] for e in d["events"] if e["visitorId"] == j["visitorId"]},
           "my page view and form submit: %r" % d["events"])
    expect(any(x["visitorId"] == j["visitorId"] for x in d["sessions"]), "my session: %r" % d["sessions"])

    # admin only; an unknown address is a 404; a bad one a 400
    expect_eq(s.request("GET", ACCESS + "?email=" + urllib.parse.quote(email)).status, 401, "without the key")
    expect_error(s.request("GET", ACCESS + "?email=nobody-%s%%40example.com" % uid(), headers=ADMIN), 404, "not_found")
    expect_error(s.request("GET", ACCESS + "?email=nope", headers=ADMIN), 400, "invalid_request", extra=True)
    expect_error(s.request("GET", ACCESS, headers=ADMIN), 400, "invalid_request", extra=True)


@test
def access_events_bounded():
    s = main_stack()
    me = "many-" + uid()
    email = "many-%s@example.com" % uid()
    j = capture(s, {"email": email, "anonId": me}, "itest-access-many/1.0")
    # the visitor's history, retained: more events than one document carries
    pg().psql("INSERT INTO events (id, visitor_id, event_type, path, \"timestamp\", created_at) "
              "SELECT gen_random_uuid()::text, %s, 'page_view', '/p' || g, "
              "(now() AT TIME ZONE 'UTC') - make_interval(hours => 1, secs => g), now() AT TIME ZONE 'UTC' "
              "FROM generate_series(1, %d) g" % (lit(j["visitorId"]), EVENTS_MAX), db=DB)
    d = access(s, email)
    expect_eq((len(d["events"]), d["eventsTotal"], d["eventsTruncated"]), (EVENTS_MAX, EVENTS_MAX + 1, True),
              "a truncated history")
    ts = [e["timestamp"] for e in d["events"]]
    expect(ts == sorted(ts), "oldest first")
    expect(all(e["eventType"] == "page_view" for e in d["events"]), "the newest (the form_submit) is left out")


@test
def unsubscribe_drops_heuristic_links():
    s = main_stack()
    for path in ("bare", "token"):
        ua, others = nat(s, "unsub-" + path)
        email = "unsub-%s-%s@example.com" % (path, uid())
        j = capture(s, {"email": email, "anonId": "me-" + uid(), "consentStatus": "express"}, ua)
        expect(others <= {l["visitor_id"] for l in heuristic_links(j["leadId"])}, "links before (%s)" % path)
        if path == "bare":
            r = s.request("POST", UNSUB, {"email": email})
        else:
            url = harness.backend(["unsubscribe-url", "--lead-id=" + j["leadId"]], s.env).stdout.strip()
            token = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["token"][0]
            r = s.request("POST", UNSUB + "?token=" + token, "List-Unsubscribe=One-Click",
                          headers={"Content-Type": FORM_CT})
        expect_eq(r.status, 200, "unsubscribe (%s)" % path, r)
        expect_eq(heuristic_links(j["leadId"]), [], "heuristic links after the unsubscribe (%s)" % path)
        d = access(s, email)
        expect_eq([(l["visitorId"], l["linkSource"], l["confidence"]) for l in d["identityLinks"]],
                  [(j["visitorId"], "form_submit", 1.0)], "links in the access document (%s)" % path)
        expect_eq(d["lead"]["consentStatus"], "withdrawn", "consent (%s)" % path)
        expect_eq({v["id"] for v in d["visitors"]}, {j["visitorId"]}, "visitors after the unsubscribe (%s)" % path)
