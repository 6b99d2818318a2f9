"""test_consent.py - consent evidence (issue 16 item 3) through real lighttpd + responders + Postgres:
registered wordings (exact text, SHA-256, idempotent, 409 on another text, immutable once used), a
capture naming the wording and the method (JSON and form posts), each consent event's evidence, and
an unknown wording refused with nothing written."""

import hashlib
import hmac
import json
import urllib.parse
import uuid

import harness
from harness import ADMIN_KEY, ALLOWED_ORIGIN, PEPPER, Fail, Stack, expect, expect_eq, expect_error, test

DB = "consent"
WORDINGS = "/v1/consent/wordings"
CAPTURE = "/v1/leads/capture"
AUTH = {"x-admin-key": ADMIN_KEY}
FORM = "application/x-www-form-urlencoded"
IP_HASH = hmac.new(PEPPER.encode(), b"127.0.0.1", hashlib.sha256).hexdigest()
VERSION_MAX = 64      # bounds.h CONSENT_VERSION_MAX
TEXT_MAX = 16384      # bounds.h CONSENT_TEXT_MAX


def stack():
    def make():
        return Stack(harness.migrated_database(DB), workers=1,
                     env={"RATE_LIMIT_CAPTURE": 0, "RATE_LIMIT_DELETE": 0, "MAX_BODY_BYTES": 262144})
    return harness.shared("consent", make)


def rows(sql):
    out = harness.shared_postgres().psql("SELECT coalesce(json_agg(t), '[]'::json) FROM (%s) t" % sql, db=DB)
    return json.loads(out.strip())


def psql(sql):
    return harness.shared_postgres().psql(sql, db=DB)


def counts():
    return rows("SELECT (SELECT count(*) FROM leads) AS leads, (SELECT count(*) FROM consent_events) AS ce, "
                "(SELECT count(*) FROM form_submissions) AS fs, (SELECT count(*) FROM events) AS ev")[0]


def register(s, version, text, headers=AUTH):
    return s.request("POST", WORDINGS, {"version": version, "text": text}, headers=headers)


def new_version(tag="v"):
    return "%s-%s" % (tag, uuid.uuid4().hex[:10])


