"""test_platform.py - the platform contract through real lighttpd + responders + Postgres:
healthz, readyz, 404/405, CORS, rate limits, database outages, migrate (and adoption of Node
databases), configuration errors, lighttpd's request limits, shutdown and the access log.
API.md sections 1-3 and 5."""

import json
import os
import re
import time

import harness
from harness import (ALLOWED_ORIGIN, ADMIN_KEY, APP_HOME, OTHER_ALLOWED_ORIGIN, PEPPER, Fail, Stack,
                     expect, expect_eq, expect_error, migrate, service_env, test)

JSON_CT = "application/json; charset=utf-8"
HEALTHZ_BODY = b'{"ok":true,"service":"backend"}'
RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
CORS_HEADERS = ("Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers",
                "Access-Control-Max-Age")
TABLES = ("visitors", "sessions", "events", "leads", "lead_identities", "form_submissions", "consent_events",
          "ingest_rejections", "daily_metric_rollups", "daily_ingest_rollups")
EVENT_COLUMNS = ("property_id", "traffic_source", "device_type", "country_code", "is_entrance", "is_exit",
                 "is_conversion")
FIXTURES = os.path.join(APP_HOME, "tests", "fixtures")


# ---- shared resources: one Postgres for the run, one migrated database, one stack for the module

def pg():
    return harness.shared_postgres()


def main_url():
    """The shared database `backend`, migrated once."""
    return harness.migrated_database()


def main_stack():
    return harness.shared("platform-main-stack", lambda: Stack(main_url(), workers=2))


def fresh_db(name):
    return pg().create_db(name)


def no_rate_headers(r):
    for h in RATE_HEADERS:
        expect(h not in r.headers, "unexpected %s header" % h, r)


def no_cors_headers(r):
    for h in CORS_HEADERS:
        expect(h not in r.headers, "unexpected %s header" % h, r)


# ---- healthz

@test
def healthz_get():
    s = main_stack()
    r = s.request("GET", "/v1/healthz", headers={"Origin": ALLOWED_ORIGIN})
    expect_eq(r.status, 200, "status", r)
    expect_eq(r.body, HEALTHZ_BODY, "body", r)
    expect_eq(r.header("Content-Type"), JSON_CT, "content-type", r)
    # a static file: no responder (no rate-limit headers), no CORS headers even for an allowed origin
    no_rate_headers(r)
    no_cors_headers(r)


@test
def healthz_head():
    s = main_stack()
    r = s.request("HEAD", "/v1/healthz")
    expect_eq(r.status, 200, "status", r)
    expect_eq(r.body, b"", "HEAD body", r)
    expect_eq(r.header("Content-Type"), JSON_CT, "content-type", r)
    no_rate_headers(r)


# ---- readyz

@test
def readyz_ok():
    s = main_stack()
    r = s.request("GET", "/v1/readyz")
    expect_eq(r.status, 200, "status", r)
    expect_eq(r.header("Content-Type"), JSON_CT, "content-type", r)
    expect_eq(r.json, {"ok": True, "database": "up", "schemaVersion": harness.latest_migration()}, "body", r)
    expect(r.body.startswith(b'{"ok":true'), "success body must start with \"ok\": true", r)
    h = s.request("HEAD", "/v1/readyz")
    expect_eq(h.status, 200, "HEAD status", h)
    expect_eq(h.body, b"", "HEAD body", h)
    q = s.request("GET", "/v1/readyz?probe=1")
    expect_eq(q.status, 200, "status with a query string", q)


@test
def readyz_schema_outdated_until_migrate():
    url = fresh_db("premigrate")
    with Stack(url, workers=1) as s:
        r = s.request("GET", "/v1/readyz")
        expect_error(r, 503, "schema_outdated")
        # migrate while the stack runs: the same responder then reports ready, no restart needed
        m = migrate(s.env)
        expect_eq(m.returncode, 0, "migrate exit code (stderr: %s)" % m.stderr.strip()[-800:])
        r = s.request("GET", "/v1/readyz")
        expect_eq(r.status, 200, "status after migrate", r)
        expect_eq(r.json.get("schemaVersion"), harness.latest_migration(), "schemaVersion", r)


