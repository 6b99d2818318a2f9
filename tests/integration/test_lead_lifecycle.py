"""test_lead_lifecycle.py - issue 16's "done when", one lead's whole life over HTTP against the real
stack (lighttpd + responders + Postgres + `backend scheduler` + a local webhook receiver):

captured through a classic HTML form post (with its consent wording and method), listed, exported to
CSV with a working one-click unsubscribe URL, announced to a webhook receiver that checks the
signature with Python's own hmac, unsubscribed with an RFC 8058 POST of that URL, access-exported
with its consent wording, erased, with proof left (recomputed here with hmac) and no trace of the
address anywhere in the database."""

import base64
import csv
import hashlib
import hmac
import io
import json
import urllib.parse
import uuid

import harness
from harness import ADMIN_KEY, ALLOWED_ORIGIN, Stack, expect, expect_eq, test

DB = "lifecycle"
BASE_URL = "https://api.lifecycle.example"
UNSUB_SECRET = "3c" * 32
ERASURE_SECRET = "7e" * 32
WEBHOOK_KEY = bytes(range(40, 72))
WORDING = ("Yes, send me the Acme newsletter about product news, at most twice a month. "
           "I can unsubscribe at any time.")


def admin(s, method, path, body=None):
    return s.request(method, path, body, headers={"x-admin-key": ADMIN_KEY})


def db(sql):
    return harness.shared_postgres().psql(sql, db=DB).strip()


def tables_holding(text):
    """Tables of the schema with a row whose text form contains text (case-insensitive)."""
    out = db("SELECT coalesce(string_agg(c.relname, ',' ORDER BY c.relname), '') FROM pg_class c "
             "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname = 'public' "
             "AND query_to_xml(format('SELECT 1 FROM %%I t WHERE strpos(lower(t::text), %%L) > 0', "
             "c.relname, %s), false, false, '')::text LIKE '%%<row>%%'" % harness.sql_lit(text.lower()))
    return out.split(",") if out else []


