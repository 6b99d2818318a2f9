"""test_webhook.py - the webhook on a new lead (issue 16 item 6) through real lighttpd + responders +
Postgres + `backend scheduler`, delivered to a local receiver (a Python HTTP server on a free port)
that checks every request's signature with Python's own hmac, independently of the C code.

Checked: one outbox row per NEW lead written by the capture's transaction (none for a known address,
none without a webhook configured); Standard Webhooks headers and signature; the body carries the
email only when WEBHOOK_INCLUDE_EMAIL and the payload only when WEBHOOK_INCLUDE_PAYLOAD; a receiver
that dies or answers 500 gets the same id and the same body again with exponential backoff, and
nothing is lost or sent under another id; past the retry window a row fails; a loopback target is
refused without WEBHOOK_ALLOW_PRIVATE_TARGETS; GET /v1/webhooks/deliveries and /metrics show the
states; bad settings stop the process naming them."""

import base64
import hashlib
import hmac
import http.client
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid

import harness
from harness import ADMIN_KEY, Fail, Stack, expect, expect_eq, expect_error, test

DB = "webhook"
KEY = bytes(range(7, 7 + 32))
SECRET = "whsec_" + base64.b64encode(KEY).decode()
QUERY_TOKEN = "rcv-token-SECRET-9d1f"
ROUTE = "/v1/webhooks/deliveries"
WEBHOOK_LEASE_S = harness.bound("WEBHOOK_LEASE_S")
UA = "Mozilla/5.0 (X11; Linux x86_64) webhook-test"


# ---- the receiver (harness.WebhookReceiver; the check is Python's own hmac)

Receiver = harness.WebhookReceiver


def verify(headers, body, key=KEY):
    return harness.webhook_signature_ok(headers, body, key)


# ---- the service

def db_url():
    return harness.migrated_database(DB)


def rows(sql):
    out = harness.shared_postgres().psql("SELECT coalesce(json_agg(t), '[]'::json) FROM (%s) t" % sql, db=DB)
    return json.loads(out.strip())


def val(sql):
    return harness.shared_postgres().psql(sql, db=DB).strip()


def webhook_env(rcv, **extra):
    env = {"WEBHOOK_URL": "http://127.0.0.1:%d/hook?token=%s" % (rcv.port, QUERY_TOKEN), "WEBHOOK_SECRET": SECRET,
           "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true", "WEBHOOK_POLL_SECONDS": "1", "WEBHOOK_RETRY_BASE_SECONDS": "1",
           "RATE_LIMIT_CAPTURE": 0, "RATE_LIMIT_SUMMARY": 0}
    env.update(extra)
    return env


def new_email():
    return "wh-%s@Example.com" % uuid.uuid4().hex[:12]


def capture(s, email, fields=None, form="contact"):
    body = {"email": email, "anonId": "anon-" + uuid.uuid4().hex, "formName": form, "consentStatus": "express"}
    if fields is not None:
        body["payload"] = fields
    r = s.request("POST", "/v1/leads/capture", body, headers={"User-Agent": UA})
    expect_eq(r.status, 200, "capture", r)
    return r.json["leadId"]


def outbox(lead_id):
    return rows("SELECT id, state, attempts, body, last_status, last_error FROM webhook_outbox WHERE lead_id = %s "
                "ORDER BY created_at, id" % harness.sql_lit(lead_id))


def deliveries(s, query=""):
    r = s.request("GET", ROUTE + query, headers={"Authorization": "Bearer " + ADMIN_KEY})
    expect_eq(r.status, 200, "deliveries", r)
    return r


def delivered_ids(rcv):
    return {h["webhook-id"] for (_, _, h, _, st) in rcv.requests() if 200 <= st < 300}


def openssl_signature(headers, body):
    """The signature as docs/API.md's openssl line computes it (a second, independent HMAC)."""
    msg = headers["webhook-id"].encode() + b"." + headers["webhook-timestamp"].encode() + b"." + body
    r = subprocess.run(["openssl", "dgst", "-sha256", "-mac", "HMAC", "-macopt", "hexkey:" + KEY.hex(), "-binary"],
                       input=msg, capture_output=True, timeout=30, check=True)
    return "v1," + base64.b64encode(r.stdout).decode()


