#!/usr/bin/env python3
"""make bench-scale: one app stack against two at once, through one PgBouncer, one Postgres.

Two harness.Stack instances stand for two Fly machines: each has its own RUN_DIR, lighttpd,
BENCH_WORKERS responders and `backend scheduler` (on the direct URL, as in production); both reach
one Postgres through one PgBouncer in transaction mode (a server connection per responder of both
stacks). Postgres runs with durable commits (harness.BenchPostgres: fsync, synchronous_commit and
full_page_writes on; the output prints them as read back). The events are bench.py's (WRK_SCRIPT).

Four rounds of POST /v1/events (distinct events, wrk -c BENCH_CONNECTIONS on each stack for
BENCH_SECONDS):
  1. one stack alone, 2. both stacks at once (a wrk each) — as they come, every process free;
  3. and 4. the same with each stack's responders in a cgroup (v1, /sys/fs/cgroup/cpu) capped at
     BENCH_CAP_PERCENT (6.25, Fly shared-cpu-1x's sustained share) % of one core, so the app and
     not Postgres is the limit, as on Fly's shared CPUs. The share of CFS periods in which the
     cap stopped the responders is printed: the target counts only when the cap was the limit
     (at least BOUND_SHARE of the periods, in every capped stack), else it is reported as not
     measured.
Each round prints events/s per stack and summed, p50/p99, errors, rows stored, and CPU µs per
event by process (lighttpd and responders of each stack, Postgres, PgBouncer, wrk). Nothing is
asserted: it measures. The target (issue 17 item 6, "throughput adds up") is the capped sum
against the capped single stack: two machines whose app is the limit give about twice one
machine's events/s. Uncapped, on a 2-core machine where wrk, two stacks, PgBouncer and Postgres
share the cores, the sum cannot exceed what the cores allow; the uncapped ratio is printed as
measured.

Writes BENCH_OUT_DIR (fcgi-app/build/bench)/scale.json: {"bench": "scale", "time", "targets":
[{"name", "target", "measured", "unit", "met"}], "settings", "rounds"}.
"""
import datetime
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402
import bench  # noqa: E402  (the events wrk script, /proc and wrk readers)

SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "4"))
# Fly's shared-cpu-1x sustained share (1/16 of a core): low enough that the cap, not Postgres or the
# other processes on this machine, limits each stack; the cgroup's nr_throttled shows whether it did
CAP_PERCENT = float(os.environ.get("BENCH_CAP_PERCENT", "6.25"))
OUT_DIR = os.environ.get("BENCH_OUT_DIR") or os.path.join(harness.APP_HOME, "fcgi-app", "build", "bench")
CGROUP_ROOT = "/sys/fs/cgroup/cpu"
CLK_TCK = os.sysconf("SC_CLK_TCK")
CFS_PERIOD_US = 100000
# "adds up": the capped pair gives at least this many times the capped single stack
ADD_UP_TARGET = 1.8
# the cap was the limit of a round when it stopped the responders in at least this share of periods
BOUND_SHARE = 0.5

class Cgroup:
    """A cgroup v1 CPU group capped at percent of one core; the pids moved into it go back to the
    root group on close."""

    def __init__(self, name, percent):
        self.path = os.path.join(CGROUP_ROOT, name)
        if os.path.isdir(self.path):
            os.rmdir(self.path)  # a leftover of an interrupted run (empty, or rmdir fails loudly)
        os.mkdir(self.path)
        self._write("cpu.cfs_period_us", CFS_PERIOD_US)
        self._write("cpu.cfs_quota_us", int(CFS_PERIOD_US * percent / 100))
        self.pids = []

    def _write(self, name, value, where=None):
        with open(os.path.join(where or self.path, name), "w") as f:
            f.write("%s\n" % value)

    def add(self, pids):
        for p in pids:
            self._write("cgroup.procs", p)
            self.pids.append(p)

    def stat(self):
        """(CFS periods, periods in which the cap stopped the group) so far."""
        with open(os.path.join(self.path, "cpu.stat")) as f:
            st = dict(l.split() for l in f)
        return int(st.get("nr_periods", 0)), int(st.get("nr_throttled", 0))

    def close(self):
        for p in self.pids:
            try:
                self._write("cgroup.procs", p, CGROUP_ROOT)
            except OSError:
                pass  # the process is gone
        try:
            os.rmdir(self.path)
        except OSError as e:
            sys.stderr.write("bench: cannot remove %s: %s\n" % (self.path, e))