# ---- routing errors

@test
def not_found_envelope():
    s = main_stack()
    for path in ("/v1/nope", "/v1/readyz/", "/", "/v1/healthz/", "/v1/READYZ", "/v1", "/v1/readyz/x",
                 "/index.html"):
        r = s.request("GET", path)
        expect_error(r, 404, "not_found")
        no_rate_headers(r)
    r = s.request("POST", "/v1/nope", body={"a": 1})
    expect_error(r, 404, "not_found")
    r = s.request("HEAD", "/v1/nope")
    expect_eq(r.status, 404, "HEAD /v1/nope status", r)
    expect_eq(r.body, b"", "HEAD body", r)


@test
def method_not_allowed():
    s = main_stack()
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        r = s.request(method, "/v1/readyz", body=b"" if method != "DELETE" else None)
        expect_error(r, 405, "method_not_allowed")
        expect_eq(r.header("Allow"), "GET, HEAD", "Allow header for %s" % method, r)
        no_rate_headers(r)


# ---- CORS

@test
def cors_simple_requests():
    s = main_stack()
    for origin in (ALLOWED_ORIGIN, OTHER_ALLOWED_ORIGIN):
        r = s.request("GET", "/v1/readyz", headers={"Origin": origin})
        expect_eq(r.status, 200, "status", r)
        expect_eq(r.header("Access-Control-Allow-Origin"), origin, "Access-Control-Allow-Origin", r)
        expect("origin" in [v.strip().lower() for v in r.header("Vary", "").split(",")], "Vary: Origin missing", r)
    # errors carry CORS headers too, so the page can read them
    r = s.request("GET", "/v1/nope", headers={"Origin": ALLOWED_ORIGIN})
    expect_eq(r.status, 404, "status", r)
    expect_eq(r.header("Access-Control-Allow-Origin"), ALLOWED_ORIGIN, "ACAO on a 404", r)
    # other origins (exact comparison): processed normally, no ACAO
    for origin in ("https://evil.example", ALLOWED_ORIGIN + "/", ALLOWED_ORIGIN.upper(), "http://allowed.example",
                   ALLOWED_ORIGIN + ".evil.example", "null"):
        r = s.request("GET", "/v1/readyz", headers={"Origin": origin})
        expect_eq(r.status, 200, "status for origin %s" % origin, r)
        expect("Access-Control-Allow-Origin" not in r.headers, "ACAO sent to origin %r" % origin, r)
    r = s.request("GET", "/v1/readyz")
    expect_eq(r.status, 200, "status without Origin", r)
    no_cors_headers(r)


@test
def cors_preflight():
    s = main_stack()
    for path in ("/v1/events", "/v1/readyz", "/v1/whatever"):
        r = s.request("OPTIONS", path, headers={
            "Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-admin-key"})
        expect_eq(r.status, 204, "preflight status on %s" % path, r)
        expect_eq(r.body, b"", "preflight body", r)
        expect_eq(r.header("Access-Control-Allow-Origin"), ALLOWED_ORIGIN, "Access-Control-Allow-Origin", r)
        expect_eq(r.header("Access-Control-Allow-Methods"), "GET, HEAD, POST", "Access-Control-Allow-Methods", r)
        expect_eq(r.header("Access-Control-Allow-Headers"), "content-type, x-admin-key",
                  "Access-Control-Allow-Headers (echoed)", r)
        expect_eq(r.header("Access-Control-Max-Age"), "600", "Access-Control-Max-Age", r)
        expect("origin" in r.header("Vary", "").lower(), "Vary: Origin missing", r)
        no_rate_headers(r)
    r = s.request("OPTIONS", "/v1/events", headers={"Origin": OTHER_ALLOWED_ORIGIN,
                                                    "Access-Control-Request-Method": "GET"})
    expect_eq(r.status, 204, "preflight without Access-Control-Request-Headers", r)
    expect("Access-Control-Allow-Headers" not in r.headers, "ACAH without a request for it", r)


