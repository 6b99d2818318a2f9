"""test_erasure.py - issue 16 item 5: erasure leaves proof, not data. POST /v1/leads/delete removes
every copy of the person's data (payloads, identity links of every kind, webhook outbox rows) and
records a keyed hash of the normalised email in lead_erasures; GET /v1/leads/erasures?email=
answers whether and when that address was erased. Through real lighttpd + responders + Postgres.

The keyed hash is recomputed here independently (Python hmac) from the documented key:
ERASURE_LOG_SECRET's bytes, else HMAC-SHA256(IP_HASH_PEPPER, "backend erasure log v1")."""

import hashlib
import hmac
import json
import urllib.parse
import uuid

import harness
from harness import ADMIN_KEY, PEPPER, Fail, Stack, expect, expect_eq, expect_error, test

DB = "erasure"
CAPTURE = "/v1/leads/capture"
DELETE = "/v1/leads/delete"
ERASURES = "/v1/leads/erasures"
ACCESS = "/v1/leads/access"
SECRET = "3c" * 32  # hex, 32 bytes
ADMIN = {"x-admin-key": ADMIN_KEY}
FORM_CT = "application/x-www-form-urlencoded"


def pg():
    return harness.shared_postgres()


def db_url():
    return harness.migrated_database(DB)


def keyed_stack():
    return harness.shared("erasure-keyed", lambda: Stack(db_url(), workers=1, env={
        "ERASURE_LOG_SECRET": SECRET, "RATE_LIMIT_CAPTURE": 0, "RATE_LIMIT_DELETE": 0, "RATE_LIMIT_EVENTS": 0,
        "RATE_LIMIT_SUMMARY": 0}))


def pepper_stack():
    """ERASURE_LOG_SECRET unset: an existing deployment's configuration."""
    return harness.shared("erasure-pepper", lambda: Stack(db_url(), workers=1, env={
        "ERASURE_LOG_SECRET": None, "RATE_LIMIT_CAPTURE": 0, "RATE_LIMIT_DELETE": 0, "RATE_LIMIT_SUMMARY": 0}))


def uid():
    return uuid.uuid4().hex[:12]


def proof(key, email):
    return hmac.new(key, email.encode(), hashlib.sha256).hexdigest()


PEPPER_KEY = hmac.new(PEPPER.encode(), b"backend erasure log v1", hashlib.sha256).digest()


def rows(sql):
    out = pg().psql("SELECT coalesce(json_agg(t), '[]'::json) FROM (%s) t" % sql, db=DB).strip()
    return json.loads(out)


def pg_dump():
    p = pg()
    r = p._pg("pg_dump", "--data-only", "-h", p.sockdir, "-p", str(p.port), "-U", "postgres", "-d", DB)
    if r.returncode != 0:
        raise Fail("pg_dump failed: %s" % r.stderr[-800:])
    return r.stdout


def tables_holding(needle):
    """Every table of the schema whose rows, cast to text (every column, text and json alike),
    contain needle (case-insensitive): {table: rows}."""
    tables = [r["tn"] for r in rows("SELECT tablename AS tn FROM pg_tables WHERE schemaname = current_schema()")]
    expect(len(tables) > 10, "the schema's tables: %r" % tables)
    union = " UNION ALL ".join(
        "SELECT %s AS tn, count(*) AS n FROM %s x WHERE strpos(lower(x::text), %s) > 0"
        % (harness.sql_lit(t), '"%s"' % t, harness.sql_lit(needle.lower())) for t in tables)
    return {r["tn"]: r["n"] for r in rows(union) if r["n"]}


def erasures(s, email):
    r = s.request("GET", ERASURES + "?email=" + urllib.parse.quote(email), headers=ADMIN)
    expect_eq(r.status, 200, "erasures", r)
    return r.json


