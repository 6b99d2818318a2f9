"""test_lead_list.py - GET /v1/leads and GET /v1/leads/export.csv (issue 16 item 1) through real
lighttpd + responders + Postgres: filters, the consent views (implied consent's expiry), first-touch
UTM, cursor pagination under concurrent inserts, the export's default (only leads that may be mailed
now), its one-click unsubscribe links used with an RFC 8058 POST, formula-safe cells, the refusal
without an unsubscribe configuration, and a big export that does not grow the responder."""

import csv
import io
import json
import os
import threading
import time
import urllib.parse
import uuid

import harness
from harness import ADMIN_KEY, Stack, expect, expect_eq, expect_error, test

DB = "lead_list"
LEADS = "/v1/leads"
EXPORT = "/v1/leads/export.csv"
CAPTURE = "/v1/leads/capture"
AUTH = {"x-admin-key": ADMIN_KEY}
BASE_URL = "https://links.example"
SECRET = "3c" * 32
CSV_CT = "text/csv; charset=utf-8"
FORM = "application/x-www-form-urlencoded"
LIMIT_MAX = 500  # bounds.h LEAD_LIST_LIMIT_MAX
HEADER = ["email", "consent_status", "consent_date", "consent_method", "consent_wording_version", "consent_source",
          "implied_expires_at", "consent_expired", "source", "first_captured_at", "last_captured_at", "utm_source",
          "utm_medium", "utm_campaign", "lead_id", "unsubscribe_url"]


def env(**more):
    e = {"RATE_LIMIT_CAPTURE": 0, "RATE_LIMIT_SUMMARY": 0, "RATE_LIMIT_UNSUBSCRIBE": 0, "RATE_LIMIT_EVENTS": 0,
         "UNSUBSCRIBE_SECRET": SECRET, "PUBLIC_BASE_URL": BASE_URL}
    e.update(more)
    return e


def stack():
    return harness.shared("lead-list", lambda: Stack(harness.migrated_database(DB), workers=2, env=env()))


def rows(sql):
    out = harness.shared_postgres().psql("SELECT coalesce(json_agg(t), '[]'::json) FROM (%s) t" % sql, db=DB)
    return json.loads(out.strip())


def psql(sql):
    return harness.shared_postgres().psql(sql, db=DB)


def tag():
    return "t" + uuid.uuid4().hex[:10]


def capture(s, email, **fields):
    body = {"email": email, "anonId": fields.pop("anonId", "anon-" + uuid.uuid4().hex[:12])}
    body.update(fields)
    r = s.request("POST", CAPTURE, body)
    expect_eq(r.status, 200, "capture of %s" % email, r)
    return r.json["leadId"]


def list_leads(s, **q):
    return s.request("GET", LEADS + "?" + urllib.parse.urlencode(q), headers=AUTH)


def ok_list(s, **q):
    r = list_leads(s, **q)
    expect_eq(r.status, 200, "list %r" % q, r)
    return r.json


def export(s, **q):
    return s.request("GET", EXPORT + ("?" + urllib.parse.urlencode(q) if q else ""), headers=AUTH, timeout=120)


def csv_rows(r):
    expect_eq(r.status, 200, "export status", r)
    expect_eq(r.header("Content-Type"), CSV_CT, "export content-type", r)
    text = r.body.decode("utf-8")
    expect(text.endswith("\r\n"), "rows end with CRLF", r)
    out = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    expect_eq(out[0], HEADER, "header row", r)
    return [dict(zip(HEADER, row)) for row in out[1:]]


def by_email(rows_, needle):
    return {r["email"]: r for r in rows_ if needle in r["email"]}


