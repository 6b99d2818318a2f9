#!/usr/bin/env python3
"""run.py - real-browser tests: Debian's chromium (driven by run.js through playwright-core) on two
site pages, one on an origin in CORS_ALLOWED_ORIGINS and one not, against the real stack
(tests/integration/harness.py: Postgres, lighttpd, responders). The database then shows what
arrived: everything from the allowed page, nothing at all from the foreign one (API.md §2, CORS).
Then the tracker (issue 14; tracker.js): the test site in pages/tracker, on the allowed origin with
only the snippet and a strict CSP, visited in one fresh browser context per scenario (cookieless,
consent, the classic form post, GPC, the owner's ignore flag, a local page, headless Chromium's own
user agent); what the pages sent and the rows in Postgres are checked (verify_tracker).
Then the dashboard (issue 15; dashboard.py and dashboard.js): /dashboard/ against its own stack,
every number on the page compared with the API's answer.
Then the lead side (issue 16; leadpages.py and leadpages.js): the signed unsubscribe link's pages
(confirmation, the button by keyboard, done, an altered link, a phone width) and the classic form's
HTML 400 page, with the rows in Postgres before and after.

    BACKEND_BIN=fcgi-app/build/backend python3 tests/browser/run.py

Installs tests/browser/node_modules with `npm ci` when package-lock.json changed. Screenshots go to
tests/browser/artifacts/<time>/ (BROWSER_ARTIFACTS overrides). Prints `PASS name` / `FAIL name:
reason` and `N passed, N failed`; exits 1 when anything failed."""

import functools
import hashlib
import html
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.dont_write_bytecode = True

import harness  # noqa: E402
import dashboard  # noqa: E402
import leadpages  # noqa: E402

DB = "browser"
NODE_MIN_MAJOR = 20
READYZ_LIMIT = 3  # RATE_LIMIT_MAX of the stack: the allowed page reaches a 429 on /v1/readyz
WAIT_S = 10


def npm_ci():
    """node_modules exactly as package-lock.json says, reinstalled only when the lock changed."""
    lock = os.path.join(HERE, "package-lock.json")
    stamp = os.path.join(HERE, "node_modules", ".lock-sha256")
    with open(lock, "rb") as f:
        want = hashlib.sha256(f.read()).hexdigest()
    try:
        with open(stamp) as f:
            if f.read().strip() == want:
                return
    except OSError:
        pass
    print("browser: npm ci (package-lock.json changed or node_modules missing)", flush=True)
    # --ignore-scripts: playwright-core needs no install step, and no browser is ever downloaded
    subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=HERE, check=True,
                   env=dict(os.environ, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1"))
    with open(stamp, "w") as f:
        f.write(want + "\n")


def check_tools():
    out = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True).stdout.strip()
    major = int(out.lstrip("v").split(".")[0])
    if major < NODE_MIN_MAJOR:
        raise SystemExit("browser: node %s is too old (playwright-core needs %d or later)" % (out, NODE_MIN_MAJOR))
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not os.access(chromium, os.X_OK):
        raise SystemExit("browser: %s is missing (make deps installs Debian's chromium)" % chromium)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """The site pages. Under /tracker/ (the tracker's test site): every answer carries a strict CSP
    that names the API origin, and an .html page gets __API__ and __PROPERTY__ (the query's
    property) filled in. `api` is set once the stack is up."""
    api = ""

    def log_message(self, fmt, *args):
        pass

    def end_headers(self):
        if self.path.startswith("/tracker/"):
            self.send_header("Content-Security-Policy",
                             "default-src 'self'; script-src 'self' %s; connect-src %s; img-src 'self' data:; "
                             "style-src 'self'; form-action 'self' %s" % (self.api, self.api, self.api))
        super().end_headers()

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        if not (u.path.startswith("/tracker/") and u.path.endswith(".html")):
            return super().do_GET()
        try:
            with open(os.path.join(HERE, "pages", u.path.lstrip("/")), encoding="utf-8") as f:
                page = f.read()
        except OSError:
            return self.send_error(404)
        prop = urllib.parse.parse_qs(u.query).get("property", ["tracker-test"])[0]
        body = page.replace("__API__", self.api).replace("__PROPERTY__", html.escape(prop)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)