@test
def cors_preflight_refused():
    s = main_stack()
    r = s.request("OPTIONS", "/v1/events", headers={"Origin": "https://evil.example",
                                                    "Access-Control-Request-Method": "POST"})
    expect_error(r, 403, "origin_not_allowed")
    no_cors_headers(r)
    r = s.request("OPTIONS", "/v1/events", headers={"Origin": ALLOWED_ORIGIN})
    expect_error(r, 400, "invalid_request", extra=True)
    expect(isinstance(r.json.get("issues"), list) and r.json["issues"], "issues missing", r)
    expect_eq(r.json["issues"][0].get("path"), "", "issue path", r)


# ---- rate limits

def _wait_for_fresh_window(need_s):
    """Sleeps until the current one-minute window has at least need_s seconds left."""
    left = 60 - (time.time() % 60)
    if left < need_s:
        time.sleep(left + 0.3)


def _activity(s):
    """query_start of each responder's database connection (application_name backend-<pid>)."""
    names = ",".join("'backend-%d'" % p for p in s.responder_pids())
    out = pg().psql("SELECT application_name, query_start FROM pg_stat_activity "
                    "WHERE application_name IN (%s)" % names)
    return dict(l.split("|", 1) for l in out.splitlines() if "|" in l)


@test(timeout=60)
def rate_limit_shared_across_responders():
    with Stack(main_url(), workers=3, env={"RATE_LIMIT_MAX": 5}) as s:
        expect_eq(len(s.responder_pids()), 3, "responders")
        _wait_for_fresh_window(10)
        before = _activity(s)
        # 404s and 405s are not counted and carry no rate-limit headers
        for r in s.parallel([("GET", "/v1/nope")] * 3 + [("POST", "/v1/readyz", b"")] * 2):
            expect(r.status in (404, 405), "expected 404/405", r)
            no_rate_headers(r)
        # five allowed requests (one HEAD: it shares GET's count), sent concurrently on separate
        # connections so that lighttpd hands them to different responders
        got = s.parallel([("GET", "/v1/readyz")] * 3) + s.parallel([("GET", "/v1/readyz"), ("HEAD", "/v1/readyz")])
        after = _activity(s)
        for r in got:
            expect_eq(r.status, 200, "status of the first 5", r)
            expect_eq(r.header("X-RateLimit-Limit"), "5", "X-RateLimit-Limit", r)
            reset = int(r.header("X-RateLimit-Reset", "-1"))
            expect(1 <= reset <= 60, "X-RateLimit-Reset out of range", r)
        remaining = sorted(int(r.header("X-RateLimit-Remaining", "-1")) for r in got)
        expect_eq(remaining, [0, 1, 2, 3, 4], "X-RateLimit-Remaining over the first 5 requests "
                  "(one count shared by all responders: %s)" % "; ".join(r.describe() for r in got))
        served = [k for k in after if before.get(k) != after[k]]
        expect(len(served) >= 2, "the requests did not spread over responders (only %s ran a query; "
               "activity before %s, after %s): the shared count is not exercised" % (served, before, after))
        # the sixth is refused, whatever responder gets it
        for r in [s.request("GET", "/v1/readyz")] + s.parallel([("GET", "/v1/readyz")] * 3) + \
                [s.request("HEAD", "/v1/readyz")]:
            expect_eq(r.status, 429, "status after the limit", r)
            if r.method == "GET":
                expect_error(r, 429, "rate_limited")
            expect_eq(r.header("X-RateLimit-Limit"), "5", "X-RateLimit-Limit", r)
            expect_eq(r.header("X-RateLimit-Remaining"), "0", "X-RateLimit-Remaining", r)
            ra = r.header("Retry-After")
            expect(ra is not None and ra.isdigit() and 1 <= int(ra) <= 60, "Retry-After missing or bad", r)
            expect(abs(int(ra) - int(r.header("X-RateLimit-Reset", "0"))) <= 1, "Retry-After != reset", r)
        # not limited: preflights, unknown routes, healthz
        r = s.request("OPTIONS", "/v1/readyz", headers={"Origin": ALLOWED_ORIGIN,
                                                        "Access-Control-Request-Method": "GET"})
        expect_eq(r.status, 204, "preflight after the limit", r)
        no_rate_headers(r)
        r = s.request("GET", "/v1/nope")
        expect_error(r, 404, "not_found")
        r = s.request("GET", "/v1/healthz")
        expect_eq(r.status, 200, "healthz after the limit", r)


