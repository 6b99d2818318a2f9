"""test_prometheus.py - the metrics listener (issue 13 item 4): GET /metrics on METRICS_PORT, in
Prometheus text format 0.0.4, with counters kept in shared memory by every responder and the
scheduler of a machine.

Known traffic goes through the real stack with several responders; the scrape, parsed strictly
(HELP/TYPE once per family and before its samples, families contiguous, names and label names
valid, label values escaped, no duplicate series, histograms cumulative with +Inf equal to _count
and a _sum), must hold exactly what was sent. The public port answers 404 for /metrics (any
method), and the metrics listener answers nothing but /metrics.

The scrapes go through http.client directly, not Stack.request: the metrics listener is not the
public API, so its answers are not recorded for test_zz_openapi."""

import http.client
import math
import os
import re
import signal
import subprocess
import time

import harness
from harness import BACKEND_BIN, Fail, PsqlSession, Stack, expect, expect_eq, expect_error, test, wait_until

WORKERS = 4
ROUTE_PATHS = ("/v1/readyz", "/v1/events", "/v1/leads/capture", "/v1/leads/unsubscribe", "/v1/leads/delete",
               "/v1/metrics/summary")
ROLLUPS_LOCK = "7163019482257351202"  # jobs/scheduler.c: the rollups job's advisory lock
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


# ---------------------------------------------------------------------------------------------
# a strict reader of the text exposition format 0.0.4

NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