def check_request(req, lead_id, email=None, fields=None, include_email=True, include_payload=False):
    """One received request: path, headers, signature, and the body's contents."""
    t, path, h, body, _ = req
    expect_eq(path, "/hook?token=" + QUERY_TOKEN, "the request goes to WEBHOOK_URL's path and query")
    expect_eq(h.get("content-type"), "application/json", "content type")
    expect(h.get("webhook-id", "").startswith("msg_"), "webhook-id msg_...: %r" % h)
    expect(abs(int(h["webhook-timestamp"]) - t) <= 5, "webhook-timestamp is the send time: %r" % h)
    expect(verify(h, body), "the signature verifies with Python's hmac: %r" % h)
    expect_eq(h["webhook-signature"], openssl_signature(h, body), "the signature openssl computes")
    expect(not verify(h, body + b" "), "...and not for another body")
    expect(not verify(h, body, key=KEY[:-1] + b"x"), "...and not with another key")
    j = json.loads(body)
    expect_eq((j["type"], sorted(j)), ("lead.created", ["data", "timestamp", "type"]), "envelope")
    d = j["data"]
    want = ["capturedAt", "consentStatus", "formName", "leadId", "sourceChannel"]
    want += ["email"] if include_email else []
    want += ["payload"] if include_payload else []
    expect_eq(sorted(d), sorted(want), "data keys")
    expect_eq((d["leadId"], d["formName"], d["consentStatus"]), (lead_id, "contact", "express"), "data")
    if include_email:
        expect_eq(d["email"], email.lower(), "the normalised email")
    else:
        expect(email.lower().encode() not in body.lower(), "no email anywhere in the body: %r" % body)
    if include_payload:
        expect_eq(d["payload"], fields, "the form's payload")
    return h["webhook-id"], body


# ---- tests

@test(timeout=180)
def delivered_signed_once_per_new_lead():
    with Receiver() as rcv, Stack(db_url(), workers=1, env=webhook_env(rcv)) as s:
        email = new_email()
        lead = capture(s, email, {"company": "Acme"})
        # the capture's transaction wrote the row (no scheduler running yet)
        ob = outbox(lead)
        expect_eq([(o["state"], o["attempts"]) for o in ob], [("pending", 0)], "one pending row after the capture")
        expect_eq(ob[0]["body"]["data"]["email"], email.lower(), "email in the stored body")
        expect("payload" not in ob[0]["body"]["data"], "no payload by default")
        # the same address again (an upsert of a known lead): no second row
        expect_eq(capture(s, email.upper()), lead, "same lead")
        expect_eq(len(outbox(lead)), 1, "rows for a lead captured twice")
        with harness.scheduler_process(s.env, "itwh-ok-") as (_, log):
            harness.wait_until(lambda: outbox(lead)[0]["state"] == "delivered", 30, 0.2,
                               "delivery (log %s)" % harness.tail(log, 10))
            reqs = rcv.requests()
            expect_eq(len(reqs), 1, "requests received")
            wid, _ = check_request(reqs[0], lead, email)
            expect_eq(wid, ob[0]["id"], "webhook-id is the outbox row's id")
            text = open(log, encoding="utf-8", errors="replace").read()
            expect(QUERY_TOKEN not in text, "the URL's query never reaches the log")
        o = outbox(lead)[0]
        expect_eq((o["attempts"], o["last_status"], o["last_error"]), (1, 204, None), "delivered row")
        # the admin's view: the state, never the body
        r = deliveries(s, "?state=delivered")
        mine = [d for d in r.json["deliveries"] if d["id"] == wid]
        expect_eq(len(mine), 1, "the row in the delivered list", r)
        expect_eq(sorted(mine[0]), sorted(["id", "type", "state", "attempts", "createdAt", "nextAttemptAt",
                                           "lastAttemptAt", "lastStatus", "lastError", "deliveredAt"]), "keys", r)
        expect_eq((mine[0]["type"], mine[0]["attempts"], mine[0]["lastStatus"], mine[0]["nextAttemptAt"]),
                  ("lead.created", 1, 204, None), "delivered entry", r)
        expect(b"@" not in r.body, "no email in the deliveries list", r)