def capture_everywhere(s, email, ua):
    """The lead captured through the real stack: JSON with a payload holding the address, a form
    post with a field holding it, page views and another visitor behind the same IP and UA (a
    heuristic link). Returns the lead id."""
    me, other = "me-" + uid(), "other-" + uid()
    for a in (other, me):
        r = s.request("POST", "/v1/events", {"anonId": a, "eventType": "page_view", "path": "/pricing"},
                      headers={"User-Agent": ua})
        expect_eq(r.status, 202, "page_view", r)
    r = s.request("POST", CAPTURE, {"email": email, "anonId": me, "consentStatus": "express",
                                    "formName": "contact",
                                    "payload": {"note": "write to " + email.upper(), "copy": email}},
                  headers={"User-Agent": ua})
    expect_eq(r.status, 200, "JSON capture", r)
    lead_id = r.json["leadId"]
    expect(r.json["heuristicLinksCreated"] >= 1, "a heuristic link to the other visitor", r)
    body = urllib.parse.urlencode([("email", email), ("anonId", me), ("formName", "newsletter"),
                                   ("path", "/thanks"), ("backupEmail", email), ("name", "Ada")])
    r = s.request("POST", CAPTURE, body, headers={"User-Agent": ua, "Content-Type": FORM_CT})
    expect_eq(r.status, 303, "form post capture", r)
    # an outbox row as the webhook trigger (issue 16 item 6) writes it: its body holds the address
    pg().psql("INSERT INTO webhook_outbox (id, event_type, lead_id, body) VALUES (%s, 'lead.created', %s, %s)"
              % (harness.sql_lit(str(uuid.uuid4())), harness.sql_lit(lead_id),
                 harness.sql_lit(json.dumps({"type": "lead.created", "data": {"email": email}}))), db=DB)
    return lead_id


@test
def erasure_leaves_proof_not_data():
    s = keyed_stack()
    email = "erase-%s@example.com" % uid()
    ua = "itest-erasure-%s/1.0" % uid()
    lead_id = capture_everywhere(s, email, ua)
    other = "keep-%s@example.com" % uid()  # another lead behind the same NAT stays whole
    r = s.request("POST", CAPTURE, {"email": other, "anonId": "keep-" + uid(), "payload": {"x": other}},
                  headers={"User-Agent": ua})
    expect_eq(r.status, 200, "the other lead", r)

    # before: the address is in several tables, and the grep sees it (the check can fail)
    before = tables_holding(email)
    for t in ("leads", "form_submissions", "webhook_outbox"):
        expect(t in before, "the address in %s before the erasure: %r" % (t, before))
    expect(email in pg_dump().lower(), "pg_dump shows the address before the erasure")
    links = rows("SELECT link_source::text AS s FROM lead_identities WHERE lead_id = %s" % harness.sql_lit(lead_id))
    expect({"form_submit", "same_ip_ua_window"} <= {l["s"] for l in links}, "links before: %r" % links)
    expect_eq(erasures(s, email), {"ok": True, "erased": False, "count": 0, "erasures": [], "truncated": False},
              "erasures of an address not erased yet")

    r = s.request("POST", DELETE, {"email": email.upper()}, headers=ADMIN)
    expect_eq((r.status, r.json), (200, {"ok": True, "deleted": True}), "delete", r)

    # after: nowhere in the database (every table, every column), not in a dump either
    expect_eq(tables_holding(email), {}, "tables holding the erased address")
    expect_eq(tables_holding(email.split("@")[0]), {}, "tables holding the erased address's local part")
    expect(email not in pg_dump().lower(), "pg_dump still shows the erased address")
    expect_eq(rows("SELECT id FROM lead_identities WHERE lead_id = %s" % harness.sql_lit(lead_id)), [],
              "identity links of the erased lead")
    expect_eq(rows("SELECT id FROM webhook_outbox WHERE lead_id = %s" % harness.sql_lit(lead_id)), [],
              "outbox rows of the erased lead")
    subs = rows("SELECT payload, lead_id FROM form_submissions f WHERE NOT EXISTS "
                "(SELECT 1 FROM leads l WHERE l.id = f.lead_id)")
    expect(subs and all(x == {"payload": None, "lead_id": None} for x in subs),
           "the erased lead's submissions stay anonymous (counted by the rollups): %r" % subs)
    # ... and the proof: the keyed hash, recomputed independently, with the time
    want = proof(bytes.fromhex(SECRET), email)
    got = rows("SELECT email_hmac, erased_at FROM lead_erasures WHERE email_hmac = %s" % harness.sql_lit(want))
    expect_eq(len(got), 1, "the proof row (HMAC-SHA256 under ERASURE_LOG_SECRET)")
    expect("leads" in tables_holding(other), "the other lead behind the same NAT is gone")

    j = erasures(s, email.upper())
    expect_eq((j["ok"], j["erased"], j["count"], len(j["erasures"]), j["truncated"]), (True, True, 1, 1, False),
              "erasures after the erasure", None)
    expect(j["erasures"][0]["erasedAt"].startswith(got[0]["erased_at"][:16]),
           "erasedAt %r vs the row %r" % (j["erasures"][0], got[0]))
    expect_error(s.request("GET", ACCESS + "?email=" + urllib.parse.quote(email), headers=ADMIN), 404, "not_found")
    expect_error(s.request("POST", DELETE, {"email": email}, headers=ADMIN), 404, "not_found")
    expect_eq(erasures(s, email)["count"], 1, "an unknown address's delete records nothing")

    # captured again and erased again: both erasures answer, oldest first
    r = s.request("POST", CAPTURE, {"email": email, "anonId": "again-" + uid()})
    expect_eq(r.status, 200, "capture again", r)
    r = s.request("POST", DELETE, {"email": email}, headers=ADMIN)
    expect_eq(r.status, 200, "second delete", r)
    j = erasures(s, email)
    expect_eq((j["erased"], j["count"]), (True, 2), "two erasures")
    expect(j["erasures"][0]["erasedAt"] <= j["erasures"][1]["erasedAt"], "oldest first: %r" % j)
    expect_eq(tables_holding(email), {}, "tables holding the address after the second erasure")