def _float(text, where):
    if text in ("+Inf", "Inf"):
        return math.inf
    if text == "-Inf":
        return -math.inf
    if text == "NaN":
        return math.nan
    if not re.fullmatch(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?", text):
        raise Fail("%s: %r is not a number" % (where, text))
    return float(text)


def _labels(text, where):
    """'a="x",b="y\\"z"' -> {'a': 'x', 'b': 'y"z'}; escapes \\\\ \\" \\n only."""
    out, i = {}, 0
    while i < len(text):
        m = re.match(r"([^=]*)=\"", text[i:])
        if not m:
            raise Fail("%s: bad label at %r" % (where, text[i:]))
        name = m.group(1)
        if not LABEL_NAME_RE.match(name) or name.startswith("__"):
            raise Fail("%s: bad label name %r" % (where, name))
        if name in out:
            raise Fail("%s: label %s twice" % (where, name))
        i += m.end()
        val = []
        while True:
            if i >= len(text):
                raise Fail("%s: unterminated label value" % where)
            ch = text[i]
            if ch == "\\":
                esc = text[i + 1:i + 2]
                if esc not in ("\\", '"', "n"):
                    raise Fail("%s: bad escape \\%s in a label value" % (where, esc))
                val.append("\n" if esc == "n" else esc)
                i += 2
            elif ch == '"':
                i += 1
                break
            elif ch == "\n":
                raise Fail("%s: raw line feed in a label value" % where)
            else:
                val.append(ch)
                i += 1
        out[name] = "".join(val)
        if i < len(text):
            if text[i] != ",":
                raise Fail("%s: expected ',' after a label, got %r" % (where, text[i:]))
            i += 1
    return out


def parse_exposition(text):
    """Returns {family: {"type", "help", "samples": [(name, labels, value)]}}; raises Fail on
    anything the format (or our own stricter conventions: no blank lines or free comments) refuses."""
    if text and not text.endswith("\n"):
        raise Fail("the exposition does not end with a line feed")
    fams, closed, current, series = {}, set(), None, set()
    for n, line in enumerate(text.split("\n")[:-1], 1):
        where = "line %d %r" % (n, line)
        if line.startswith("#"):
            m = re.fullmatch(r"# (HELP|TYPE) (\S+) (.*)", line)
            if not m:
                raise Fail("%s: not a HELP or TYPE line" % where)
            kind, name, rest = m.groups()
            if not NAME_RE.match(name):
                raise Fail("%s: bad metric name" % where)
            if name != current:
                if name in closed or name in fams:
                    raise Fail("%s: family %s is not contiguous" % (where, name))
                if current:
                    closed.add(current)
                current = name
            fam = fams.setdefault(name, {"type": None, "help": None, "samples": []})
            if fam["samples"]:
                raise Fail("%s: %s after the family's samples" % (where, kind))
            if kind == "TYPE":
                if fam["type"] is not None or rest not in TYPES:
                    raise Fail("%s: TYPE twice or unknown" % where)
                fam["type"] = rest
            else:
                if fam["help"] is not None:
                    raise Fail("%s: HELP twice" % where)
                if re.search(r"\\[^\\n]", rest) or rest.endswith("\\") and not rest.endswith("\\\\"):
                    raise Fail("%s: bad escape in HELP" % where)
                fam["help"] = rest
            continue
        m = re.fullmatch(r"([^{ ]+)(?:\{(.*)\})? (\S+)(?: (-?\d+))?", line)
        if not m:
            raise Fail("%s: not a sample line" % where)
        name, ltext, value = m.group(1), m.group(2), m.group(3)
        if not NAME_RE.match(name):
            raise Fail("%s: bad metric name" % where)
        labels = _labels(ltext, where) if ltext else {}
        fam_name = name
        if current and fams[current]["type"] == "histogram" and name in (
                current + "_bucket", current + "_sum", current + "_count"):
            fam_name = current
        if fam_name != current:
            raise Fail("%s: sample outside its family's block (current family %s)" % (where, current))
        if fams[current]["type"] is None or fams[current]["help"] is None:
            raise Fail("%s: family without TYPE and HELP" % where)
        key = (name, tuple(sorted(labels.items())))
        if key in series:
            raise Fail("%s: duplicate series" % where)
        series.add(key)
        fams[current]["samples"].append((name, labels, _float(value, where)))
    for name, fam in fams.items():
        if fam["type"] == "counter":
            expect(name.endswith("_total"), "counter %s does not end in _total" % name)
            for s in fam["samples"]:
                expect(s[0] == name and s[2] >= 0 and s[2] == int(s[2]), "counter sample %r" % (s,))
        elif fam["type"] == "histogram":
            _check_histogram(name, fam["samples"])
    return fams


def _check_histogram(name, samples):
    groups = {}
    for sname, labels, value in samples:
        rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        g = groups.setdefault(rest, {"buckets": [], "sum": None, "count": None})
        if sname == name + "_bucket":
            expect("le" in labels, "%s_bucket without le" % name)
            g["buckets"].append((_float(labels["le"], "le"), value))
        elif sname == name + "_sum":
            expect("le" not in labels and g["sum"] is None, "%s_sum twice or with le" % name)
            g["sum"] = value
        else:
            expect("le" not in labels and g["count"] is None, "%s_count twice or with le" % name)
            g["count"] = value
    for rest, g in groups.items():
        les = [le for le, _ in g["buckets"]]
        expect(les == sorted(les) and len(set(les)) == len(les), "%s%r: le not ascending: %r" % (name, rest, les))
        expect(les and les[-1] == math.inf, "%s%r: no +Inf bucket" % (name, rest))
        counts = [c for _, c in g["buckets"]]
        expect(all(a <= b for a, b in zip(counts, counts[1:])), "%s%r: buckets not cumulative: %r" % (name, rest, counts))
        expect(g["count"] is not None and g["count"] == counts[-1], "%s%r: _count %r != +Inf %r" % (name, rest, g["count"], counts[-1]))
        expect(g["sum"] is not None and g["sum"] >= 0, "%s%r: no _sum" % (name, rest))


def values(fams, family, sample=None):
    """{frozen label items: value} of one family's samples (sample: e.g. family + '_count')."""
    out = {}
    for name, labels, value in fams.get(family, {"samples": []})["samples"]:
        if name == (sample or family):
            out[tuple(sorted(labels.items()))] = value
    return out


def one(fams, family, **labels):
    v = values(fams, family).get(tuple(sorted(labels.items())))
    if v is None:
        raise Fail("no sample %s%r" % (family, labels))
    return v


# ---------------------------------------------------------------------------------------------
# helpers

def metrics_get(port, path="/metrics", method="GET"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path, body=b"x" if method == "POST" else None)
        r = c.getresponse()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
    finally:
        c.close()


def scrape(s):
    status, headers, body = metrics_get(s.metrics_port)
    expect_eq(status, 200, "GET /metrics on the metrics listener (%r)" % body[:300])
    expect_eq(headers.get("content-type"), CONTENT_TYPE, "Content-Type of /metrics")
    return parse_exposition(body.decode("utf-8"))


def route_label(path):
    path = path.split("?", 1)[0]
    return path if path in ROUTE_PATHS else "other"


def tally(sent):
    """{(route, method, status): n} of the responses the responders gave."""
    out = {}
    for r in sent:
        k = (route_label(r.path), r.method, str(r.status))
        out[k] = out.get(k, 0) + 1
    return out


def requests_by_key(fams):
    return {(dict(k)["route"], dict(k)["method"], dict(k)["status"]): int(v)
            for k, v in values(fams, "backend_http_requests_total").items()}


def ev(i, ip):
    body = {"anonId": "prom-visitor-%04d" % i, "eventType": "page_view", "path": "/p/%d" % i}
    return ("POST", "/v1/events", body, {"X-Forwarded-For": ip})


# ---------------------------------------------------------------------------------------------

@test(timeout=180)
def scrape_counts_exactly_the_traffic_sent():
    """Events accepted and rejected for known reasons, captures, a rate-limited unsubscribe, an
    unauthorized admin request, 404/405s and a preflight, sent at once over 4 responders: the
    scrape of the metrics listener holds exactly those counts, whichever responder answers it."""
    url = harness.migrated_database()
    env = {"TRUSTED_PROXIES": "127.0.0.1", "RATE_LIMIT_UNSUBSCRIBE": 2}
    with Stack(url, workers=WORKERS, env=env) as s:
        wait_until(lambda: one(scrape(s), "backend_responders") == WORKERS, 10, 0.1, "%d responders" % WORKERS)
        before = requests_by_key(scrape(s))
        expect_eq(list(before), [("/metrics", "GET", "200")], "requests before any traffic (only scrapes)")

        reqs = [ev(i, "198.51.100.%d" % (i + 1)) for i in range(7)]
        reqs += [("POST", "/v1/events", {"anonId": "prom-bad-%d" % i}, {"X-Forwarded-For": "198.51.100.50"})
                 for i in range(3)]                                          # 400 invalid_request
        reqs += [("POST", "/v1/events", "{not json", {"Content-Type": "application/json",
                                                      "X-Forwarded-For": "198.51.100.51"}) for _ in range(2)]
        reqs += [("POST", "/v1/leads/capture", {"email": "prom%d@example.com" % i, "anonId": "prom-lead-%d" % i,
                                                "consentStatus": "express"},
                  {"X-Forwarded-For": "198.51.100.%d" % (60 + i)}) for i in range(2)]
        reqs += [("POST", "/v1/leads/capture", {"email": "not-an-email", "anonId": "prom-lead-x"},
                  {"X-Forwarded-For": "198.51.100.70"})]                     # 400 invalid_request
        reqs += [("GET", "/v1/metrics/summary", None, {"X-Forwarded-For": "198.51.100.80"})]  # 401
        reqs += [("GET", "/nope", None, None), ("GET", "/metrics", None, None), ("POST", "/metrics", "x", None),
                 ("GET", "/v1/events", None, None), ("HEAD", "/v1/readyz", None, None),
                 ("OPTIONS", "/v1/events", None, {"Origin": harness.ALLOWED_ORIGIN,
                                                   "Access-Control-Request-Method": "POST"})]
        sent = s.parallel(reqs)
        # the limit is per client: three unsubscribes from one address, in order, the third refused
        unsub = [s.request("POST", "/v1/leads/unsubscribe", {"email": "prom0@example.com"},
                           {"X-Forwarded-For": "198.51.100.90"}) for _ in range(3)]
        sent += unsub

        statuses = [r.status for r in sent]
        expect_eq(statuses[:7], [202] * 7, "valid events", sent[0])
        expect_eq(statuses[7:12], [400] * 5, "refused events")
        expect_eq([sent[i].json.get("error") for i in range(7, 12)], ["invalid_request"] * 3 + ["invalid_json"] * 2,
                  "reasons of the refused events")
        expect_eq(statuses[12:15], [200, 200, 400], "captures")
        expect_error(sent[15], 401, "unauthorized")
        expect_error(sent[17], 404, "not_found")   # GET /metrics on the public port
        expect_error(sent[18], 404, "not_found")   # POST /metrics on the public port (not a 405)
        expect_eq([r.status for r in unsub], [200, 200, 429], "unsubscribes with RATE_LIMIT_UNSUBSCRIBE=2")

        fams = scrape(s)
        want = dict(before)
        want[("/metrics", "GET", "200")] += 1  # the scrape that read `before`
        for k, n in tally(sent).items():
            want[k] = want.get(k, 0) + n
        expect_eq(requests_by_key(fams), want, "backend_http_requests_total after the traffic")

        # the histogram counts every answered request once, per route
        counts = {dict(k)["route"]: int(v) for k, v in
                  values(fams, "backend_http_request_duration_seconds", "backend_http_request_duration_seconds_count").items()}
        per_route = {}
        for (route, _, _), n in want.items():
            per_route[route] = per_route.get(route, 0) + n
        expect_eq(counts, per_route, "latency histogram _count per route")

        rej = {(dict(k)["route"], dict(k)["reason"]): int(v)
               for k, v in values(fams, "backend_ingest_rejections_total").items()}
        expect_eq(rej, {("/v1/events", "invalid_request"): 3, ("/v1/events", "invalid_json"): 2,
                        ("/v1/leads/capture", "invalid_request"): 1}, "backend_ingest_rejections_total")
        rl = {dict(k)["class"]: int(v) for k, v in values(fams, "backend_rate_limited_total").items()}
        expect_eq(rl, {"events": 0, "capture": 0, "unsubscribe": 1, "delete": 0, "summary": 0, "default": 0},
                  "backend_rate_limited_total")
        expect_eq(one(fams, "backend_db_connects_total", result="ok"), WORKERS, "connects (one per responder)")
        expect_eq(one(fams, "backend_db_connects_total", result="failed"), 0, "failed connects")
        expect_eq(one(fams, "backend_db_reconnects_total"), 0, "reconnects")
        expect_eq(one(fams, "backend_db_errors_total", kind="unavailable"), 0, "db errors (unavailable)")
        expect_eq(one(fams, "backend_db_errors_total", kind="statement"), 0, "db errors (statement)")
        expect_eq(one(fams, "backend_responders"), WORKERS, "responders")
        for job in ("partitions", "rollups", "retention", "salts", "refresh"):
            for outcome in ("ok", "failed", "error", "skipped"):
                expect_eq(one(fams, "backend_scheduler_jobs_total", job=job, outcome=outcome), 0,
                          "%s %s with no scheduler" % (job, outcome))
        expect_eq(fams["backend_rate_limited_total"]["type"], "counter", "rate-limit family type")
        expect_eq(fams["backend_http_request_duration_seconds"]["type"], "histogram", "latency family type")
        expect_eq(fams["backend_responders"]["type"], "gauge", "responders family type")

        # a responder killed -9 is not counted; its replacement is, and connects once
        victim = s.responder_pids()[0]
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: victim not in s.responder_pids() and len(s.responder_pids()) == WORKERS, 10, 0.05,
                   "lighttpd respawns the killed responder")
        wait_until(lambda: one(scrape(s), "backend_responders") == WORKERS and
                   one(scrape(s), "backend_db_connects_total", result="ok") == WORKERS + 1, 10, 0.1,
                   "4 live responders and one more connect after the respawn")

        # the metrics listener serves /metrics only: other paths are lighttpd's 404, other methods 405
        st, _, body = metrics_get(s.metrics_port, "/v1/healthz")
        expect_eq((st, body), (404, b'{"ok":false,"error":"not_found"}'), "GET /v1/healthz on the metrics listener")
        st, _, body = metrics_get(s.metrics_port, "/v1/events", "POST")
        expect_eq(st, 404, "POST /v1/events on the metrics listener (%r)" % body)
        st, headers, body = metrics_get(s.metrics_port, "/metrics", "POST")
        expect_eq((st, headers.get("allow")), (405, "GET, HEAD"), "POST /metrics on the metrics listener")