@test
def list_shape_filters_and_first_touch():
    s = stack()
    t = tag()
    anon = "anon-" + uuid.uuid4().hex[:12]
    # the visitor arrived from a campaign before the form: the first touch
    r = s.request("POST", "/v1/events", {"anonId": anon, "eventType": "page_view", "path": "/landing",
                                         "utm": {"source": "news", "medium": "email", "campaign": "spring"}})
    expect_eq(r.status, 202, "page view", r)
    e1 = "%s-express@example.com" % t
    id1 = capture(s, e1, anonId=anon, consentStatus="express", consentMethod="checkbox", formName="contact-" + t,
                  sourceChannel="newsletter", path="/contact")
    capture(s, "%s-pending@example.com" % t, formName="other-" + t)
    capture(s, "%s-implied@example.com" % t, consentStatus="implied", consentMethod="inquiry", formName="contact-" + t)
    # a later capture of the first lead keeps "when and how" at the consent as given
    capture(s, e1, anonId=anon, formName="contact-" + t)

    j = ok_list(s, email=t)
    expect_eq(len(j["leads"]), 3, "three leads of this test")
    expect(j["nextCursor"] is None, "one page")
    lead = [l for l in j["leads"] if l["email"] == e1][0]
    expect_eq(lead["id"], id1, "id")
    expect_eq(lead["consentStatus"], "express", "status")
    expect_eq(lead["consentExpired"], False, "not expired")
    expect(lead["impliedExpiresAt"] is None, "no expiry for express")
    expect_eq((lead["consent"]["method"], lead["consent"]["source"], lead["consent"]["wordingVersion"]),
              ("checkbox", "form_submit", None), "how: the first event of the express run")
    first_ce = rows("SELECT to_char(min(\"timestamp\"), 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS at FROM consent_events "
                    "WHERE lead_id = %s" % harness.sql_lit(id1))[0]["at"]
    expect_eq(lead["consent"]["at"], first_ce, "when: the first express event")
    expect_eq(lead["sourceChannel"], None, "source channel of the latest capture (it sent none)")
    expect(lead["firstCapturedAt"] < lead["lastCapturedAt"] or lead["firstCapturedAt"] == lead["lastCapturedAt"],
           "first <= last")
    ft = lead["firstTouch"]
    expect(ft is not None, "a first touch")
    expect_eq((ft["landingPath"], ft["utm"]["source"], ft["utm"]["medium"], ft["utm"]["campaign"]),
              ("/landing", "news", "email", "spring"), "first touch from the first session")
    implied = [l for l in j["leads"] if l["consentStatus"] == "implied"][0]
    expect_eq(implied["consentExpired"], False, "a fresh inquiry is not expired")
    expect(implied["impliedExpiresAt"] is not None, "implied carries its expiry")

    # filters
    expect_eq([l["email"] for l in ok_list(s, email=t, consent="express")["leads"]], [e1], "consent=express")
    expect_eq(len(ok_list(s, email=t, consent="mailable")["leads"]), 2, "mailable: express and fresh implied")
    expect_eq(sorted(l["email"] for l in ok_list(s, email=t, formName="contact-" + t)["leads"]),
              sorted([e1, "%s-implied@example.com" % t]), "formName: leads that submitted that form")
    expect_eq(len(ok_list(s, email=t.upper())["leads"]), 3, "email filter is case-insensitive")
    expect_eq(len(ok_list(s, email=t, since="2100-01-01T00:00:00Z")["leads"]), 0, "since in the future")
    expect_eq(len(ok_list(s, email=t, until="2000-01-01T00:00:00Z")["leads"]), 0, "until in the past")
    expect_eq(len(ok_list(s, email=t, since="2000-01-01T00:00:00Z", until="2100-01-01T00:00:00+02:00")["leads"]), 3,
              "a window around now")


@test
def email_filter_is_like_escaped():
    s = stack()
    t = tag()
    capture(s, "%s_a@example.com" % t)
    capture(s, "%sxa@example.com" % t)
    j = ok_list(s, email=t + "_a")
    expect_eq([l["email"] for l in j["leads"]], ["%s_a@example.com" % t], "'_' matches only itself")
    expect_eq(len(ok_list(s, email=t + "%")["leads"]), 0, "'%' matches only itself")
    expect_eq(len(ok_list(s, email=t + "\\")["leads"]), 0, "a backslash is a plain character")


@test
def list_validation():
    s = stack()
    for q, field in (({"limit": 0}, "limit"), ({"limit": LIMIT_MAX + 1}, "limit"), ({"limit": "x"}, "limit"),
                     ({"consent": "maybe"}, "consent"), ({"cursor": "!!"}, "cursor"), ({"cursor": "MTo"}, "cursor"),
                     ({"since": "yesterday"}, "since"),
                     ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "until"),
                     ({"email": "x" * 321}, "email"), ({"formName": "f" * 256}, "formName")):
        r = list_leads(s, **q)
        expect_error(r, 400, "invalid_request", extra=True)
        expect(any(i["path"] == field for i in r.json["issues"]), "an issue on %s for %r" % (field, q), r)
    expect_eq(list_leads(s, limit=LIMIT_MAX).status, 200, "limit at the bound")
    expect_error(s.request("GET", LEADS), 401, "unauthorized")
    expect_error(s.request("GET", EXPORT), 401, "unauthorized")
    r = export(s, consent="maybe")
    expect_error(r, 400, "invalid_request", extra=True)