# ---- database outage

@test(timeout=120)
def postgres_outage_and_recovery():
    s = main_stack()
    p = pg()
    warm = s.parallel([("GET", "/v1/readyz")] * 4)
    for r in warm:
        expect_eq(r.status, 200, "readyz before the outage", r)
    pids = s.responder_pids()
    lighttpd_pid = s.pid
    p.stop()
    try:
        r = s.request("GET", "/v1/healthz")
        expect_eq(r.status, 200, "healthz while Postgres is stopped", r)
        expect_eq(r.body, HEALTHZ_BODY, "healthz body", r)
        answers = [s.request("GET", "/v1/readyz", timeout=10) for _ in range(3)]
        answers += s.parallel([("GET", "/v1/readyz")] * 4, timeout=10)
        answers.append(s.request("GET", "/v1/readyz", timeout=10))
        for r in answers:
            expect_error(r, 503, "database_unavailable")
            expect(r.header("Retry-After", "").isdigit(), "503 without a numeric Retry-After", r)
            expect(r.elapsed < 2.0, "503 took %.3f s (must be < 2 s)" % r.elapsed, r)
        t_last_503 = time.monotonic()
    finally:
        t0 = time.monotonic()
        p.start()
        pg_start_s = time.monotonic() - t0
    r = s.request("GET", "/v1/readyz")
    gap = time.monotonic() - t_last_503
    expect_eq(r.status, 200, "the very first readyz after Postgres came back (Postgres took %.2f s to "
              "start, %.2f s since the last 503; lighttpd stderr:\n%s\n)" % (pg_start_s, gap, s.stderr(15)), r)
    expect(s.alive() and s.pid == lighttpd_pid, "lighttpd was restarted")
    expect_eq(s.responder_pids(), pids, "responder pids (responders must survive and reconnect)")
    # every responder recovers on its own first request
    for r in s.parallel([("GET", "/v1/readyz")] * 6):
        expect_eq(r.status, 200, "readyz after recovery", r)
    expect_eq(s.responder_pids(), pids, "responder pids after recovery")


# ---- migrate

@test
def migrate_twice_is_noop():
    env = service_env(fresh_db("twice"))
    first = migrate(env)
    expect_eq(first.returncode, 0, "first migrate exit code (stderr %s)" % first.stderr[-800:])
    # each step once, as a JSON log line on stderr (issue 13: it was text on stdout and JSON on stderr)
    expect_eq(first.stdout, "", "migrate up stdout")
    msgs = []
    for line in first.stderr.splitlines():
        try:
            o = json.loads(line)
        except ValueError:
            raise Fail("migrate wrote a line that is not JSON: %r" % line)
        expect(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", o.get("ts", "")) and o.get("level") in
               ("debug", "info", "warn", "error") and o.get("component") == "migrate", "migrate log line: %r" % line)
        msgs.append(o.get("msg", ""))
    for v in harness.migration_versions():
        expect_eq(sum(1 for m in msgs if m.startswith("applied %s " % v)), 1, "lines saying migrate applied %s: %r"
                  % (v, msgs))
    rows = pg().psql("SELECT version, checksum, applied_at FROM schema_migrations ORDER BY 1", db="twice")
    second = migrate(env)
    expect_eq(second.returncode, 0, "second migrate exit code (stderr %s)" % second.stderr[-800:])
    expect("up to date" in second.stderr, "second run does not say up to date: %r" % second.stderr)
    expect("applied" not in second.stderr.replace("up to date", ""),
           "second run applied something: %r" % second.stderr)
    expect_eq(pg().psql("SELECT version, checksum, applied_at FROM schema_migrations ORDER BY 1", db="twice"),
              rows, "schema_migrations after the second run")