@test(timeout=150)
def scheduler_outcomes_and_rollup_lag():
    """The scheduler counts its job outcomes in the responders' table (a job whose lock another
    session holds is 'skipped'), and the rollup lag is read at scrape time: absent before the first
    rollup, 0 after a run (it covers today), 3 when the newest rolled-up day is three days ago."""
    url = harness.migrated_database("prom_sched")
    pg = harness.shared_postgres()
    with Stack(url, workers=2) as s:
        fams = scrape(s)
        expect("backend_rollup_lag_days" not in fams, "a lag before any rollup: %r" % fams.get("backend_rollup_lag_days"))

        def run_scheduler(until):
            p = subprocess.Popen([BACKEND_BIN, "scheduler"], env=s.env, cwd="/", stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT)
            try:
                wait_until(lambda: until(scrape(s)), 20, 0.2, "scheduler outcomes")
            finally:
                p.send_signal(signal.SIGTERM)
                out = p.communicate(timeout=10)[0]
            return out.decode("utf-8", "replace")

        def jobs(f):
            return {(dict(k)["job"], dict(k)["outcome"]): int(v)
                    for k, v in values(f, "backend_scheduler_jobs_total").items() if v}

        lock = PsqlSession(pg, db="prom_sched")
        try:
            lock.send("SELECT pg_advisory_lock(%s); SELECT 'locked';" % ROLLUPS_LOCK)
            expect(lock.wait_for("locked"), "psql took the rollups lock (%s)" % lock.stderr())
            # the salts job (issue 14) and the refresh job (issue 15) run after retention: wait for
            # them too, so the counts are final
            out = run_scheduler(lambda f: jobs(f).get(("retention", "ok")) == 1 and jobs(f).get(("salts", "ok")) == 1
                                and jobs(f).get(("refresh", "ok")) == 1)
        finally:
            lock.close()
        expect_eq(jobs(scrape(s)), {("partitions", "ok"): 1, ("rollups", "skipped"): 1, ("retention", "ok"): 1,
                                    ("salts", "ok"): 1, ("refresh", "ok"): 1},
                  "outcomes with the rollups lock held elsewhere (scheduler log: %s)" % out[-600:])

        out = run_scheduler(lambda f: jobs(f).get(("rollups", "ok")) == 1)
        fams = scrape(s)
        expect_eq(jobs(fams), {("partitions", "ok"): 1, ("rollups", "skipped"): 1, ("rollups", "ok"): 1,
                               ("retention", "ok"): 1, ("salts", "ok"): 1, ("refresh", "ok"): 1},
                  "outcomes after a second scheduler (partitions, retention, salts, refresh not due again) (log: %s)"
                  % out[-600:])
        expect_eq(one(fams, "backend_rollup_lag_days"), 0, "lag after a rollups run")
        expect_eq(fams["backend_rollup_lag_days"]["type"], "gauge", "lag family type")

        pg.psql("DELETE FROM daily_metric_rollups", db="prom_sched")
        day = pg.psql("SELECT ((now() AT TIME ZONE 'UTC')::date - 3)::text", db="prom_sched").strip()
        r = harness.backend(["rollups", "backfill", "--from=" + day, "--to=" + day], s.env)
        expect_eq(r.returncode, 0, "backfill of %s (%s %s)" % (day, r.stdout, r.stderr))
        expect_eq(one(scrape(s), "backend_rollup_lag_days"), 3, "lag with %s the newest rolled-up day" % day)