@test(timeout=180)
def pagination_walks_every_lead_once_with_concurrent_inserts():
    s = stack()
    t = tag()
    initial = set()
    for i in range(30):
        initial.add(capture(s, "%s-p%02d@example.com" % (t, i)))
    stop = threading.Event()
    added = []
    errors = []

    def writer():
        i = 0
        while not stop.is_set() and i < 40:
            try:
                r = s.request("POST", CAPTURE, {"email": "%s-c%02d@example.com" % (t, i), "anonId": "anon-c%d-%s" % (i, t)})
                if r.status != 200:
                    errors.append(r.describe())
                else:
                    added.append(r.json["leadId"])
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))
            i += 1

    th = threading.Thread(target=writer)
    th.start()
    seen = []
    pages = 0
    cursor = None
    try:
        while True:
            q = {"email": t, "limit": 7}
            if cursor:
                q["cursor"] = cursor
            j = ok_list(s, **q)
            pages += 1
            expect(len(j["leads"]) <= 7, "a page holds at most limit")
            seen.extend(l["id"] for l in j["leads"])
            cursor = j["nextCursor"]
            if not cursor:
                break
            expect(pages < 40, "the walk ends")
    finally:
        stop.set()
        th.join(60)
    expect(not errors, "concurrent captures failed: %s" % errors[:3])
    expect_eq(len(seen), len(set(seen)), "no lead twice (%d seen over %d pages)" % (len(seen), pages))
    expect(initial <= set(seen), "every lead present at the start was seen (%d missing)" % len(initial - set(seen)))
    expect(set(seen) <= initial | set(added), "nothing but this test's leads")
    # a walk after the writes sees every lead exactly once
    seen2, cursor = [], None
    while True:
        q = {"email": t, "limit": 11}
        if cursor:
            q["cursor"] = cursor
        j = ok_list(s, **q)
        seen2.extend(l["id"] for l in j["leads"])
        cursor = j["nextCursor"]
        if not cursor:
            break
    expect_eq(sorted(seen2), sorted(initial | set(added)), "the quiet walk: every lead once")


@test
def implied_consent_expires():
    s = stack()
    t = tag()
    inq = capture(s, "%s-inq@example.com" % t, consentStatus="implied", consentMethod="inquiry")
    cust = capture(s, "%s-cust@example.com" % t, consentStatus="implied", consentMethod="existing_customer")
    old_cust = capture(s, "%s-oldcust@example.com" % t, consentStatus="implied", consentMethod="existing_customer")
    fresh = capture(s, "%s-fresh@example.com" % t, consentStatus="implied")
    express = capture(s, "%s-exp@example.com" % t, consentStatus="express")
    # the consent was given long ago: 200 days for the inquiry and one customer (6 months < 200 < 2 years),
    # 800 days for the other customer, 200 for the express lead (express does not expire)
    for lid, days in ((inq, 200), (cust, 200), (old_cust, 800), (express, 200)):
        psql("UPDATE consent_events SET \"timestamp\" = \"timestamp\" - interval '%d days' WHERE lead_id = %s"
             % (days, harness.sql_lit(lid)))
    leads = {l["id"]: l for l in ok_list(s, email=t)["leads"]}
    expect_eq(leads[inq]["consentExpired"], True, "an inquiry 200 days ago: expired (183 days)")
    expect_eq(leads[cust]["consentExpired"], False, "a customer 200 days ago: not expired (730 days)")
    expect_eq(leads[old_cust]["consentExpired"], True, "a customer 800 days ago: expired")
    expect_eq(leads[fresh]["consentExpired"], False, "a fresh inquiry")
    expect_eq(leads[express]["consentExpired"], False, "express never expires")
    expect(leads[express]["impliedExpiresAt"] is None, "no expiry for express")
    inq_at = rows("SELECT to_char(\"timestamp\" + interval '183 days', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS at "
                  "FROM consent_events WHERE lead_id = %s" % harness.sql_lit(inq))[0]["at"]
    expect_eq(leads[inq]["impliedExpiresAt"], inq_at, "expiry = the implied consent's time + 183 days")
    expect_eq(sorted(l["id"] for l in ok_list(s, email=t, consent="expired")["leads"]), sorted([inq, old_cust]),
              "consent=expired")
    expect_eq(sorted(l["id"] for l in ok_list(s, email=t, consent="implied")["leads"]), sorted([inq, cust, old_cust, fresh]),
              "consent=implied holds expired ones too")
    default = by_email(csv_rows(export(s, email=t)), t)
    expect_eq(sorted(default), sorted("%s-%s@example.com" % (t, k) for k in ("cust", "fresh", "exp")),
              "the default export: express and unexpired implied only")
    full = by_email(csv_rows(export(s, email=t, consent="all")), t)
    expect_eq(len(full), 5, "consent=all exports every lead")
    expect_eq(full["%s-inq@example.com" % t]["consent_expired"], "true", "flagged in the full export")
    expect_eq(full["%s-inq@example.com" % t]["implied_expires_at"], inq_at, "its expiry")
    # a new inquiry renews implied consent
    capture(s, "%s-inq@example.com" % t, consentStatus="implied", consentMethod="inquiry")
    leads = {l["id"]: l for l in ok_list(s, email=t)["leads"]}
    expect_eq(leads[inq]["consentExpired"], False, "renewed by a new inquiry")
    # the settings decide the days
    with Stack(harness.migrated_database(DB), workers=1,
               env=env(CONSENT_IMPLIED_INQUIRY_DAYS=365, CONSENT_IMPLIED_CUSTOMER_DAYS=100)) as s2:
        r = s2.request("GET", LEADS + "?" + urllib.parse.urlencode({"email": t}), headers=AUTH)
        leads = {l["id"]: l for l in r.json["leads"]}
        expect_eq(leads[cust]["consentExpired"], True, "CONSENT_IMPLIED_CUSTOMER_DAYS=100: 200 days is expired")
        expect_eq(leads[fresh]["consentExpired"], False, "a fresh inquiry")