@test(timeout=180)
def body_options_and_no_webhook_no_row():
    fields = {"company": "Acme", "message": "call me"}
    with Receiver() as rcv:
        env = webhook_env(rcv, WEBHOOK_INCLUDE_EMAIL="false", WEBHOOK_INCLUDE_PAYLOAD="true")
        with Stack(db_url(), workers=1, env=env) as s:
            email = new_email()
            lead = capture(s, email, fields)
            with harness.scheduler_process(s.env, "itwh-opt-") as (_, log):
                harness.wait_until(lambda: outbox(lead)[0]["state"] == "delivered", 30, 0.2,
                                   "delivery (log %s)" % harness.tail(log, 10))
            reqs = rcv.requests()
            expect_eq(len(reqs), 1, "requests received")
            check_request(reqs[0], lead, email, fields, include_email=False, include_payload=True)
    # DATABASE_STATEMENTS=prepared: the options travel with the session's settings instead
    with Receiver() as rcv:
        env = webhook_env(rcv, WEBHOOK_INCLUDE_EMAIL="false", DATABASE_STATEMENTS="prepared")
        with Stack(db_url(), workers=1, env=env) as s:
            lead = capture(s, new_email(), fields)
            o = outbox(lead)
            expect_eq(len(o), 1, "one row written through a prepared-statement connection")
            expect_eq(sorted(o[0]["body"]["data"]), ["capturedAt", "consentStatus", "formName", "leadId",
                                                     "sourceChannel"], "data keys, no email and no payload")
    # no WEBHOOK_URL: the capture writes no row
    with Stack(db_url(), workers=1, env={"RATE_LIMIT_CAPTURE": 0}) as s:
        lead = capture(s, new_email())
        expect_eq(outbox(lead), [], "no outbox row without a webhook")


def in_backoff(o, base=1):
    """A pending row after a failed attempt: its next attempt is the backoff of its attempts away
    (base doubled per attempt, minus up to half of it), give or take the statement's own time."""
    a = o["attempts"]
    full = min(base * 2 ** (a - 1), 3600)
    gap = o["gap"]
    return full / 2 - 0.1 <= gap <= full + 0.1


@test(timeout=240)
def receiver_down_then_500_retried_same_id_and_body():
    port = harness.free_port()
    rcv = Receiver(port)
    try:
        with Stack(db_url(), workers=1, env=webhook_env(rcv)) as s, harness.scheduler_process(s.env, "itwh-retry-") as (_, log):
            first = capture(s, new_email())
            harness.wait_until(lambda: outbox(first)[0]["state"] == "delivered", 30, 0.2,
                               "first delivery (log %s)" % harness.tail(log, 10))
            # the receiver dies mid-way
            rcv.stop()
            emails = [new_email() for _ in range(3)]
            leads = [capture(s, e) for e in emails]

            def gaps():
                return rows("SELECT lead_id, attempts, state, last_error, extract(epoch FROM next_attempt_at - "
                            "last_attempt_at)::float8 AS gap FROM webhook_outbox WHERE lead_id IN (%s)" %
                            ",".join(harness.sql_lit(x) for x in leads))
            seen = {}
            deadline = time.time() + 40
            while time.time() < deadline and not all(a >= 3 for a in [seen.get(x, 0) for x in leads]):
                for o in gaps():
                    # a row being sent right now is leased (next attempt = claim + WEBHOOK_LEASE_S) until
                    # its outcome is written: only a finished attempt carries its backoff
                    in_flight = o["gap"] is not None and abs(o["gap"] - WEBHOOK_LEASE_S) < 0.01
                    if o["attempts"] >= 1 and o["state"] == "pending" and not in_flight:
                        expect(o["last_error"] and "onnect" in o["last_error"],
                               "a transport error in last_error: %r" % o)
                        expect(in_backoff(o), "next attempt after the exponential backoff: %r" % o)
                        seen[o["lead_id"]] = o["attempts"]
                time.sleep(0.2)
            expect(all(seen.get(x, 0) >= 3 for x in leads),
                   "three failed attempts each while the receiver is down: %r (log %s)" % (seen, harness.tail(log, 10)))
            # back, but answering 500 to its first three requests
            rcv = Receiver(port, status=lambda n: 500 if n <= 3 else 200)
            harness.wait_until(lambda: all(outbox(x)[0]["state"] == "delivered" for x in leads), 60, 0.3,
                               "every lead delivered after the outage (log %s)" % harness.tail(log, 10))
            time.sleep(1.5)  # nothing more comes
            reqs = rcv.requests()
        ids = {x: outbox(x)[0]["id"] for x in leads}
        by_id = {}
        for (t, path, h, body, st) in reqs:
            expect(verify(h, body), "every attempt is signed: %r" % h)
            by_id.setdefault(h["webhook-id"], []).append((body, st))
        expect_eq(set(by_id), set(ids.values()), "requests came under the outbox ids, and only those")
        for lead, wid in ids.items():
            tries = by_id[wid]
            expect_eq(len({b for b, _ in tries}), 1, "every attempt of %s sends the same body" % wid)
            expect_eq([st for _, st in tries if st == 200], [200], "%s delivered exactly once here" % wid)
            expect_eq(json.loads(tries[0][0])["data"]["leadId"], lead, "the body names its lead")
        expect_eq(sum(1 for v in by_id.values() for _, st in v if st == 500), 3, "the three 500s were retried")
        for lead in leads:
            o = outbox(lead)
            expect_eq(len(o), 1, "one row per lead")
            expect(o[0]["attempts"] >= 4, "attempts counted: %r" % o[0])
    finally:
        rcv.stop()