def site_server(host):
    """Serves tests/browser/pages on host, a free port; returns (server, origin)."""
    handler = functools.partial(QuietHandler, directory=os.path.join(HERE, "pages"))
    srv = http.server.ThreadingHTTPServer((host, 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, "http://%s:%d" % (host, srv.server_address[1])


def scalar(sql):
    return harness.shared_postgres().psql(sql, db=DB).strip()


def lit(s):
    return "'" + str(s).replace("'", "''") + "'"


def events_of(anon_id):
    return int(scalar("SELECT count(*) FROM events e JOIN visitors v ON v.id = e.visitor_id WHERE v.anon_id = %s"
                      % lit(anon_id)))


def lead_consent(email):
    """(leads rows, express consent_events rows) for email."""
    n = int(scalar("SELECT count(*) FROM leads WHERE email_normalized = %s" % lit(email)))
    c = int(scalar("SELECT count(*) FROM consent_events c JOIN leads l ON l.id = c.lead_id "
                   "WHERE l.email_normalized = %s AND c.status = 'express'" % lit(email)))
    return n, c


def poll(fn, want, timeout=WAIT_S):
    """fn() until it returns want or timeout passes; returns the last value."""
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v == want or time.monotonic() > end:
            return v
        time.sleep(0.2)


def access(stack):
    """(method, path, status) of every request lighttpd logged."""
    out = []
    for line in stack.access_log_lines():
        try:
            j = json.loads(line)
            out.append((j["method"], j["path"], int(j["status"])))
        except (ValueError, KeyError):
            pass
    return out


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, ok, detail):
        if ok:
            self.passed += 1
            print("PASS %s" % name, flush=True)
        else:
            self.failed += 1
            print("FAIL %s: %s" % (name, detail), flush=True)


def verify(checks, stack, allowed, foreign):
    a, f = allowed["result"], foreign["result"]
    ar, fr = a["requests"], f["requests"]

    # ---- the allowed site: everything arrives, and the page can read the back-off headers
    n = poll(lambda: events_of(allowed["tag"] + "-beacon-text"), 1)
    checks.check("allowed: sendBeacon text/plain is stored", ar["beaconText"] is True and n == 1,
                 "sendBeacon returned %r, %d events stored" % (ar["beaconText"], n))
    n = poll(lambda: events_of(allowed["tag"] + "-beacon-json"), 1)
    checks.check("allowed: sendBeacon application/json Blob (credentialed preflight) is stored",
                 ar["beaconJson"] is True and n == 1,
                 "sendBeacon returned %r, %d events stored" % (ar["beaconJson"], n))
    ft = ar["fetchText"]
    n = poll(lambda: events_of(allowed["tag"] + "-fetch-text"), 1)
    checks.check("allowed: text/plain fetch is stored and its answer readable", ft.get("status") == 202 and n == 1,
                 "fetch %r, %d events stored" % (ft, n))
    checks.check("allowed: the page reads X-RateLimit-Limit/-Remaining/-Reset",
                 all(ft.get(k) not in (None, "") for k in ("limit", "remaining", "reset")),
                 "fetch saw %r" % ft)
    last = ar["readyz"][-1] if ar["readyz"] else {}
    checks.check("allowed: the page reads Retry-After on a 429",
                 last.get("status") == 429 and (last.get("retryAfter") or "").isdigit(),
                 "GET /v1/readyz answers as the page saw them: %r" % ar["readyz"])
    form = a["form"]
    lead, consent = poll(lambda: lead_consent(allowed["email"]), (1, 1))
    checks.check("allowed: form post stores the lead with consent and redirects to the site",
                 form["redirectStatus"] == 303 and form["url"] == allowed["origin"] + "/thanks.html"
                 and lead == 1 and consent == 1,
                 "form %r; %d leads, %d express consents stored" % (form, lead, consent))

    # ---- the foreign site: wait until lighttpd has answered everything it sent, then nothing is stored
    def foreign_answered():
        log = access(stack)
        return (sum(1 for m, p, s in log if m == "POST" and p == "/v1/events") >= 5
                and sum(1 for m, p, s in log if m == "POST" and p == "/v1/leads/capture") >= 2
                and sum(1 for m, p, s in log if m == "OPTIONS" and p == "/v1/events") >= 2)
    poll(foreign_answered, True)
    log = access(stack)
    refused_posts = [x for x in log if x[0] == "POST" and x[2] == 403]
    refused_preflights = [x for x in log if x[0] == "OPTIONS" and x[2] == 403]
    n = events_of(foreign["tag"] + "-beacon-text")
    checks.check("foreign: sendBeacon text/plain is refused 403 and nothing stored",
                 n == 0 and ("POST", "/v1/events", 403) in refused_posts,
                 "%d events stored; access log %r" % (n, log))
    n = events_of(foreign["tag"] + "-beacon-json")
    checks.check("foreign: sendBeacon application/json Blob stops at its preflight (403), nothing stored",
                 n == 0 and ("OPTIONS", "/v1/events", 403) in refused_preflights,
                 "%d events stored; access log %r" % (n, log))
    ft = fr["fetchText"]
    n = events_of(foreign["tag"] + "-fetch-text")
    checks.check("foreign: text/plain fetch gets no readable answer and nothing is stored",
                 "error" in ft and n == 0 and refused_posts.count(("POST", "/v1/events", 403)) >= 2,
                 "fetch %r, %d events stored; access log %r" % (ft, n, log))
    form = f["form"]
    lead, consent = lead_consent(foreign["email"])
    checks.check("foreign: form post is answered 403 origin_not_allowed and no lead is stored",
                 form["status"] == 403 and "origin_not_allowed" in form["text"] and lead == 0,
                 "form %r; %d leads stored" % (form, lead))
    checks.check("foreign: a GET answer is not readable by the page",
                 bool(fr["readyz"]) and "error" in fr["readyz"][0], "GET /v1/readyz as seen: %r" % fr["readyz"])
    counts = {
        "events": scalar("SELECT count(*) FROM events"),
        "events of the allowed page's visitors": scalar(
            "SELECT count(*) FROM events e JOIN visitors v ON v.id = e.visitor_id WHERE v.anon_id LIKE %s"
            % lit(allowed["tag"] + "-%")),
        "visitors of the foreign page": scalar("SELECT count(*) FROM visitors WHERE anon_id LIKE %s"
                                               % lit(foreign["tag"] + "-%")),
        "leads": scalar("SELECT count(*) FROM leads"),
        "ingest_rejections": scalar("SELECT count(*) FROM ingest_rejections"),
    }
    checks.check("foreign: no row at all (every event is the allowed page's, one lead, no rejection rows)",
                 counts["events"] == counts["events of the allowed page's visitors"]
                 and counts["visitors of the foreign page"] == "0" and counts["leads"] == "1"
                 and counts["ingest_rejections"] == "0", "row counts %r" % counts)


# ---- the tracker (issue 14) ---------------------------------------------------------------------

CK_RE = re.compile(r"ck:[0-9a-f]{32}")  # the service's cookieless visitor id (daily salt)
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
UA_BASE = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.%d Safari/537.36"
SCENARIOS = ("cookieless", "consent", "form", "formnext", "gpc", "ignore", "local", "headless")


def rows(sql):
    """Rows of a query as lists of strings (psql unaligned, fields split on |)."""
    out = harness.shared_postgres().psql(sql, db=DB).strip()
    return [line.split("|") for line in out.splitlines()] if out else []


def event_posts(r, api):
    """(body as sent, parsed) of every POST /v1/events the scenario's pages made."""
    out = []
    for q in r["requests"]:
        if q["method"] == "POST" and q["url"] == api + "/v1/events":
            try:
                out.append(json.loads(q["body"] or ""))
            except ValueError:
                out.append({"unparsable": q["body"]})
    return out


def of_type(posts, t):
    return [p for p in posts if p.get("eventType") == t]


def stored(prop, what="e.event_type, e.path, v.anon_id, e.session_id, e.traffic_source::text, e.is_entrance, "
                      "coalesce(e.props::text, '')"):
    return rows("SELECT %s FROM events e JOIN visitors v ON v.id = e.visitor_id WHERE e.property_id = %s "
                "ORDER BY e.timestamp, e.created_at" % (what, lit(prop)))


def settled_events(quiet_s=1.0, timeout=WAIT_S):
    """Waits until the number of stored events has not changed for quiet_s (beacons still in flight)."""
    end = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < end:
        n = scalar("SELECT count(*) FROM events")
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return
        time.sleep(0.2)


def verify_tracker(checks, stack, db_url, cfg, results):
    api, site = cfg["api"], cfg["site"]
    settled_events()
    res = {r["name"]: r for r in results}
    for name in SCENARIOS:
        r = res[name]
        checks.check("tracker %s: no console error, page error or CSP violation" % name,
                     not r["errors"] and not r["csp"], "errors %r, CSP violations %r" % (r["errors"], r["csp"]))
        others = sorted({q["url"] for q in r["requests"] if not q["url"].startswith((site + "/", api + "/"))
                         and not q["url"].startswith(("data:", "about:", "blob:"))})
        checks.check("tracker %s: no request to anyone but the site and the API" % name, not others,
                     "requests to %r" % others)
        want_storage = {"consent": {}, "ignore": {"actx_ignore": "1"}}.get(name, {})
        checks.check("tracker %s: no cookie, no sessionStorage, localStorage %r" % (name, want_storage),
                     r.get("cookies") == [] and r.get("sessionStorage", 0) == 0
                     and r.get("storage", {}) == want_storage,
                     "cookies %r, sessionStorage %r, localStorage %r" % (r.get("cookies"), r.get("sessionStorage"),
                                                                         r.get("storage")))

    # ---- cookieless: what the pages sent (works against any server)
    r = res["cookieless"]
    prop = r["property"]
    posts = event_posts(r, api)
    views = of_type(posts, "page_view")
    view_paths = [p.get("path", "").split("?")[0] for p in views]
    want_paths = ["/tracker/index.html", "/tracker/app/pricing", "/tracker/app/about", "/tracker/app/pricing",
                  "/tracker/second.html"]
    checks.check("tracker cookieless: one page_view per navigation (full loads, pushState, back), none for "
                 "replaceState of the same path or a hash change", view_paths == want_paths,
                 "page_view paths sent %r" % view_paths)
    ids = [p.get("eventId") for p in posts]
    checks.check("tracker cookieless: every event has its own random UUID eventId",
                 all(isinstance(i, str) and UUID_RE.fullmatch(i) for i in ids) and len(set(ids)) == len(ids),
                 "eventIds %r" % ids)
    checks.check("tracker cookieless: no anonId sent without consent", not any("anonId" in p for p in posts),
                 "bodies %r" % posts)
    utm = {"source": "news", "medium": "email", "campaign": "launch"}
    checks.check("tracker cookieless: the landing UTM on the landing page and its SPA views, referrer and "
                 "entrance right",
                 len(views) == 5 and all(v.get("utm") == utm for v in views[:4]) and "utm" not in views[4]
                 and views[0].get("referrer") == "https://www.google.com/search?q=secret"
                 and views[1].get("referrer") == site + "/tracker/index.html?property=" + prop
                 + "&utm_source=news&utm_medium=email&utm_campaign=launch"
                 and views[4].get("referrer") == site + "/tracker/app/pricing"
                 and [v.get("traffic", {}).get("isEntrance") for v in views] == [True, False, False, False, False]
                 and all(v.get("traffic", {}).get("propertyId") == prop for v in views),
                 "page views sent %r" % views)
    queued = of_type(posts, "signup_click")
    checks.check("tracker cookieless: a call queued before the script loaded is sent",
                 len(queued) == 1 and queued[0].get("props") == {"plan": "pro"}, "signup_click sent %r" % queued)
    links = [(p["eventType"], p.get("props")) for p in posts if p.get("eventType") in ("outbound_click", "file_download")]
    checks.check("tracker cookieless: outbound link and file download events, without the query",
                 links == [("outbound_click", {"url": "https://partner.example/offer"}),
                           ("file_download", {"url": site + "/tracker/files/report.pdf"})], "sent %r" % links)
    eng = of_type(posts, "engagement")
    checks.check("tracker cookieless: engagement time and scroll depth of the page left (pagehide, SPA navigation)",
                 eng and all(1000 <= e["traffic"]["engagedTimeMs"] <= 86400000
                             and 0 < e["traffic"]["scrollDepthPercent"] <= 100 for e in eng)
                 and eng[-1]["path"] == "/tracker/app/pricing" and eng[-1]["traffic"]["scrollDepthPercent"] > 50,
                 "engagement sent %r" % eng)
    vit = of_type(posts, "web_vitals")
    checks.check("tracker cookieless: t.vitals.js sends traffic.webVitals within the service's bounds at pagehide",
                 len(vit) == 1 and all(isinstance(v["traffic"]["webVitals"].get(k), int)
                                       and 0 <= v["traffic"]["webVitals"][k] <= 120000
                                       for v in vit for k in ("ttfbMs", "fcpMs"))
                 and all(0 <= v["traffic"]["webVitals"].get("clsScore", -1) <= 10 for v in vit),
                 "web_vitals sent %r" % vit)

    # ---- cookieless: what was stored (needs the service's cookieless ids: branch i14srv)
    st = stored(prop)
    st_views = [x for x in st if x[0] == "page_view"]
    kinds = sorted((x[0], x[1]) for x in st if x[0] not in ("page_view", "engagement"))
    want_kinds = sorted([("signup_click", "/tracker/index.html"), ("outbound_click", "/tracker/app/pricing"),
                         ("file_download", "/tracker/app/pricing"), ("web_vitals", "/tracker/app/pricing"),
                         ("web_vitals", "/tracker/second.html")])
    second_eng = [x for x in st if x[0] == "engagement" and x[1] == "/tracker/second.html"]
    checks.check("tracker cookieless [i14srv]: every event stored once (the second page's engagement and vitals "
                 "from its real pagehide), nothing more",
                 [x[1] for x in st_views] == want_paths and kinds == want_kinds and len(second_eng) == 1,
                 "page views stored %r; other events %r; engagement of the second page %r" % (st_views, kinds,
                                                                                          second_eng))
    anons = {x[2] for x in st}
    checks.check("tracker cookieless [i14srv]: one visitor, with the service's cookieless id",
                 len(anons) == 1 and all(CK_RE.fullmatch(a) for a in anons), "visitors' anon_id %r" % anons)
    sess = rows("SELECT s.id, s.referrer, s.utm_source, s.utm_medium, s.utm_campaign, s.landing_path FROM sessions s "
                "WHERE s.id IN (SELECT session_id FROM events WHERE property_id = %s) ORDER BY s.started_at" % lit(prop))
    checks.check("tracker cookieless [i14srv]: the landing session has the referrer and UTM, its SPA views stay "
                 "in it; the sources are email, then internal",
                 len(st_views) == 5 and sess
                 and sess[0][1:] == ["https://www.google.com/search", "news", "email", "launch", "/tracker/index.html"]
                 and len({x[3] for x in st_views[:4]}) == 1 and st_views[0][3] == sess[0][0]
                 and st_views[0][4] == "email" and st_views[4][4] == "internal"
                 and [x[5] for x in st_views] == ["t", "f", "f", "f", "f"],
                 "sessions %r; page views %r" % (sess, st_views))
    props = {x[0]: json.loads(x[6]) if x[6] else {} for x in st}
    checks.check("tracker cookieless [i14srv]: custom props, engagement and web vitals stored",
                 props.get("signup_click") == {"plan": "pro"} and props.get("engagement", {}).get("engagedTimeMs", 0) >= 1000
                 and "fcpMs" in props.get("web_vitals", {}), "props stored %r" % props)

    # ---- consent
    r = res["consent"]
    prop, cid = r["property"], r["seen"].get("id")
    posts = event_posts(r, api)
    views = of_type(posts, "page_view")
    fs = of_type(posts, "form_start")
    cap = r["seen"].get("capture") or {}
    checks.check("tracker consent: a random id kept only after consent, sent as anonId while consented, "
                 "deleted on withdrawal",
                 bool(cid) and UUID_RE.fullmatch(cid) is not None and r["seen"].get("afterWithdraw") is None
                 and [v.get("anonId") for v in views] == [None, cid, None]
                 and len(fs) == 1 and fs[0].get("anonId") == cid and fs[0].get("props") == {"formName": "newsletter"},
                 "id %r, after withdrawal %r; page views %r; form_start %r" % (cid, r["seen"].get("afterWithdraw"),
                                                                             views, fs))
    checks.check("tracker consent: the JSON capture carries the consented anonId and is accepted",
                 cap.get("status") == 200 and cap.get("sent", {}).get("anonId") == cid, "capture %r" % cap)
    n = rows("SELECT string_agg(e.event_type || ' ' || e.path, ',' ORDER BY e.timestamp) FROM events e "
             "JOIN visitors v ON v.id = e.visitor_id WHERE v.anon_id = %s AND e.event_type <> 'engagement'"
             % lit(cid or "-"))
    link = rows("SELECT count(*) FROM lead_identities li JOIN leads l ON l.id = li.lead_id JOIN visitors v "
                "ON v.id = li.visitor_id WHERE l.email_normalized = %s AND v.anon_id = %s"
                % (lit(r["email"]), lit(cid or "-")))
    # (an engagement report may fall in the consented time too, depending on how long the steps take)
    checks.check("tracker consent: the consented visitor's views, form_start and capture are stored under its id, "
                 "and the lead is linked to it",
                 n == [["page_view /tracker/app/pricing,form_start /tracker/app/pricing,form_submit /tracker/app/pricing"]]
                 and link == [["1"]], "events of the consented id %r; lead links %r" % (n, link))
    st = stored(prop, "e.event_type, e.path, v.anon_id")
    pv = rows("SELECT e.path, v.anon_id FROM events e JOIN visitors v ON v.id = e.visitor_id "
              "WHERE e.property_id = %s AND e.event_type = 'page_view' ORDER BY e.timestamp" % lit(prop))
    checks.check("tracker consent [i14srv]: the views before consent and after withdrawal are stored cookieless",
                 [p[0] for p in pv] == ["/tracker/index.html", "/tracker/app/pricing", "/tracker/app/about"]
                 and CK_RE.fullmatch(pv[0][1]) and pv[1][1] == cid and CK_RE.fullmatch(pv[2][1]),
                 "page views stored %r (all rows %r)" % (pv, st))

    # ---- the classic form post, cookieless
    r = res["form"]
    prop = r["property"]
    form = r["seen"].get("form") or {}
    post = [q for q in r["requests"] if q["method"] == "POST" and q["url"] == api + "/v1/leads/capture"]
    body = urllib.parse.parse_qs(post[0]["body"] or "") if post else {}
    fs = of_type(event_posts(r, api), "form_start")
    checks.check("tracker form: form_start on the first input, and the empty anonId left out of the post",
                 len(post) == 1 and body.get("email") == [r["email"]] and "anonId" not in body
                 and len(fs) == 1 and fs[0].get("props") == {"formName": "contact"} and "anonId" not in fs[0],
                 "capture posts %r; form_start %r" % (post, fs))
    lead = rows("SELECT l.consent_status::text, v.anon_id FROM leads l JOIN lead_identities li "
                "ON li.lead_id = l.id JOIN visitors v ON v.id = li.visitor_id "
                "WHERE l.email_normalized = %s" % lit(r["email"]))
    checks.check("tracker form [i14srv]: the post is answered 303 to the site's thanks page, the lead stored with "
                 "consent under a cookieless visitor",
                 form.get("redirectStatus") == 303 and form.get("url") == site + "/tracker/thanks.html"
                 and len(lead) == 1 and lead[0][0] == "express" and CK_RE.fullmatch(lead[0][1]) is not None,
                 "form %r; lead %r" % (form, lead))
    fst = stored(prop, "e.event_type, v.anon_id")
    checks.check("tracker form [i14srv]: form_start stored, cookieless",
                 [x[0] for x in fst].count("form_start") == 1 and all(CK_RE.fullmatch(x[1]) for x in fst),
                 "rows %r" % fst)

    # ---- the classic form with _next (issue 16 item 8)
    r = res["formnext"]
    back, nxt = r["seen"].get("back") or {}, r["seen"].get("next") or {}
    posts = [urllib.parse.parse_qs(q["body"] or "") for q in r["requests"]
             if q["method"] == "POST" and q["url"] == api + "/v1/leads/capture"]
    page = "/tracker/form-next.html?property=" + urllib.parse.quote(r["property"])
    checks.check("tracker formnext: t.plus.js fills path with the form's page (less actx_error), _next as written",
                 len(posts) == 2 and all(p.get("path") == [page] and p.get("_next") == ["/tracker/thanks.html"]
                                         for p in posts),
                 "capture posts %r" % posts)
    checks.check("tracker formnext [i16]: an invalid email comes back 303 to the form's page with actx_error=email, "
                 "and the page shows it",
                 back.get("redirectStatus") == 303 and back.get("url") == site + page + "&actx_error=email"
                 and back.get("error") == "Please check: email" and back.get("invalid") == "true",
                 "back %r" % back)
    sub = rows("SELECT e.path FROM events e JOIN lead_identities li ON li.visitor_id = e.visitor_id "
               "JOIN leads l ON l.id = li.lead_id WHERE l.email_normalized = %s AND e.event_type = 'form_submit'"
               % lit(r["email"]))
    checks.check("tracker formnext [i16]: the corrected post lands on _next, its form_submit recorded under the "
                 "form's page",
                 nxt.get("redirectStatus") == 303 and nxt.get("url") == site + "/tracker/thanks.html"
                 and len(sub) == 1 and sub[0][0].split("?")[0] == "/tracker/form-next.html"
                 and "actx_error" not in sub[0][0],
                 "next %r; form_submit paths %r" % (nxt, sub))

    # ---- GPC
    r = res["gpc"]
    prop = r["property"]
    posts = event_posts(r, api)
    ev_reqs = [q for q in r["requests"] if q["method"] == "POST" and q["url"] == api + "/v1/events"]
    checks.check("tracker gpc: consent asked for under GPC keeps nothing, no anonId sent, Sec-GPC on every beacon",
                 r["seen"].get("gpc") is True and len(of_type(posts, "page_view")) == 2
                 and not any("anonId" in p for p in posts) and ev_reqs and all(q["gpc"] == "1" for q in ev_reqs),
                 "gpc %r; sent %r; headers %r" % (r["seen"].get("gpc"), posts, [q["gpc"] for q in ev_reqs]))
    pv = rows("SELECT e.path, v.anon_id FROM events e JOIN visitors v ON v.id = e.visitor_id "
              "WHERE e.property_id = %s AND e.event_type = 'page_view' ORDER BY e.timestamp" % lit(prop))
    checks.check("tracker gpc [i14srv]: both views stored, cookieless",
                 [p[0] for p in pv] == ["/tracker/index.html", "/tracker/app/pricing"]
                 and all(CK_RE.fullmatch(p[1]) for p in pv), "page views stored %r" % pv)

    # ---- the owner's ignore flag, and a local page: nothing sent, nothing stored
    for name, why in (("ignore", "the owner's browser (#actx-ignore, kept across visits)"),
                      ("local", "a 127.0.0.1 page without data-allow-local")):
        r = res[name]
        sent = event_posts(r, api)
        n = scalar("SELECT count(*) FROM events WHERE property_id = %s" % lit(r["property"]))
        checks.check("tracker %s: nothing sent from %s" % (name, why), not sent and n == "0",
                     "%d events sent, %s stored" % (len(sent), n))

    # ---- headless Chromium's own user agent: answered, not stored, counted as a headless drop
    r = res["headless"]
    prop = r["property"]
    sent = event_posts(r, api)
    n = scalar("SELECT count(*) FROM events WHERE property_id = %s" % lit(prop))
    day = time.strftime("%Y-%m-%d", time.gmtime())
    env = harness.service_env(db_url)
    rr = harness.backend(["rollups", "run"], env)
    summ = stack.request("GET", "/v1/metrics/summary?from=%s&to=%s&propertyId=%s" % (day, day, prop),
                         headers={"x-admin-key": harness.ADMIN_KEY})
    dropped = {k: v for k, v in (((summ.json or {}).get("ingest") or {}).get("botsDropped") or {}).items() if v}
    checks.check("tracker headless [i14srv]: HeadlessChrome's events are not stored and each is counted in the "
                 "summary's botsDropped",
                 "HeadlessChrome" in (r["seen"].get("userAgent") or "") and sent and n == "0" and rr.returncode == 0
                 and summ.status == 200 and dropped == {"headless": len(sent)},
                 "%d sent, %s stored; rollups run %d %s; summary %s %r" % (len(sent), n, rr.returncode,
                                                                      rr.stderr[-300:], summ.status, summ.json))


def check_tracker_build(checks):
    """The served files are the build of the readable sources (tracker/*.src.js)."""
    r = subprocess.run([os.path.join(HERE, "..", "..", "infra", "scripts", "build-tracker.sh"), "--check"],
                       capture_output=True, text=True, timeout=300)
    checks.check("tracker: lighttpd/www/t*.js are the build of tracker/*.src.js", r.returncode == 0,
                 "build-tracker.sh --check exit %d\n%s%s" % (r.returncode, r.stdout, r.stderr))


def main():
    check_tools()
    npm_ci()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    artifacts = os.environ.get("BROWSER_ARTIFACTS") or os.path.join(HERE, "artifacts", stamp)
    checks = Checks()
    servers = []
    tmp = tempfile.mkdtemp(prefix="browser-test-")
    t0 = time.monotonic()
    try:
        # different hosts and ports: different origins, and different sites
        srv_a, allowed_origin = site_server("127.0.0.1")
        srv_f, foreign_origin = site_server("127.0.0.2")
        servers += [srv_a, srv_f]
        url = harness.migrated_database(DB)
        stack = harness.shared("browser-stack", lambda: harness.Stack(url, workers=2, env={
            "CORS_ALLOWED_ORIGINS": allowed_origin, "RATE_LIMIT_MAX": READYZ_LIMIT}))
        run_id = uuid.uuid4().hex[:8]
        sites = []
        for name, origin in (("allowed", allowed_origin), ("foreign", foreign_origin)):
            sites.append({"name": name, "origin": origin, "tag": "br-%s-%s" % (name, run_id),
                          "email": "browser-%s-%s@example.com" % (name, run_id)})
        cfg = {"api": "http://127.0.0.1:%d" % stack.port, "artifacts": artifacts, "sites": sites,
               "readyzTries": READYZ_LIMIT + 2}
        cfg_path, out_path = os.path.join(tmp, "config.json"), os.path.join(tmp, "results.json")
        with open(cfg_path, "w") as fh:
            json.dump(cfg, fh)
        r = subprocess.run(["node", os.path.join(HERE, "run.js"), cfg_path, out_path], cwd=HERE,
                           capture_output=True, text=True, timeout=180)
        if r.returncode != 0 or not os.path.exists(out_path):
            checks.check("browser run", False, "run.js exit %d\n%s%s" % (r.returncode, r.stdout, r.stderr))
        else:
            with open(out_path) as fh:
                results = {x["name"]: x for x in json.load(fh)}
            for s in sites:
                s["result"] = results[s["name"]]
            verify(checks, stack, sites[0], sites[1])
            if checks.failed:
                print("browser: what the pages saw:\n" + json.dumps(results, indent=1), flush=True)

        # the tracker, after the checks above (they count every row of the database)
        check_tracker_build(checks)
        QuietHandler.api = cfg["api"]
        tcfg = {"api": cfg["api"], "site": allowed_origin, "artifacts": artifacts, "scenarios": [
            {"name": name, "property": "tr-%s-%s" % (name, run_id), "email": "tracker-%s-%s@example.com" % (name, run_id),
             "userAgent": None if name == "headless" else UA_BASE % (i + 1), "gpc": name == "gpc"}
            for i, name in enumerate(SCENARIOS)]}
        with open(cfg_path, "w") as fh:
            json.dump(tcfg, fh)
        failed_before = checks.failed
        r = subprocess.run(["node", os.path.join(HERE, "tracker.js"), cfg_path, out_path], cwd=HERE,
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            checks.check("tracker browser run", False, "tracker.js exit %d\n%s%s" % (r.returncode, r.stdout, r.stderr))
        else:
            with open(out_path) as fh:
                tresults = json.load(fh)
            for t, sc in zip(tresults, tcfg["scenarios"]):
                t["email"] = sc["email"]
            verify_tracker(checks, stack, url, tcfg, tresults)
            if checks.failed > failed_before:
                print("browser: what the tracker pages sent:\n" + json.dumps(tresults, indent=1)[:60000], flush=True)

        # the dashboard (issue 15; dashboard.py): a stack and a database of its own
        try:
            dashboard.run(checks, artifacts, tmp, run_id)
        except Exception as e:  # noqa: BLE001 - reported as a failed check with its reason
            checks.check("dashboard run", False, "%s: %s" % (type(e).__name__, e))

        # the lead-side pages (issue 16; leadpages.py): the unsubscribe link, the form's HTML 400
        try:
            leadpages.run(checks, artifacts, tmp, run_id)
        except Exception as e:  # noqa: BLE001 - reported as a failed check with its reason
            checks.check("leadpages run", False, "%s: %s" % (type(e).__name__, e))
        print("browser: screenshots in %s" % artifacts, flush=True)
    except Exception as e:  # a broken setup is a failure with its reason, not a traceback alone
        checks.check("browser setup", False, "%s: %s" % (type(e).__name__, e))
    finally:
        for srv in servers:
            srv.shutdown()
            srv.server_close()
        for key in ("browser-stack", "dashboard-stack", "migrated-db:" + DB, "migrated-db:" + dashboard.DB,
                    "leadpages-stack", "leadpages-lax-stack", "migrated-db:" + leadpages.DB, "postgres"):
            harness.drop_shared(key)
        harness.cleanup_all()
        shutil.rmtree(tmp, ignore_errors=True)
    print("(browser run took %.1f s)" % (time.monotonic() - t0), flush=True)
    print("%d passed, %d failed" % (checks.passed, checks.failed), flush=True)
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