@test
def export_link_unsubscribes_with_one_click():
    s = stack()
    t = tag()
    lid = capture(s, "%s-mail@example.com" % t, consentStatus="express", sourceChannel="webinar",
                  utm={"source": "linkedin"})
    pending = capture(s, "%s-pend@example.com" % t)
    rows_ = by_email(csv_rows(export(s, email=t)), t)
    expect_eq(list(rows_), ["%s-mail@example.com" % t], "pending leads are not exported by default")
    row = rows_["%s-mail@example.com" % t]
    expect_eq((row["consent_status"], row["source"], row["lead_id"], row["consent_source"]),
              ("express", "webinar", lid, "form_submit"), "row %r" % row)
    expect(row["consent_date"].endswith("Z"), "consent date as ISO UTC: %r" % row["consent_date"])
    url = row["unsubscribe_url"]
    expect(url.startswith(BASE_URL + "/v1/leads/unsubscribe?token="), "an absolute link: %r" % url)
    # what a mailbox provider sends (RFC 8058)
    r = s.request("POST", url[len(BASE_URL):], "List-Unsubscribe=One-Click", headers={"Content-Type": FORM})
    expect_eq(r.status, 200, "one-click POST", r)
    expect(r.header("Location") is None, "no redirect", r)
    expect_eq(rows("SELECT consent_status::text AS s FROM leads WHERE id = %s" % harness.sql_lit(lid)),
              [{"s": "withdrawn"}], "withdrawn")
    expect_eq(by_email(csv_rows(export(s, email=t)), t), {}, "the lead dropped out of the default export")
    full = by_email(csv_rows(export(s, email=t, consent="all")), t)
    expect_eq(full["%s-mail@example.com" % t]["consent_status"], "withdrawn", "the backup export shows it")
    expect_eq(full["%s-mail@example.com" % t]["consent_source"], "unsubscribe", "how: the unsubscribe")
    expect_eq(full["%s-pend@example.com" % t]["lead_id"], pending, "and the pending lead")
    r = export(s, email=t)
    expect(r.header("Content-Disposition") == 'attachment; filename="leads-mailable.csv"', "attachment name", r)


@test
def export_cells_are_formula_safe():
    s = stack()
    t = tag()
    capture(s, "%s-f@example.com" % t, consentStatus="express", sourceChannel="=HYPERLINK(\"http://x\",\"y\")",
            utm={"source": "+1", "medium": "-2", "campaign": "@SUM(A1)"})
    text = export(s, email=t).body.decode()
    expect("'=HYPERLINK" in text, "the formula cell is prefixed: %r" % text[-400:])
    row = by_email(csv_rows(export(s, email=t)), t)["%s-f@example.com" % t]
    expect_eq((row["source"], row["utm_source"], row["utm_medium"], row["utm_campaign"]),
              ("'=HYPERLINK(\"http://x\",\"y\")", "'+1", "'-2", "'@SUM(A1)"), "every formula cell prefixed")