@test(timeout=180)
def retry_window_then_failed_and_metrics():
    port = harness.free_port()  # nothing listens there
    rcv = Receiver.__new__(Receiver)
    rcv.port = port
    with Stack(db_url(), workers=1, env=webhook_env(rcv, WEBHOOK_RETRY_HOURS="1")) as s:
        lead = capture(s, new_email())
        # created 61 minutes ago: the next failed attempt is past the window
        val("UPDATE webhook_outbox SET created_at = created_at - interval '61 minutes' WHERE lead_id = %s" %
            harness.sql_lit(lead))
        with harness.scheduler_process(s.env, "itwh-fail-") as (_, log):
            harness.wait_until(lambda: outbox(lead)[0]["state"] == "failed", 30, 0.2,
                               "the row failed (log %s)" % harness.tail(log, 10))
            text = open(log, encoding="utf-8", errors="replace").read()
            expect("failed for good" in text, "the failure is logged: %s" % harness.tail(log, 10))
        o = outbox(lead)[0]
        expect_eq(o["attempts"], 1, "one attempt, then failed")
        r = deliveries(s, "?state=failed&limit=200")
        mine = [d for d in r.json["deliveries"] if d["id"] == o["id"]]
        expect(len(mine) == 1 and mine[0]["lastError"] and mine[0]["deliveredAt"] is None,
               "failed row in the list: %r" % mine)
        want = int(val("SELECT count(*) FROM webhook_outbox WHERE state = 'failed'"))
        st, _, body = metrics_get(s.metrics_port)
        expect_eq(st, 200, "metrics")
        expect('backend_webhook_outbox_rows{state="failed"} %d\n' % want in body,
               "the failed count in /metrics: %s" % [x for x in body.splitlines() if "webhook" in x])
        expect('backend_scheduler_jobs_total{job="webhook",outcome="ok"}' in body, "the job's runs are counted")