@test
def erasure_key_without_secret():
    """An existing deployment (no ERASURE_LOG_SECRET): the proof is still recorded, keyed with the
    key derived from IP_HASH_PEPPER, and each responder says so at start; once the operator sets
    the secret, that earlier proof still answers."""
    s = pepper_stack()
    email = "pep-%s@example.com" % uid()
    r = s.request("POST", CAPTURE, {"email": email, "anonId": "pep-" + uid()})
    expect_eq(r.status, 200, "capture", r)
    r = s.request("POST", DELETE, {"email": email}, headers=ADMIN)
    expect_eq(r.status, 200, "delete", r)
    got = rows("SELECT email_hmac FROM lead_erasures WHERE email_hmac = %s" % harness.sql_lit(proof(PEPPER_KEY, email)))
    expect_eq(len(got), 1, "the proof keyed with the pepper-derived key")
    expect_eq(rows("SELECT 1 FROM lead_erasures WHERE email_hmac = %s" % harness.sql_lit(proof(PEPPER.encode(), email))),
              [], "a proof keyed with the bare pepper (the ip hash's key)")
    expect("ERASURE_LOG_SECRET is unset" in s.stderr(200), "the start-up warning: %s" % s.stderr(20))
    expect_eq(erasures(s, email)["count"], 1, "erasures without the secret")
    expect_eq(erasures(keyed_stack(), email)["count"], 1, "the earlier proof once the secret is set")
    expect("ERASURE_LOG_SECRET is unset" not in keyed_stack().stderr(200), "a warning with the secret set")


@test
def erasures_route_input():
    s = keyed_stack()
    for q in ("", "?email=", "?email=not-an-email", "?email=" + "a" * 330 + "@example.com"):
        r = s.request("GET", ERASURES + q, headers=ADMIN)
        expect_error(r, 400, "invalid_request", extra=True)
    expect_eq(s.request("GET", ERASURES + "?email=x%40example.com").status, 401, "without the admin key")
    r = harness.backend(["check-config", "--offline"], s.env)
    expect(r.returncode == 0 and "ERASURE_LOG_SECRET=<set, redacted>" in r.stdout and SECRET not in r.stdout,
           "check-config: %s %s" % (r.stdout, r.stderr))
    r = harness.backend(["check-config", "--offline"], dict(s.env, ERASURE_LOG_SECRET="too-short"))
    expect(r.returncode != 0 and "ERASURE_LOG_SECRET" in r.stderr and "too-short" not in r.stderr,
           "a bad secret stops the process naming it: %s" % r.stderr)
