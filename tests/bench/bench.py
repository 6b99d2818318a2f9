#!/usr/bin/env python3
"""make bench: POST /v1/events through the real stack against the database's own ceiling.

Starts a throw-away Postgres and lighttpd with FCGI_WORKERS responders (rate limits off), drives
POST /v1/events with distinct, realistic events from wrk at a fixed concurrency, and prints:
events/s, p50/p99 latency, errors, CPU microseconds per request of lighttpd, of the responders and of
Postgres (from /proc), idle and peak RSS; then drives the same SQL function (ingest_event) with
pgbench at the database concurrency the stack has (one connection per responder) and prints the
ratio. Nothing here asserts a time: it measures and reports.

Then, the same way, POST /v1/leads/capture with new leads (one round trip and one transaction each).

Then the read APIs (issue 15): 366 days of rollups are seeded (metric and ingest rows, and breakdown
rows with realistic value counts per day and dimension), and each read endpoint is driven by wrk for
BENCH_READ_SECONDS (2) at BENCH_READ_CONNECTIONS (8): summary over 366 days, timeseries by day, week
and month, a breakdown page, realtime (over the raw events the ingest run left) and export.csv daily
and by page; requests/s, p50/p99 and responder CPU microseconds per request each.

Environment: BENCH_SECONDS (10), BENCH_CONNECTIONS (32), BENCH_WORKERS (4), and BENCH_VARIANTS
(default "direct:unnamed"): a comma-separated list of DATABASE:STATEMENTS run one after the other,
each on a fresh Postgres, then compared in one table. DATABASE is `direct` (the responders connect
to Postgres) or `pgbouncer` (through Debian's pgbouncer in transaction mode with BENCH_WORKERS
server connections, as Fly Managed Postgres; the scheduler on the direct URL); STATEMENTS is
DATABASE_STATEMENTS (`unnamed` or `prepared`). `make bench-pooler` runs
direct:prepared,direct:unnamed,pgbouncer:unnamed.
"""
import datetime
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness  # noqa: E402

SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "4"))
CLK_TCK = os.sysconf("SC_CLK_TCK")
READ_SECONDS = int(os.environ.get("BENCH_READ_SECONDS", "2"))
READ_CONNECTIONS = int(os.environ.get("BENCH_READ_CONNECTIONS", "8"))
# Values per day and dimension of the seeded breakdown rows (a small marketing site: a few hundred
# pages, a few dozen referrers and countries, a handful of sources, devices and campaigns).
READ_VALUES = {"page": 300, "landing_page": 80, "source": 9, "referrer_host": 40, "utm_source": 12,
               "utm_medium": 6, "utm_campaign": 20, "device": 3, "country": 40}

# Distinct events: a pool of visitors (so sessions continue and rotate), a counter in props (so
# no two bodies share a dedupe key), paths, referrers, UTM on some, web vitals on some; each visitor
# has its own client address (Fly-Client-IP, believed from 127.0.0.1 as from Fly's proxy), so lead
# captures find the heuristic links a real site would, not 20 for every capture.
WRK_SCRIPT = r"""
local counter = 0
local paths = {"/", "/pricing", "/features", "/blog/launch", "/contact", "/docs/start"}
local refs = {"https://www.google.com/search?q=x", "https://news.ycombinator.com/", "", "",
              "https://www.linkedin.com/feed/", "https://example.com/pricing"}
local types = {"page_view", "page_view", "page_view", "scroll", "form_start", "click"}
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
request = function()
  counter = counter + 1
  local i = math.random(1, 6)
  local ref = refs[math.random(1, 6)]
  local utm = ""
  if math.random(1, 5) == 1 then
    utm = ',"utm":{"source":"newsletter","medium":"email","campaign":"nov"}'
  end
  local v = math.random(1, 20000)
  local body = string.format(
    '{"anonId":"anon-%06d-bench","eventType":"%s","path":"%s","referrer":"%s"%s,' ..
    '"traffic":{"countryCode":"ca","webVitals":{"ttfbMs":%d,"lcpMs":%d}},"props":{"seq":%d,"w":"%s"}}',
    v, types[i], paths[math.random(1, 6)], ref, utm,
    math.random(20, 900), math.random(300, 4000), counter, tostring({}):sub(8))
  if ref == "" then body = body:gsub(',"referrer":""', '') end
  return wrk.format("POST", "/v1/events", {["Content-Type"] = "application/json",
    ["Origin"] = "https://example.com", ["User-Agent"] = "Mozilla/5.0 (Macintosh) bench",
    ["Fly-Client-IP"] = string.format("10.%d.%d.%d", math.floor(v / 65536), math.floor(v / 256) % 256, v % 256)}, body)
end
"""

