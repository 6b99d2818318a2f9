"""test_logs.py - the logs of a whole local run are JSON lines that leak nothing (issue 13 item 5).

A copy of the project in a temp dir (Makefile, sources, scripts, lighttpd/, migrations/ and the
already built binary, so nothing is compiled) runs `make run` on free ports with its own Postgres
cluster in its .local/, gets traffic (events, lead captures with e-mail addresses, an unsubscribe,
admin calls, a malformed body, a 413, a forged X-Request-Id, requests while its Postgres is stopped),
and `make stop`. Then every line of every .local/*.log (lighttpd and the responders, the access log,
the scheduler) must be a JSON object with "ts" in RFC 3339 UTC with milliseconds and a "level";
none may contain the admin key, the IP pepper, an e-mail address sent or a client address sent
(X-Forwarded-For from a trusted proxy, so the address really reaches the responders); each routed
request's access line and its responder line (LOG_LEVEL=debug: one per request) share the
request id lighttpd made; and no process of the copy is left running.
"""
import glob
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import harness
from harness import APP_HOME, BACKEND_BIN, Fail, expect, expect_eq, test

TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
LEVELS = {"debug", "info", "warn", "error"}
ADMIN_KEY = "logtest-ADMIN-KEY-0123456789abcdef"
PEPPER = "logtest-PEPPER-0123456789abcdef0123456789"
EMAILS = ["Log.Person+Capture@Example.COM", "second.logperson@example.org"]
CLIENT_IPS = ["203.0.113.77", "198.51.100.23"]
USER_AGENT = "logtest-UA/1.0 (X11; Probe)"
FORGED_ID = "forgedclientid0000"
# what each project-copy command may take (make run: initdb, migrate, lighttpd; make stop: drains)
CMD_TIMEOUT = 120


def _copy_project(dest):
    """The files `make run` needs, with their times kept so that make finds the build up to date.
    Returns the make arguments that select the copied build (SANITIZE for an -san build, and the
    version the build was stamped with, so main.o is not rebuilt for a copy without .git)."""
    build = os.path.dirname(os.path.realpath(BACKEND_BIN))
    rel_build = os.path.relpath(build, APP_HOME)
    if rel_build.startswith(".."):
        raise Fail("BACKEND_BIN %s is not a build of %s" % (BACKEND_BIN, APP_HOME))
    for rel in ("fcgi-app/src", "infra/scripts", "lighttpd", "migrations", rel_build):
        shutil.copytree(os.path.join(APP_HOME, rel), os.path.join(dest, rel), symlinks=True)
    shutil.copy2(os.path.join(APP_HOME, "Makefile"), os.path.join(dest, "Makefile"))
    args = []
    if rel_build.endswith("-san"):
        args.append("SANITIZE=%s" % os.environ.get("SANITIZE", "address,undefined"))
    stamp = os.path.join(build, ".version")
    if os.path.exists(stamp):
        version, revision = open(stamp).read().split()
        args += ["BACKEND_VERSION=%s" % version, "BACKEND_REVISION=%s" % revision]
    return args


def _env(port, pgport):
    env = {k: v for k, v in os.environ.items()
           if k not in harness.SERVICE_VARS and k not in ("DIRECT_DATABASE_URL", "PGPORT_LOCAL")}
    env.update({
        "PORT": str(port),
        "PGPORT_LOCAL": str(pgport),
        "METRICS_PORT": str(harness.free_port()),
        "ADMIN_API_KEY": ADMIN_KEY,
        "IP_HASH_PEPPER": PEPPER,
        "TRUSTED_PROXIES": "127.0.0.1",
        "CLIENT_IP_HEADER": "X-Forwarded-For",
        "LOG_LEVEL": "debug",
        "ROLLUP_INTERVAL_MINUTES": "1",
    })
    return env


def _request(port, method, path, body=None, headers=None, ip=CLIENT_IPS[0]):
    """Returns the status (an HTTP error status too)."""
    h = {"User-Agent": USER_AGENT, "X-Forwarded-For": ip}
    h.update(headers or {})
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data, headers=h, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        e.read()
        return e.code
    except (ConnectionError, urllib.error.URLError) as e:
        # lighttpd may close the connection of a 413 before the whole body is sent
        return "closed: %s" % e


def _make(root, target, env, args):
    return subprocess.run(["make", "--no-print-directory", "-C", root, target] + args, env=env,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=CMD_TIMEOUT)