def sha(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@test
def wordings_register_idempotent_and_conflict():
    s = stack()
    v = new_version()
    # the text exactly as sent: spaces at both ends, a newline, non-ASCII
    text = "  I agree to receive the Acme newsletter.\nJ'accepte — résiliable à tout moment.  "
    r = register(s, v, text)
    expect_eq(r.status, 201, "first registration", r)
    w = r.json["wording"]
    expect_eq(r.json["created"], True, "created", r)
    expect_eq(w["version"], v, "version", r)
    expect_eq(w["sha256"], sha(text), "sha256 of the exact UTF-8 text", r)
    expect_eq(w["text"], text, "text echoed exactly", r)
    stored = rows("SELECT text, text_sha256 FROM consent_wordings WHERE version = %s" % harness.sql_lit(v))
    expect_eq(stored, [{"text": text, "text_sha256": sha(text)}], "stored row")
    r2 = register(s, v, text)
    expect_eq(r2.status, 200, "same version and text again: idempotent", r2)
    expect_eq(r2.json["created"], False, "created on the repeat", r2)
    expect_eq(r2.json["wording"]["createdAt"], w["createdAt"], "the stored row answered", r2)
    r3 = register(s, v, text.strip())
    expect_error(r3, 409, "wording_version_conflict", extra=True)
    expect_eq(r3.json["sha256"], sha(text), "the conflict names the stored hash", r3)
    expect_eq(rows("SELECT text FROM consent_wordings WHERE version = %s" % harness.sql_lit(v)), [{"text": text}],
              "the stored text is unchanged")
    # admin only
    expect_error(register(s, new_version(), "x", headers={}), 401, "unauthorized")
    expect_error(s.request("GET", WORDINGS), 401, "unauthorized")


@test
def wordings_bounds():
    s = stack()
    for bad in ("", "a" * (VERSION_MAX + 1), "v 1", "v1/en", "=cmd", "v1\nx"):
        r = register(s, bad, "text")
        expect_error(r, 400, "invalid_request", extra=True)
        expect(any(i["path"] == "version" for i in r.json["issues"]), "an issue on version for %r" % bad, r)
    long_version = "b" * (VERSION_MAX - 10) + uuid.uuid4().hex[:10]
    expect_eq(register(s, long_version, "at the version bound").status, 201, "a version of exactly 64")
    for bad_text in ("", "é" * (TEXT_MAX + 1), 42, None):
        r = register(s, new_version(), bad_text)
        expect_error(r, 400, "invalid_request", extra=True)
        expect(any(i["path"] == "text" for i in r.json["issues"]), "an issue on text for %r" % (bad_text,)[:40], r)
    r = register(s, new_version("max"), "é" * TEXT_MAX)
    expect_eq(r.status, 201, "a text of exactly the bound (code points)", r)
    expect_eq(r.json["wording"]["sha256"], sha("é" * TEXT_MAX), "sha of the long text", r)


@test
def capture_records_the_evidence():
    s = stack()
    v = new_version("ev")
    text = "Yes, send me offers by email. Unsubscribe anytime."
    expect_eq(register(s, v, text).status, 201, "register")
    email = "ev-%s@example.com" % uuid.uuid4().hex[:8]
    r = s.request("POST", CAPTURE, {"email": email, "anonId": "anon-" + uuid.uuid4().hex[:10],
                                    "consentStatus": "express", "consentVersion": v, "consentMethod": "checkbox",
                                    "path": "/contact?x=1", "formName": "contact"})
    expect_eq(r.status, 200, "capture", r)
    ev = rows("SELECT status::text, source, wording_version, wording_sha256, method, page_path, form_name, ip_hash, "
              "\"timestamp\" IS NOT NULL AS has_time FROM consent_events WHERE lead_id = %s"
              % harness.sql_lit(r.json["leadId"]))
    expect_eq(len(ev), 1, "one consent event")
    e = ev[0]
    expect_eq((e["status"], e["source"], e["wording_version"], e["wording_sha256"], e["method"], e["form_name"],
               e["ip_hash"], e["has_time"]),
              ("express", "form_submit", v, sha(text), "checkbox", "contact", IP_HASH, True), "the evidence")
    # the page the form was on: what the form_submit event records for path
    fe = rows("SELECT e.path FROM events e JOIN form_submissions f ON f.session_id = e.session_id "
              "WHERE f.lead_id = %s AND e.event_type = 'form_submit'" % harness.sql_lit(r.json["leadId"]))
    expect_eq(e["page_path"], fe[0]["path"], "page_path = the form_submit event's path")
    expect(e["page_path"].startswith("/contact"), "page_path is the form's page: %r" % e["page_path"])

    # a classic form post: the same fields by the same names, _next the redirect, path the page
    email2 = "evf-%s@example.com" % uuid.uuid4().hex[:8]
    body = urllib.parse.urlencode({"email": email2, "consentStatus": "implied", "consentVersion": v,
                                   "consentMethod": "inquiry", "path": "/quote", "_next": "/thanks",
                                   "formName": "quote", "company": "Acme"})
    r = s.request("POST", CAPTURE, body, headers={"Content-Type": FORM, "Origin": ALLOWED_ORIGIN})
    expect_eq(r.status, 303, "form post", r)
    expect_eq(r.header("Location"), ALLOWED_ORIGIN + "/thanks", "redirect to _next", r)
    e2 = rows("SELECT ce.status::text, ce.wording_version, ce.wording_sha256, ce.method, ce.page_path, ce.form_name, "
              "f.payload FROM consent_events ce JOIN leads l ON l.id = ce.lead_id "
              "JOIN form_submissions f ON f.lead_id = l.id WHERE l.email_normalized = %s" % harness.sql_lit(email2))
    expect_eq(len(e2), 1, "one event for the form post")
    expect_eq((e2[0]["status"], e2[0]["wording_version"], e2[0]["wording_sha256"], e2[0]["method"],
               e2[0]["page_path"], e2[0]["form_name"]),
              ("implied", v, sha(text), "inquiry", "/quote", "quote"), "the form post's evidence")
    expect_eq(e2[0]["payload"], {"company": "Acme"}, "consent fields are not payload")

    # without the new fields a capture is as before: NULL evidence, method unknown
    email3 = "evn-%s@example.com" % uuid.uuid4().hex[:8]
    r = s.request("POST", CAPTURE, {"email": email3, "anonId": "anon-" + uuid.uuid4().hex[:10]})
    expect_eq(r.status, 200, "plain capture", r)
    e3 = rows("SELECT wording_version, wording_sha256, method, form_name FROM consent_events WHERE lead_id = %s"
              % harness.sql_lit(r.json["leadId"]))
    expect_eq(e3, [{"wording_version": None, "wording_sha256": None, "method": None, "form_name": "lead_capture"}],
              "no wording, no method")
    # the wording is now used
    lst = s.request("GET", WORDINGS, headers=AUTH)
    expect_eq(lst.status, 200, "list", lst)
    mine = [w for w in lst.json["wordings"] if w["version"] == v]
    expect_eq(len(mine), 1, "the wording is listed", lst)
    expect(mine[0]["used"] is True and mine[0]["firstUsedAt"], "used, with its first use", lst)
    expect_eq(mine[0]["text"], text, "the listed text", lst)


@test
def unknown_wording_is_400_and_writes_nothing():
    s = stack()
    before = counts()
    missing = new_version("missing")
    email = "unk-%s@example.com" % uuid.uuid4().hex[:8]
    r = s.request("POST", CAPTURE, {"email": email, "anonId": "anon-" + uuid.uuid4().hex[:10],
                                    "consentStatus": "express", "consentVersion": missing})
    expect_error(r, 400, "invalid_request", extra=True)
    expect_eq([i["path"] for i in r.json["issues"]], ["consentVersion"], "the issue names consentVersion", r)
    expect_eq(counts(), before, "no lead, no event, no submission, no consent event")
    # a form post from an allowed origin goes back to its page with the failing field
    body = urllib.parse.urlencode({"email": email, "consentVersion": missing, "path": "/signup?lang=fr",
                                   "_next": "/thanks"})
    r = s.request("POST", CAPTURE, body, headers={"Content-Type": FORM, "Origin": ALLOWED_ORIGIN})
    expect_eq(r.status, 303, "form post back to its page", r)
    expect_eq(r.header("Location"), ALLOWED_ORIGIN + "/signup?lang=fr&actx_error=consentVersion", "Location", r)
    expect_eq(counts(), before, "the form post wrote nothing either")
    # malformed version and unknown method: plain validation issues
    r = s.request("POST", CAPTURE, {"email": email, "consentVersion": "a b", "consentMethod": "telepathy"})
    expect_error(r, 400, "invalid_request", extra=True)
    expect_eq(sorted(i["path"] for i in r.json["issues"]), ["consentMethod", "consentVersion"], "issues", r)
    expect_eq(counts(), before, "still nothing written")
    stored = rows("SELECT count(*) AS n FROM leads WHERE email_normalized = %s" % harness.sql_lit(email))
    expect_eq(stored, [{"n": 0}], "the address is not stored")


@test
def used_wording_is_immutable():
    s = stack()
    used, unused = new_version("used"), new_version("unused")
    expect_eq(register(s, used, "Used text.").status, 201, "register used")
    expect_eq(register(s, unused, "Unused text.").status, 201, "register unused")
    r = s.request("POST", CAPTURE, {"email": "imm-%s@example.com" % uuid.uuid4().hex[:8], "consentStatus": "express",
                                    "consentVersion": used, "consentMethod": "double_opt_in"})
    expect_eq(r.status, 200, "capture", r)
    lit = harness.sql_lit(used)
    for sql in ("UPDATE consent_wordings SET text = 'Changed.', text_sha256 = encode(sha256('Changed.'), 'hex') "
                "WHERE version = %s" % lit,
                "DELETE FROM consent_wordings WHERE version = %s" % lit):
        try:
            psql(sql)
        except Fail as e:
            expect("used by a consent event" in str(e), "the refusal says why: %s" % e)
        else:
            raise Fail("the database accepted %r on a used wording" % sql)
    expect_eq(rows("SELECT text FROM consent_wordings WHERE version = %s" % lit), [{"text": "Used text."}],
              "the used wording is unchanged")
    # the hash must be the text's, whoever writes the row
    try:
        psql("INSERT INTO consent_wordings (version, text, text_sha256) VALUES ('forged-%s', 'A', repeat('0', 64))"
             % uuid.uuid4().hex[:8])
    except Fail as e:
        expect("consent_wordings_text_sha256_check" in str(e), "the check names itself: %s" % e)
    else:
        raise Fail("a wording with another text's hash was stored")
    # an unused wording can still be corrected (nothing relies on it yet) and removed
    psql("UPDATE consent_wordings SET text = 'Fixed.', text_sha256 = encode(sha256('Fixed.'), 'hex') "
         "WHERE version = %s" % harness.sql_lit(unused))
    psql("DELETE FROM consent_wordings WHERE version = %s" % harness.sql_lit(unused))
    expect_eq(rows("SELECT count(*) AS n FROM consent_wordings WHERE version = %s" % harness.sql_lit(unused)),
              [{"n": 0}], "the unused wording was removed")