@test(timeout=90)
def database_errors_and_reconnects():
    """Statements answered 503 are counted as unavailable (each scrape's own lag query too), failed
    connects as failed; a connection ended by the server is replaced and counted as a reconnect."""
    pg = harness.shared_postgres()
    dead = "postgresql://backend@127.0.0.1:%d/backend?connect_timeout=1" % harness.free_port()
    with Stack(dead, workers=2) as s:
        sent = s.parallel([("GET", "/v1/readyz")] * 6)
        expect_eq([r.status for r in sent], [503] * 6, "readyz with no database")
        fams = scrape(s)
        # the scrape's own lag query failed too, before the counters were read
        expect_eq(one(fams, "backend_db_errors_total", kind="unavailable"), 6 + 1, "unavailable statements")
        expect_eq(one(fams, "backend_db_errors_total", kind="statement"), 0, "statement errors")
        # one failed connect per responder at start, one per statement after
        expect_eq(one(fams, "backend_db_connects_total", result="failed"), 2 + 6 + 1, "failed connects")
        expect_eq(one(fams, "backend_db_connects_total", result="ok"), 0, "connects")
        expect("backend_rollup_lag_days" not in fams, "a lag without a database")

    url = harness.migrated_database()
    with Stack(url, workers=2) as s:
        wait_until(lambda: one(scrape(s), "backend_db_connects_total", result="ok") == 2, 10, 0.1, "2 connects")
        pids = s.responder_pids()
        out = pg.psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name IN (%s)"
                      % ", ".join("'backend-%d'" % p for p in pids))
        expect_eq(out.strip(), "2", "responder sessions terminated")
        # the next statement of each responder finds its connection closed, reconnects and succeeds:
        # requests sent at once until both responders have had one
        answers = []

        def both_reconnected():
            answers.extend(r.status for r in s.parallel([("GET", "/v1/readyz")] * 4))
            return one(scrape(s), "backend_db_reconnects_total") == 2
        wait_until(both_reconnected, 15, 0.05, "both responders reconnect")
        expect_eq(set(answers), {200}, "readyz while the responders reconnect")
        fams = scrape(s)
        expect_eq(one(fams, "backend_db_connects_total", result="ok"), 4, "connects: 2 at start, 2 reconnects")
        expect_eq(one(fams, "backend_db_errors_total", kind="unavailable"), 0, "no 503 for a closed idle connection")