def metrics_get(port, path="/metrics"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.getheaders(), r.read().decode()
    finally:
        c.close()


@test(timeout=180)
def private_target_refused_without_the_setting():
    with Receiver() as rcv:
        env = webhook_env(rcv, WEBHOOK_ALLOW_PRIVATE_TARGETS=None)
        env["WEBHOOK_URL"] = "http://localhost:%d/hook?token=%s" % (rcv.port, QUERY_TOKEN)
        with Stack(db_url(), workers=1, env=env) as s:
            lead = capture(s, new_email())
            with harness.scheduler_process(s.env, "itwh-ssrf-") as (_, log):
                harness.wait_until(lambda: (outbox(lead)[0]["last_error"] or "").startswith("target refused"), 30,
                                   0.2, "a refused target (log %s)" % harness.tail(log, 10))
                time.sleep(1.5)
                text = open(log, encoding="utf-8", errors="replace").read()
            o = outbox(lead)[0]
            expect("loopback" in o["last_error"] and "WEBHOOK_ALLOW_PRIVATE_TARGETS" in o["last_error"],
                   "last_error says why: %r" % o)
            expect_eq(o["state"], "pending", "still pending (retried, the setting may change)")
            expect_eq(rcv.requests(), [], "nothing reached the loopback receiver")
            expect("target refused" in text and "localhost" in text, "the refusal is logged: %s" %
                   harness.tail(log, 5))
            expect(QUERY_TOKEN not in text, "the URL's query never reaches the log")


@test
def deliveries_route_validation_and_paging():
    with Receiver() as rcv, Stack(db_url(), workers=1, env=webhook_env(rcv)) as s:
        for _ in range(3):
            capture(s, new_email())
        r = s.request("GET", ROUTE)
        expect_eq(r.status, 401, "no admin key", r)
        for q, field in (("?state=sent", "state"), ("?limit=0", "limit"), ("?limit=201", "limit"),
                         ("?cursor=nope", "cursor"), ("?cursor=2026-13-01T00:00:00.000Z~msg_x", "cursor"),
                         ("?cursor=2026-01-01T00:00:00.000Z~msg_x';--", "cursor")):
            r = s.request("GET", ROUTE + q, headers={"Authorization": "Bearer " + ADMIN_KEY})
            expect_error(r, 400, "invalid_request", extra=True)
            expect_eq([i["path"] for i in r.json["issues"]], [field], "%s: the issue's field" % q, r)
        total = int(val("SELECT count(*) FROM webhook_outbox"))
        seen, cursor = [], None
        for _ in range(total + 2):
            r = deliveries(s, "?limit=1" + ("&cursor=" + cursor if cursor else ""))
            seen += [d["id"] for d in r.json["deliveries"]]
            cursor = r.json["nextCursor"]
            if not cursor:
                break
        want = [x["id"] for x in rows("SELECT id FROM webhook_outbox ORDER BY created_at DESC, id DESC")]
        expect_eq(seen, want, "paging one at a time walks every row, newest first")


@test
def settings_refused_by_name():
    base = harness.service_env(db_url())
    cases = [
        ({"WEBHOOK_URL": "ftp://example.com/x", "WEBHOOK_SECRET": SECRET}, "WEBHOOK_URL"),
        ({"WEBHOOK_URL": "https://exa mple.com/x", "WEBHOOK_SECRET": SECRET}, "WEBHOOK_URL"),
        ({"WEBHOOK_URL": "https://example.com/x"}, "WEBHOOK_SECRET"),
        ({"WEBHOOK_URL": "https://example.com/x", "WEBHOOK_SECRET": base64.b64encode(KEY).decode()},
         "WEBHOOK_SECRET"),
        ({"WEBHOOK_URL": "https://example.com/x", "WEBHOOK_SECRET": "whsec_" + base64.b64encode(KEY[:23]).decode()},
         "WEBHOOK_SECRET"),
        ({"WEBHOOK_URL": "https://example.com/x", "WEBHOOK_SECRET": "whsec_%%%"}, "WEBHOOK_SECRET"),
        ({"WEBHOOK_INCLUDE_EMAIL": "maybe"}, "WEBHOOK_INCLUDE_EMAIL"),
        ({"WEBHOOK_TIMEOUT_MS": "99999999"}, "WEBHOOK_TIMEOUT_MS"),
    ]
    for env, name in cases:
        r = harness.backend(["check-config", "--offline"], dict(base, **env))
        expect(r.returncode != 0 and name in r.stderr, "%r refused naming %s: %r" % (env, name, r))
        expect(SECRET not in r.stderr, "the secret is never echoed")
    ok = dict(base, WEBHOOK_URL="https://hooks.example.com/in?token=" + QUERY_TOKEN, WEBHOOK_SECRET=SECRET)
    r = harness.backend(["check-config", "--offline"], ok)
    expect_eq(r.returncode, 0, "a good webhook configuration: %r" % (r,))
    expect(SECRET not in r.stdout and QUERY_TOKEN not in r.stdout, "check-config shows no secret: %s" % r.stdout)
    expect("WEBHOOK_URL=<set, host hooks.example.com" in r.stdout and "WEBHOOK_SECRET=<set, redacted>" in r.stdout,
           "check-config names the settings: %s" % r.stdout)


@test(timeout=120)
def purge_of_old_rows():
    url = db_url()
    body = "'{\"type\": \"lead.created\"}'::jsonb"
    tag = uuid.uuid4().hex[:8]
    val("INSERT INTO webhook_outbox (id, event_type, body, state, created_at) VALUES "
        "('msg_old_d_%(t)s', 'lead.created', %(b)s, 'delivered', now() - interval '8 days'), "
        "('msg_old_f_%(t)s', 'lead.created', %(b)s, 'failed', now() - interval '8 days'), "
        "('msg_new_d_%(t)s', 'lead.created', %(b)s, 'delivered', now() - interval '6 days')" % {"t": tag, "b": body})
    rcv = Receiver.__new__(Receiver)
    rcv.port = harness.free_port()
    run_dir = tempfile.mkdtemp(prefix="itwh-purge-run-")
    os.chmod(run_dir, 0o700)
    env = harness.service_env(url, webhook_env(rcv, WEBHOOK_PURGE_DAYS="7"), run_dir=run_dir)

    def left():
        return sorted(r["id"] for r in rows("SELECT id FROM webhook_outbox WHERE id LIKE '%%_%s'" % tag))
    with harness.scheduler_process(env, "itwh-purge-") as (_, log):
        harness.wait_until(lambda: left() == ["msg_new_d_" + tag], 20, 0.2,
                           "the old delivered and failed rows purged (left %s; log %s)" % (left(), harness.tail(log, 8)))
        harness.wait_until(lambda: "older than 7 days deleted" in open(log, encoding="utf-8").read(), 5, 0.1,
                           "the purge logged")
    shutil.rmtree(run_dir, ignore_errors=True)
