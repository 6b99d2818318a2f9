"""test_faults.py - fault scenarios through real lighttpd + responders + Postgres (notes/
c-style-and-reliability.md B.2 and B.7 D1-D7, F1, F4, P2, S5/S6; DESIGN.md "Reliability rules";
API.md 1: 503 database_unavailable within 2 s with Retry-After).

Every scenario that stops, freezes, restarts or reconfigures Postgres runs on a Postgres of its own,
so the rest of the run is unaffected; every fault is undone in a finally block. Measured latencies are
printed as NOTE lines. Each scenario checks that lighttpd logged no responder death it did not
cause; near the end one test checks the stderr of every stack started here (kept until after the
stack stopped, so exit-time LeakSanitizer output counts) for sanitizer reports.

Issue 11 item 10: the scenarios of the table (Postgres stopped mid-load, restarted while idle, frozen,
a responder kill -9'd every 2 s, graceful stop under load, the slow-client attack) each fill a row
(figures()); the last test prints the table. `make test-faults` runs this module alone."""

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid

import harness
from harness import (Fail, Postgres, Stack, expect, expect_eq, expect_error, migrate,
                     proc_alive, proc_children, proc_state, service_env, test, wait_until)

HOST = "api.faults.test"
DB_BUDGET_S = 2.0          # API.md 1: database_unavailable is answered within 2 s
FAST_S = 0.5               # what an unaffected request must stay under
LIGHTTPD_CHILD_DEATH = ("child signalled", "child died somehow", "child exited")
SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer", "runtime error")

_STDERRS = []  # (scenario, lighttpd stderr as a whole) of every stack this module started


# ---- helpers: resources


def note(scenario, text):
    print("NOTE faults.%s: %s" % (scenario, text), flush=True)