def listening_ports(pid):
    """TCP ports process pid listens on (its socket inodes matched in /proc/net/tcp and tcp6)."""
    inodes = set()
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            link = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if cols[3] == "0A" and cols[9] in inodes:  # 0A: LISTEN
                    ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


@test(timeout=90)
def listener_on_ipv6_and_off():
    """METRICS_BIND_ADDRESS=::1 gives a bracketed IPv6 socket that answers; METRICS_PORT=0 opens no
    second socket; either way the public port answers 404 for /metrics."""
    url = harness.migrated_database()
    with Stack(url, workers=1, env={"METRICS_BIND_ADDRESS": "::1"}) as s:
        expect_eq(listening_ports(s.pid), {s.port, s.metrics_port}, "lighttpd's listening ports")
        c = http.client.HTTPConnection("::1", s.metrics_port, timeout=10)
        try:
            c.request("GET", "/metrics")
            r = c.getresponse()
            fams = parse_exposition(r.read().decode())
        finally:
            c.close()
        expect_eq(r.status, 200, "GET /metrics on [::1]")
        expect_eq(one(fams, "backend_responders"), 1, "responders")
        expect_error(s.request("GET", "/metrics"), 404, "not_found")
    with Stack(url, workers=1, env={"METRICS_PORT": 0}) as s:
        expect_eq(listening_ports(s.pid), {s.port}, "lighttpd's listening ports with METRICS_PORT=0")
        expect_error(s.request("GET", "/metrics"), 404, "not_found")
        expect_eq(s.request("HEAD", "/metrics").status, 404, "HEAD /metrics on the public port")


