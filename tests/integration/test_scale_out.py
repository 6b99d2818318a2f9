"""test_scale_out.py - past one machine (issue 17 item 6): two app stacks, as two Fly machines
would be, against one Postgres through one PgBouncer in transaction mode.

Each stack is a harness.Stack with its own RUN_DIR (so its own FastCGI socket, rate-limit table and
metrics table), lighttpd and responders, DATABASE_URL the pooled URL; each has its own
`backend scheduler` on DIRECT_DATABASE_URL (the session advisory locks must not go through a
transaction pooler), as README "Deploying" and infra/fly/README.md ask. Checked:

- events driven at both stacks at once (threads) are each stored exactly once, also the same event
  sent to both machines at the same instant (a client retry landing on the other machine): the
  dedupe is the database's unique key, not anything a machine keeps;
- each scheduler job (jobs/scheduler.c: rollups, retention, salts, refresh, webhook) runs once
  across both machines per interval, even when both machines reach a job at the same instant (a
  row lock the test holds on the job's job_runs row stops the first one to stamp it, so the other
  arrives while it waits); a lead captured on either machine is delivered to the webhook once;
  the rollup counts both machines' events once;
- a rate limit is per machine: the table is shared memory in RUN_DIR, so one client gets the limit
  on each machine (an operator sets RATE_LIMIT_* per machine: docs/scaling.md).
"""

import http.client
import json
import os
import re
import threading
import time
import uuid

import harness
from harness import ALLOWED_ORIGIN, Fail, PgBouncer, PsqlSession, Stack, expect, expect_eq, migrate, service_env, test

DB = "scale"
EVENT_LIMIT = 40          # RATE_LIMIT_EVENTS on each machine (per client per minute)
SECRET_KEY = bytes(range(32))
WEBHOOK_SECRET = "whsec_" + __import__("base64").b64encode(SECRET_KEY).decode()
JOBS = ("partitions", "rollups", "retention", "salts", "refresh")  # jobs/scheduler.c's jobs with intervals ≥ minutes


def pg():
    return harness.shared_postgres()


def sql(q):
    return pg().psql(q, db=DB).strip()


def database():
    """(direct URL, pooled URL): database `scale`, migrated through the direct URL, and a
    transaction-mode PgBouncer with 3 server connections for the 4 responders of two stacks, so
    the machines' transactions interleave on shared server connections."""
    def make():
        direct = pg().create_db(DB)
        bouncer = harness.shared("scale-pgbouncer", lambda: PgBouncer(pg(), pool_size=3))
        pooled = bouncer.url(DB)
        r = migrate(service_env(pooled, {"DIRECT_DATABASE_URL": direct}))
        if r.returncode != 0:
            raise Fail("migrate through DIRECT_DATABASE_URL failed (rc %d): %s" % (r.returncode, r.stderr[-800:]))
        return harness._Value((direct, pooled))
    return harness.shared("scale-db", make).value


class Receiver(harness.WebhookReceiver):
    """Answers each delivery after SLOW_S seconds: a delivery stays in flight long enough for the
    other machine's scheduler to look at the outbox meanwhile."""
    SLOW_S = 1.0

    def __init__(self):
        def slow(n):
            time.sleep(self.SLOW_S)
            return 204
        super().__init__(status=slow)


def machine_env(direct, rcv_port):
    return {"DIRECT_DATABASE_URL": direct, "TRUSTED_PROXIES": "127.0.0.1",
            "RATE_LIMIT_EVENTS": EVENT_LIMIT, "RATE_LIMIT_CAPTURE": 0,
            "WEBHOOK_URL": "http://127.0.0.1:%d/hook" % rcv_port, "WEBHOOK_SECRET": WEBHOOK_SECRET,
            "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true", "WEBHOOK_POLL_SECONDS": "1"}


class Machines:
    """Two stacks over one database through one PgBouncer, and one webhook receiver both point at."""

    def __init__(self):
        direct, pooled = database()
        self.direct = direct
        self.rcv = Receiver()
        self.stacks = []
        try:
            for _ in range(2):
                self.stacks.append(Stack(pooled, workers=2, env=machine_env(direct, self.rcv.port)))
        except BaseException:
            self.cleanup()
            raise

    def cleanup(self):
        for s in self.stacks:
            s.cleanup()
        self.rcv.stop()