@test
def migrate_status_lists_versions():
    env = service_env(fresh_db("status"))
    r = migrate(env, "status")
    expect_eq(r.returncode, 0, "status on an empty database: exit code (stderr %s)" % r.stderr[-500:])
    versions = harness.migration_versions()
    expect_eq([l for l in r.stdout.splitlines() if l.strip()], ["pending %s" % v for v in versions],
              "status before migrate")
    expect_eq(migrate(env).returncode, 0, "migrate exit code")
    r = migrate(env, "status")
    expect_eq(r.returncode, 0, "status exit code (stderr %s)" % r.stderr[-500:])
    lines = [l for l in r.stdout.splitlines() if l.strip()]
    expect_eq(len(lines), len(versions), "status lines: %r" % r.stdout)
    for line, v in zip(lines, versions):
        expect(re.fullmatch(r"applied %s \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z" % re.escape(v), line),
               "status line %r is not 'applied %s <ISO UTC ms>'" % (line, v))
    expect(any(l.startswith("applied 0001_init ") for l in lines), "no 'applied 0001_init' line: %r" % lines)


def _table_columns(db):
    out = pg().psql("SELECT table_name, column_name FROM information_schema.columns "
                    "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position", db=db)
    cols = {}
    for line in out.splitlines():
        t, c = line.split("|", 1)
        cols.setdefault(t, []).append(c)
    return cols


def _digest(db, table, columns):
    """Row count and a digest of the given columns of every row (order-independent)."""
    collist = ", ".join('"%s"' % c for c in columns)
    out = pg().psql('SELECT count(*), md5(coalesce(string_agg(x, E\'\\n\' ORDER BY x), \'\')) '
                    'FROM (SELECT ROW(%s)::text AS x FROM "%s") s' % (collist, table), db=db)
    n, h = out.strip().split("|")
    return int(n), h


def _adoption(fixture, db):
    path = os.path.join(FIXTURES, fixture)
    if not os.path.exists(path):
        raise Fail("fixture %s is missing (tests/fixtures/%s)" % (path, fixture))
    pg().create_db(db)
    pg().psql(file=path, db=db)
    before_cols = _table_columns(db)
    expect("_prisma_migrations" in before_cols, "fixture has no _prisma_migrations table")
    before = {t: _digest(db, t, cols) for t, cols in before_cols.items()}
    expect(sum(n for n, _ in before.values()) > sum(1 for _ in before), "fixture holds almost no data: %r" % before)

    env = service_env(pg().url(db))
    r = migrate(env)
    expect_eq(r.returncode, 0, "migrate exit code on %s (stdout %s; stderr %s)" % (fixture, r.stdout, r.stderr[-1500:]))
    # migrate up reports each step once, as a log line on stderr
    expect("adopt" in r.stderr.lower(), "migrate did not report adopting a Node database: %r" % r.stderr[-1500:])

    after_cols = _table_columns(db)
    for t in TABLES:
        expect(t in after_cols, "table %s missing after migrate (have %s)" % (t, sorted(after_cols)))
    for c in EVENT_COLUMNS:
        expect(c in after_cols["events"], "events.%s missing after migrate" % c)
    for t, cols in before_cols.items():
        expect(t in after_cols, "table %s disappeared" % t)
        expect_eq(after_cols[t][:len(cols)], cols, "original columns of %s" % t)
        expect_eq(_digest(db, t, cols), before[t], "rows of %s (count, digest of the original columns)" % t)
    for t in ("_prisma_migrations", "web_traffic_logs"):
        if t in before_cols:
            expect_eq(after_cols[t], before_cols[t], "columns of %s (must be untouched)" % t)
    if "web_traffic_logs" not in before_cols:
        expect("web_traffic_logs" not in after_cols, "migrate created web_traffic_logs")

    again = migrate(env)
    expect_eq(again.returncode, 0, "second migrate exit code (stderr %s)" % again.stderr[-800:])
    expect("up to date" in again.stderr, "second migrate not up to date: %r" % again.stderr)
    st = migrate(env, "status")
    expect_eq(st.returncode, 0, "migrate status exit code")
    expect(all(l.startswith("applied ") for l in st.stdout.splitlines() if l.strip()),
           "status after adoption: %r" % st.stdout)
    # the adopted database serves readyz
    with Stack(pg().url(db), workers=1) as s:
        r = s.request("GET", "/v1/readyz")
        expect_eq(r.status, 200, "readyz on the adopted database", r)
    return before_cols