# New leads from returning visitors: a capture is the form_submit event, the lead, links, the
# submission and the consent row in one transaction.
WRK_CAPTURE_SCRIPT = r"""
local counter = 0
local tag = tostring({}):sub(8)
request = function()
  counter = counter + 1
  local v = math.random(1, 20000)
  local body = string.format(
    '{"email":"lead%d.%s@example.com","anonId":"anon-%06d-bench","formName":"newsletter",' ..
    '"path":"/pricing","sourceChannel":"footer","consentStatus":"express","payload":{"company":"Acme %d"}}',
    counter, tag, v, counter)
  return wrk.format("POST", "/v1/leads/capture", {["Content-Type"] = "application/json",
    ["Origin"] = "https://example.com", ["User-Agent"] = "Mozilla/5.0 (Macintosh) bench",
    ["Fly-Client-IP"] = string.format("10.%d.%d.%d", math.floor(v / 65536), math.floor(v / 256) % 256, v % 256)}, body)
end
"""

PGBENCH_SCRIPT = r"""
\set n random(1, 20000)
\set seq random(1, 2000000000)
SELECT * FROM ingest_event('anon-' || :n || '-pgbench', (now() AT TIME ZONE 'UTC')::timestamp(3),
  repeat('a', 64), repeat('b', 64), 'page_view', '/pricing', NULL, NULL, NULL, NULL, NULL, NULL, 30,
  gen_random_uuid()::text, gen_random_uuid()::text, gen_random_uuid()::text,
  '["v1","anon-' || :n || '",', ',"page_view","/pricing","bucket:1",null,"a","b",null,null,{"seq":' || :seq || '}]',
  ('{"seq":' || :seq || ',"ttfbMs":120}')::jsonb, 'example.com', 'direct', 'desktop', 'CA', true, false, false);
"""