def machines():
    return harness.shared("scale-machines", Machines)


def machine_count(s, family, **labels):
    """The sum of family's samples with these labels in one machine's GET /metrics (its RUN_DIR's
    metrics table: responders and scheduler of that machine only)."""
    c = http.client.HTTPConnection("127.0.0.1", s.metrics_port, timeout=10)
    try:
        c.request("GET", "/metrics")
        r = c.getresponse()
        text = r.read().decode()
    finally:
        c.close()
    expect_eq(r.status, 200, "GET /metrics")
    total = 0
    for m in re.finditer(r"^%s\{([^}]*)\} (\d+)$" % re.escape(family), text, re.M):
        got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if all(got.get(k) == v for k, v in labels.items()):
            total += int(m.group(2))
    return total


def event_body(path, event_id=None):
    return {"anonId": "scale-" + uuid.uuid5(uuid.NAMESPACE_URL, path).hex, "eventType": "page_view", "path": path,
            "eventId": event_id or str(uuid.uuid4())}


def post_event(s, body, ip):
    return s.request("POST", "/v1/events", json.dumps(body),
                     headers={"Content-Type": "application/json", "Origin": ALLOWED_ORIGIN, "X-Forwarded-For": ip})


def run_threads(fns):
    """Runs each fn in a thread of its own, released together; returns their results in order."""
    out = [None] * len(fns)
    errors = []
    barrier = threading.Barrier(len(fns))

    def one(i, fn):
        try:
            barrier.wait(timeout=10)
            out[i] = fn()
        except BaseException as e:  # noqa: B902 - reported below
            errors.append(e)

    threads = [threading.Thread(target=one, args=(i, fn), daemon=True) for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    if errors:
        raise Fail("a driving thread failed: %r" % errors[0])
    return out


def fresh_window(need_s):
    """Sleeps until the current one-minute rate-limit window has need_s seconds left."""
    left = 60 - (time.time() % 60)
    if left < need_s:
        time.sleep(left + 0.3)


# ---- events

@test(timeout=240)
def events_from_two_machines_are_stored_once():
    m = machines()
    a, b = m.stacks
    tag = uuid.uuid4().hex[:8]
    threads_per_stack, per_thread, dupes = 4, 30, 40
    COPIES = 3  # noqa: N806

    def drive(s, k):
        # a client address per thread, so the per-client limit never bites here
        ip = "10.17.%d.%d" % (m.stacks.index(s), k)
        st = []
        for i in range(per_thread):
            path = "/scale/%s/u/%d/%d/%d" % (tag, m.stacks.index(s), k, i)
            st.append((path, post_event(s, event_body(path), ip).status))
        return st

    def same_event_to_both(i):
        # one event (one eventId, one body) sent COPIES times to each machine at the same instant:
        # a client whose retries land on the other machine while the first try is still in flight
        body = event_body("/scale/%s/d/%d" % (tag, i))
        ip = "10.18.0.%d" % (i % 250)
        got = run_threads([lambda s=s: post_event(s, body, ip).status for s in (a, b) for _ in range(COPIES)])
        return [(body["path"], x) for x in got]

    def dupes_driver(lo, hi):
        return lambda: [x for i in range(lo, hi) for x in same_event_to_both(i)]

    jobs = [lambda s=s, k=k: drive(s, k) for s in (a, b) for k in range(threads_per_stack)]
    jobs += [dupes_driver(0, dupes // 2), dupes_driver(dupes // 2, dupes)]
    results = [x for r in run_threads(jobs) for x in r]
    statuses = sorted({st for _, st in results})
    expect_eq(statuses, [202], "every event answered 202 on both machines")
    sent_paths = {p for p, _ in results}
    want = 2 * threads_per_stack * per_thread + dupes
    expect_eq(len(sent_paths), want, "distinct events sent")
    rows = dict(tuple(l.split("|")) for l in sql(
        "SELECT path, count(*) FROM events WHERE path LIKE '/scale/%s/%%' GROUP BY path" % tag).splitlines())
    expect_eq(set(rows), sent_paths, "every accepted event is stored")
    twice = {p: n for p, n in rows.items() if n != "1"}
    expect_eq(twice, {}, "events stored more than once (the same event sent to both machines at once)")
    # both machines did the work: each one's own metrics table counts its share of the 202s
    for i, s in enumerate((a, b)):
        n = machine_count(s, "backend_http_requests_total", route="/v1/events", status="202")
        expect(n >= threads_per_stack * per_thread + COPIES * dupes, "machine %d answered %d events with 202" % (i, n))


# ---- rate limits

@test(timeout=180)
def rate_limit_is_per_machine():
    m = machines()
    a, b = m.stacks
    tag = uuid.uuid4().hex[:8]
    ip = "10.19.%d.%d" % (int(tag[:2], 16), int(tag[2:4], 16))
    extra = 5
    fresh_window(20)

    def burst(s, n):
        return [post_event(s, event_body("/scale/%s/rl/%d/%d" % (tag, m.stacks.index(s), i)), ip).status
                for i in range(n)]

    on_a = burst(a, EVENT_LIMIT + extra)
    on_b = burst(b, EVENT_LIMIT + extra)
    expect_eq((on_a.count(202), on_a.count(429)), (EVENT_LIMIT, extra),
              "machine A: RATE_LIMIT_EVENTS=%d accepted, the rest 429" % EVENT_LIMIT)
    expect_eq((on_b.count(202), on_b.count(429)), (EVENT_LIMIT, extra),
              "machine B counts the same client from zero (its own table in its RUN_DIR)")
    stored = sql("SELECT count(*) FROM events WHERE path LIKE '/scale/%s/rl/%%'" % tag)
    expect_eq(stored, str(2 * EVENT_LIMIT), "events stored: the limit once per machine")


# ---- the scheduler's jobs

def finished(log, job):
    return len(re.findall(r"\b%s: finished in" % job, open(log, encoding="utf-8", errors="replace").read()))


def skipped(log, job):
    return len(re.findall(r"\b%s: skipped, another scheduler" % job,
                          open(log, encoding="utf-8", errors="replace").read()))


def runs(logs, job):
    return [finished(l, job) for l in logs]


def waiting_job_connections():
    return int(sql("SELECT count(*) FROM pg_stat_activity WHERE datname = '%s' AND application_name = "
                   "'backend-job' AND wait_event_type = 'Lock'" % DB))


def capture(s, i, tag):
    body = {"email": "scale-%s-%d@example.com" % (tag, i), "anonId": "scale-lead-%s-%d" % (tag, i),
            "formName": "contact", "consentStatus": "express"}
    r = s.request("POST", "/v1/leads/capture", body, headers={"Origin": ALLOWED_ORIGIN,
                                                             "X-Forwarded-For": "10.20.0.%d" % i})
    expect_eq(r.status, 200, "capture on machine %d" % i, r)
    return r.json["leadId"]


@test(timeout=420)
def each_job_runs_once_across_machines():
    m = machines()
    a, b = m.stacks
    tag = uuid.uuid4().hex[:8]
    for i, s in enumerate((a, b)):
        for k in range(10):
            expect_eq(post_event(s, event_body("/scale/%s/job/%d/%d" % (tag, i, k)), "10.21.%d.%d" % (i, k)).status,
                      202, "event")
    sql("DELETE FROM job_runs")
    # rollups is due (it last ran two days ago); the test holds its job_runs row, so the first
    # scheduler to stamp it waits there while the other one arrives at the same job
    sql("INSERT INTO job_runs (job, last_started_at, last_finished_at, last_status) VALUES "
        "('rollups', now() AT TIME ZONE 'UTC' - interval '2 days', now() AT TIME ZONE 'UTC' - interval '2 days', 'ok')")
    hold = PsqlSession(pg(), db=DB)
    try:
        hold.send("BEGIN; SELECT 'held:' || job FROM job_runs WHERE job = 'rollups' FOR UPDATE;")
        expect(hold.wait_for("held:rollups", 10), "the test holds rollups' job_runs row: %s" % hold.stderr())
        with harness.scheduler_process(a.env, "itscale-a-") as (pa, la), \
                harness.scheduler_process(b.env, "itscale-b-") as (pb, lb):
            logs = (la, lb)

            def both_arrived():
                # a scheduler waiting on the row, plus each scheduler that found the lock taken
                return waiting_job_connections() + sum(1 for l in logs if skipped(l, "rollups")) >= 2
            harness.wait_until(both_arrived, 30, 0.1, "both schedulers at the rollups job (logs: %s / %s)"
                               % (harness.tail(la, 5), harness.tail(lb, 5)))
            hold.send("COMMIT; SELECT 'released';")
            expect(hold.wait_for("released", 10), "released the job_runs row")
            for job in JOBS:
                harness.wait_until(lambda: sum(runs(logs, job)) >= 1, 60, 0.2,
                                   "%s to run (logs: %s / %s)" % (job, harness.tail(la, 8), harness.tail(lb, 8)))
            # every scheduler ticks each second (WEBHOOK_POLL_SECONDS=1): give both several chances
            time.sleep(5)
            for job in JOBS:
                expect_eq(sum(runs(logs, job)), 1, "%s runs across both machines (per machine %s)"
                          % (job, runs(logs, job)))
            # a lead captured on each machine, then more while both schedulers poll the outbox
            leads = [capture(s, i, tag) for i, s in enumerate((a, b))]
            leads += [capture(s, 2 + i, tag) for i, s in enumerate((a, b, a, b))]
            lid = ",".join(harness.sql_lit(x) for x in leads)
            harness.wait_until(lambda: sql("SELECT count(*) FROM webhook_outbox WHERE lead_id IN (%s) AND state = "
                                           "'delivered'" % lid) == str(len(leads)), 60, 0.2, "deliveries")
            time.sleep(3)  # a second delivery would be under way by now
            got = [json.loads(body)["data"]["leadId"] for (_, _, _, body, _) in m.rcv.requests()]
            mine = [x for x in got if x in leads]
            expect_eq(sorted(mine), sorted(leads), "each lead delivered once to the webhook")
            # an interval passes for every job: each runs once more, on one machine
            sql("UPDATE job_runs SET last_started_at = last_started_at - interval '2 days' WHERE job IN (%s)"
                % ",".join("'%s'" % j for j in JOBS))
            for job in JOBS:
                harness.wait_until(lambda: sum(runs(logs, job)) >= 2, 60, 0.2, "%s to run again" % job)
            time.sleep(5)
            for job in JOBS:
                expect_eq(sum(runs(logs, job)), 2, "%s runs across both machines after one interval (per machine %s)"
                          % (job, runs(logs, job)))
                # the machines' own counters agree with their logs
                ok = [machine_count(s, "backend_scheduler_jobs_total", job=job, outcome="ok") for s in (a, b)]
                expect_eq(ok, runs(logs, job), "backend_scheduler_jobs_total{job=%s,outcome=ok} per machine" % job)
            # both machines did compete: the lock was found taken on some tick
            expect(sum(machine_count(s, "backend_scheduler_jobs_total", outcome="skipped") for s in (a, b)) > 0,
                   "some job was skipped because the other machine held its lock")
            for l in logs:
                text = open(l, encoding="utf-8", errors="replace").read()
                expect("failed after" not in text and '"level":"error"' not in text,
                       "no failed job: %s" % harness.tail(l, 10))
            expect(pa.poll() is None and pb.poll() is None, "both schedulers still running")
    finally:
        hold.close()
    # the rollup of today counts each machine's events once
    today = time.strftime("%Y-%m-%d", time.gmtime())
    dup = sql("SELECT count(*) FROM (SELECT property_id FROM daily_metric_rollups WHERE day = '%s' "
              "GROUP BY property_id HAVING count(*) > 1) d" % today)
    expect_eq(dup, "0", "one rollup row per property and day")
    pv, ev = sql("SELECT (SELECT total_page_views FROM daily_metric_rollups WHERE day = '%s' AND property_id = "
                 "'default'), (SELECT count(*) FROM events WHERE event_type = 'page_view')" % today).split("|")
    expect_eq(pv, ev, "today's rollup page views = page views stored by both machines")