@test(timeout=240)
def a_lead_from_form_to_erasure():
    version = "newsletter-" + uuid.uuid4().hex[:8]
    email = "Life-%s@Example.com" % uuid.uuid4().hex[:10]
    norm = email.lower()
    with harness.WebhookReceiver() as rcv:
        env = {"UNSUBSCRIBE_SECRET": UNSUB_SECRET, "PUBLIC_BASE_URL": BASE_URL,
               "ERASURE_LOG_SECRET": ERASURE_SECRET, "RATE_LIMIT_CAPTURE": 0, "RATE_LIMIT_SUMMARY": 0,
               "RATE_LIMIT_DELETE": 0, "RATE_LIMIT_UNSUBSCRIBE": 0}
        env.update({"WEBHOOK_URL": "http://127.0.0.1:%d/hooks/leads" % rcv.port,
                    "WEBHOOK_SECRET": "whsec_" + base64.b64encode(WEBHOOK_KEY).decode(),
                    "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true", "WEBHOOK_POLL_SECONDS": "1"})
        with Stack(harness.migrated_database(DB), workers=2, env=env) as s:
            # the operator registers the wording the form shows
            r = admin(s, "POST", "/v1/consent/wordings", {"version": version, "text": WORDING})
            expect_eq(r.status, 201, "wording registered", r)

            # 1. the visitor submits the site's classic HTML form
            fields = [("email", email), ("anonId", "anon-" + uuid.uuid4().hex[:12]), ("path", "/contact"),
                      ("_next", "/thanks.html"), ("consentStatus", "express"), ("consentVersion", version),
                      ("consentMethod", "checkbox"), ("formName", "newsletter"), ("company", "Acme")]
            r = s.request("POST", "/v1/leads/capture", urllib.parse.urlencode(fields).encode(),
                          {"Content-Type": "application/x-www-form-urlencoded", "Origin": ALLOWED_ORIGIN})
            expect_eq((r.status, r.header("Location")), (303, ALLOWED_ORIGIN + "/thanks.html"), "form post", r)

            # 2. listed, with when and how consent was given
            r = admin(s, "GET", "/v1/leads?email=" + urllib.parse.quote(norm))
            expect_eq(r.status, 200, "list", r)
            leads = r.json["leads"]
            expect_eq([l["email"] for l in leads], [norm], "the lead in the list", r)
            lead = leads[0]
            expect_eq((lead["consentStatus"], lead["consent"]["method"], lead["consent"]["wordingVersion"]),
                      ("express", "checkbox", version), "consent in the list", r)

            # 3. exported to CSV with a one-click unsubscribe URL
            r = admin(s, "GET", "/v1/leads/export.csv")
            expect_eq(r.status, 200, "export", r)
            rows = [row for row in csv.DictReader(io.StringIO(r.body.decode())) if row["email"] == norm]
            expect_eq(len(rows), 1, "the lead in the default export")
            url = rows[0]["unsubscribe_url"]
            expect(url.startswith(BASE_URL + "/v1/leads/unsubscribe?token="), "unsubscribe_url: %r" % url)

            # 4. announced to the webhook receiver, signed (checked with Python's hmac)
            with harness.scheduler_process(s.env, "itlife-") as (_, log):
                harness.wait_until(lambda: len(rcv.requests()) >= 1, 30, 0.2,
                                   "webhook delivery (log %s)" % harness.tail(log, 10))
            req = rcv.requests()[0]
            headers, body = req[2], req[3]
            expect(harness.webhook_signature_ok(headers, body, WEBHOOK_KEY), "the webhook signature verifies with Python's hmac")
            msg = json.loads(body)
            expect_eq((msg["type"], msg["data"]["leadId"], msg["data"]["email"]), ("lead.created", lead["id"], norm),
                      "the webhook's body")
            expect_eq(headers["webhook-id"], db("SELECT id FROM webhook_outbox WHERE lead_id = %s"
                                                % harness.sql_lit(lead["id"])), "webhook-id is the outbox row's id")

            # 5. unsubscribed with the RFC 8058 POST a mail client sends to that URL
            path = url[len(BASE_URL):]
            r = s.request("POST", path, b"List-Unsubscribe=One-Click",
                          {"Content-Type": "application/x-www-form-urlencoded"})
            expect_eq((r.status, r.header("Location")), (200, None), "one-click POST, no redirect", r)
            r = admin(s, "GET", "/v1/leads?email=" + urllib.parse.quote(norm))
            expect_eq(r.json["leads"][0]["consentStatus"], "withdrawn", "consent after the one-click POST", r)
            r = admin(s, "GET", "/v1/leads/export.csv")
            expect(norm not in r.body.decode(), "an unsubscribed lead is not in the default export")

            # 6. access export: the consent events with the exact wording the person agreed to
            r = admin(s, "GET", "/v1/leads/access?email=" + urllib.parse.quote(email))
            expect_eq(r.status, 200, "access", r)
            events = r.json["consentEvents"]
            expect_eq([(e["status"], e["source"]) for e in events], [("express", "form_submit"),
                                                                     ("withdrawn", "unsubscribe")], "consent events", r)
            given = events[0]
            expect_eq((given["wordingVersion"], given["wordingText"], given["wordingSha256"], given["method"],
                       given["pagePath"], given["formName"]),
                      (version, WORDING, hashlib.sha256(WORDING.encode()).hexdigest(), "checkbox", "/contact",
                       "newsletter"), "the evidence of consent", r)
            expect_eq([f["payload"] for f in r.json["formSubmissions"]], [{"company": "Acme"}], "submission", r)

            # 7. erased, leaving proof and no data (the search below finds the address before)
            expect({"leads", "webhook_outbox"} <= set(tables_holding(norm)), "the address is in the database before")
            r = admin(s, "POST", "/v1/leads/delete", {"email": email})
            expect_eq((r.status, r.json), (200, {"ok": True, "deleted": True}), "erasure", r)
            r = admin(s, "GET", "/v1/leads/erasures?email=" + urllib.parse.quote(email))
            expect_eq((r.status, r.json["erased"], r.json["count"]), (200, True, 1), "the proof answers", r)
            proof = hmac.new(bytes.fromhex(ERASURE_SECRET), norm.encode(), hashlib.sha256).hexdigest()
            expect_eq(db("SELECT count(*) FROM lead_erasures WHERE email_hmac = %s" % harness.sql_lit(proof)), "1",
                      "the erasure log holds the keyed hash")
            expect_eq(admin(s, "GET", "/v1/leads/access?email=" + urllib.parse.quote(email)).status, 404,
                      "access after erasure")
            expect_eq(tables_holding(norm), [], "tables holding the erased address")