@test
def adopt_node_schema_8d():
    _adoption("node_schema_8d.sql", "adopt8d")


@test
def adopt_node_schema_d1():
    cols = _adoption("node_schema_d1.sql", "adoptd1")
    expect("web_traffic_logs" in cols, "the d1 fixture should contain web_traffic_logs")


# ---- configuration

@test
def check_config_rejects_bad_values():
    base = {"DATABASE_URL": "postgresql://postgres:pw-SECRET-9q8w7e@127.0.0.1:1/x"}
    # --offline: the database behind this URL is unreachable (below: check-config refuses that)
    ok = harness.backend(["check-config", "--offline"], service_env(base["DATABASE_URL"]))
    expect_eq(ok.returncode, 0, "check-config with a valid env (stderr %s)" % ok.stderr[-500:])
    expect("configuration OK" in ok.stdout, "check-config output: %r" % ok.stdout)
    for secret in (PEPPER, ADMIN_KEY, "pw-SECRET-9q8w7e"):
        expect(secret not in ok.stdout + ok.stderr, "check-config printed a secret: %r" % secret)
    cases = [
        ({"FCGI_WORKERS": "abc"}, "FCGI_WORKERS", None),
        ({"FCGI_WORKERS": "0"}, "FCGI_WORKERS", None),
        ({"PORT": "70000"}, "PORT", None),
        ({"RATE_LIMIT_MAX": "-1"}, "RATE_LIMIT_MAX", None),
        ({"ENABLE_HEURISTIC_LINKING": "maybe"}, "ENABLE_HEURISTIC_LINKING", None),
        ({"IP_HASH_PEPPER": "short-SECRET-pepper"}, "IP_HASH_PEPPER", "short-SECRET-pepper"),
        ({"IP_HASH_PEPPER": None}, "IP_HASH_PEPPER", None),
        ({"ADMIN_API_KEY": "tooshort-SECRET"}, "ADMIN_API_KEY", "tooshort-SECRET"),
        ({"DATABASE_URL": None}, "DATABASE_URL", None),
        ({"RUN_DIR": "relative/run"}, "RUN_DIR", None),
        # libpq's own message for this would quote the password
        ({"DATABASE_URL": "postgresql://postgres:pw-SECRET-bad%zz@127.0.0.1:1/x"}, "DATABASE_URL",
         "pw-SECRET-bad"),
    ]
    for over, name, secret in cases:
        r = harness.backend(["check-config"], service_env(base["DATABASE_URL"], over))
        out = r.stdout + r.stderr
        expect(r.returncode != 0, "check-config accepted %r: %r" % (over, out))
        expect(name in r.stderr, "error for %r does not name %s: %r" % (over, name, out))
        for s in (secret, PEPPER, ADMIN_KEY, "pw-SECRET-9q8w7e"):
            if s:
                expect(s not in out, "output for %r contains the secret %r: %r" % (over, s, out))
    # check-config and a job with an unreachable database name no password either
    r = harness.backend(["check-config"], service_env(base["DATABASE_URL"]), timeout=30)
    expect(r.returncode != 0 and "DATABASE_URL" in r.stderr, "check-config with a closed port: %r" % r.stderr)
    expect("pw-SECRET-9q8w7e" not in r.stdout + r.stderr, "check-config printed the password: %r" % r.stderr)
    r = migrate(service_env(base["DATABASE_URL"]), timeout=30)
    expect(r.returncode != 0, "migrate against a closed port succeeded")
    expect("pw-SECRET-9q8w7e" not in r.stdout + r.stderr, "migrate printed the database password: %r" % r.stderr)


