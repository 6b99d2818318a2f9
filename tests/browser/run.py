#!/usr/bin/env python3
"""run.py - real-browser tests: Debian's chromium (driven by run.js through playwright-core) on two
site pages, one on an origin in CORS_ALLOWED_ORIGINS and one not, against the real stack
(tests/integration/harness.py: Postgres, lighttpd, responders). The database then shows what
arrived: everything from the allowed page, nothing at all from the foreign one (API.md §2, CORS).

    BACKEND_BIN=fcgi-app/build/backend python3 tests/browser/run.py

Installs tests/browser/node_modules with `npm ci` when package-lock.json changed. Screenshots go to
tests/browser/artifacts/<time>/ (BROWSER_ARTIFACTS overrides). Prints `PASS name` / `FAIL name:
reason` and `N passed, N failed`; exits 1 when anything failed."""

import functools
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.dont_write_bytecode = True

import harness  # noqa: E402

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
    def log_message(self, fmt, *args):
        pass


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
        print("browser: screenshots in %s" % artifacts, flush=True)
    except Exception as e:  # a broken setup is a failure with its reason, not a traceback alone
        checks.check("browser setup", False, "%s: %s" % (type(e).__name__, e))
    finally:
        for srv in servers:
            srv.shutdown()
            srv.server_close()
        for key in ("browser-stack", "migrated-db:" + DB, "postgres"):
            harness.drop_shared(key)
        harness.cleanup_all()
        shutil.rmtree(tmp, ignore_errors=True)
    print("(browser run took %.1f s)" % (time.monotonic() - t0), flush=True)
    print("%d passed, %d failed" % (checks.passed, checks.failed), flush=True)
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
