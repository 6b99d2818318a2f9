#!/usr/bin/env python3
"""App CPU per request (issue 17 item 3): lighttpd's and the responders' CPU per POST /v1/events,
per lead capture and per summary (30 and 366 days of rollups), on the stack tests/bench/bench.py
starts (4 responders, rate limits off, the site's origin, one client address per visitor in
Fly-Client-IP). Optionally profiles (perf) or counts syscalls (strace) while events run, or runs
the events with the app in a cgroup capped at Fly shared-cpu-1x's 6.25 % of one core.

    python3 tests/bench/appcpu.py [--seconds 10] [--what events,capture,summary] [--rounds 1]
                                  [--perf DIR] [--strace] [--fly SECONDS] [--statements unnamed]

It runs against the tree it lives in (harness.py's APP_HOME: lighttpd.conf and the binary), so an
A/B comparison is two trees, each running its own copy, alternated. Nothing here asserts a time.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402
import bench  # noqa: E402  (the wrk scripts and /proc readers)

CLK_TCK = os.sysconf("SC_CLK_TCK")


def ticks(pids):
    return sum(bench.cpu_ticks(p) for p in pids)


def drive(url, lua, seconds, conns, pids_l, pids_r, extra=None, path=""):
    """wrk for seconds; returns (req/s, requests, lighttpd us/req, responders us/req, non-2xx)."""
    args = ["wrk", "-t1", "-c%d" % conns, "-d%ds" % seconds, "--latency"]
    args += ["-s", lua] if lua else []
    args += extra or []
    b_l, b_r = ticks(pids_l), ticks(pids_r)
    out = subprocess.run(args + [url + path], capture_output=True, text=True, timeout=seconds + 60).stdout
    a_l, a_r = ticks(pids_l), ticks(pids_r)
    w = bench.parse_wrk(out)
    n = max(w["requests"], 1)
    return {"rps": w["rps"], "requests": w["requests"], "p50": w["p50"], "p99": w["p99"],
            "lighttpd_us": (a_l - b_l) * 1e6 / CLK_TCK / n, "responders_us": (a_r - b_r) * 1e6 / CLK_TCK / n,
            "errors": w["non2xx"] + w["socket_errors"]}


def seed_rollups(pg):
    """366 days of metric and ingest rollups ending today, with varied traffic-source objects."""
    pg.psql(
        "WITH days AS (SELECT d::date AS day, row_number() OVER (ORDER BY d) AS k FROM generate_series("
        "(now() AT TIME ZONE 'UTC')::date - 400, (now() AT TIME ZONE 'UTC')::date, interval '1 day') d) "
        "INSERT INTO daily_metric_rollups (id, property_id, day, unique_visitors, returning_visitors, total_page_views, "
        "total_entrances, total_exits, total_conversions, form_starts, form_submits, new_leads, "
        "time_to_first_capture_sum_ms, time_to_first_capture_count, traffic_source_breakdown, top_landing_paths, "
        "generated_at, updated_at) SELECT 'bench-' || day, 'default', day, 400 + k % 50, 80 + k % 7, 1500 + k % 300, "
        "400, 380, 30 + k % 5, 20, 12, 8 + k % 3, 3600000 + k, 4, jsonb_build_object('direct', 200 + k % 17, "
        "'organic_search', 150 + k % 11, 'social', 50 + k % 3, 'email', k % 5, 'referral', k % 13, 'campaign', k % 2, "
        "'internal', 3, 'unknown', k % 4, 'paid_search', k % 9), '[]', now(), now() FROM days "
        "ON CONFLICT DO NOTHING;"
        "WITH days AS (SELECT d::date AS day, row_number() OVER (ORDER BY d) AS k FROM generate_series("
        "(now() AT TIME ZONE 'UTC')::date - 400, (now() AT TIME ZONE 'UTC')::date, interval '1 day') d) "
        "INSERT INTO daily_ingest_rollups (id, property_id, day, events_accepted, events_rejected, leads_accepted, "
        "leads_rejected, p95_ttfb_ms, error_breakdown, generated_at, updated_at) SELECT 'bench-i-' || day, 'default', "
        "day, 2000 + k, 3, 8, 0, 250 + k % 40, '{}', now(), now() FROM days ON CONFLICT DO NOTHING;"
        "ANALYZE daily_metric_rollups; ANALYZE daily_ingest_rollups;", timeout=300)
    out = pg.psql("SELECT (now() AT TIME ZONE 'UTC')::date, (now() AT TIME ZONE 'UTC')::date - 365, "
                  "(now() AT TIME ZONE 'UTC')::date - 29").strip().splitlines()[-1]
    return out.split("|")


class Cgroup:
    """cgroup v1 cpu (and cpuset) groups holding lighttpd and the responders: one core, 6.25 %."""

    def __init__(self, pids):
        self.dirs = []
        name = "appcpu-%d" % os.getpid()
        for ctl, settings in (("cpu", {"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "6250"}),
                              ("cpuset", {"cpuset.cpus": "1", "cpuset.mems": "0"})):
            d = "/sys/fs/cgroup/%s/%s" % (ctl, name)
            os.mkdir(d)
            self.dirs.append(d)
            for k, v in settings.items():
                with open(os.path.join(d, k), "w") as f:
                    f.write(v)
            for p in pids:
                with open(os.path.join(d, "cgroup.procs"), "w") as f:
                    f.write(str(p))

    def cleanup(self):
        for d in self.dirs:
            try:
                with open(os.path.join(d, "cgroup.procs")) as f:
                    pids = f.read().split()
                parent = os.path.dirname(d)
                for p in pids:
                    with open(os.path.join(parent, "cgroup.procs"), "w") as f:
                        f.write(p)
                os.rmdir(d)
            except OSError as e:
                sys.stderr.write("appcpu: cgroup cleanup %s: %s\n" % (d, e))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--what", default="events,capture,summary")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--statements", default="unnamed")
    ap.add_argument("--perf", help="record perf profiles of lighttpd and the responders into this folder")
    ap.add_argument("--call-graph", default="fp", help="perf's call-graph mode: fp, or dwarf (libc has no frame pointers)")
    ap.add_argument("--perf-target", default="events", choices=("events", "summary30", "summary366"))
    ap.add_argument("--strace", action="store_true", help="count one responder's syscalls per event")
    ap.add_argument("--fly", type=int, default=0, help="seconds of events with the app capped at 6.25%% of a core")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--label", default=os.path.basename(os.path.realpath(os.path.join(HERE, "..", ".."))))
    a = ap.parse_args()
    what = set(a.what.split(","))
    tmp = tempfile.mkdtemp(prefix="appcpu-")
    os.chmod(tmp, 0o755)
    lua_ev, lua_cap = os.path.join(tmp, "events.lua"), os.path.join(tmp, "capture.lua")
    with open(lua_ev, "w") as f:
        f.write(bench.WRK_SCRIPT)
    with open(lua_cap, "w") as f:
        f.write(bench.WRK_CAPTURE_SCRIPT)
    pg = harness.Postgres()
    results = {"label": a.label, "rows": []}
    try:
        env = harness.service_env(pg.url())
        r = harness.migrate(env)
        if r.returncode != 0:
            print(r.stdout + r.stderr)
            return 1
        with harness.Stack(pg.url(), env={"RATE_LIMIT_EVENTS": 0, "RATE_LIMIT_CAPTURE": 0, "RATE_LIMIT_SUMMARY": 0,
                                          "LOG_LEVEL": "warn", "DATABASE_STATEMENTS": a.statements,
                                          "TRUSTED_PROXIES": "127.0.0.1", "CLIENT_IP_HEADER": "Fly-Client-IP",
                                          "CORS_ALLOWED_ORIGINS": "https://example.com"},
                           workers=a.workers) as st:
            url = "http://127.0.0.1:%d" % st.port
            resp = st.responder_pids()
            lt = [st.pid]

            def row(name, d):
                d = dict(d, name=name)
                results["rows"].append(d)
                print("%-12s %-22s %8.0f req/s  p50 %-8s p99 %-8s lighttpd %5.1f us  responders %6.1f us  errors %d"
                      % (a.label, name, d["rps"], d["p50"], d["p99"], d["lighttpd_us"], d["responders_us"],
                         d["errors"]), flush=True)

            drive(url, lua_ev, 2, a.connections, lt, resp, path="")  # warm up
            if "summary" in what:
                to, y, m = seed_rollups(pg)
            for _ in range(a.rounds):
                if "events" in what:
                    row("events", drive(url, lua_ev, a.seconds, a.connections, lt, resp))
                if "capture" in what:
                    row("capture", drive(url, lua_cap, a.seconds, a.connections, lt, resp))
                if "summary" in what:
                    auth = ["-H", "Authorization: Bearer " + harness.ADMIN_KEY]
                    for name, frm in (("summary 30 d", m), ("summary 366 d", y)):
                        p = "/v1/metrics/summary?from=%s&to=%s" % (frm, to)
                        drive(url, None, 1, 8, lt, resp, auth, p)
                        row(name, drive(url, None, a.seconds, 8, lt, resp, auth, p))
            if a.strace:
                out = os.path.join(tmp, "strace.txt")
                p = subprocess.Popen(["strace", "-c", "-f", "-o", out, "-p", str(resp[0])])
                time.sleep(0.5)
                d = drive(url, lua_ev, 5, a.connections, lt, resp)
                p.terminate()
                p.wait(timeout=10)
                with open(out) as f:
                    print(f.read())
                print("(about %d events per responder)" % (d["requests"] // a.workers))
            if a.perf:
                os.makedirs(a.perf, exist_ok=True)
                procs = []
                for name, pids in (("lighttpd", lt), ("responders", resp)):
                    procs.append(subprocess.Popen(
                        ["perf", "record", "-e", "cpu-clock", "-F", "2000", "--call-graph", a.call_graph, "-o",
                         os.path.join(a.perf, name + ".data"), "-p", ",".join(map(str, pids))],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                time.sleep(0.5)
                if a.perf_target == "events":
                    row("events (perf)", drive(url, lua_ev, a.seconds, a.connections, lt, resp))
                else:
                    to, y, m = seed_rollups(pg)
                    p = "/v1/metrics/summary?from=%s&to=%s" % (y if a.perf_target == "summary366" else m, to)
                    row(a.perf_target + " (perf)", drive(url, None, a.seconds, 8, lt, resp,
                                                         ["-H", "Authorization: Bearer " + harness.ADMIN_KEY], p))
                for p in procs:
                    p.send_signal(2)
                    p.wait(timeout=30)
            if a.fly:
                cg = Cgroup(lt + resp)
                try:
                    drive(url, lua_ev, 3, a.connections, lt, resp)
                    row("events (fly 6.25%)", drive(url, lua_ev, a.fly, a.connections, lt, resp))
                finally:
                    cg.cleanup()
    finally:
        pg.cleanup()
        harness.shutil.rmtree(tmp, ignore_errors=True)
        harness.cleanup_all()
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