@test
def lighttpd_refuses_bad_config():
    for over, name, secret in (({"FCGI_WORKERS": "abc"}, "FCGI_WORKERS", None),
                               ({"IP_HASH_PEPPER": "short-SECRET-pepper"}, "IP_HASH_PEPPER", "short-SECRET-pepper")):
        s = Stack(main_url(), env=over, wait=False)
        try:
            try:
                rc = s.proc.wait(timeout=10)
            except Exception:
                raise Fail("lighttpd with %r still running after 10 s; stderr:\n%s" % (over, s.stderr()))
            err = s.stderr()
            expect(rc != 0, "lighttpd with %r exited 0; stderr:\n%s" % (over, err))
            expect(name in err, "lighttpd's error for %r does not name %s; stderr:\n%s" % (over, name, err))
            if secret:
                expect(secret not in err, "lighttpd's stderr contains the secret; stderr:\n%s" % err)
            expect(not harness.port_open(s.port), "port %d open after a failed start" % s.port)
        finally:
            s.cleanup()


# ---- lighttpd's request limits

@test
def header_block_too_large_is_431():
    s = main_stack()
    one = ("GET /v1/readyz HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\nConnection: close\r\n\r\n" % ("a" * 9000)).encode()
    status, hdrs, body, raw, t = s.raw(one)
    expect_eq(status, 431, "one 9000-byte header: status (raw %r)" % raw[:300])
    many = "".join("X-H%02d: %s\r\n" % (i, "b" * 500) for i in range(20))
    req = ("GET /v1/readyz HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n" % many).encode()
    status, hdrs, body, raw, t = s.raw(req)
    expect_eq(status, 431, "20 headers of 500 bytes: status (raw %r)" % raw[:300])
    # just under the limit still works
    ok = ("GET /v1/readyz HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\nConnection: close\r\n\r\n" % ("c" * 7000)).encode()
    status, hdrs, body, raw, t = s.raw(ok)
    expect_eq(status, 200, "a 7000-byte header: status (raw %r)" % raw[:300])


@test
def huge_content_length_is_413_from_lighttpd():
    s = main_stack()
    # POST /v1/readyz would be 405 from a responder: a 413 can only come from lighttpd, and it must
    # come without waiting for the 10 MB that are never sent
    req = (b"POST /v1/readyz HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: 10485760\r\nConnection: close\r\n\r\n")
    status, hdrs, body, raw, t = s.raw(req, timeout=8)
    expect_eq(status, 413, "status (raw %r, %.2f s)" % (raw[:300], t))
    expect(t < 3, "413 took %.2f s (lighttpd waited for the body?)" % t)
    # the stack still serves
    r = s.request("GET", "/v1/readyz")
    expect_eq(r.status, 200, "readyz after the 413", r)


# ---- shutdown and access log