@test
def export_refused_without_unsubscribe_config():
    url = harness.migrated_database(DB)
    for missing in ("UNSUBSCRIBE_SECRET", "PUBLIC_BASE_URL"):
        e = env()
        del e[missing]
        with Stack(url, workers=1, env=e) as s:
            expect_error(export(s), 503, "unsubscribe_not_configured")
            expect_eq(list_leads(s).status, 200, "the list works without it (%s unset)" % missing)


@test(timeout=300)
def export_streams_without_growing_the_responder():
    """~40 000 leads (~12 MB of CSV with their links): the responder's peak RSS (VmHWM) grows by far
    less than the body. Reading the whole result first or building the file in memory would add at
    least the body's size. The export is read in pages of LEAD_EXPORT_PAGE_ROWS (core/bounds.h), one
    statement each, so no export nears the statement timeout: seven leads share each capture time, so
    page boundaries fall inside ties, and every lead must come exactly once, in order."""
    db = "lead_list_big"
    url = harness.migrated_database(db)
    n = 40000
    harness.shared_postgres().psql(
        "INSERT INTO leads (id, email_normalized, consent_status, first_captured_at, last_captured_at, source_channel, "
        "updated_at) SELECT 'big-' || i, 'big-' || i || '-' || repeat('x', 40) || '@example.com', 'express', "
        "now() - (i / 7) * interval '1 second', now(), 'channel-' || i, now() FROM generate_series(1, %d) i;"
        "INSERT INTO consent_events (id, lead_id, status, source, method, \"timestamp\") "
        "SELECT 'ce-' || i, 'big-' || i, 'express', 'form_submit', 'checkbox', now() - i * interval '1 second' "
        "FROM generate_series(1, %d) i; ANALYZE leads; ANALYZE consent_events;" % (n, n), db=db, timeout=300)
    e = env()
    if os.environ.get("SANITIZE"):
        e["ASAN_OPTIONS"] = (os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=0").lstrip(":")
    for mode in ("unnamed", "prepared"):
        with Stack(url, workers=1, env=dict(e, DATABASE_STATEMENTS=mode)) as s:
            pid = s.responder_pids()[0]
            csv_rows(export(s, email="big-1-"))  # warm up
            # lead ids of one capture time in the database's (collation) order: Postgres' own
            want = harness.shared_postgres().psql(
                "SELECT string_agg(id, ',' ORDER BY first_captured_at, id) FROM leads", db=db, timeout=120).strip()
            before = hwm_kb(pid)
            harness.wait_until(lambda: stable_commits(db), 10, 0.2, "%s: the database's counters at rest" % mode)
            commits = xact_commits(db)
            r = export(s)
            after = hwm_kb(pid)
            got = csv_rows(r)
            expect_eq(len(got), n, "%s: every lead" % mode)
            ids = [row["lead_id"] for row in got]
            expect_eq(len(set(ids)), n, "%s: no lead twice across pages" % mode)
            keys = [(row["first_captured_at"], row["lead_id"]) for row in got]
            expect(",".join(ids) == want, "%s: the export's order is (first_captured_at, id)" % mode)
            expect(keys[0][0] <= keys[-1][0], "%s: oldest first" % mode)
            # one transaction per page at least (Postgres flushes a backend's counters within a second or two)
            pages = -(-n // LEAD_EXPORT_PAGE_ROWS)
            harness.wait_until(lambda: xact_commits(db) - commits >= pages, 10, 0.5,
                               "%s: %d page statements for %d leads (commits %d -> %d)"
                               % (mode, pages, n, commits, xact_commits(db)))
            expect_eq(s.responder_pids(), [pid], "%s: the same responder answered" % mode)
            mb = len(r.body) / 1e6
            grew = (after - before) / 1e3
            print("NOTE lead_list: export %s: %.1f MB of CSV, responder VmHWM %d -> %d kB (+%.1f MB)"
                  % (mode, mb, before, after, grew), flush=True)
            expect(mb > 10, "%s: the export is big enough to tell (%.1f MB)" % (mode, mb))
            expect(grew < 2.0, "%s: the responder's peak RSS grew by %.1f MB for a %.1f MB export" % (mode, grew, mb))


LEAD_EXPORT_PAGE_ROWS = harness.bound("LEAD_EXPORT_PAGE_ROWS")


def xact_commits(db):
    """Transactions committed in database db, read from another database (so the reading adds none)."""
    return int(harness.shared_postgres().psql(
        "SELECT xact_commit FROM pg_stat_database WHERE datname = %s" % harness.sql_lit(db), db="postgres").strip())


def stable_commits(db):
    a = xact_commits(db)
    time.sleep(1.5)
    return xact_commits(db) == a


def hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM for %d" % pid)