@test
def fly_toml_metrics_section_points_at_the_listener():
    """fly.toml's [metrics] names the port and path of the metrics listener its [env] configures,
    a port that is not the public service's; lighttpd-vars with that [env] listens on [::]:port
    (Fly scrapes over its private IPv6 network)."""
    fly = harness.fly_toml()
    env, metrics = fly["env"], fly.get("metrics")
    expect(metrics is not None, "fly.toml has no [metrics] section")
    expect_eq(metrics.get("path"), "/metrics", "[metrics] path")
    expect_eq(str(metrics.get("port")), env.get("METRICS_PORT"), "[metrics] port vs [env] METRICS_PORT")
    public = {fly["http_service"]["internal_port"], int(env["PORT"])}
    public |= {sv.get("internal_port") for sv in fly.get("services", [])}
    expect(metrics["port"] not in public, "the metrics port %s is a public service port %r" % (metrics["port"], public))
    r = harness.lighttpd_vars(env)
    expect_eq(r.returncode, 0, "lighttpd-vars with fly.toml's env (stderr %r)" % r.stderr)
    lines = r.stdout.splitlines()
    expect('var.metrics_socket = "[::]:%d"' % metrics["port"] in lines, "metrics socket: %r" % lines)
    expect(any(l.startswith("var.metrics_conf = ") and l.endswith('/lighttpd/metrics.conf"') for l in lines),
           "metrics conf: %r" % lines)