def _processes_under(root):
    """Pids of processes whose command line or working directory names root."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmd = open("/proc/%s/cmdline" % pid, "rb").read().replace(b"\0", b" ").decode("utf-8", "replace")
            cwd = os.readlink("/proc/%s/cwd" % pid)
        except OSError:
            continue
        if root in cmd or cwd.startswith(root):
            found.append("%s: %s" % (pid, cmd.strip()[:160]))
    return found


def _traffic(port, pgdata, root):
    st = {}
    st["healthz"] = _request(port, "GET", "/v1/healthz")
    st["readyz"] = _request(port, "GET", "/v1/readyz")
    for i, ip in enumerate(CLIENT_IPS):
        st["event%d" % i] = _request(port, "POST", "/v1/events", {
            "anonId": "log-visitor-%d" % i, "eventType": "page_view", "path": "/pricing?utm_source=news",
            "referrer": "https://ref.example/x"}, ip=ip)
    st["capture0"] = _request(port, "POST", "/v1/leads/capture", {
        "email": EMAILS[0], "anonId": "log-visitor-0", "consentStatus": "express", "payload": {"company": "Acme"}})
    st["capture1"] = _request(port, "POST", "/v1/leads/capture", {
        "email": EMAILS[1], "anonId": "log-visitor-1"}, ip=CLIENT_IPS[1])
    st["unsubscribe"] = _request(port, "POST", "/v1/leads/unsubscribe", {"email": EMAILS[1], "reason": "test"})
    today = time.strftime("%Y-%m-%d", time.gmtime())
    st["summary"] = _request(port, "GET", "/v1/metrics/summary?from=%s&to=%s" % (today, today),
                             headers={"x-admin-key": ADMIN_KEY})
    st["summary_bearer"] = _request(port, "GET", "/v1/metrics/summary?from=%s&to=%s" % (today, today),
                                    headers={"Authorization": "Bearer " + ADMIN_KEY})
    st["delete"] = _request(port, "POST", "/v1/leads/delete", {"email": EMAILS[0]}, headers={"x-admin-key": ADMIN_KEY})
    st["bad_json"] = _request(port, "POST", "/v1/events", b'{"anonId": "x", "email": "' + EMAILS[1].encode() + b'"')
    st["bad_field"] = _request(port, "POST", "/v1/leads/capture", {"email": "not-an-email " + EMAILS[1], "anonId": 5})
    st["forged_id"] = _request(port, "GET", "/v1/nope", headers={"X-Request-Id": FORGED_ID})
    st["too_large"] = _request(port, "POST", "/v1/events", b"x" * (65536 + 65536 + 4096))
    # a fault: the database stops; the responders answer 503 and log it
    r = subprocess.run([os.path.join(root, "infra/scripts/pg-local.sh"), "stop", pgdata], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
    if r.returncode != 0:
        raise Fail("stopping the copy's Postgres failed: %s" % r.stdout[-1000:])
    st["event_db_down"] = _request(port, "POST", "/v1/events", {"anonId": "log-visitor-0", "eventType": "page_view",
                                                                  "path": "/down"})
    st["capture_db_down"] = _request(port, "POST", "/v1/leads/capture", {"email": EMAILS[0], "anonId": "log-visitor-0"})
    want = {"healthz": 200, "readyz": 200, "event0": 202, "event1": 202, "capture0": 200, "capture1": 200,
            "unsubscribe": 200, "summary": 200, "summary_bearer": 200, "delete": 200, "bad_json": 400,
            "bad_field": 400, "forged_id": 404, "event_db_down": 503, "capture_db_down": 503}
    for k, v in want.items():
        expect_eq(st[k], v, "status of %s" % k)
    expect(st["too_large"] == 413 or str(st["too_large"]).startswith("closed"), "413: %r" % st["too_large"])


def _check_lines(logs):
    """Every line of every file a JSON object with ts and level. Returns {file: [objects]}."""
    parsed = {}
    for path in logs:
        objs = []
        with open(path, "rb") as f:
            for no, raw in enumerate(f, 1):
                where = "%s:%d" % (os.path.basename(path), no)
                try:
                    o = json.loads(raw.decode("utf-8"))
                except (UnicodeDecodeError, ValueError) as e:
                    raise Fail("%s is not a JSON line (%s): %r" % (where, e, raw[:300]))
                expect(isinstance(o, dict), "%s is not a JSON object: %r" % (where, raw[:300]))
                expect(isinstance(o.get("ts"), str) and TS.fullmatch(o["ts"]),
                       "%s: ts is not RFC 3339 UTC with milliseconds: %r" % (where, raw[:300]))
                expect(o.get("level") in LEVELS, "%s: level is not one of %s: %r" % (where, sorted(LEVELS), raw[:300]))
                objs.append(o)
        parsed[os.path.basename(path)] = objs
    return parsed


def _check_secrets(logs):
    needles = [ADMIN_KEY, PEPPER, USER_AGENT, FORGED_ID] + CLIENT_IPS
    for e in EMAILS:
        needles += [e, e.lower()]
    for path in logs:
        data = open(path, "rb").read().decode("utf-8", "replace")
        for n in needles:
            if n in data:
                line = next(l for l in data.splitlines() if n in l)
                raise Fail("%s contains %r: %s" % (os.path.basename(path), n, line[:300]))


def _check_request_ids(parsed):
    access = parsed.get("access.log", [])
    served = {}
    for o in parsed.get("lighttpd.log", []):
        if o.get("component") == "serve" and o.get("request_id"):
            served.setdefault(o["request_id"], []).append(o)
    routed = [a for a in access if a.get("path") not in ("/v1/healthz", "/v1/openapi.json") and a.get("status") != 413]
    expect(len(routed) >= 10, "routed requests in the access log: %r" % routed)
    ids = [a.get("request_id") for a in access]
    expect(len(set(ids)) == len(ids) or "-" in ids, "request ids repeat: %r" % ids)
    for a in routed:
        rid = a.get("request_id")
        expect(isinstance(rid, str) and re.fullmatch(r"[0-9a-f]{16}", rid or ""), "access line without an id: %r" % a)
        if a["status"] == 503:
            continue  # an outage's lines are rate-limited (LOG_REPEAT_INTERVAL_S): below
        lines = served.get(rid, [])
        expect(any(("-> %d" % a["status"]) in l.get("msg", "") for l in lines),
               "no responder line for request %s (%s %s -> %s); responder lines with it: %r"
               % (rid, a.get("method"), a.get("path"), a.get("status"), lines))
    # the first request of the outage: its warn lines (connection lost, 503) carry its id
    db_down = [a for a in routed if a.get("status") == 503]
    expect(len(db_down) >= 2, "503s in the access log: %r" % db_down)
    first = served.get(db_down[0]["request_id"], [])
    expect(any(l.get("level") == "warn" for l in first),
           "the first 503 (request %s) has no warn line: %r" % (db_down[0]["request_id"], first))
    expect(any(a.get("status") == 413 for a in access), "no 413 in the access log")
    expect(all(isinstance(a.get("bytes"), int) or a.get("bytes") is None for a in access),
               "bytes is not a number: %r" % [a.get("bytes") for a in access])


@test(timeout=300)
def make_run_logs_are_json_without_secrets():
    base = tempfile.mkdtemp(prefix="itlogs-", dir="/tmp")
    os.chmod(base, 0o711)  # as root, postgres must reach .local/pg in the copy
    root = os.path.join(base, "app")
    started = False
    env = None
    args = []
    try:
        args = _copy_project(root)
        port, pgport = harness.free_port(), harness.free_port()
        env = _env(port, pgport)
        r = _make(root, "run", env, args)
        started = True
        if r.returncode != 0:
            raise Fail("make run failed (exit %d): %s" % (r.returncode, r.stdout[-3000:]))
        expect(" CC " not in r.stdout, "make run compiled in the copy (the build was not up to date): %s"
               % r.stdout[-1500:])
        local = os.path.join(root, ".local")
        # the scheduler's first pass (rollups, retention) is in its log
        harness.wait_until(lambda: os.path.exists(os.path.join(local, "scheduler.log")) and
                           open(os.path.join(local, "scheduler.log")).read().count("finished in") >= 2,
                           30, 0.2, "the scheduler's first jobs")
        _traffic(port, os.path.join(local, "pg", "data"), root)
        r = _make(root, "stop", env, args)
        started = False
        expect_eq(r.returncode, 0, "make stop exit code (output %s)" % r.stdout[-1500:])
        # the log filters end once lighttpd, the responders and the scheduler are gone
        harness.wait_until(lambda: not _processes_under(root), 10, 0.1,
                           "every process of the run to end (left: %s)" % _processes_under(root))
        logs = sorted(glob.glob(os.path.join(local, "*.log")))
        names = [os.path.basename(p) for p in logs]
        for want in ("lighttpd.log", "access.log", "scheduler.log"):
            expect(want in names and os.path.getsize(os.path.join(local, want)) > 0,
                   "%s missing or empty (logs: %s)" % (want, names))
        parsed = _check_lines(logs)
        _check_secrets(logs)
        _check_request_ids(parsed)
        components = {o.get("component") for objs in parsed.values() for o in objs}
        for c in ("lighttpd", "serve", "access", "scheduler"):
            expect(c in components, "no %s line in the logs (components: %s)" % (c, sorted(components)))
    finally:
        if started and env is not None:
            try:
                _make(root, "stop", env, args)
            except Exception as e:  # noqa: BLE001 - cleanup continues
                print("test_logs: make stop during cleanup: %s" % e)
        if os.environ.get("IT_KEEP") != "1":
            shutil.rmtree(base, ignore_errors=True)


@test
def access_log_time_is_never_carried():
    """lighttpd 1.4.69 rounds %{msec_frac}t (and usec_frac) up: a request begun at :17.9995 logs
    ":17/000" (CI saw it). The access log writes nanoseconds, which lighttpd truncates, and
    `backend log-filter` cuts them to milliseconds (tests/unit/test_logfilter.c)."""
    with open(os.path.join(harness.APP_HOME, "lighttpd", "lighttpd.conf")) as f:
        fmt = [l for l in f if l.startswith("accesslog.format")]
    expect_eq(len(fmt), 1, "one accesslog.format")
    expect("%{begin:nsec_frac}t" in fmt[0] and "msec_frac" not in fmt[0] and "usec_frac" not in fmt[0],
           "the access log's fraction is nsec_frac: %s" % fmt[0])