@test
def sigint_stops_lighttpd_and_responders():
    s = Stack(main_url(), workers=3)
    try:
        pids = s.responder_pids()
        expect_eq(len(pids), 3, "responders before SIGINT")
        expect_eq(s.request("GET", "/v1/readyz").status, 200, "readyz before SIGINT")
        rc, took = s.stop(timeout=10)
        expect_eq(rc, 0, "lighttpd exit code after SIGINT (stderr:\n%s\n)" % s.stderr())
        expect(took < 10, "lighttpd took %.1f s to exit" % took)
        try:
            harness.wait_until(lambda: not any(harness.proc_alive(p) for p in pids), 2, 0.05, "responders to exit")
        except Fail:
            raise Fail("responders still running 2 s after lighttpd exited: %s (states %s)" %
                       ([p for p in pids if harness.proc_alive(p)], [harness.proc_state(p) for p in pids]))
        expect(not harness.port_open(s.port), "port still open after exit")
    finally:
        s.cleanup()


@test
def access_log_is_json_without_ip_or_user_agent():
    ua = "itest-UA-SECRET/9.9 (X11; Probe)"
    s = Stack(main_url(), workers=1)
    try:
        hdr = {"User-Agent": ua, "X-Forwarded-For": "203.0.113.77", "Referer": "https://ref.example/x"}
        expect_eq(s.request("GET", "/v1/readyz", headers=hdr).status, 200, "readyz")
        expect_eq(s.request("GET", "/v1/healthz", headers=hdr).status, 200, "healthz")
        expect_eq(s.request("GET", "/v1/nope?email=someone@example.com", headers=hdr).status, 404, "404")
        rc, _ = s.stop()
        expect_eq(rc, 0, "lighttpd exit code")
        lines = s.access_log_lines()
        expect(len(lines) >= 3, "expected >= 3 access log lines on fd 3, got %r" % lines)
        import json as _json
        for line in lines:
            try:
                obj = _json.loads(line)
            except ValueError as e:
                raise Fail("access log line is not JSON (%s): %r" % (e, line))
            expect(isinstance(obj, dict), "access log line is not an object: %r" % line)
            for bad in ("127.0.0.1", "203.0.113.77", ua, "itest-UA-SECRET", "someone@example.com"):
                expect(bad not in line, "access log line contains %r: %r" % (bad, line))
            for key in obj:
                expect(not re.search(r"ip|addr|agent|ua\b|host|referer|referrer", key, re.I),
                       "access log key %r may hold client data: %r" % (key, line))
        paths = [_json.loads(l).get("path") for l in lines]
        for p in ("/v1/readyz", "/v1/healthz", "/v1/nope"):
            expect(p in paths, "no access log line for %s: %r" % (p, lines))
        statuses = sorted(_json.loads(l).get("status") for l in lines)
        expect(200 in statuses and 404 in statuses, "statuses in the access log: %r" % statuses)
    finally:
        s.cleanup()


@test(timeout=120)
def mixed_case_database_schema():
    """DATABASE_SCHEMA is one name for migrate and for the responders, whatever its case."""
    url = fresh_db("schemacase")
    env = service_env(url, {"DATABASE_SCHEMA": "Mkt"})
    r = migrate(env)
    expect_eq(r.returncode, 0, "migrate into schema Mkt (stderr %s)" % r.stderr[-400:])
    tables = pg().psql("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'Mkt'", db="schemacase")
    expect(int(tables.strip()) >= 10, "tables in schema Mkt: %s" % tables)
    with Stack(url, env={"DATABASE_SCHEMA": "Mkt"}, workers=1) as s:
        r = s.request("GET", "/v1/readyz")
        expect_eq(r.status, 200, "readyz with schema Mkt", r)
        r = s.request("POST", "/v1/events", {"anonId": "schema-case-1", "eventType": "page_view", "path": "/"})
        expect_eq(r.status, 202, "an event into schema Mkt", r)
    n = pg().psql('SELECT count(*) FROM "Mkt".events', db="schemacase")
    expect_eq(n.strip(), "1", "events stored in schema Mkt")