@test
def exposition_reader_refuses_bad_text():
    """The strict reader above is itself checked: each text here breaks one rule of the format (or
    of a histogram), and each is refused; a good text is read."""
    good = ('# HELP a_total A.\n# TYPE a_total counter\na_total{x="q\\"\\\\\\n"} 1\n'
            '# HELP h H.\n# TYPE h histogram\nh_bucket{le="0.1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 0.5\nh_count 2\n')
    fams = parse_exposition(good)
    expect_eq(one(fams, "a_total", x='q"\\\n'), 1, "the escaped label value")
    bad = {
        "no final line feed": good.rstrip("\n"),
        "TYPE twice": good.replace("# TYPE a_total counter\n", "# TYPE a_total counter\n# TYPE a_total counter\n"),
        "TYPE after samples": good + "# TYPE a_total counter\n",
        "family split": good + 'a_total{x="r"} 1\n',
        "duplicate series": good.replace('h_sum', 'h_bucket{le="+Inf"} 2\nh_sum'),
        "bad escape": good.replace('q\\"', 'q\\t'),
        "unescaped quote": good.replace('q\\"', 'q"'),
        "bad name": good.replace("a_total{", "a-total{"),
        "not cumulative": good.replace('h_bucket{le="0.1"} 1', 'h_bucket{le="0.1"} 3'),
        "no +Inf": good.replace('h_bucket{le="+Inf"} 2\n', ""),
        "_count is not +Inf": good.replace("h_count 2", "h_count 3"),
        "no _sum": good.replace("h_sum 0.5\n", ""),
        "le not ascending": good.replace('le="0.1"', 'le="7"').replace('h_bucket{le="+Inf"} 2', 'h_bucket{le="5"} 2\nh_bucket{le="+Inf"} 2'),
        "counter without _total": good.replace("a_total", "a"),
        "a value that is no number": good.replace("h_sum 0.5", "h_sum 0,5"),
        "a sample before HELP and TYPE": 'x 1\n' + good,
    }
    for what, text in bad.items():
        try:
            parse_exposition(text)
        except Fail:
            continue
        raise Fail("the reader accepted a text with %s:\n%s" % (what, text))