def lat(values):
    """'n=.. min/median/max' of seconds, in ms."""
    if not values:
        return "n=0"
    v = sorted(values)
    return "n=%d min %.0f / median %.0f / max %.0f ms" % (len(v), v[0] * 1000, v[len(v) // 2] * 1000,
                                                          v[-1] * 1000)


def shared_url():
    """A migrated database of its own in the run's shared Postgres (for scenarios that leave
    Postgres itself alone)."""
    return harness.migrated_database("faults")


@contextlib.contextmanager
def dedicated_postgres():
    """A Postgres of this scenario's own, database `backend` migrated."""
    pg = Postgres()
    try:
        r = migrate(service_env(pg.url()))
        if r.returncode != 0:
            raise Fail("migrate failed (rc %d): %s %s" % (r.returncode, r.stdout, r.stderr))
        yield pg
    finally:
        pg.cleanup()


@contextlib.contextmanager
def stack(scenario, url, workers=2, env=None):
    """A Stack whose whole stderr is kept (for the sanitizer check) before it is torn down.
    The events rate limit is off: the scenarios send bursts from one address."""
    e = {"RATE_LIMIT_EVENTS": 0}
    e.update(env or {})
    s = Stack(url, workers=workers, env=e)
    try:
        yield s
    finally:
        try:
            # stop first, so that what responders print at exit (LeakSanitizer) is in the log too
            if s.alive():
                s.stop(timeout=10)
            wait_until(lambda: not s.leftover_responders(), 5, 0.05, "responders to exit")
        except Fail as e:
            _STDERRS.append((scenario, "stopping the stack: %s" % e))
        finally:
            _STDERRS.append((scenario, full_stderr(s)))
            s.cleanup()


def full_stderr(s):
    try:
        with open(s.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def expect_no_child_deaths(s, scenario):
    """Invariant (a): lighttpd saw no responder exit or die while the stack was up."""
    text = full_stderr(s)
    bad = [l for l in text.splitlines() if any(m in l for m in LIGHTTPD_CHILD_DEATH)]
    expect(not bad, "%s: lighttpd reports responder deaths:\n%s" % (scenario, "\n".join(bad[:10])))


def event_body(tag):
    return {"anonId": "flt-%s-%s" % (tag, uuid.uuid4().hex[:20]), "eventType": "page_view",
            "path": "/faults/" + tag}


def post_event(s, tag, timeout=10, body=None):
    return s.request("POST", "/v1/events", body or event_body(tag), {"Host": HOST}, timeout=timeout)


def expect_unavailable(r, what):
    """503 database_unavailable with a numeric Retry-After, answered within 2 s."""
    expect_error(r, 503, "database_unavailable")
    expect(r.header("Retry-After", "").isdigit(), "%s: 503 without a numeric Retry-After" % what, r)
    expect(r.elapsed < DB_BUDGET_S, "%s: 503 took %.3f s (must be < %.1f s)" % (what, r.elapsed, DB_BUDGET_S), r)


def timed(fn, *args, **kw):
    """fn(*args) -> Response; a transport error becomes a Fail naming how long it took."""
    t0 = time.monotonic()
    try:
        return fn(*args, **kw)
    except OSError as e:
        raise Fail("request failed after %.3f s: %r" % (time.monotonic() - t0, e))


def wait_recovered(s, timeout, tag):
    """Polls readyz + one event until both are 2xx; returns seconds taken."""
    t0 = time.monotonic()
    last = []

    def ok():
        r1 = s.request("GET", "/v1/readyz", timeout=5)
        r2 = post_event(s, tag, timeout=5) if r1.status == 200 else None
        last[:] = [r1, r2]
        return r1.status == 200 and r2.status == 202

    try:
        wait_until(ok, timeout, 0.05, "readyz 200 and an event 202")
    except Fail as e:
        raise Fail("%s; last answers: %s; lighttpd stderr:\n%s" %
                   (e, [r.describe() for r in last if r is not None], s.stderr(15)))
    return time.monotonic() - t0


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


def backend_sessions(pg, db="backend"):
    """[(pid, state)] of the responders' Postgres sessions (application_name backend-<pid>)."""
    out = pg.psql("SELECT pid, state FROM pg_stat_activity WHERE application_name LIKE 'backend-%%' "
                  "AND datname = '%s' ORDER BY pid" % db, db=db)
    return [tuple(l.split("|")) for l in out.splitlines() if l.strip()]


def psql_file(pg, sql, db="backend"):
    """Runs a (possibly long) SQL text through psql -f; returns its output."""
    fd, path = tempfile.mkstemp(prefix="itflt-", suffix=".sql", dir="/tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(sql)
        os.chmod(path, 0o644)
        return pg.psql(file=path, db=db)
    finally:
        os.unlink(path)


def sql_text_array(values):
    return "ARRAY[%s]::text[]" % ",".join("'%s'" % v.replace("'", "''") for v in values) if values \
        else "ARRAY[]::text[]"


def expect_acknowledged_stored(pg, ok, db="backend", fig=None):
    """Invariant (c): every 202 of the load (x[2] its JSON, x[4] its unique anonId) is in the events
    table, exactly once. The counts go into fig["lost"] / fig["dup"] before anything is checked."""
    ids = [x[2]["eventId"] for x in ok]
    missing = psql_file(pg, "SELECT x FROM unnest(%s) x WHERE NOT EXISTS "
                            "(SELECT 1 FROM events e WHERE e.id = x);" % sql_text_array(ids), db=db).split()
    anons = [x[4] for x in ok]
    dup = psql_file(pg, "SELECT v.anon_id, count(e.id) FROM visitors v LEFT JOIN events e ON "
                        "e.visitor_id = v.id WHERE v.anon_id = ANY(%s) GROUP BY 1 HAVING count(e.id) > 1;"
                    % sql_text_array(anons), db=db).split()
    if fig is not None:
        fig["lost"], fig["dup"] = len(missing), len(dup)
    expect(not missing, "%d of %d acknowledged events are missing: %s" % (len(missing), len(ids), missing[:10]))
    expect(not dup, "acknowledged anonIds with more than one event: %s" % dup[:10])


# ---- the table `make test-faults` prints: one row per scenario of issue 11 item 10

_FIGURES = []


def figures(scenario):
    """A row of the table, filled in by the scenario as it goes; its result stays FAIL unless the
    scenario reaches its end and sets PASS."""
    f = {"scenario": scenario, "requests": 0, "2xx": 0, "5xx": 0, "other": 0, "lost": None, "dup": None,
         "recovery": None, "result": "FAIL"}
    _FIGURES.append(f)
    return f


def count_answers(fig, results):
    """Adds a load's answers (see load()) to fig: requests, 2xx, 5xx, other (4xx / no answer)."""
    for x in results:
        fig["requests"] += 1
        st = x[1]
        fig["2xx" if st and 200 <= st < 300 else "5xx" if st and st >= 500 else "other"] += 1


def freeze_postgres(pg, frozen):
    """SIGSTOP the postmaster, then every child of it (the postmaster first, so that it forks nothing
    new in between). Fills frozen with the pids it stopped (the caller SIGCONTs them in a finally)."""
    pm = pg._postmaster_pid()
    expect(pm and proc_alive(pm), "no running postmaster")
    os.kill(pm, signal.SIGSTOP)
    frozen.append(pm)
    for _ in range(5):
        kids = [k for k in proc_children(pm) if k not in frozen]
        if not kids:
            break
        for k in kids:
            try:
                os.kill(k, signal.SIGSTOP)
                frozen.append(k)
            except ProcessLookupError:
                pass
    wait_until(lambda: all(proc_state(p) in ("T", "t", None) for p in frozen), 3, 0.01,
               "postgres processes to stop")
    return frozen


def thaw(frozen):
    for p in reversed(frozen):
        try:
            os.kill(p, signal.SIGCONT)
        except ProcessLookupError:
            pass


def load(s, seconds, threads, tag, actions=(), pace=0.004, marks=None, tail=0.0):
    """threads clients POST events back to back for `seconds`, and at least `tail` seconds after the
    last action returned (a Postgres restart is slower on a busy machine); actions [(t, fn)] run
    from this thread at t seconds after the start. Returns [(t_sent, status | None, json | error, elapsed,
    anonId, Response | None)], t_sent in seconds since the start (marks["t_start"], monotonic).
    Every request is bounded (10 s)."""
    results = []
    lock = threading.Lock()
    stop = threading.Event()
    t_start = time.monotonic()
    if marks is not None:
        marks["t_start"] = t_start

    def client():
        while not stop.is_set():
            b = event_body(tag)
            t0 = time.monotonic()
            try:
                r = post_event(s, tag, timeout=10, body=b)
                rec = (t0 - t_start, r.status, r.json, r.elapsed, b["anonId"], r)
            except OSError as e:
                rec = (t0 - t_start, None, repr(e), time.monotonic() - t0, b["anonId"], None)
            with lock:
                results.append(rec)
            time.sleep(pace)

    ts = [threading.Thread(target=client, daemon=True) for _ in range(threads)]
    for t in ts:
        t.start()
    try:
        for at, fn in sorted(actions, key=lambda a: a[0]):
            delay = t_start + at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            fn()
        delay = max(t_start + seconds, time.monotonic() + tail) - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    finally:
        stop.set()
        for t in ts:
            t.join(15)
    expect(not any(t.is_alive() for t in ts), "load clients did not stop")
    return sorted(results, key=lambda x: x[0])


# ---- 1. Postgres hangs (SIGSTOP): bounded 503s, then recovery without restarting anything (D5)

@test(timeout=60)
def postgres_hang_sigstop():
    fig = figures("Postgres frozen (SIGSTOP)")
    with dedicated_postgres() as pg, stack("postgres_hang_sigstop", pg.url(), workers=2) as s:
        for r in s.parallel([("GET", "/v1/readyz")] * 4):
            expect_eq(r.status, 200, "readyz before the hang", r)
        expect_eq(post_event(s, "hang-pre").status, 202, "event before the hang")
        pids = s.responder_pids()
        lighttpd_pid = s.pid
        frozen = []
        latencies = []
        try:
            freeze_postgres(pg, frozen)
            # the first goes to a connection whose backend is frozen mid-conversation; the later ones
            # take the reconnect path (a TCP connect the frozen postmaster never answers) or the
            # breaker; the pauses let the breaker window (1 s) expire in between, so probes happen too
            for i in range(6):
                r = timed(post_event, s, "hang") if i % 2 == 0 else timed(s.request, "GET", "/v1/readyz")
                latencies.append(r.elapsed)
                fig["requests"] += 1
                fig["5xx" if r.status >= 500 else "2xx" if r.status < 300 else "other"] += 1
                expect_unavailable(r, "request %d while Postgres is frozen" % (i + 1))
                time.sleep(0.3)
        finally:
            thaw(frozen)
        recovery = wait_recovered(s, 5, "hang-post")
        fig["recovery"] = recovery
        note("postgres_hang_sigstop", "503 while frozen: %s; 2xx again %.2f s after SIGCONT"
             % (lat(latencies), recovery))
        expect(s.alive() and s.pid == lighttpd_pid, "lighttpd was restarted")
        expect_eq(s.responder_pids(), pids, "responder pids (they must survive the hang)")
        for r in s.parallel([("GET", "/v1/readyz")] * 4 + [("POST", "/v1/events", event_body("hang-par"),
                                                              {"Host": HOST})] * 2):
            expect(r.status in (200, 202), "request after recovery not 2xx", r)
        # no pooled connection was left inside a transaction (D5: PQTRANS_IDLE everywhere)
        states = backend_sessions(pg)
        expect(all(st == "idle" for _, st in states), "responder sessions not idle: %r" % states)
        expect_eq(s.responder_pids(), pids, "responder pids after recovery")
        expect_no_child_deaths(s, "postgres_hang_sigstop")
        fig["result"] = "PASS"


@test(timeout=60)
def postgres_hang_concurrent_requests():
    """The hang begins while more requests arrive than there are responders: the ones lighttpd
    queues behind a responder that waits out its frozen connection must still be answered within
    2 s (D5: "within statement_timeout + 1 s or via the breaker")."""
    workers = 2
    with dedicated_postgres() as pg, stack("postgres_hang_concurrent_requests", pg.url(), workers) as s:
        for r in s.parallel([("GET", "/v1/readyz")] * (workers * 2)):
            expect_eq(r.status, 200, "readyz before the hang", r)
        pids = s.responder_pids()
        frozen = []
        try:
            freeze_postgres(pg, frozen)
            answers = s.parallel([("GET", "/v1/readyz")] * (workers * 2))
        finally:
            thaw(frozen)
        note("postgres_hang_concurrent_requests", "%d concurrent readyz at the start of the hang (%d "
             "responders): %s" % (len(answers), workers, ", ".join("%d in %.3f s" % (r.status, r.elapsed)
                                                                   for r in answers)))
        for r in answers:
            expect_error(r, 503, "database_unavailable")
        slow = [r for r in answers if r.elapsed >= DB_BUDGET_S]
        expect(not slow, "%d of %d concurrent requests took >= %.1f s: %s\n(each responder waits %.1f s for its "
               "frozen connection; its retry connect then fails at once because the request budget is spent, "
               "which is not a 'slow' connect, so the breaker stays closed and the queued request pays a full "
               "connect timeout again. lighttpd stderr:\n%s)"
               % (len(slow), len(answers), DB_BUDGET_S, [round(r.elapsed, 3) for r in slow], 1.8,
                  "\n".join([l for l in full_stderr(s).splitlines() if '"warn"' in l][:8])))
        wait_recovered(s, 5, "hangc-post")
        expect_eq(s.responder_pids(), pids, "responder pids")


# ---- 2. Postgres restarts while idle: the first request after it succeeds, on every responder (D2)

@test(timeout=60)
def postgres_restart_stale_connections():
    workers = 2
    with dedicated_postgres() as pg, stack("postgres_restart_stale_connections", pg.url(), workers) as s:
        warm = s.parallel([("GET", "/v1/readyz")] * (workers * 2))
        for r in warm:
            expect_eq(r.status, 200, "readyz before the restart", r)
        pids = s.responder_pids()
        before = {p for p, _ in backend_sessions(pg)}
        expect_eq(len(before), workers, "one Postgres session per responder before the restart")
        pg.restart()  # pg_ctl stop -m fast, then start: every responder's connection is now stale
        reqs = []
        for i in range(workers * 2):
            reqs.append(("GET", "/v1/readyz") if i % 2 == 0 else
                        ("POST", "/v1/events", event_body("restart"), {"Host": HOST}))
        answers = s.parallel(reqs)
        for r in answers:
            expect(r.status == (200 if r.method == "GET" else 202),
                   "first requests after the restart must succeed (stderr:\n%s)" % s.stderr(15), r)
        after = {p for p, _ in backend_sessions(pg)}
        # every responder reconnected (a new session each), i.e. every responder met its stale
        # connection and still answered 2xx
        expect_eq(len(after), workers, "one Postgres session per responder after the restart")
        expect(not (after & before), "sessions after the restart are new ones")
        for i in range(10):
            r = post_event(s, "restart-seq") if i % 2 else s.request("GET", "/v1/readyz")
            expect(r.status in (200, 202), "request %d after the restart" % (i + 2), r)
        note("postgres_restart_stale_connections", "first %d parallel requests after the restart: %s"
             % (len(answers), lat([r.elapsed for r in answers])))
        expect_eq(s.responder_pids(), pids, "responder pids")
        # each responder dropped its stale connection exactly once
        drops = [l for l in full_stderr(s).splitlines() if "database connection dropped" in l]
        per_pid = {}
        for l in drops:
            for p in pids:
                if '"pid":%d,' % p in l:
                    per_pid[p] = per_pid.get(p, 0) + 1
        expect_eq(per_pid, {p: 1 for p in pids}, "stale-connection drops per responder (log lines:\n%s\n)"
                  % "\n".join(drops))
        expect_no_child_deaths(s, "postgres_restart_stale_connections")


@test(timeout=90)
def postgres_restart_idle_every_write():
    """Issue 11 item 5: after an idle restart the responder's connection is dead before anything is
    sent on it, so every statement (also the ones that are not safe to repeat: capture, unsubscribe,
    delete) must reconnect and succeed on the first request. One responder, so the same stale
    connection is met each time."""
    with dedicated_postgres() as pg, stack("postgres_restart_idle_every_write", pg.url(), workers=1,
                                            env={"RATE_LIMIT_CAPTURE": 0, "RATE_LIMIT_UNSUBSCRIBE": 0,
                                                 "RATE_LIMIT_DELETE": 0}) as s:
        fig = figures("restarted while idle")
        email = "restart-%s@example.com" % uuid.uuid4().hex[:12]
        admin = {"Host": HOST, "x-admin-key": harness.ADMIN_KEY}
        steps = [
            ("event", lambda: post_event(s, "idle-restart"), (202,)),
            ("capture", lambda: s.request("POST", "/v1/leads/capture",
                                          {"email": email, "anonId": "flt-idle-" + uuid.uuid4().hex[:16],
                                           "consentStatus": "express"}, {"Host": HOST}), (200,)),
            ("unsubscribe", lambda: s.request("POST", "/v1/leads/unsubscribe", {"email": email},
                                              {"Host": HOST}), (200,)),
            ("delete", lambda: s.request("POST", "/v1/leads/delete", {"email": email}, admin), (200,)),
        ]
        expect_eq(s.request("GET", "/v1/readyz").status, 200, "readyz before the restarts")
        answers = []
        for what, fn, want in steps:
            pg.restart()  # the responder's connection is now closed by the server, and idle
            r = timed(fn)
            answers.append((what, r))
            fig["requests"] += 1
            fig["2xx" if 200 <= r.status < 300 else "5xx" if r.status >= 500 else "other"] += 1
        note("postgres_restart_idle_every_write", "first request after each restart: %s"
             % ", ".join("%s %d in %.0f ms" % (w, r.status, r.elapsed * 1000) for w, r in answers))
        for what, r in answers:
            expect(r.status in dict((w, x) for w, _, x in steps)[what],
                   "first %s after an idle Postgres restart (stderr:\n%s)" % (what, s.stderr(12)), r)
        # what the writes did is in the database: the lead was captured, then erased
        stored = int(pg.psql("SELECT count(*) FROM events WHERE path = '/faults/idle-restart'").strip())
        acked = 1 if answers[0][1].status == 202 else 0
        fig["lost"], fig["dup"] = max(acked - stored, 0), max(stored - 1, 0)
        expect_eq(stored, acked, "events stored for the event after the first restart")
        expect_eq(pg.psql("SELECT count(*) FROM leads WHERE email_normalized = '%s'" % email).strip(), "0",
                  "the lead is gone after the delete")
        logged = [l for l in full_stderr(s).splitlines() if "closed by the server" in l]
        expect(len(logged) >= len(steps), "each stale connection found before sending is logged as such "
               "(have %d lines: %s)" % (len(logged), logged[:4]))
        expect_no_child_deaths(s, "postgres_restart_idle_every_write")
        fig["result"] = "PASS"


@test(timeout=60)
def outage_log_lines_rate_limited():
    """Issue 11 item 9: while Postgres is down every request used to log two warnings (the failed
    connect and the 503). An outage now writes at most one such line per LOG_REPEAT_INTERVAL_S (10 s)
    per process, saying what happened, and the recovery line says how many were left out."""
    with dedicated_postgres() as pg, stack("outage_log_lines_rate_limited", pg.url(), workers=1) as s:
        expect_eq(post_event(s, "log-pre").status, 202, "event before the outage")
        pid = s.responder_pids()[0]
        pg.stop()
        n = 0
        try:
            t_end = time.monotonic() + 2.0
            while time.monotonic() < t_end:
                r = timed(post_event, s, "log-down") if n % 2 else timed(s.request, "GET", "/v1/readyz")
                expect_unavailable(r, "request %d while Postgres is stopped" % (n + 1))
                n += 1
                time.sleep(0.04)
        finally:
            pg.start()
        wait_recovered(s, 5, "log-post")
        mine = [l for l in full_stderr(s).splitlines() if '"pid":%d,' % pid in l]
        start = max(i for i, l in enumerate(mine) if "database connection dropped" in l)
        outage = [l for l in mine[start + 1:] if '"level":"warn"' in l or '"level":"error"' in l]
        recovered = [l for l in mine[start + 1:] if "database connected" in l]
        note("outage_log_lines_rate_limited", "%d requests during the outage; %d warn/error lines:\n%s\n"
             "recovery line: %s" % (n, len(outage), "\n".join(outage[:6]), recovered[:1]))
        expect(n >= 10, "only %d requests during the outage" % n)
        expect(1 <= len(outage) <= 2, "%d warn/error lines for %d requests during a 2 s outage (at most one per "
               "10 s, plus at most one that opened a new interval): %s" % (len(outage), n, outage[:6]))
        expect("database connect failed" in outage[0] and "refused" in outage[0],
               "the outage line does not say what happened: %s" % outage[0])
        expect(recovered and "not logged" in recovered[0],
               "the recovery line does not give the count of lines left out: %s" % recovered[:1])


@test(timeout=60)
def responder_client_encoding_utf8():
    """Issue 11 item 9: responders set client_encoding UTF8 on their connection, so text arrives as
    sent whatever the environment says (PGCLIENTENCODING) or the database's default is."""
    url = shared_url()
    db = url.rsplit("/", 1)[1]
    with stack("responder_client_encoding_utf8", url, workers=1, env={"PGCLIENTENCODING": "LATIN1"}) as s:
        path = "/faults/enc-caf\u00e9-\u20ac-\u65e5"
        body = event_body("enc")
        body["path"] = path
        r = post_event(s, "enc", body=body)
        expect_eq(r.status, 202, "event with a non-ASCII path", r)
        got = harness.shared_postgres().psql("SELECT path FROM events WHERE id = '%s'" % r.json["eventId"],
                                             db=db).strip()
        expect_eq(got, path, "the stored path (PGCLIENTENCODING=LATIN1 in the responder's environment)")


# ---- 3. Postgres stopped during a burst: 202 or 503 only, and every 202 is in the table (D1)

@test(timeout=60)
def postgres_stop_during_burst():
    fig = figures("Postgres stopped mid-load")
    with dedicated_postgres() as pg:
        # production durability (the harness turns it off for speed)
        pg.psql("ALTER SYSTEM SET synchronous_commit = on")
        pg.psql("SELECT pg_reload_conf()")
        with stack("postgres_stop_during_burst", pg.url(), workers=2) as s:
            expect_eq(post_event(s, "burst-pre").status, 202, "event before the burst")
            marks = {}

            def stop_pg():
                marks["stop0"] = time.monotonic()
                pg.stop()
                marks["stop1"] = time.monotonic()

            def start_pg():
                marks["start0"] = time.monotonic()
                pg.start()
                marks["start1"] = time.monotonic()

            try:
                results = load(s, 4.0, 4, "burst", [(0.6, stop_pg), (1.6, start_pg)], marks=marks, tail=2.0)
            finally:
                if not pg.is_running():
                    pg.start()
            count_answers(fig, results)
            # recovery: from Postgres accepting connections again to the first 202 of a request sent
            # after that
            up = marks["start1"] - marks["t_start"]
            after = [x[0] + x[3] for x in results if x[1] == 202 and x[0] >= up]
            recovery = (min(after) - up) if after else None
            fig["recovery"] = recovery
            bad = [x for x in results if not (x[1] == 202 or (x[1] == 503 and isinstance(x[2], dict)
                                                               and x[2].get("error") == "database_unavailable"))]
            slow = [x for x in results if x[3] >= DB_BUDGET_S]
            ok = [x for x in results if x[1] == 202]
            n503 = [x for x in results if x[1] == 503]
            note("postgres_stop_during_burst", "%d requests: %d x 202 (%s), %d x 503 (%s), %d other; "
                 "pg stop took %.2f s, start %.2f s"
                 % (len(results), len(ok), lat([x[3] for x in ok]), len(n503), lat([x[3] for x in n503]),
                    len(bad), marks.get("stop1", 0) - marks.get("stop0", 0),
                    marks.get("start1", 0) - marks.get("start0", 0)))
            expect(not bad, "answers other than 202 / 503 database_unavailable (%d), first ones:\n%s\n"
                   "lighttpd alive: %s (exit %s); stderr:\n%s"
                   % (len(bad), "\n".join(x[5].describe() if x[5] else "t=%.3f %s" % (x[0], x[2]) for x in bad[:5]),
                      s.alive(), s.proc.poll(), s.stderr(25)))
            expect(not slow, "answers slower than %.1f s: %s" % (DB_BUDGET_S, [(round(x[0], 2), x[1], round(x[3], 3))
                                                                               for x in slow[:10]]))
            expect(n503, "no 503 at all: the outage did not happen while the burst ran")
            expect(ok, "no 202 at all")
            for x in n503:
                expect(x[5].header("Retry-After", "").isdigit(), "503 without Retry-After", x[5])
            # invariant (c): every acknowledged event is stored, exactly once
            expect_acknowledged_stored(pg, ok, fig=fig)
            note("postgres_stop_during_burst", "first 202 %s s after Postgres accepted connections again"
                 % ("%.3f" % recovery if recovery is not None else "never"))
            expect(recovery is not None and recovery <= 1.0, "service not back within 1 s of Postgres: %s"
                   % recovery)
            wait_recovered(s, 5, "burst-post")
            expect_no_child_deaths(s, "postgres_stop_during_burst")
            fig["result"] = "PASS"


# ---- 4. statement_timeout: a statement blocked on a lock gives 503, the connection stays usable (D7)

@test(timeout=60)
def statement_timeout_on_locked_table():
    url = shared_url()
    pg = harness.shared_postgres()
    db = url.rsplit("/", 1)[1]
    with stack("statement_timeout_on_locked_table", url, workers=1) as s:
        expect_eq(post_event(s, "lock-pre").status, 202, "event before the lock")
        pids = s.responder_pids()
        locker = harness.PsqlSession(pg, db)
        try:
            locker.send("BEGIN; LOCK TABLE events IN ACCESS EXCLUSIVE MODE; SELECT 'lock-' || 'held';")
            expect(locker.wait_for("lock-held", 10), "psql could not take the lock: %s" % locker.stderr())
            latencies = []
            for i in range(2):
                r = timed(post_event, s, "lock")
                latencies.append(r.elapsed)
                expect_unavailable(r, "event %d while events is locked" % (i + 1))
            # the rest of the database still works through the same responder
            r = s.request("GET", "/v1/readyz")
            expect_eq(r.status, 200, "readyz while only events is locked", r)
        finally:
            locker.send("ROLLBACK;") if locker.p.poll() is None else None
            locker.close()
        r = post_event(s, "lock-post")
        expect_eq(r.status, 202, "first event after the lock is released", r)
        note("statement_timeout_on_locked_table", "503 while locked: %s; first event after release %.0f ms"
             % (lat(latencies), r.elapsed * 1000))
        states = backend_sessions(pg, db)
        expect(states and all(st == "idle" for _, st in states),
               "responder session not idle after the timeout: %r" % states)
        expect_eq(s.responder_pids(), pids, "responder pids")
        expect("57014" in full_stderr(s), "the statement timeout (57014) is not logged; stderr:\n%s"
               % s.stderr(15))
        expect_no_child_deaths(s, "statement_timeout_on_locked_table")


# ---- 5. A responder SIGKILLed under load: respawned, errors only for in-flight requests (F1)

@test(timeout=60)
def responder_sigkill_under_load():
    workers = 2
    url = shared_url()
    pg = harness.shared_postgres()
    db = url.rsplit("/", 1)[1]
    with stack("responder_sigkill_under_load", url, workers) as s:
        expect_eq(post_event(s, "kill-pre").status, 202, "event before the kills")
        killed = []
        kill_at = []
        respawn = []
        marks = {}

        def kill_and_wait():
            cur = [p for p in s.responder_pids() if p not in killed]
            expect(cur, "no responder to kill")
            t_kill = time.monotonic()
            os.kill(cur[0], signal.SIGKILL)
            # the kernel tears the process down after the signal; until its sockets are closed
            # (it is a zombie or gone) lighttpd can still hand it requests
            wait_until(lambda: not proc_alive(cur[0]), 2, 0.0005, "the killed responder to die")
            t0 = time.monotonic()
            killed.append(cur[0])
            kill_at.append((t_kill - marks["t_start"], t0 - marks["t_start"]))
            try:
                wait_until(lambda: len(s.responder_pids()) == workers and not set(s.responder_pids()) & set(killed),
                           5, 0.02, "lighttpd to respawn the killed responder")
            except Fail as e:
                raise Fail("%s (have %s, killed %s); stderr:\n%s" % (e, s.responder_pids(), killed, s.stderr(20)))
            respawn.append(time.monotonic() - t0)

        clients = 4
        results = load(s, 3.0, clients, "kill", [(0.7, kill_and_wait), (1.9, kill_and_wait)], marks=marks)
        errors = [x for x in results if x[1] != 202]
        ok = [x for x in results if x[1] == 202]

        def in_flight_at_a_kill(x):
            return any(x[0] - 0.002 <= dead and x[0] + x[3] + 0.002 >= kill for kill, dead in kill_at)

        note("responder_sigkill_under_load", "%d requests from %d clients, kill-to-death windows %s s, %d errors %s; 202 %s; "
             "%d responders back after %s s"
             % (len(results), clients, ["%.3f-%.3f" % k for k in kill_at], len(errors),
                [("sent %.3f" % x[0], "answered %.3f" % (x[0] + x[3]), x[1]) for x in errors[:8]],
                lat([x[3] for x in ok]), workers, ["%.2f" % t for t in respawn]))
        # Only requests in flight when a responder died may fail. That can be more than one per kill:
        # lighttpd hands a responder a request while it is still busy with another (the connection
        # waits in the responder's listen backlog), and a dead responder's backlog is reset.
        stray = [x for x in errors if not in_flight_at_a_kill(x)]
        expect(not stray, "%d errors for requests that were not in flight at a kill (kills at %s): %s"
               % (len(stray), kill_at, "\n".join(x[5].describe() if x[5] else "t=%.3f %s" % (x[0], x[2])
                                                   for x in stray[:8])))
        expect(len(errors) <= len(killed) * clients, "%d errors for %d kills" % (len(errors), len(killed)))
        for x in errors:
            expect(x[1] is None or x[1] in (500, 502, 503), "unexpected status for an in-flight request", x[5])
        for r in s.parallel([("GET", "/v1/readyz")] * (workers * 2) +
                            [("POST", "/v1/events", event_body("kill-post"), {"Host": HOST})] * workers):
            expect(r.status in (200, 202), "request after the respawn", r)
        expect_acknowledged_stored(pg, ok, db)
        expect_eq(full_stderr(s).count("child signalled: 9"), len(killed),
                  "lighttpd's 'child signalled: 9' lines (one per kill)")


@test(timeout=90)
def responder_sigkill_every_2s():
    """Issue 11 item 10: a responder kill -9'd every 2 s under load. Every 2xx is in the database
    exactly once, and every answer that is not 2xx is the API's JSON envelope, lighttpd's own answer
    for a request whose responder died included."""
    fig = figures("responder kill -9 every 2 s")
    workers, clients = 2, 4
    url = shared_url()
    pg = harness.shared_postgres()
    db = url.rsplit("/", 1)[1]
    with stack("responder_sigkill_every_2s", url, workers) as s:
        expect_eq(post_event(s, "kill2-pre").status, 202, "event before the kills")
        killed = []

        def kill_one():
            cur = [p for p in s.responder_pids() if p not in killed]
            if cur:
                os.kill(cur[0], signal.SIGKILL)
                killed.append(cur[0])

        # one kill that surely lands inside a request: the event waits on a lock in Postgres while its
        # responder (the one whose session is active) is killed; its client gets lighttpd's answer
        held = []
        locker = harness.PsqlSession(pg, db)
        try:
            locker.send("BEGIN; LOCK TABLE events IN ACCESS EXCLUSIVE MODE; SELECT 'lock-' || 'held';")
            expect(locker.wait_for("lock-held", 10), "psql could not take the lock: %s" % locker.stderr())
            t = threading.Thread(target=lambda: held.append(post_event(s, "kill2-held")), daemon=True)
            t.start()
            active = []
            wait_until(lambda: active.extend(pg.psql(
                "SELECT application_name FROM pg_stat_activity WHERE application_name LIKE 'backend-%%' "
                "AND state = 'active' AND datname = '%s'" % db, db=db).split()) or active, 3, 0.02,
                "the event to wait on the lock")
            victim = int(active[0].split("-", 1)[1])
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)
            t.join(10)
        finally:
            locker.send("ROLLBACK;") if locker.p.poll() is None else None
            locker.close()
        expect(held, "the request whose responder was killed got no answer")
        held_x = (0.0, held[0].status, held[0].json, held[0].elapsed, "", held[0])
        wait_until(lambda: len(s.responder_pids()) == workers, 5, 0.05, "lighttpd to respawn the responder")

        results = load(s, 8.5, clients, "kill2", [(t, kill_one) for t in (1.0, 3.0, 5.0, 7.0)])
        count_answers(fig, results + [held_x])
        ok = [x for x in results if x[1] == 202]
        not_ok = [x for x in results if x[1] != 202] + [held_x]
        try:
            wait_until(lambda: len(s.responder_pids()) == workers, 5, 0.05, "lighttpd to respawn responders")
        except Fail:
            pass
        t0 = time.monotonic()
        wait_recovered(s, 5, "kill2-post")
        fig["recovery"] = time.monotonic() - t0
        expect_acknowledged_stored(pg, ok, db, fig=fig)
        not_json = [x for x in not_ok if x[5] is None or not isinstance(x[2], dict) or x[2].get("ok") is not False]
        note("responder_sigkill_every_2s", "%d requests, %d kills, %d x 202, not 2xx: %s; not JSON: %d %s"
             % (len(results), len(killed), len(ok), sorted(set(x[1] for x in not_ok), key=str), len(not_json),
                [(x[1], (x[5].header("Content-Type") if x[5] else x[2])) for x in not_json[:3]]))
        expect_eq(len(killed), 5, "responders killed")
        expect(held_x[1] is not None and held_x[1] >= 500, "the request whose responder was killed", held_x[5])
        expect(len(s.responder_pids()) == workers, "responders after the kills: %s" % s.responder_pids())
        expect(not not_json, "%d answers that are not 2xx are not the JSON envelope (lighttpd's own error "
               "page for a dead responder?): %s" % (len(not_json), "\n".join(
                   x[5].describe() if x[5] else "t=%.3f %s" % (x[0], x[2]) for x in not_json[:3])))
    fig["result"] = "PASS"


GRACE_CONNECT_MARGIN_S = 0.25


@test(timeout=90)
def graceful_stop_under_load():
    """Issue 11 item 10: SIGINT to lighttpd under load. Requests in flight finish (a request whose
    body is still arriving when the signal comes is answered 202 and stored); afterwards new
    connections are refused; nothing acknowledged is lost; lighttpd exits 0 within its
    graceful-shutdown-timeout (8 s)."""
    import json
    fig = figures("graceful stop under load")
    url = shared_url()
    pg = harness.shared_postgres()
    db = url.rsplit("/", 1)[1]
    with stack("graceful_stop_under_load", url, workers=2) as s:
        expect_eq(post_event(s, "grace-pre").status, 202, "event before the stop")
        pending = []
        marks = {}
        for i in range(3):  # in flight at the signal: headers and half of the body sent
            b = event_body("grace-slow")
            body = json.dumps(b).encode()
            head = ("POST /v1/events HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nUser-Agent: %s\r\n"
                    "Connection: close\r\nContent-Length: %d\r\n\r\n" % (HOST, harness.BROWSER_UA, len(body))).encode()
            c = socket.create_connection(("127.0.0.1", s.port), timeout=5)
            c.sendall(head + body[:len(body) // 2])
            pending.append((c, body[len(body) // 2:], b["anonId"]))

        def sigint():
            marks["sigint"] = time.monotonic()
            s.proc.send_signal(signal.SIGINT)

        slow_answers = []
        try:
            results = load(s, 2.0, 4, "grace", [(1.0, sigint)], marks=marks)
            for c, rest, anon in pending:
                c.sendall(rest)
                status, raw = _read_response(c, 5)
                body = raw.partition(b"\r\n\r\n")[2]
                slow_answers.append((status, anon, body))
        finally:
            for c, _, _ in pending:
                c.close()
        # wait for the exit the one SIGINT started: a second signal would turn the graceful stop
        # into an immediate one (lighttpd then exits 1), which is not what Fly does
        try:
            s.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            raise Fail("lighttpd did not exit within 15 s of SIGINT")
        code, _ = s.stop(timeout=15)
        took = time.monotonic() - marks["sigint"]
        t_sig = marks["sigint"] - marks["t_start"]
        # before the signal every request is answered 2xx. A request sent after it may be turned away
        # before lighttpd accepted it: refused once the listening socket is closed, or reset when it
        # was still waiting in the kernel's accept queue as the socket closed (never in flight)
        # (a request whose clock started just before the signal may reach connect() after it: a
        # refusal is never a request in flight, so a small margin before the signal is allowed)
        refused = [x for x in results if x[1] is None and x[0] >= t_sig - GRACE_CONNECT_MARGIN_S
                   and ("ConnectionRefused" in str(x[2]) or "ConnectionReset" in str(x[2]))]
        answered = [x for x in results if x not in refused]
        count_answers(fig, answered)
        for st, anon, body in slow_answers:
            fig["requests"] += 1
            fig["2xx" if st == 202 else "5xx" if st and st >= 500 else "other"] += 1
        bad = [x for x in answered if x[1] != 202]
        ok = [x for x in answered if x[1] == 202]
        ok += [(0, 202, json.loads(b), 0, anon, None) for st, anon, b in slow_answers if st == 202]
        fig["recovery"] = None
        note("graceful_stop_under_load", "%d requests: %d answered 202, %d sent after the SIGINT refused or reset unaccepted, %d other; "
             "the 3 in flight at the signal: %s; lighttpd exited %s %.2f s after SIGINT"
             % (len(results) + 3, len(ok), len(refused), len(bad), [st for st, _, _ in slow_answers], code, took))
        expect_acknowledged_stored(pg, ok, db, fig=fig)
        expect(not bad, "requests not answered 202 around a graceful stop: %s"
               % [(round(x[0], 3), x[1], x[2] if x[1] is None else x[5].describe()) for x in bad[:5]])
        expect_eq([st for st, _, _ in slow_answers], [202, 202, 202], "requests in flight at the signal")
        expect_eq(code, 0, "lighttpd's exit code (stderr tail: %r)" % s.stderr()[-1500:])
        expect(took < 9, "lighttpd took %.1f s to stop" % took)
    fig["result"] = "PASS"


# ---- 6. Connection slots exhausted: 503 (not 500), recovery when slots free (D6)

def _start_postgres_with(pg, extra_opts):
    """Starts pg's cluster with extra server options (the harness's start fixes max_connections on
    the command line, which ALTER SYSTEM cannot override)."""
    opts = "-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories='%s' %s" % (
        pg.port, pg.sockdir, extra_opts)
    r = pg._pg("pg_ctl", "start", "-D", pg.datadir, "-l", pg.logfile, "-s", "-w", "-t", "30", "-o", opts)
    if r.returncode != 0:
        raise Fail("pg_ctl start with %s failed: %s\n%s" % (extra_opts, r.stderr, harness.tail(pg.logfile)))
    wait_until(pg._ready, 30, 0.1, "postgres to accept connections")


@test(timeout=60)
def connection_slots_exhausted():
    max_conn = 8
    with dedicated_postgres() as pg:
        pg.stop()
        _start_postgres_with(pg, "-c max_connections=%d" % max_conn)
        expect_eq(pg.psql("SHOW max_connections").strip(), str(max_conn), "max_connections")
        sessions = []
        with stack("connection_slots_exhausted", pg.url(), workers=2) as s:
            try:
                expect_eq(s.request("GET", "/v1/readyz").status, 200, "readyz before the slots fill")
                code, _ = s.stop()
                wait_until(lambda: not backend_sessions(pg), 5, 0.05, "the responders' sessions to end")
                refused = ""
                for _ in range(max_conn + 4):
                    p = harness.PsqlSession(pg)
                    sessions.append(p)
                    p.send("SELECT 'sess' || 'ion-up';")
                    if not p.wait_for("session-up", 5):
                        try:
                            p.p.wait(timeout=5)
                        except subprocess.TimeoutExpired:
                            pass
                        refused = p.stderr()
                        p.close()
                        break
                expect("too many clients" in refused, "the slots never filled (%d sessions; last error %r)"
                       % (len(sessions), refused))
                s.start()  # the responders must connect now, and cannot
                pids = s.responder_pids()
                latencies = []
                for i in range(6):
                    r = timed(post_event, s, "slots") if i % 2 else timed(s.request, "GET", "/v1/readyz")
                    latencies.append(r.elapsed)
                    expect_unavailable(r, "request %d while every slot is taken" % (i + 1))
                expect("too many clients" in full_stderr(s),
                       "the refused connect (53300, too many clients) is not logged; stderr:\n%s" % s.stderr(10))
            finally:
                for p in sessions:
                    p.close()
            recovery = wait_recovered(s, 5, "slots-post")
            note("connection_slots_exhausted", "503 while slots are full: %s; 2xx %.2f s after freeing them"
                 % (lat(latencies), recovery))
            expect_eq(s.responder_pids(), pids, "responder pids")
            for r in s.parallel([("GET", "/v1/readyz")] * 4):
                expect_eq(r.status, 200, "readyz after recovery", r)
            expect_no_child_deaths(s, "connection_slots_exhausted")


# ---- 7. Slow clients never hold a responder: lighttpd buffers the whole body first (S5/S6)

def _read_response(sock, timeout):
    sock.settimeout(timeout)
    buf = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        buf += chunk
    head = buf.split(b"\r\n", 1)[0].decode("latin-1")
    parts = head.split()
    return (int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None), buf


@test(timeout=60)
def slow_client_does_not_hold_responder():
    import json
    with stack("slow_client_does_not_hold_responder", shared_url(), workers=1) as s:
        expect_eq(post_event(s, "slow-pre").status, 202, "event before the slow clients")
        conns = []
        try:
            # two clients send headers and half of a body, one sends half of its headers
            for i in range(3):
                body = json.dumps(event_body("slow%d" % i)).encode()
                head = ("POST /v1/events HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nUser-Agent: %s\r\n"
                        "Connection: close\r\nContent-Length: %d\r\n\r\n" % (HOST, harness.BROWSER_UA, len(body))).encode()
                c = socket.create_connection(("127.0.0.1", s.port), timeout=5)
                data = head + body
                cut = len(head) + len(body) // 2 if i < 2 else len(head) // 2
                c.sendall(data[:cut])
                conns.append((c, data[cut:]))
            t_end = time.monotonic() + 3.0
            latencies = []
            n = 0
            while time.monotonic() < t_end:
                r = timed(s.request, "GET", "/v1/readyz", timeout=5) if n % 2 else timed(post_event, s, "slow-other",
                                                                                           timeout=5)
                n += 1
                latencies.append(r.elapsed)
                expect(r.status in (200, 202), "request while slow clients stall", r)
                expect(r.elapsed < FAST_S, "request while slow clients stall took %.3f s" % r.elapsed, r)
                time.sleep(0.1)
            # the stalled requests still complete once their bytes arrive
            for i, (c, rest) in enumerate(conns):
                c.sendall(rest)
                status, raw = _read_response(c, 5)
                expect_eq(status, 202, "stalled request %d once complete (raw %r)" % (i, raw[:300]))
        finally:
            for c, _ in conns:
                c.close()
        note("slow_client_does_not_hold_responder", "FCGI_WORKERS=1, 3 stalled clients for 3 s; other "
             "requests: %s" % lat(latencies))
        expect_no_child_deaths(s, "slow_client_does_not_hold_responder")


# ---- 8. Clients that disconnect mid-request: responders survive, no fd leak (F4)

@test(timeout=60)
def client_disconnects_mid_request():
    import json
    with stack("client_disconnects_mid_request", shared_url(), workers=2) as s:
        for r in s.parallel([("GET", "/v1/readyz")] * 4):
            expect_eq(r.status, 200, "readyz before", r)
        pids = s.responder_pids()
        fds0 = {p: fd_count(p) for p in pids}
        lfd0 = fd_count(s.pid)
        errors = []

        def hit(k):
            try:
                for i in range(k, 100, 10):
                    body = json.dumps(event_body("cut")).encode()
                    req = ("POST /v1/events HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nUser-Agent: %s\r\n"
                           "Content-Length: %d\r\n\r\n" % (HOST, harness.BROWSER_UA, len(body))).encode() + body
                    c = socket.create_connection(("127.0.0.1", s.port), timeout=5)
                    try:
                        if i % 2:  # half of them reset the connection instead of a FIN
                            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
                        c.sendall(req)
                    finally:
                        c.close()
            except OSError as e:
                errors.append(e)

        ts = [threading.Thread(target=hit, args=(k,), daemon=True) for k in range(10)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(20)
        expect(not errors, "sending failed: %r" % errors[:3])
        r = s.request("GET", "/v1/readyz")
        expect_eq(r.status, 200, "readyz after 100 cut requests", r)
        r = post_event(s, "cut-post")
        expect_eq(r.status, 202, "event after 100 cut requests", r)
        expect_eq(s.responder_pids(), pids, "responder pids")
        stable = lambda: all(abs((fd_count(p) or 0) - fds0[p]) <= 2 for p in pids)
        try:
            wait_until(stable, 3, 0.1, "responder fd counts to settle")
        except Fail:
            raise Fail("responder fd counts grew: before %r, after %r" % (fds0, {p: fd_count(p) for p in pids}))
        try:
            # lighttpd's own count moves with its stat cache and lingering closes: only growth counts
            wait_until(lambda: fd_count(s.pid) <= lfd0 + 2, 5, 0.1, "lighttpd fd count to settle")
        except Fail:
            raise Fail("lighttpd fd count: before %d, after %d" % (lfd0, fd_count(s.pid)))
        url = shared_url()
        stored = harness.shared_postgres().psql("SELECT count(*) FROM events WHERE path = '/faults/cut'",
                                                db=url.rsplit("/", 1)[1]).strip()
        note("client_disconnects_mid_request", "%s of the 100 cut requests reached a responder and were "
             "stored; responder fds before %r after %r; lighttpd fds %d -> %d"
             % (stored, fds0, {p: fd_count(p) for p in pids}, lfd0, fd_count(s.pid)))
        expect_no_child_deaths(s, "client_disconnects_mid_request")


# ---- 9. Slow-client attack: 1,100 connections from one address dribbling header lines (item 8)

ATTACK_CONNS = 1100     # more than the old server.max-connections (512)
ATTACK_SECONDS = 8.0    # the attacker stops by itself after this
ATTACK_LINE_EVERY = 1.0  # each connection sends one header line this often (well inside the read idle)
READ_IDLE_S = 10        # server.max-read-idle in lighttpd/lighttpd.conf


def _rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for l in f:
                if l.startswith("VmRSS:"):
                    return int(l.split()[1])
    except OSError:
        pass
    return None


@test(timeout=90)
def slow_header_attack_healthz_answers():
    """A bounded local attacker (127.0.0.1 only, ATTACK_SECONDS then it closes everything) holds
    ATTACK_CONNS connections that never finish their headers; /v1/healthz (and the API) must keep
    answering within 1 s meanwhile."""
    fig = figures("slow-client attack")
    with stack("slow_header_attack_healthz_answers", shared_url(), workers=2) as s:
        socks = []
        stop = threading.Event()
        opened = []
        rss = []

        def attacker():
            try:
                for i in range(ATTACK_CONNS):
                    if stop.is_set():
                        return
                    try:
                        c = socket.create_connection(("127.0.0.1", s.port), timeout=2)
                        c.setblocking(False)
                        c.send(b"GET /v1/healthz HTTP/1.1\r\nHost: a\r\n")
                        socks.append(c)
                    except OSError:
                        pass
                opened.append(len(socks))
                k = 0
                while not stop.is_set():
                    for c in list(socks):
                        try:
                            c.send(b"X-Slow-%d: x\r\n" % k)
                        except OSError:
                            pass  # closed by the server (e.g. a read timeout): fine
                    k += 1
                    stop.wait(ATTACK_LINE_EVERY)
            finally:
                for c in socks:
                    c.close()

        # one more client stalls instead of dribbling: server.max-read-idle (10 s) must drop it
        stalled = socket.create_connection(("127.0.0.1", s.port), timeout=2)
        stalled.sendall(b"POST /v1/events HTTP/1.1\r\nHost: a\r\nContent-Le")
        t_stall = time.monotonic()
        t_att = threading.Thread(target=attacker, daemon=True)
        t0 = time.monotonic()
        t_att.start()
        probes = []
        try:
            time.sleep(1.0)  # let the attacker open its connections
            while time.monotonic() - t0 < ATTACK_SECONDS:
                n = len(probes)
                try:
                    if n % 5 == 4:
                        r = post_event(s, "attack", timeout=3)
                    else:
                        r = s.request("GET", "/v1/healthz", timeout=3)
                    probes.append((r.status, r.elapsed, r.path))
                except OSError as e:
                    probes.append((None, 3.0, repr(e)))
                if n % 10 == 0:
                    rss.append(_rss_kb(s.pid) or 0)
                time.sleep(0.2)
        finally:
            stop.set()
            t_att.join(20)
        expect(not t_att.is_alive(), "the attacker did not stop")
        fig["requests"] = len(probes)
        fig["2xx"] = sum(1 for p in probes if p[0] and 200 <= p[0] < 300)
        fig["5xx"] = sum(1 for p in probes if p[0] and p[0] >= 500)
        fig["other"] = len(probes) - fig["2xx"] - fig["5xx"]
        bad = [p for p in probes if p[0] not in (200, 202) or p[1] >= 1.0]
        note("slow_header_attack_healthz_answers", "%s connections held by the attacker; %d probes during the "
             "attack: %d answered 2xx, latency %s; lighttpd RSS up to %d kB; first failures: %s"
             % (opened[:1] or "?", len(probes), fig["2xx"], lat([p[1] for p in probes if p[0]]), max(rss or [0]),
                bad[:5]))
        expect(opened and opened[0] >= ATTACK_CONNS * 0.9, "the attacker opened only %s connections" % opened)
        expect(probes and not bad, "%d of %d probes failed or took >= 1 s during the attack: %s"
               % (len(bad), len(probes), bad[:8]))
        # the service is still fine afterwards
        expect_eq(s.request("GET", "/v1/healthz").status, 200, "healthz after the attack")
        try:
            stalled.settimeout(max(0.1, t_stall + READ_IDLE_S + 2.5 - time.monotonic()))
            closed = stalled.recv(4096) is not None
        except socket.timeout:
            closed = False
        except OSError:
            closed = True
        finally:
            stalled.close()
        dropped_after = time.monotonic() - t_stall
        note("slow_header_attack_healthz_answers", "a client that stalled mid-header was dropped after %.1f s"
             % dropped_after)
        expect(closed and dropped_after <= READ_IDLE_S + 2.5, "a client stalled mid-header was not dropped within "
               "%.1f s of server.max-read-idle (%d s)" % (dropped_after, READ_IDLE_S))
        expect_no_child_deaths(s, "slow_header_attack_healthz_answers")
    fig["result"] = "PASS"


# ---- Sanitizer builds: no report in any stack of this module (invariant (b))

@test
def no_sanitizer_reports():
    lines = []
    for scenario, text in _STDERRS:
        for l in text.splitlines():
            if any(m in l for m in SANITIZER_MARKERS):
                lines.append("%s: %s" % (scenario, l))
    note("no_sanitizer_reports", "%d stacks checked (ASAN_OPTIONS %s)"
         % (len(_STDERRS), "set" if os.environ.get("ASAN_OPTIONS") else "not set"))
    expect(not lines, "sanitizer reports in lighttpd's stderr:\n%s" % "\n".join(lines[:20]))


# ---- The table of issue 11 item 10 (last: every scenario above has filled its row)

@test
def scenario_table():
    """Prints one row per scenario that ran; fails when any acknowledged request was lost or
    duplicated (each scenario also fails by itself)."""
    def cell(v, fmt="%d"):
        return "-" if v is None else fmt % v
    head = ("scenario", "requests", "2xx", "5xx", "acked-but-lost", "duplicated", "recovery", "result")
    rows = [(f["scenario"], cell(f["requests"]), cell(f["2xx"]), cell(f["5xx"]), cell(f["lost"]), cell(f["dup"]),
             cell(f["recovery"], "%.2f s"), f["result"]) for f in _FIGURES]
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    line = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    print("FAULT SCENARIOS", flush=True)
    print(line(head), flush=True)
    print(line(["-" * w for w in widths]), flush=True)
    for r in rows:
        print(line(r), flush=True)
    bad = [f["scenario"] for f in _FIGURES if (f["lost"] or 0) > 0 or (f["dup"] or 0) > 0]
    expect(not bad, "acknowledged requests lost or duplicated in: %s" % bad)