def cpu_ticks(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except OSError:
        return 0


def status_kb(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kb(pid):
    """Proportional set size: shared library pages divided among the processes that map them."""
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def memory(pids):
    return {"rss": [status_kb(p, "VmRSS") for p in pids], "hwm": [status_kb(p, "VmHWM") for p in pids],
            "pss": [pss_kb(p) for p in pids]}


def postgres_pids(pg):
    """The postmaster and its children (backends, walwriter, checkpointer...)."""
    pm = pg._postmaster_pid()
    return [pm] + harness.proc_children(pm) if pm else []


def parse_wrk(out):
    res = {"rps": 0.0, "p50": "?", "p99": "?", "requests": 0, "non2xx": 0, "socket_errors": 0}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        res["rps"] = float(m.group(1))
    for pct, key in (("50%", "p50"), ("99%", "p99")):
        m = re.search(r"^\s+%s\s+(\S+)" % re.escape(pct), out, re.M)
        if m:
            res[key] = m.group(1)
    m = re.search(r"(\d+) requests in", out)
    if m:
        res["requests"] = int(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        res["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        res["socket_errors"] = sum(int(x) for x in m.groups())
    return res


def read_api_bench(pg, url, responders):
    """Seeds 366 days of rollups ending today (rows the scheduler already wrote are kept) and drives
    each read endpoint with wrk. Returns {"breakdown_rows": n, "rows": [(name, wrk figures, responder
    CPU us per request)]}."""
    dims = " UNION ALL ".join("SELECT %s AS dim, %d AS n" % (harness.sql_lit(k), v) for k, v in READ_VALUES.items())
    pg.psql(
        "WITH days AS (SELECT d::date AS day, row_number() OVER (ORDER BY d) AS k FROM generate_series("
        "(now() AT TIME ZONE 'UTC')::date - 365, (now() AT TIME ZONE 'UTC')::date, interval '1 day') d) "
        "INSERT INTO daily_metric_rollups (id, property_id, day, unique_visitors, returning_visitors, total_page_views, "
        "total_entrances, total_exits, total_conversions, form_starts, form_submits, new_leads, "
        "time_to_first_capture_sum_ms, time_to_first_capture_count, traffic_source_breakdown, top_landing_paths, "
        "generated_at, updated_at) SELECT 'bench-' || day, 'default', day, 400 + k % 50, 80, 1500 + k % 300, 400, "
        "380, 30, 20, 12, 8, 3600000, 4, '{\"direct\": 200, \"organic_search\": 150, \"social\": 50}', '[]', "
        "now(), now() FROM days ON CONFLICT DO NOTHING;"
        "WITH days AS (SELECT d::date AS day FROM generate_series((now() AT TIME ZONE 'UTC')::date - 365, "
        "(now() AT TIME ZONE 'UTC')::date, interval '1 day') d) "
        "INSERT INTO daily_ingest_rollups (id, property_id, day, events_accepted, events_rejected, leads_accepted, "
        "leads_rejected, p95_ttfb_ms, error_breakdown, generated_at, updated_at) SELECT 'bench-i-' || day, 'default', "
        "day, 2000, 3, 8, 0, 250, '{}', now(), now() FROM days ON CONFLICT DO NOTHING;"
        "INSERT INTO daily_breakdown_rollups (property_id, day, dimension, value, visitors, page_views, entrances, "
        "conversions, generated_at) SELECT 'default', d::date, dims.dim, "
        "CASE WHEN dims.dim IN ('page', 'landing_page') THEN '/section-' || (i % 12) || '/page-' || i "
        "ELSE dims.dim || '-' || i END, 1 + (1000 / i), 2 + (3000 / i), 1 + (300 / i), (30 / i), now() "
        "FROM generate_series((now() AT TIME ZONE 'UTC')::date - 365, (now() AT TIME ZONE 'UTC')::date, "
        "interval '1 day') d, (" + dims + ") dims, generate_series(1, dims.n) i ON CONFLICT DO NOTHING;"
        "ANALYZE daily_metric_rollups; ANALYZE daily_ingest_rollups; ANALYZE daily_breakdown_rollups;",
        timeout=300)
    n_rows = int(pg.psql("SELECT count(*) FROM daily_breakdown_rollups").strip().splitlines()[-1])
    today = pg.psql("SELECT (now() AT TIME ZONE 'UTC')::date, (now() AT TIME ZONE 'UTC')::date - 365").strip()
    to, frm = today.splitlines()[-1].split("|")
    w = "from=%s&to=%s" % (frm, to)
    endpoints = [
        ("summary 366 days", "/v1/metrics/summary?" + w),
        ("timeseries day (366 buckets)", "/v1/metrics/timeseries?interval=day&" + w),
        ("timeseries week", "/v1/metrics/timeseries?interval=week&" + w),
        ("timeseries month", "/v1/metrics/timeseries?interval=month&" + w),
        ("breakdown page (limit 10, 366 d)", "/v1/metrics/breakdown?dimension=page&limit=10&" + w),
        ("breakdown page 30 days", "/v1/metrics/breakdown?dimension=page&from=%s&to=%s" % (
            (datetime.date.fromisoformat(to) - datetime.timedelta(days=29)).isoformat(), to)),
        ("realtime", "/v1/metrics/realtime"),
        ("export.csv daily (366 rows)", "/v1/metrics/export.csv?dimension=daily&" + w),
        ("export.csv page (366 d, all values)", "/v1/metrics/export.csv?dimension=page&" + w),
    ]
    rows = []
    for name, path in endpoints:
        args = ["wrk", "-t1", "-c%d" % READ_CONNECTIONS, "-d%ds" % READ_SECONDS, "--latency",
                "-H", "Authorization: Bearer " + harness.ADMIN_KEY, url + path]
        subprocess.run(args[:3] + ["-d1s"] + args[4:], capture_output=True, text=True, timeout=60)  # warm up
        before = sum(cpu_ticks(p) for p in responders)
        out = subprocess.run(args, capture_output=True, text=True, timeout=READ_SECONDS + 60).stdout
        after = sum(cpu_ticks(p) for p in responders)
        r = parse_wrk(out)
        rows.append((name, r, (after - before) * 1e6 / CLK_TCK / max(r["requests"], 1)))
    return {"breakdown_rows": n_rows, "rows": rows}


def main():
    for tool in ("wrk", "pgbench"):
        if not harness.shutil.which(tool, path=harness._SEARCH_PATH):
            print("bench: %s is not installed (make deps)" % tool)
            return 1
    variants = [v.strip() for v in os.environ.get("BENCH_VARIANTS", "direct:unnamed").split(",") if v.strip()]
    for v in variants:
        db, _, stmts = v.partition(":")
        if db not in ("direct", "pgbouncer") or stmts not in ("unnamed", "prepared"):
            print("bench: BENCH_VARIANTS entry %r is not direct|pgbouncer:unnamed|prepared" % v)
            return 2
    rc, results = 0, []
    for v in variants:
        db, _, stmts = v.partition(":")
        print("== %s, DATABASE_STATEMENTS=%s" % ("through PgBouncer (transaction mode)" if db == "pgbouncer"
                                                else "direct to Postgres", stmts), flush=True)
        r, figures = run_variant(db == "pgbouncer", stmts)
        rc = rc or r
        results.append((v, figures))
    if len(results) > 1:
        print("== compared (run one after the other on this machine)")
        print("  %-20s %9s %14s %11s %14s %9s" % ("variant", "events/s", "p50 / p99", "captures/s", "p50 / p99",
                                                  "errors"))
        for v, f in results:
            print("  %-20s %9.0f %14s %11.0f %14s %9d" % (v, f["events"], f["ev_lat"], f["captures"], f["cap_lat"],
                                                          f["errors"]))
    return rc


def run_variant(via_pgbouncer, statements):
    """One bench run on a fresh Postgres. Returns (exit code, figures for the comparison)."""
    tmp = tempfile.mkdtemp(prefix="bench-")
    lua = os.path.join(tmp, "events.lua")
    with open(lua, "w") as f:
        f.write(WRK_SCRIPT)
    lua_capture = os.path.join(tmp, "capture.lua")
    with open(lua_capture, "w") as f:
        f.write(WRK_CAPTURE_SCRIPT)
    sqlf = os.path.join(tmp, "ingest.sql")
    with open(sqlf, "w") as f:
        f.write(PGBENCH_SCRIPT)
    os.chmod(tmp, 0o755)
    os.chmod(sqlf, 0o644)

    pg = harness.Postgres()
    pg.start()
    bouncer = sched = None
    try:
        env = harness.service_env(pg.url())
        r = harness.migrate(env)
        if r.returncode != 0:
            print("bench: migrate failed:\n" + r.stdout + r.stderr)
            return 1, None
        url_db = pg.url()
        if via_pgbouncer:
            bouncer = harness.PgBouncer(pg, pool_size=WORKERS)
            url_db = bouncer.url()
        with harness.Stack(url_db, env={"RATE_LIMIT_EVENTS": 0, "RATE_LIMIT_CAPTURE": 0, "RATE_LIMIT_SUMMARY": 0,
                                        "LOG_LEVEL": "warn",
                                        "DIRECT_DATABASE_URL": pg.url(), "DATABASE_STATEMENTS": statements,
                                                "TRUSTED_PROXIES": "127.0.0.1", "CLIENT_IP_HEADER": "Fly-Client-IP",
                                                # the site's own page origin, as in production
                                                # (ENFORCE_ORIGIN refuses writes from others)
                                                "CORS_ALLOWED_ORIGINS": "https://example.com"},
                              workers=WORKERS) as st:
            url = "http://127.0.0.1:%d" % st.port
            responders = st.responder_pids()
            # the scheduler as the container runs it, beside the stack (its first rollup runs at once)
            sched = subprocess.Popen([harness.BACKEND_BIN, "scheduler"], env=st.env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
            # let its first rollup and purge finish before measuring, so they do not land in the load
            # (three jobs since issue 14: rollups, retention, salts)
            harness.wait_until(lambda: int(pg.psql("SELECT count(*) FROM job_runs WHERE last_finished_at IS NOT NULL")
                                           .strip()) >= 3, 30, 0.2, "the scheduler's first jobs")
            idle = {"lighttpd": memory([st.pid]), "responders": memory(responders), "scheduler": memory([sched.pid])}
            idle_rss = {"lighttpd": idle["lighttpd"]["rss"][0], "responders": idle["responders"]["rss"]}
            # warm up: connections, prepared statements, caches
            subprocess.run(["wrk", "-t1", "-c%d" % CONNECTIONS, "-d2s", "-s", lua, url],
                           capture_output=True, text=True, timeout=60)
            pgs = postgres_pids(pg) + (harness.proc_children(bouncer.proc.pid) + [bouncer.proc.pid]
                                       if bouncer else [])
            before = {"lighttpd": cpu_ticks(st.pid), "responders": sum(cpu_ticks(p) for p in responders),
                      "postgres": sum(cpu_ticks(p) for p in pgs)}
            rows_before = int(pg.psql("SELECT count(*) FROM events").strip().splitlines()[-1])
            out = subprocess.run(["wrk", "-t1", "-c%d" % CONNECTIONS, "-d%ds" % SECONDS, "--latency", "-s", lua,
                                  url], capture_output=True, text=True, timeout=SECONDS + 60).stdout
            pgs_after = postgres_pids(pg) + (harness.proc_children(bouncer.proc.pid) + [bouncer.proc.pid]
                                             if bouncer else [])
            after = {"lighttpd": cpu_ticks(st.pid), "responders": sum(cpu_ticks(p) for p in responders),
                     "postgres": sum(cpu_ticks(p) for p in pgs_after if p in pgs) +
                     sum(cpu_ticks(p) for p in pgs_after if p not in pgs)}
            rows_after = int(pg.psql("SELECT count(*) FROM events").strip().splitlines()[-1])
            peak_rss = {"lighttpd": status_kb(st.pid, "VmHWM"),
                        "responders": [status_kb(p, "VmHWM") for p in responders]}
            loaded = {"lighttpd": memory([st.pid]), "responders": memory(responders), "scheduler": memory([sched.pid])}
            sched.terminate()
            sched.wait(timeout=10)
            leads_before = int(pg.psql("SELECT count(*) FROM leads").strip().splitlines()[-1])
            cap_before = {"lighttpd": cpu_ticks(st.pid), "responders": sum(cpu_ticks(p) for p in responders)}
            cap_out = subprocess.run(["wrk", "-t1", "-c%d" % CONNECTIONS, "-d%ds" % SECONDS, "--latency", "-s",
                                      lua_capture, url], capture_output=True, text=True,
                                     timeout=SECONDS + 60).stdout
            cap_after = {"lighttpd": cpu_ticks(st.pid), "responders": sum(cpu_ticks(p) for p in responders)}
            leads_stored = int(pg.psql("SELECT count(*) FROM leads").strip().splitlines()[-1]) - leads_before
            c = parse_wrk(cap_out)
            w = parse_wrk(out)
            reads = read_api_bench(pg, url, responders)
            same_responders = st.responder_pids() == responders

        # the database's own ceiling: the same function, same concurrency, no HTTP
        pg_out = subprocess.run(
            (["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []) +
            ["pgbench", "-n", "-M", "prepared", "-c", str(WORKERS), "-j", "2", "-T", str(SECONDS), "-f", sqlf,
             "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", "backend"],
            capture_output=True, text=True, timeout=SECONDS + 60)
        m = re.search(r"tps = ([\d.]+) \(without initial connection time\)", pg_out.stdout)
        tps = float(m.group(1)) if m else 0.0
        if not m:
            print("bench: pgbench failed:\n" + pg_out.stdout + pg_out.stderr)
    finally:
        if sched and sched.poll() is None:  # a run that failed before stopping it
            sched.terminate()
            sched.wait(timeout=10)
        if bouncer:
            bouncer.cleanup()
        pg.cleanup()
        harness.shutil.rmtree(tmp, ignore_errors=True)

    n = max(w["requests"], 1)
    us = {k: (after[k] - before[k]) * 1e6 / CLK_TCK / n for k in before}
    accepted = rows_after - rows_before
    print("POST /v1/events: %d responders, wrk -c%d for %d s" % (WORKERS, CONNECTIONS, SECONDS))
    print("  events/s            %.0f" % w["rps"])
    print("  latency p50 / p99   %s / %s" % (w["p50"], w["p99"]))
    print("  requests            %d (non-2xx %d, socket errors %d); rows stored %d" %
          (w["requests"], w["non2xx"], w["socket_errors"], accepted))
    print("  CPU us/request      lighttpd %.0f, responders %.0f, postgres%s %.0f" %
          (us["lighttpd"], us["responders"], " + pgbouncer" if via_pgbouncer else "", us["postgres"]))
    print("  RSS idle (KiB)      lighttpd %d, responders %s" % (idle_rss["lighttpd"], idle_rss["responders"]))
    print("  RSS peak (KiB)      lighttpd %d, responders %s" % (peak_rss["lighttpd"], peak_rss["responders"]))
    print("  responders restarted during the run: %s" % ("no" if same_responders else "YES"))
    print("memory (KiB)          idle RSS / PSS        under load: peak RSS / PSS")
    for name in ("lighttpd", "responders", "scheduler"):
        for i in range(len(idle[name]["rss"])):
            label = name if len(idle[name]["rss"]) == 1 else "%s[%d]" % (name[:-1], i)
            print("  %-19s %6d / %6d        %6d / %6d" % (label, idle[name]["rss"][i], idle[name]["pss"][i],
                                                       loaded[name]["hwm"][i], loaded[name]["pss"][i]))
    total_pss = sum(sum(loaded[n]["pss"]) for n in loaded)
    print("  total PSS under load: %d KiB (%.1f MiB)" % (total_pss, total_pss / 1024.0))
    cn = max(c["requests"], 1)
    print("POST /v1/leads/capture: wrk -c%d for %d s" % (CONNECTIONS, SECONDS))
    print("  captures/s          %.0f" % c["rps"])
    print("  latency p50 / p99   %s / %s" % (c["p50"], c["p99"]))
    print("  requests            %d (non-2xx %d, socket errors %d); leads stored %d" %
          (c["requests"], c["non2xx"], c["socket_errors"], leads_stored))
    print("  CPU us/request      lighttpd %.0f, responders %.0f" %
          ((cap_after["lighttpd"] - cap_before["lighttpd"]) * 1e6 / CLK_TCK / cn,
           (cap_after["responders"] - cap_before["responders"]) * 1e6 / CLK_TCK / cn))
    print("read APIs: 366 days of rollups (%d breakdown rows), wrk -c%d for %d s each" %
          (reads["breakdown_rows"], READ_CONNECTIONS, READ_SECONDS))
    print("  %-34s %9s %18s %10s %12s" % ("endpoint", "req/s", "p50 / p99", "non-2xx", "resp. us/req"))
    for name, r, cpu in reads["rows"]:
        print("  %-34s %9.0f %18s %10d %12.0f" % (name, r["rps"], "%s / %s" % (r["p50"], r["p99"]),
                                                 r["non2xx"] + r["socket_errors"], cpu))
    print("pgbench ingest_event(): -c%d for %d s" % (WORKERS, SECONDS))
    print("  transactions/s      %.0f" % tps)
    if tps > 0:
        print("ratio HTTP / database ceiling: %.0f%%" % (100.0 * w["rps"] / tps))
    errors = w["non2xx"] + w["socket_errors"] + c["non2xx"] + c["socket_errors"] + \
        sum(r["non2xx"] + r["socket_errors"] for _, r, _ in reads["rows"])
    figures = {"events": w["rps"], "ev_lat": "%s / %s" % (w["p50"], w["p99"]), "captures": c["rps"],
               "cap_lat": "%s / %s" % (c["p50"], c["p99"]), "errors": errors}
    return (0 if errors == 0 and tps > 0 and w["requests"] > 0 else 1), figures


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        harness.cleanup_all()