class Machine:
    """One stack and its scheduler."""

    def __init__(self, name, pooled, direct):
        self.name = name
        self.stack = harness.Stack(pooled, workers=WORKERS, env={
            "DIRECT_DATABASE_URL": direct, "RATE_LIMIT_EVENTS": 0, "RATE_LIMIT_CAPTURE": 0, "LOG_LEVEL": "warn",
            "TRUSTED_PROXIES": "127.0.0.1", "CLIENT_IP_HEADER": "Fly-Client-IP",
            "CORS_ALLOWED_ORIGINS": "https://example.com"})
        self.sched = subprocess.Popen([harness.BACKEND_BIN, "scheduler"], env=self.stack.env, cwd="/",
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.responders = self.stack.responder_pids()
        self.url = "http://127.0.0.1:%d" % self.stack.port

    def ticks(self):
        return {"lighttpd " + self.name: bench.cpu_ticks(self.stack.pid),
                "responders " + self.name: sum(bench.cpu_ticks(p) for p in self.responders),
                "scheduler " + self.name: bench.cpu_ticks(self.sched.pid)}

    def close(self):
        if self.sched.poll() is None:
            self.sched.terminate()
            try:
                self.sched.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.sched.kill()
                self.sched.wait(timeout=5)
        self.stack.cleanup()


def count_events(pg):
    return int(pg.psql("SELECT count(*) FROM events").strip())


def round_(label, machines, pg, bouncer, lua, groups=()):
    """wrk on each machine at once for SECONDS; returns the round's figures."""
    for m in machines:  # warm up: connections, caches, lighttpd's backends
        subprocess.run(["wrk", "-t1", "-c%d" % CONNECTIONS, "-d2s", "-s", lua, m.url], capture_output=True,
                       text=True, timeout=60)
    others = {"postgres": [pg._postmaster_pid()] + harness.proc_children(pg._postmaster_pid()),
              "pgbouncer": [bouncer.proc.pid] + harness.proc_children(bouncer.proc.pid)}

    def ticks():
        t = {}
        for m in machines:
            t.update(m.ticks())
        for k, pids in others.items():
            t[k] = sum(bench.cpu_ticks(p) for p in pids)
        return t

    rows0 = count_events(pg)
    t0 = ticks()
    t0["wrk"] = 0
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    th0 = [g.stat() for g in groups]
    wall0 = time.monotonic()
    wrks = [subprocess.Popen(["wrk", "-t1", "-c%d" % CONNECTIONS, "-d%ds" % SECONDS, "--latency", "-s", lua,
                              m.url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for m in machines]
    outs = [w.communicate(timeout=SECONDS + 60)[0] for w in wrks]
    wall = time.monotonic() - wall0
    t1 = ticks()
    # the share of the round's CFS periods in which a stack's responders hit the cap
    throttled = []
    for g, (p0, n0) in zip(groups, th0):
        p1, n1 = g.stat()
        throttled.append((n1 - n0) / max(p1 - p0, 1))
    # wrk's own CPU: the only children reaped in between, so the growth of our children's times
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t1["wrk"] = t0["wrk"] + round((ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime) * CLK_TCK)
    rows = count_events(pg) - rows0
    res = [bench.parse_wrk(o) for o in outs]
    for r in res:
        r["errors"] = r["non2xx"] + r["socket_errors"]
    total_req = max(sum(r["requests"] for r in res), 1)
    # a stack's own processes per event of that stack; the shared ones (Postgres, PgBouncer, wrk)
    # per event of the round
    own = {k: max(r["requests"], 1) for m, r in zip(machines, res) for k in m.ticks()}
    cpu = {k: (t1[k] - t0[k]) * 1e6 / CLK_TCK / own.get(k, total_req) for k in t0}
    busy = sum(t1[k] - t0[k] for k in t0 if k != "wrk") / CLK_TCK / wall
    return {"label": label, "stacks": [{"name": m.name, "events_s": r["rps"], "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"],
                                        "requests": r["requests"], "errors": r["errors"]}
                                       for m, r in zip(machines, res)],
            "events_s_sum": sum(r["rps"] for r in res), "rows_stored": rows,
            "errors": sum(r["errors"] for r in res), "cpu_us_per_event": cpu,
            "cores_busy_measured_processes": busy, "wall_s": wall,
            "responders_throttled_share": throttled[:len(machines)] if groups else None}


def print_round(r):
    print("== %s" % r["label"])
    for s in r["stacks"]:
        print("  stack %-3s events/s %7.0f   p50 / p99 %6.1f / %-6.1f ms  requests %d, errors %d" %
              (s["name"], s["events_s"], s["p50_ms"] or 0, s["p99_ms"] or 0, s["requests"], s["errors"]))
    print("  sum       events/s %7.0f   rows stored %d, errors %d" % (r["events_s_sum"], r["rows_stored"],
                                                                      r["errors"]))
    print("  CPU µs per event: " + ", ".join("%s %.0f" % (k, v) for k, v in r["cpu_us_per_event"].items() if v > 0.5))
    print("  cores busy (these processes, wrk excluded): %.2f of %d" % (r["cores_busy_measured_processes"],
                                                                       os.cpu_count()))
    if r["responders_throttled_share"] is not None:
        print("  periods in which the cap stopped the responders (the cap was the limit when most were): %s" %
              " + ".join("%.0f%%" % (100 * t) for t in r["responders_throttled_share"]))


def main():
    if not harness.shutil.which("wrk", path=harness._SEARCH_PATH):
        print("bench: wrk is not installed (make deps)")
        return 1
    can_cap = os.geteuid() == 0 and os.access(CGROUP_ROOT, os.W_OK)
    tmp = tempfile.mkdtemp(prefix="bench-scale-")
    lua = os.path.join(tmp, "events.lua")
    with open(lua, "w") as f:
        f.write(bench.WRK_SCRIPT)
    load0 = os.getloadavg()
    pg = harness.BenchPostgres()  # durable commits
    bouncer = None
    machines = []
    groups = []
    rounds = []
    try:
        settings = dict(zip(("fsync", "synchronous_commit", "full_page_writes"), pg.psql(
            "SELECT current_setting('fsync'), current_setting('synchronous_commit'), "
            "current_setting('full_page_writes')", db="postgres").strip().split("|")))
        direct = pg.url()
        r = harness.migrate(harness.service_env(direct))
        if r.returncode != 0:
            print("bench: migrate failed:\n" + r.stdout + r.stderr)
            return 1
        bouncer = harness.PgBouncer(pg, pool_size=2 * WORKERS)
        for name in ("A", "B"):
            machines.append(Machine(name, bouncer.url(), direct))
        # the schedulers' first jobs (one machine runs each) finish before any measuring
        harness.wait_until(lambda: int(pg.psql("SELECT count(*) FROM job_runs WHERE last_finished_at IS NOT NULL")
                                       .strip()) >= 4, 60, 0.2, "the schedulers' first jobs")
        print("bench-scale: durable commits (%s); PgBouncer transaction mode, %d server connections; each stack %d "
              "responders, wrk -c%d for %d s per stack; %d cores, load before %.2f" %
              (", ".join("%s=%s" % kv for kv in settings.items()), 2 * WORKERS, WORKERS, CONNECTIONS, SECONDS,
               os.cpu_count(), load0[0]), flush=True)
        rounds.append(round_("one stack, uncapped", machines[:1], pg, bouncer, lua))
        print_round(rounds[-1])
        rounds.append(round_("two stacks at once, uncapped", machines, pg, bouncer, lua))
        print_round(rounds[-1])
        if can_cap:
            for m in machines:
                g = Cgroup("bench-scale-%s-%d" % (m.name, os.getpid()), CAP_PERCENT)
                groups.append(g)
                g.add(m.responders)
            rounds.append(round_("one stack, responders capped at %g%% of a core" % CAP_PERCENT, machines[:1], pg,
                                 bouncer, lua, groups))
            print_round(rounds[-1])
            rounds.append(round_("two stacks at once, responders capped at %g%% of a core each" % CAP_PERCENT,
                                 machines, pg, bouncer, lua, groups))
            print_round(rounds[-1])
        else:
            print("== capped rounds not run: %s is not writable (needs root and cgroup v1)" % CGROUP_ROOT)
    finally:
        for g in groups:
            g.close()
        for m in machines:
            m.close()
        if bouncer:
            bouncer.cleanup()
        pg.cleanup()
        harness.shutil.rmtree(tmp, ignore_errors=True)

    by = {r["label"].split(",")[0] + ("/capped" if "capped at" in r["label"] else ""): r for r in rounds}
    one, two = by["one stack"], by["two stacks at once"]
    print("== summary (events/s)")
    print("  %-28s %10s %10s %10s %8s" % ("", "one stack", "two: each", "two: sum", "sum/one"))
    print("  %-28s %10.0f %10s %10.0f %7.2f×" % ("uncapped", one["events_s_sum"], " + ".join(
        "%.0f" % s["events_s"] for s in two["stacks"]), two["events_s_sum"], two["events_s_sum"] / one["events_s_sum"]))
    capped = None
    if "one stack/capped" in by:
        c1, c2 = by["one stack/capped"], by["two stacks at once/capped"]
        capped = c2["events_s_sum"] / c1["events_s_sum"]
        print("  %-28s %10.0f %10s %10.0f %7.2f×" % ("responders capped %g%% each" % CAP_PERCENT, c1["events_s_sum"],
                                                    " + ".join("%.0f" % s["events_s"] for s in c2["stacks"]),
                                                    c2["events_s_sum"], capped))
    errors = sum(r["errors"] for r in rounds)
    note = None
    if capped is None:
        note = "capped rounds not run (%s not writable)" % CGROUP_ROOT
    else:
        bound = [t for k in ("one stack/capped", "two stacks at once/capped")
                 for t in by[k]["responders_throttled_share"]]
        if min(bound) < BOUND_SHARE:
            note = ("the cap was not the limit (it stopped the responders in %s of the periods, < %.0f%%): "
                    "the machine was; not measured" % (" / ".join("%.0f%%" % (100 * t) for t in bound),
                                                       100 * BOUND_SHARE))
    met = None if note else capped >= ADD_UP_TARGET
    targets = [{"name": "two stacks add up (responders capped at %g%% of a core each)" % CAP_PERCENT,
                "target": ">= %.1f" % ADD_UP_TARGET, "measured": round(capped, 2) if capped is not None else None,
                "unit": "× one stack's events/s", "met": met}]
    if note:
        targets[0]["note"] = note
    print("== target: %s %s: measured %s → %s" % (
        targets[0]["name"], targets[0]["target"], "%.2f×" % capped if capped is not None else "not run",
        "met" if met else "not met" if met is False else "n/a: " + note))
    doc = {"bench": "scale", "time": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
           "targets": targets,
           "settings": {"postgres": settings, "workers_per_stack": WORKERS, "connections_per_stack": CONNECTIONS,
                        "seconds": SECONDS, "cap_percent": CAP_PERCENT, "pgbouncer_pool": 2 * WORKERS,
                        "nproc": os.cpu_count(), "load_before": load0[0], "load_after": os.getloadavg()[0]},
           "uncapped_sum_over_one": two["events_s_sum"] / one["events_s_sum"],
           "rounds": rounds}
    os.makedirs(OUT_DIR, exist_ok=True)
    path = os.path.join(OUT_DIR, "scale.json")
    with open(path + ".tmp", "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(path + ".tmp", path)
    print("bench-scale: wrote %s" % path)
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        harness.cleanup_all()
