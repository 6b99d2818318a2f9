#!/usr/bin/env python3
"""make bench: what a request costs, by process, against the database's own ceiling, in one run.

    bench.py [--fast] [--fly] [--rtt MS] [--rtt-sweep] [--all]
    bench.py --compare BEFORE.json AFTER.json

Modes (several may be given; none given: the default mode):
  default     A throw-away Postgres with DURABLE commits (fsync, synchronous_commit, full_page_writes
              on; --fast or BENCH_FAST=1: all three off, as the tests run), lighttpd with the stack's
              FCGI_WORKERS responders (rate limits off) and the scheduler. BENCH_ROUNDS rounds, each
              of: POST /v1/events from wrk at BENCH_CONNECTIONS, and the database ceiling, the same
              per-event work as one pgbench transaction (ingest_event) at BENCH_CONNECTIONS clients,
              on the current schema (database `backend`) and on the ORIGINAL schema (database
              `original` in the same cluster: migrations/0001_init.sql + 0002_ingest_event.sql
              applied with psql, the Node-era tables, indexes, foreign keys and one-round-trip
              function). Every event carries an eventId, as the tracker (t.js) sends, and the pgbench
              script calls the function the same way (a whole key, no session id spliced in); the
              original function has no eventId lookup, so its ceiling is, if anything, generous to
              it. And the floor: one single-row INSERT per transaction (database `floor`, a
              uuid primary key), what any durable write costs this Postgres on this machine. The
              order alternates (round 1: HTTP, current, original, floor; round 2: floor, original,
              current, HTTP; ...), so neither side always runs on the warmer or fuller database; each
              gets the same 2 s warm-up first. Then POST /v1/leads/capture, then the
              read APIs over 366 days of seeded rollups (the summary over 30 and over 366 days,
              timeseries, breakdowns, realtime, export). For each: requests/s, p50/p99, and CPU
              microseconds per request by process (lighttpd, responders, postgres (+ pgbouncer),
              scheduler), from /proc (exited Postgres backends through the postmaster's cutime).
  --fly       The app (lighttpd + responders + scheduler; Postgres is another machine on Fly) in a
              cgroup pinned to one core and capped at Fly shared-cpu-1x's sustained share (6.25%:
              cfs_quota 6250 us per 100000 us) and 256 MB; after BENCH_FLY_WARMUP (5) s, POST
              /v1/events for BENCH_FLY_SECONDS (30): sustained events/s, app CPU us per event, CPU
              throttling and whether the memory cap was hit. cgroup v1 (cpu, cpuset, memory
              hierarchies) or v2, detected; the cgroups are made under the bench's own and removed.
  --rtt MS    The database behind an added round trip of MS ms: tc netem in a network namespace the
              bench makes (delay on the Postgres port's packets only), when the kernel has sch_netem;
              otherwise tests/bench/rtt_relay.c (fcgi-app/build/bench/rtt_relay), a loopback TCP relay
              holding each chunk MS/2 each way, between the app and Postgres. The output says which;
              the relay's CPU is reported on its own, in no other figure. POST /v1/events at the
              stack's FCGI_WORKERS. --rtt-sweep: also at 2, 4, 8 and 16 responders (MS defaults to 2).
  --all       default + --fly + --rtt 2.

Environment: BENCH_SECONDS (10), BENCH_CONNECTIONS (32), BENCH_ROUNDS (2), BENCH_WORKERS (the
stack's FCGI_WORKERS default, read from `backend lighttpd-vars`), BENCH_READ_SECONDS (2),
BENCH_READ_CONNECTIONS (8), BENCH_FLY_SECONDS (30), BENCH_FLY_WARMUP (5), BENCH_FAST (0),
BENCH_OUT_DIR (fcgi-app/build/bench), BENCH_RELAY (its rtt_relay), and BENCH_VARIANTS (default
"direct:unnamed"): DATABASE:STATEMENTS variants of the default mode, run one after the other, each
on a fresh Postgres, then compared; DATABASE is `direct` or `pgbouncer` (Debian's pgbouncer in
transaction mode with WORKERS server connections, as Fly Managed Postgres; the scheduler direct),
STATEMENTS is DATABASE_STATEMENTS (`unnamed` or `prepared`). `make bench-pooler` runs
direct:prepared,direct:unnamed,pgbouncer:unnamed. The first variant's figures fill the targets.

Output: the tables, then the issue-17 targets table (each target, the measured value, met / not met /
not run), and JSON: BENCH_OUT_DIR/bench-<UTC time>.json and BENCH_OUT_DIR/latest.json, holding
every figure, the settings (durable or fast, workers, connections, seconds, rounds), the git
revision, nproc and the load average before and after. `--compare A.json B.json` prints two runs
side by side (every figure both have, and both target tables). Nothing here asserts a time.

Targets from other benches. A standalone bench that has targets of its own writes, under
BENCH_OUT_DIR, NAME.json (purge.json: tests/bench/purge_bench.py; scale.json:
tests/bench/scale_out.py) shaped as:

    {"bench": "purge",                      # its name
     "time": "2026-12-07T09:00:00Z",        # when it ran (UTC, ISO 8601); else the file's mtime
     "targets": [{"name": "purge of one month of 5M events",   # what is measured
                  "target": "<= 60",        # the target as a number or a short string
                  "measured": 4.2,          # number, or null when it did not run
                  "unit": "s",
                  "met": true}],            # true / false / null (not run)
     ...}                                   # anything else it measured

and this bench appends those rows to its targets table, labelled with the file and that time
(EXTRA_TARGET_FILES lists the names read). The same shape is this bench's own "targets" list,
whose rows also carry "op" (">=" or "<=") and, when not met or not run, "note".
"""
import argparse
import ctypes
import datetime
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402

APP_HOME = harness.APP_HOME
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
ROUNDS = max(1, int(os.environ.get("BENCH_ROUNDS", "2")))
READ_SECONDS = int(os.environ.get("BENCH_READ_SECONDS", "2"))
READ_CONNECTIONS = int(os.environ.get("BENCH_READ_CONNECTIONS", "8"))
FLY_SECONDS = int(os.environ.get("BENCH_FLY_SECONDS", "30"))
FLY_WARMUP = int(os.environ.get("BENCH_FLY_WARMUP", "5"))
OUT_DIR = os.environ.get("BENCH_OUT_DIR", os.path.join(APP_HOME, "fcgi-app", "build", "bench"))
RELAY_BIN = os.environ.get("BENCH_RELAY", os.path.join(APP_HOME, "fcgi-app", "build", "bench", "rtt_relay"))
CLK_TCK = os.sysconf("SC_CLK_TCK")
WARMUP_SECONDS = 2
RTT_SWEEP_WORKERS = (2, 4, 8, 16)
# Fly shared-cpu-1x: one vCPU's 6.25% sustained share, 256 MB.
FLY_QUOTA_US, FLY_PERIOD_US, FLY_MEMORY = 6250, 100000, 256 * 1024 * 1024
EXTRA_TARGET_FILES = ("purge.json", "scale.json")
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
  -- an eventId on every event, as lighttpd/www/t.js sends (a UUID; unique per thread and request)
  local eid = string.format("%08x-%04x-4%03x-8%03x-%012x", math.random(0, 0x7fffffff), counter % 0x10000,
    math.random(0, 0xfff), math.random(0, 0xfff), counter * 65536 + math.random(0, 0xffff))
  local body = string.format(
    '{"anonId":"anon-%06d-bench","eventId":"%s","eventType":"%s","path":"%s","referrer":"%s"%s,' ..
    '"traffic":{"countryCode":"ca","webVitals":{"ttfbMs":%d,"lcpMs":%d}},"props":{"seq":%d,"w":"%s"}}',
    v, eid, types[i], paths[math.random(1, 6)], ref, utm,
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

# The per-event database work of POST /v1/events as one transaction: ingest_event() with the
# arguments a responder sends (0002's signature, unchanged since: the same script drives the
# current and the original schema).
PGBENCH_SCRIPT = r"""
\set n random(1, 20000)
\set seq random(1, 2000000000)
SELECT * FROM ingest_event('anon-' || :n || '-pgbench', (now() AT TIME ZONE 'UTC')::timestamp(3),
  repeat('a', 64), repeat('b', 64), 'page_view', '/pricing', NULL, NULL, NULL, NULL, NULL, NULL, 30,
  gen_random_uuid()::text, gen_random_uuid()::text, gen_random_uuid()::text,
  '["v1-eventId","anon-' || :n || '","' || gen_random_uuid() || '"]', NULL,
  ('{"seq":' || :seq || ',"ttfbMs":120}')::jsonb, 'example.com', 'direct', 'desktop', 'CA', true, false, false);
"""

# The same work for an event without an eventId: the key is the canonical rendering with the session
# id spliced in (tests/bench/dbwork.py compares schemas on it: the original function has only this).
PGBENCH_SCRIPT_SPLICED = r"""
\set n random(1, 20000)
\set seq random(1, 2000000000)
SELECT * FROM ingest_event('anon-' || :n || '-pgbench', (now() AT TIME ZONE 'UTC')::timestamp(3),
  repeat('a', 64), repeat('b', 64), 'page_view', '/pricing', NULL, NULL, NULL, NULL, NULL, NULL, 30,
  gen_random_uuid()::text, gen_random_uuid()::text, gen_random_uuid()::text,
  '["v1","anon-' || :n || '",', ',"page_view","/pricing","bucket:1",null,"a","b",null,null,{"seq":' || :seq || '}]',
  ('{"seq":' || :seq || ',"ttfbMs":120}')::jsonb, 'example.com', 'direct', 'desktop', 'CA', true, false, false);
"""

ORIGINAL_MIGRATIONS = ("0001_init.sql", "0002_ingest_event.sql")
ORIGINAL_DB = "original"

# The floor: the least a durable write transaction costs (one row, one index), for scale beside the
# per-event figures (a target below it cannot be met by fewer statements alone).
FLOOR_DB = "floor"
FLOOR_SETUP = "CREATE TABLE bench_floor (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), v text NOT NULL)"
FLOOR_SCRIPT = "INSERT INTO bench_floor (v) VALUES (repeat('x', 100));\n"


# ---------------------------------------------------------------------------------------------
# pure parts (tests/integration/test_bench.py)


def latency_ms(text):
    """wrk's latency ("812.00us", "1.23ms", "2.01s", "1.5m") in milliseconds; None when unreadable."""
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text or "")
    if not m:
        return None
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[m.group(2)]


def _parse(out, fields, res):
    """res with each (key, pattern, convert) of fields whose pattern matches out (multi-line) set to
    convert(the match's groups); the others keep res's defaults."""
    for key, pattern, convert in fields:
        m = re.search(pattern, out, re.M)
        if m:
            res[key] = convert(*m.groups())
    return res


WRK_FIELDS = (
    ("rps", r"Requests/sec:\s+([\d.]+)", float),
    ("p50_ms", r"^\s+50%\s+(\S+)", latency_ms),
    ("p99_ms", r"^\s+99%\s+(\S+)", latency_ms),
    ("requests", r"(\d+) requests in", int),
    ("non2xx", r"Non-2xx or 3xx responses: (\d+)", int),
    ("socket_errors", r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
     lambda *n: sum(int(x) for x in n)),
)

PGBENCH_FIELDS = (
    ("tps", r"tps = ([\d.]+) \(without initial connection time\)", float),
    ("latency_avg_ms", r"latency average = ([\d.]+) ms", float),
    ("transactions", r"number of transactions actually processed: (\d+)", int),
    ("failed", r"number of failed transactions: (\d+)", int),
)


def parse_wrk(out):
    """wrk --latency output: requests/s, p50/p99 (ms), requests, non-2xx, socket errors."""
    return _parse(out, WRK_FIELDS, {"rps": 0.0, "p50_ms": None, "p99_ms": None, "requests": 0, "non2xx": 0,
                                    "socket_errors": 0})


def parse_pgbench(out):
    """pgbench's summary: transactions/s (without connection time), average latency (ms),
    transactions processed and failed. tps 0 when pgbench printed no summary."""
    return _parse(out, PGBENCH_FIELDS, {"tps": 0.0, "latency_avg_ms": None, "transactions": 0, "failed": 0})


def target_met(op, target, measured):
    """True / False for a measured value against `op target` (">=" or "<="); None when not measured."""
    if measured is None:
        return None
    if op == ">=":
        return measured >= target
    if op == "<=":
        return measured <= target
    raise ValueError("unknown target operator %r" % op)


def _get(d, *path):
    for k in path:
        if not isinstance(d, dict) or k not in d or d[k] is None:
            return None
        d = d[k]
    return d


def targets_table(res):
    """The issue-17 targets next to the measured values of a result (the JSON this bench writes).
    Returns rows {name, target, op, measured, unit, met, note}: met None with a note when the mode
    did not run, or the run's settings are not the target's (fast commits, other concurrency)."""
    d = _get(res, "default")
    settings = res.get("settings", {})
    comparable = None
    if d is not None:
        if settings.get("durability") != "durable":
            comparable = "fast commits: run without --fast"
        elif settings.get("connections") != 32:
            comparable = "at %s connections, the target is at 32" % settings.get("connections")
    rows = []

    def add(name, op, target, unit, measured, not_run, caveat=None):
        met = target_met(op, target, measured)
        note = None
        if measured is None:
            note = not_run
        elif caveat:
            met, note = None, caveat
        rows.append({"name": name, "target": target, "op": op, "measured": measured, "unit": unit, "met": met,
                     "note": note})

    ev = _get(d, "events")
    add("events/s, durable commits, 32 connections", ">=", 5000, "events/s", _get(ev, "rps"),
        "not run (default mode)", comparable)
    add("Postgres CPU per event", "<=", 150, "us", _get(ev, "cpu_us", "postgres"), "not run (default mode)",
        comparable)
    floor = _get(d, "floor", "cpu_us", "postgres")
    if floor is not None:
        rows[-1]["context"] = "a 1-row INSERT transaction: %s us" % fmt_num(floor)
    pct = _get(d, "http_pct_of_original")
    add("HTTP events/s vs the original-schema ceiling", ">=", 100, "%", pct, "not run (default mode)", comparable)
    app = None
    if _get(ev, "cpu_us", "lighttpd") is not None:
        app = ev["cpu_us"]["lighttpd"] + ev["cpu_us"]["responders"]
    add("app CPU per event (lighttpd + responders)", "<=", 60, "us", app, "not run (default mode)")
    fly = _get(res, "fly")
    add("--fly sustained events/s", ">=", 1000, "events/s", _get(fly, "rps"),
        "not run (use --fly)" if fly is None else "failed: %s" % fly.get("error"))
    summ = None
    for r in _get(d, "reads") or []:
        if r["name"] == "summary 366 days":
            summ = r["cpu_us"]["responders"]
    add("366-day summary, responder CPU per request", "<=", 200, "us", summ, "not run (default mode)")
    rtt = None
    rt = _get(res, "rtt")
    if rt is not None and rt.get("ms") == 2:
        for p in rt.get("points", []):
            if p.get("default_workers"):
                rtt = p["rps"]
    add("events/s with --rtt 2 at the default responders", ">=", 2000, "events/s", rtt,
        "not run (use --rtt 2)" if rt is None else "failed: %s" % rt["error"] if "error" in rt else
        "not run (ran --rtt %s, the target is at 2)" % rt.get("ms"))
    return rows


def extra_targets(out_dir):
    """The target rows of the other benches' JSON files (EXTRA_TARGET_FILES) found in out_dir, each
    labelled with its file and time. Unreadable files give one row saying so."""
    out = []
    for name in EXTRA_TARGET_FILES:
        path = os.path.join(out_dir, name)
        if not os.path.exists(path):
            continue
        try:
            with open(path) as f:
                doc = json.load(f)
            when = doc.get("time") or datetime.datetime.fromtimestamp(
                os.path.getmtime(path), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            for t in doc.get("targets", []):
                out.append({"name": t.get("name"), "target": t.get("target"), "measured": t.get("measured"),
                            "unit": t.get("unit", ""), "met": t.get("met"), "source": "%s (%s)" % (name, when)})
        except (OSError, ValueError, AttributeError) as e:
            out.append({"name": "(unreadable)", "target": None, "measured": None, "unit": "", "met": None,
                        "source": "%s: %s" % (name, e)})
    return out


def fmt_num(v, unit=""):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if isinstance(v, int) or float(v).is_integer():
        return "%d" % v + ((" " + unit) if unit else "")
    s = ("%.0f" % v) if abs(v) >= 100 else ("%.1f" % v) if abs(v) >= 10 else ("%.2f" % v)
    return s + ((" " + unit) if unit else "")


def format_targets(rows):
    lines = ["%-52s %-16s %-14s %s" % ("target (issue 17)", "wanted", "measured", "")]
    for r in rows:
        wanted = r["target"] if isinstance(r["target"], str) else "%s %s %s" % (
            "≥" if r.get("op") == ">=" else "≤" if r.get("op") == "<=" else "", fmt_num(r["target"]), r["unit"])
        verdict = "met" if r["met"] is True else "NOT MET" if r["met"] is False else (r.get("note") or "n/a")
        if r["met"] is not None and r.get("note"):
            verdict += " (%s)" % r["note"]
        if r.get("context"):
            verdict += " [%s]" % r["context"]
        name = r["name"] if not r.get("source") else "%s [%s]" % (r["name"], r["source"])
        lines.append("%-52s %-16s %-14s %s" % (name, wanted.strip(), fmt_num(r["measured"], r["unit"]), verdict))
    return "\n".join(lines)


def flatten(doc, prefix=""):
    """Numeric leaves of a result as {"a.b.c": value}; per-round lists are left out (their means are
    in the summary), named lists (reads, rtt points, targets) are keyed by name."""
    out = {}
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k in ("rounds", "targets", "extra_targets"):
                continue
            out.update(flatten(v, "%s%s." % (prefix, k)))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            key = v.get("name") if isinstance(v, dict) and "name" in v else \
                ("workers=%s" % v["workers"]) if isinstance(v, dict) and "workers" in v else str(i)
            out.update(flatten(v, "%s%s." % (prefix, key)))
    elif isinstance(doc, bool):
        pass
    elif isinstance(doc, (int, float)):
        out[prefix[:-1]] = doc
    return out


def compare(a, b):
    """Two results side by side: rows (figure, value in a, value in b, change %) for every figure
    either has (a missing one shows as None), then the targets of each."""
    fa, fb = flatten(a), flatten(b)
    rows = []
    for k in sorted(set(fa) | set(fb)):
        va, vb = fa.get(k), fb.get(k)
        change = (100.0 * (vb - va) / va) if va not in (None, 0) and vb is not None else None
        rows.append((k, va, vb, change))
    return rows


def run_label(path):
    """bench-20261207T083330Z.json -> 20261207T083330Z: a column heading of --compare."""
    name = os.path.basename(path)
    name = name[:-5] if name.endswith(".json") else name
    return name[6:] if name.startswith("bench-") else name


def format_compare(a, b, name_a, name_b):
    name_a, name_b = run_label(name_a)[-18:], run_label(name_b)[-18:]
    lines = ["%-64s %18s %18s %9s" % ("figure", name_a, name_b, "change")]
    for k, va, vb, ch in compare(a, b):
        lines.append("%-64s %18s %18s %9s" % (k[-64:], fmt_num(va), fmt_num(vb),
                                              "" if ch is None else "%+.0f%%" % ch))
    lines.append("")
    ta = {r["name"]: r for r in a.get("targets", [])}
    tb = {r["name"]: r for r in b.get("targets", [])}
    lines.append("%-52s %18s %18s" % ("target", name_a, name_b))
    for name in list(ta) + [n for n in tb if n not in ta]:
        cells = []
        for t in (ta.get(name), tb.get(name)):
            if t is None or t.get("measured") is None:
                cells.append("-")
            else:
                cells.append("%s %s" % (fmt_num(t["measured"]), "ok" if t["met"] else "no" if t["met"] is False
                                        else "?"))
        lines.append("%-52s %18s %18s" % (name[:52], cells[0], cells[1]))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# processes and CPU


def proc_stat(pid):
    """(utime + stime, cutime + cstime) in ticks; (0, 0) when the process is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])
    except (OSError, ValueError, IndexError):
        return 0, 0


def cpu_ticks(pid):
    return proc_stat(pid)[0]


def tree_ticks(root):
    """CPU of a process, its children, and the children it already reaped (a Postgres backend that
    exited, e.g. pgbench's, is in the postmaster's cutime)."""
    if not root:
        return 0
    own, reaped = proc_stat(root)
    return own + reaped + sum(cpu_ticks(k) for k in harness.proc_children(root))


def machine_ticks():
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v[:8]) - idle, sum(v[:8])


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
    return {"rss_kb": [status_kb(p, "VmRSS") for p in pids], "hwm_kb": [status_kb(p, "VmHWM") for p in pids],
            "pss_kb": [pss_kb(p) for p in pids]}


class Meter:
    """CPU of named groups of processes over a measured step: groups maps a name to a function
    returning ticks. delta(n) gives microseconds per request for n requests, by group, plus the
    machine's busy share (the other helpers' load shows here)."""

    def __init__(self, groups):
        self.groups = groups

    def __enter__(self):
        self.t0 = {k: f() for k, f in self.groups.items()}
        self.m0 = machine_ticks()
        self.w0 = time.monotonic()
        return self

    def __exit__(self, *exc):
        self.t1 = {k: f() for k, f in self.groups.items()}
        self.m1 = machine_ticks()
        self.wall = time.monotonic() - self.w0
        return False

    def per_request(self, n):
        n = max(n, 1)
        return {k: round((self.t1[k] - self.t0[k]) * 1e6 / CLK_TCK / n, 1) for k in self.groups}

    def machine_busy_pct(self):
        busy, total = self.m1[0] - self.m0[0], self.m1[1] - self.m0[1]
        return round(100.0 * busy / total, 1) if total else None


def run_wrk(url, script=None, seconds=SECONDS, connections=CONNECTIONS, timeout_s=None, headers=()):
    args = ["wrk", "-t1", "-c%d" % connections, "-d%ds" % seconds, "--latency"]
    if timeout_s:
        args += ["--timeout", "%ds" % timeout_s]
    if script:
        args += ["-s", script]
    for h in headers:
        args += ["-H", h]
    r = subprocess.run(args + [url], capture_output=True, text=True, timeout=seconds + 120)
    return parse_wrk(r.stdout), r.stdout + r.stderr


def run_pgbench(pg, db, script, seconds, clients, mode="prepared", check=False):
    """pgbench -M mode (prepared: named statements; extended: each call parsed and planned, as the
    responders' DATABASE_STATEMENTS=unnamed) of script (readable by the postgres user) on db;
    parse_pgbench's figures. No summary: printed, or harness.Fail when check."""
    cmd = (["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []) + \
        ["pgbench", "-n", "-M", mode, "-c", str(clients), "-j", "2", "-T", str(seconds), "-f", script,
         "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", db]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 300, cwd="/")
    res = parse_pgbench(r.stdout)
    if res["tps"] == 0 or r.returncode != 0:
        text = "pgbench on %s: exit %d, no summary:\n%s%s" % (db, r.returncode, r.stdout[-1500:], r.stderr[-1500:])
        if check:
            raise harness.Fail(text)
        print("bench: " + text)
    return res


def count(pg, sql, db="backend"):
    return int(pg.psql(sql, db=db).strip().splitlines()[-1])


def default_workers():
    """The stack's FCGI_WORKERS default: what `backend lighttpd-vars` says without the variable."""
    r = harness.lighttpd_vars({"FCGI_WORKERS": None})
    m = re.search(r"^var\.workers = (\d+)$", r.stdout, re.M)
    if not m:
        raise harness.Fail("backend lighttpd-vars printed no FCGI_WORKERS: %s %s" % (r.stdout, r.stderr))
    return int(m.group(1))


def stack_env(extra=None):
    env = {"RATE_LIMIT_EVENTS": 0, "RATE_LIMIT_CAPTURE": 0, "RATE_LIMIT_SUMMARY": 0, "LOG_LEVEL": "warn",
           "TRUSTED_PROXIES": "127.0.0.1", "CLIENT_IP_HEADER": "Fly-Client-IP",
           # the site's own page origin, as in production (ENFORCE_ORIGIN refuses writes from others)
           "CORS_ALLOWED_ORIGINS": "https://example.com"}
    env.update(extra or {})
    return env


def start_scheduler(env):
    return subprocess.Popen([harness.BACKEND_BIN, "scheduler"], env=env, cwd="/", stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def stop_process(p):
    if p and p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)


def wait_first_jobs(pg):
    # let the scheduler's first rollup, purge and salts finish before measuring, so they do not land
    # in the load
    harness.wait_until(lambda: count(pg, "SELECT count(*) FROM job_runs WHERE last_finished_at IS NOT NULL") >= 3,
                       60, 0.2, "the scheduler's first jobs")


class Files:
    """The wrk and pgbench scripts in a temp dir readable by the postgres user (pgbench runs as it)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="bench-")
        os.chmod(self.dir, 0o755)
        self.events = self._write("events.lua", WRK_SCRIPT)
        self.capture = self._write("capture.lua", WRK_CAPTURE_SCRIPT)
        self.ingest = self._write("ingest.sql", PGBENCH_SCRIPT)
        self.floor = self._write("floor.sql", FLOOR_SCRIPT)

    def _write(self, name, text):
        p = os.path.join(self.dir, name)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, 0o644)
        return p

    def cleanup(self):
        harness.shutil.rmtree(self.dir, ignore_errors=True)


def new_postgres(fast):
    pg = harness.BenchPostgres(durable=not fast)
    r = harness.migrate(harness.service_env(pg.url()))
    if r.returncode != 0:
        pg.cleanup()
        raise harness.Fail("migrate failed:\n" + r.stdout + r.stderr)
    return pg


def create_reference_dbs(pg):
    """The other databases of the cluster: the Node-era schema in `original` (0001 + 0002 through
    psql), and the floor's table in `floor`."""
    pg.create_db(ORIGINAL_DB)
    for name in ORIGINAL_MIGRATIONS:
        pg.psql(file=os.path.join(APP_HOME, "migrations", name), db=ORIGINAL_DB, timeout=120)
    pg.create_db(FLOOR_DB)
    pg.psql(FLOOR_SETUP, db=FLOOR_DB)


# ---------------------------------------------------------------------------------------------
# default mode


def seed_rollups(pg):
    """366 days of rollups ending today (rows the scheduler already wrote are kept). Returns the
    number of breakdown rows and the dates (today, today - 365)."""
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
    n_rows = count(pg, "SELECT count(*) FROM daily_breakdown_rollups")
    to, frm = pg.psql("SELECT (now() AT TIME ZONE 'UTC')::date, (now() AT TIME ZONE 'UTC')::date - 365") \
        .strip().splitlines()[-1].split("|")
    return n_rows, to, frm


def read_api_bench(pg, url, groups):
    """Each read endpoint driven by wrk (1 s warm-up, then READ_SECONDS). Returns (breakdown rows,
    [{name, path, wrk figures, cpu_us by group}])."""
    n_rows, to, frm = seed_rollups(pg)
    w = "from=%s&to=%s" % (frm, to)
    d30 = (datetime.date.fromisoformat(to) - datetime.timedelta(days=29)).isoformat()
    endpoints = [
        ("summary 30 days", "/v1/metrics/summary?from=%s&to=%s" % (d30, to)),
        ("summary 366 days", "/v1/metrics/summary?" + w),
        ("timeseries day (366 buckets)", "/v1/metrics/timeseries?interval=day&" + w),
        ("timeseries week", "/v1/metrics/timeseries?interval=week&" + w),
        ("timeseries month", "/v1/metrics/timeseries?interval=month&" + w),
        ("breakdown page (limit 10, 366 d)", "/v1/metrics/breakdown?dimension=page&limit=10&" + w),
        ("breakdown page 30 days", "/v1/metrics/breakdown?dimension=page&from=%s&to=%s" % (d30, to)),
        ("realtime", "/v1/metrics/realtime"),
        ("export.csv daily (366 rows)", "/v1/metrics/export.csv?dimension=daily&" + w),
        ("export.csv page (366 d, all values)", "/v1/metrics/export.csv?dimension=page&" + w),
    ]
    auth = ("Authorization: Bearer " + harness.ADMIN_KEY,)
    rows = []
    for name, path in endpoints:
        run_wrk(url + path, seconds=1, connections=READ_CONNECTIONS, headers=auth)  # warm up
        with Meter(groups) as m:
            r, _ = run_wrk(url + path, seconds=READ_SECONDS, connections=READ_CONNECTIONS, headers=auth)
        rows.append(dict(r, name=name, path=path, cpu_us=m.per_request(r["requests"]),
                         machine_busy_pct=m.machine_busy_pct()))
    return n_rows, rows


def run_default(variant, fast, workers, files):
    """One default-mode run on a fresh Postgres (variant "direct|pgbouncer:unnamed|prepared").
    Returns its figures (the JSON's "default" part)."""
    db, _, statements = variant.partition(":")
    via_pgbouncer = db == "pgbouncer"
    pg = new_postgres(fast)
    bouncer = sched = None
    try:
        create_reference_dbs(pg)
        url_db = pg.url()
        if via_pgbouncer:
            bouncer = harness.PgBouncer(pg, pool_size=workers)
            url_db = bouncer.url()
        with harness.Stack(url_db, env=stack_env({"DIRECT_DATABASE_URL": pg.url(), "DATABASE_STATEMENTS": statements}),
                           workers=workers) as st:
            url = "http://127.0.0.1:%d" % st.port
            responders = st.responder_pids()
            sched = start_scheduler(st.env)
            wait_first_jobs(pg)
            idle = {"lighttpd": memory([st.pid]), "responders": memory(responders), "scheduler": memory([sched.pid])}

            def pg_ticks():
                return tree_ticks(pg._postmaster_pid()) + (tree_ticks(bouncer.proc.pid) if bouncer else 0)
            groups = {"lighttpd": lambda: cpu_ticks(st.pid),
                      "responders": lambda: sum(cpu_ticks(p) for p in responders),
                      "postgres": pg_ticks,
                      "scheduler": lambda: cpu_ticks(sched.pid) if sched.poll() is None else 0}

            # the same warm-up for the three: connections, prepared statements, caches
            # the pgbench steps: database and script
            pgbench_steps = {"ceiling_current": ("backend", files.ingest),
                             "ceiling_original": (ORIGINAL_DB, files.ingest), "floor": (FLOOR_DB, files.floor)}
            run_wrk(url, files.events, seconds=WARMUP_SECONDS)
            for dbname, script in pgbench_steps.values():
                run_pgbench(pg, dbname, script, WARMUP_SECONDS, CONNECTIONS)

            order = ("events",) + tuple(pgbench_steps)
            rounds = {step: [] for step in order}
            for i in range(ROUNDS):
                for step in (order if i % 2 == 0 else order[::-1]):
                    print("  round %d: %s" % (i + 1, step), flush=True)
                    if step == "events":
                        n0 = count(pg, "SELECT count(*) FROM events")
                        with Meter(groups) as m:
                            r, _ = run_wrk(url, files.events)
                        r.update(rows_stored=count(pg, "SELECT count(*) FROM events") - n0,
                                 cpu_us=m.per_request(r["requests"]), machine_busy_pct=m.machine_busy_pct())
                    else:
                        with Meter({"postgres": pg_ticks}) as m:
                            r = run_pgbench(pg, *pgbench_steps[step], SECONDS, CONNECTIONS)
                        r.update(cpu_us=m.per_request(r["transactions"]), machine_busy_pct=m.machine_busy_pct())
                    rounds[step].append(r)
            loaded = {"lighttpd": memory([st.pid]), "responders": memory(responders), "scheduler": memory([sched.pid])}
            stop_process(sched)

            leads0 = count(pg, "SELECT count(*) FROM leads")
            cap_groups = {k: v for k, v in groups.items() if k != "scheduler"}
            with Meter(cap_groups) as m:
                cap, _ = run_wrk(url, files.capture)
            cap.update(leads_stored=count(pg, "SELECT count(*) FROM leads") - leads0,
                       cpu_us=m.per_request(cap["requests"]), machine_busy_pct=m.machine_busy_pct())
            n_rows, reads = read_api_bench(pg, url, cap_groups)
            restarted = st.responder_pids() != responders
    finally:
        stop_process(sched)
        if bouncer:
            bouncer.cleanup()
        pg.cleanup()

    out = {"variant": variant, "workers": workers, "responders_restarted": restarted,
           "memory": {"idle": idle, "loaded": loaded}, "captures": cap, "breakdown_rows": n_rows, "reads": reads}
    for k, rs in rounds.items():
        out[k] = summarize(rs)
    ev, cur, orig = out["events"], out["ceiling_current"], out["ceiling_original"]
    if cur["tps"]:
        out["http_pct_of_current"] = round(100.0 * ev["rps"] / cur["tps"], 1)
    if orig["tps"]:
        out["http_pct_of_original"] = round(100.0 * ev["rps"] / orig["tps"], 1)
    return out


def summarize(rounds):
    """The rounds' mean of every number (CPU per group too), with min/max of the throughput."""
    out = {"rounds": rounds}
    for k in rounds[0]:
        vals = [r[k] for r in rounds if isinstance(r.get(k), (int, float)) and not isinstance(r.get(k), bool)]
        if vals and len(vals) == len(rounds):
            out[k] = round(statistics.mean(vals), 2)
    cpu = [r["cpu_us"] for r in rounds if "cpu_us" in r]
    if cpu:
        out["cpu_us"] = {k: round(statistics.mean(c[k] for c in cpu), 1) for k in cpu[0]}
    for k in ("rps", "tps"):
        if k in out:
            out[k + "_min"] = min(r[k] for r in rounds)
            out[k + "_max"] = max(r[k] for r in rounds)
    return out


def print_default(d):
    ev, cur, orig, cap = d["events"], d["ceiling_current"], d["ceiling_original"], d["captures"]
    print("== default mode: %s, %d responders, %d connections, %d x %d s rounds (order alternates: "
          "HTTP, current, original; then original, current, HTTP; ...)" %
          (d["variant"], d["workers"], CONNECTIONS, ROUNDS, SECONDS))
    print("  %-34s %9s %17s %9s %9s %9s %9s %9s %6s" % (
        "", "req/s", "p50 / p99 ms", "errors", "lighttpd", "respond.", "postgres", "sched.", "busy%"))
    print("  %-34s %9s %17s %9s %39s" % ("", "", "", "", "CPU us per request"))

    def row(name, r, extra_cpu=True):
        c = r.get("cpu_us", {})
        print("  %-34s %9s %17s %9s %9s %9s %9s %9s %6s" % (
            name, fmt_num(r.get("rps", r.get("tps"))),
            "%s / %s" % (fmt_num(r.get("p50_ms")), fmt_num(r.get("p99_ms"))) if "p50_ms" in r else
            "avg %s" % fmt_num(r.get("latency_avg_ms")),
            int(r.get("non2xx", 0) + r.get("socket_errors", 0) + r.get("failed", 0)),
            fmt_num(c.get("lighttpd")), fmt_num(c.get("responders")), fmt_num(c.get("postgres")),
            fmt_num(c.get("scheduler")), fmt_num(r.get("machine_busy_pct"))))
    for i, r in enumerate(ev["rounds"]):
        row("POST /v1/events, round %d" % (i + 1), r)
    row("POST /v1/events, mean", ev)
    for i, r in enumerate(cur["rounds"]):
        row("ceiling, current schema, round %d" % (i + 1), r)
    row("ceiling, current schema, mean", cur)
    for i, r in enumerate(orig["rounds"]):
        row("ceiling, original schema, round %d" % (i + 1), r)
    row("ceiling, original schema, mean", orig)
    if "floor" in d:
        for i, r in enumerate(d["floor"]["rounds"]):
            row("floor: 1-row INSERT tx, round %d" % (i + 1), r)
        row("floor: 1-row INSERT tx, mean", d["floor"])
    row("POST /v1/leads/capture", cap)
    print("  events: rows stored %d per round (mean); captures: leads stored %d; responders restarted: %s" % (
        ev.get("rows_stored", 0), cap.get("leads_stored", 0), "YES" if d["responders_restarted"] else "no"))
    print("  HTTP events/s = %s%% of the current-schema ceiling, %s%% of the original-schema ceiling" % (
        fmt_num(d.get("http_pct_of_current")), fmt_num(d.get("http_pct_of_original"))))
    print("  read APIs: 366 days of rollups (%d breakdown rows), wrk -c%d for %d s each" %
          (d["breakdown_rows"], READ_CONNECTIONS, READ_SECONDS))
    for r in d["reads"]:
        row(r["name"], r)
    print("  memory (KiB)         idle RSS / PSS        under load: peak RSS / PSS")
    idle, loaded = d["memory"]["idle"], d["memory"]["loaded"]
    for name in ("lighttpd", "responders", "scheduler"):
        for i in range(len(idle[name]["rss_kb"])):
            label = name if len(idle[name]["rss_kb"]) == 1 else "%s[%d]" % (name[:-1], i)
            print("  %-19s %6d / %6d        %6d / %6d" % (label, idle[name]["rss_kb"][i], idle[name]["pss_kb"][i],
                                                       loaded[name]["hwm_kb"][i], loaded[name]["pss_kb"][i]))
    total = sum(sum(loaded[n]["pss_kb"]) for n in loaded)
    print("  total PSS under load: %d KiB (%.1f MiB)" % (total, total / 1024.0))


# ---------------------------------------------------------------------------------------------
# --fly


class Cgroup:
    """A cgroup for the app: one core (cpuset), FLY_QUOTA_US per FLY_PERIOD_US of CPU, FLY_MEMORY.
    v1 (separate cpu, cpuset and memory hierarchies) or v2 (unified), detected. Made below the
    bench's own cgroup of each hierarchy (v2: beside it, its parent delegating the controllers), so
    whatever limits the bench runs under still apply; removed by cleanup()."""

    V1 = ("cpu", "cpuset", "memory")

    def __init__(self, name, cpu):
        self.cpu = cpu
        self.paths, self.home = {}, {}
        own = {}
        with open("/proc/self/cgroup") as f:
            for line in f:
                _, ctrls, path = line.rstrip("\n").split(":", 2)
                for c in ctrls.split(",") if ctrls else [""]:
                    own[c] = path
        if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
            self.version = 2
            base = "/sys/fs/cgroup" + own.get("", "/")
            parent = base if own.get("", "/") == "/" else os.path.dirname(base)
            self._write(os.path.join(parent, "cgroup.subtree_control"), "+cpu +cpuset +memory")
            path = os.path.join(parent, name)
            os.mkdir(path)
            self.paths, self.home = {"": path}, {"": base}
            self._write(os.path.join(path, "cpu.max"), "%d %d" % (FLY_QUOTA_US, FLY_PERIOD_US))
            self._write(os.path.join(path, "cpuset.cpus"), str(cpu))
            self._write(os.path.join(path, "memory.max"), str(FLY_MEMORY))
        else:
            self.version = 1
            try:
                for c in self.V1:
                    mount = os.path.realpath("/sys/fs/cgroup/" + c)
                    if not os.path.exists(os.path.join(mount, "cgroup.procs")):
                        raise harness.Fail("no cgroup v1 %s hierarchy at %s" % (c, mount))
                    base = mount + own.get(c, "/").rstrip("/")
                    self.home[c] = base
                    self.paths[c] = os.path.join(base, name)
                    os.mkdir(self.paths[c])
                cs = self.paths["cpuset"]
                self._write(os.path.join(cs, "cpuset.cpus"), str(cpu))
                self._write(os.path.join(cs, "cpuset.mems"), self._read(os.path.join(self.home["cpuset"], "cpuset.mems")))
                cp = self.paths["cpu"]
                self._write(os.path.join(cp, "cpu.cfs_period_us"), str(FLY_PERIOD_US))
                self._write(os.path.join(cp, "cpu.cfs_quota_us"), str(FLY_QUOTA_US))
                if os.path.exists(os.path.join(cp, "cpu.cfs_burst_us")):
                    self._write(os.path.join(cp, "cpu.cfs_burst_us"), "0")
                self._write(os.path.join(self.paths["memory"], "memory.limit_in_bytes"), str(FLY_MEMORY))
            except BaseException:
                self.cleanup()
                raise

    @staticmethod
    def _write(path, value):
        with open(path, "w") as f:
            f.write(value)

    @staticmethod
    def _read(path):
        with open(path) as f:
            return f.read().strip()

    def enter(self, pid):
        """Moves pid in; what it starts from now on is born inside."""
        for c, p in self.paths.items():
            self._write(os.path.join(p, "cgroup.procs"), str(pid))

    def leave(self, pid):
        for c, p in self.home.items():
            self._write(os.path.join(p, "cgroup.procs"), str(pid))

    def members(self):
        out = set()
        for p in self.paths.values():
            try:
                out.update(int(x) for x in self._read(os.path.join(p, "cgroup.procs")).split())
            except OSError:
                pass
        return out

    def stats(self):
        """CPU throttling and memory: peak, limit hits."""
        s = {"version": self.version, "cpu": self.cpu, "quota_us": FLY_QUOTA_US, "period_us": FLY_PERIOD_US,
             "memory_limit_bytes": FLY_MEMORY}
        cpu_dir = self.paths.get("cpu", self.paths.get(""))
        mem_dir = self.paths.get("memory", self.paths.get(""))
        try:
            cs = dict(line.split() for line in self._read(os.path.join(cpu_dir, "cpu.stat")).splitlines())
            s["nr_periods"] = int(cs.get("nr_periods", 0))
            s["nr_throttled"] = int(cs.get("nr_throttled", 0))
            s["throttled_ms"] = round(int(cs["throttled_time"]) / 1e6 if "throttled_time" in cs
                                      else int(cs.get("throttled_usec", 0)) / 1e3, 1)
        except (OSError, ValueError):
            pass
        try:
            if self.version == 1:
                s["memory_peak_bytes"] = int(self._read(os.path.join(mem_dir, "memory.max_usage_in_bytes")))
                s["memory_failcnt"] = int(self._read(os.path.join(mem_dir, "memory.failcnt")))
                s["memory_cap_hit"] = s["memory_failcnt"] > 0
            else:
                ev = dict(line.split() for line in self._read(os.path.join(mem_dir, "memory.events")).splitlines())
                peak = os.path.join(mem_dir, "memory.peak")
                if os.path.exists(peak):
                    s["memory_peak_bytes"] = int(self._read(peak))
                s["memory_max_events"] = int(ev.get("max", 0))
                s["memory_oom_kills"] = int(ev.get("oom_kill", 0))
                s["memory_cap_hit"] = s["memory_max_events"] > 0
        except (OSError, ValueError):
            pass
        return s

    def cleanup(self):
        for p in self.paths.values():
            for _ in range(50):
                try:
                    os.rmdir(p)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)  # its last processes are still exiting
            else:
                sys.stderr.write("bench: could not remove cgroup %s\n" % p)


def run_fly(fast, workers, files):
    """The app in the Fly-sized cgroup, Postgres outside it. Returns the JSON's "fly" part."""
    pg = new_postgres(fast)
    cg = sched = st = None
    try:
        core = max(os.sched_getaffinity(0))
        cg = Cgroup("bench-fly-%d" % os.getpid(), core)
        # the bench steps in only while it starts the app, so lighttpd, the responders it spawns and
        # the scheduler are born inside (their memory charged there from the first page)
        cg.enter(os.getpid())
        try:
            st = harness.Stack(pg.url(), env=stack_env(), workers=workers)
            sched = start_scheduler(st.env)
        finally:
            cg.leave(os.getpid())
        responders = st.responder_pids()
        app = [st.pid, sched.pid] + responders
        outside = [p for p in app if p not in cg.members()]
        if outside:
            raise harness.Fail("processes outside the cgroup: %s" % outside)
        wait_first_jobs(pg)
        url = "http://127.0.0.1:%d" % st.port
        run_wrk(url, files.events, seconds=FLY_WARMUP, timeout_s=10)  # the first periods' slack spent
        before = cg.stats()
        groups = {"lighttpd": lambda: cpu_ticks(st.pid), "responders": lambda: sum(cpu_ticks(p) for p in responders),
                  "scheduler": lambda: cpu_ticks(sched.pid), "postgres": lambda: tree_ticks(pg._postmaster_pid())}
        with Meter(groups) as m:
            r, _ = run_wrk(url, files.events, seconds=FLY_SECONDS, timeout_s=10)
        after = cg.stats()
        cpu = m.per_request(r["requests"])
        out = dict(r, seconds=FLY_SECONDS, workers=workers, cpu_us=cpu,
                   app_cpu_us=round(cpu["lighttpd"] + cpu["responders"] + cpu["scheduler"], 1),
                   machine_busy_pct=m.machine_busy_pct(), cgroup=after,
                   throttled_periods=after.get("nr_throttled", 0) - before.get("nr_throttled", 0),
                   periods=after.get("nr_periods", 0) - before.get("nr_periods", 0),
                   responders_restarted=st.responder_pids() != responders,
                   memory_pss_kb=sum(pss_kb(p) for p in app))
        return out
    finally:
        stop_process(sched)
        if st:
            st.cleanup()
        if cg:
            cg.cleanup()
        pg.cleanup()


def print_fly(f):
    print("== --fly: app (lighttpd + %d responders + scheduler) in a cgroup v%s: cpu %s, %d us per %d us, %d MiB; "
          "wrk -c%d for %d s after %d s" % (f["workers"], f["cgroup"]["version"], f["cgroup"]["cpu"], FLY_QUOTA_US,
                                            FLY_PERIOD_US, FLY_MEMORY >> 20, CONNECTIONS, f["seconds"], FLY_WARMUP))
    print("  sustained events/s   %s   p50 / p99 %s / %s ms   errors %d" % (
        fmt_num(f["rps"]), fmt_num(f["p50_ms"]), fmt_num(f["p99_ms"]), f["non2xx"] + f["socket_errors"]))
    c = f["cpu_us"]
    print("  CPU us per event     app %s (lighttpd %s, responders %s, scheduler %s); postgres %s (outside)" % (
        fmt_num(f["app_cpu_us"]), fmt_num(c["lighttpd"]), fmt_num(c["responders"]), fmt_num(c["scheduler"]),
        fmt_num(c["postgres"])))
    g = f["cgroup"]
    print("  throttled            %d of %d periods" % (f["throttled_periods"], f["periods"]))
    print("  memory               peak %s MiB of %d, cap hit: %s (%s), PSS at the end %.1f MiB" % (
        fmt_num(g.get("memory_peak_bytes", 0) / 1048576.0) if g.get("memory_peak_bytes") is not None else "?",
        FLY_MEMORY >> 20, "YES" if g.get("memory_cap_hit") else "no",
        "failcnt %s" % g.get("memory_failcnt") if g["version"] == 1 else "memory.events max %s" %
        g.get("memory_max_events"), f["memory_pss_kb"] / 1024.0))
    print("  responders restarted: %s; machine busy %s%%" % ("YES" if f["responders_restarted"] else "no",
                                                          fmt_num(f["machine_busy_pct"])))


# ---------------------------------------------------------------------------------------------
# --rtt


CLONE_NEWNET = 0x40000000


def netem_available():
    """(True, "") when tc can put netem on a namespace's loopback, else (False, why)."""
    r = subprocess.run(["unshare", "--net", "sh", "-c",
                        "ip link set lo up && tc qdisc add dev lo root netem delay 1ms"],
                       capture_output=True, text=True, timeout=30)
    return r.returncode == 0, (r.stderr.strip() or r.stdout.strip())[-300:]


def netem_on_port(port, ms):
    """In the current (the bench's own) namespace: the packets to and from port wait ms/2 on lo
    (htb's default class takes the rest, undelayed), so a round trip with Postgres gains ms."""
    half = "%.3fms" % (ms / 2.0)
    cmds = [["ip", "link", "set", "lo", "up"],
            ["tc", "qdisc", "add", "dev", "lo", "root", "handle", "1:", "htb", "default", "10"],
            ["tc", "class", "add", "dev", "lo", "parent", "1:", "classid", "1:10", "htb", "rate", "100gbit"],
            ["tc", "class", "add", "dev", "lo", "parent", "1:", "classid", "1:20", "htb", "rate", "100gbit"],
            ["tc", "qdisc", "add", "dev", "lo", "parent", "1:20", "handle", "20:", "netem", "delay", half]]
    for d in ("dport", "sport"):
        cmds.append(["tc", "filter", "add", "dev", "lo", "parent", "1:", "protocol", "ip", "prio", "1", "u32",
                     "match", "ip", d, str(port), "0xffff", "flowid", "1:20"])
    for c in cmds:
        r = subprocess.run(c, capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise harness.Fail("%s: %s" % (" ".join(c), r.stderr.strip()))


class Relay:
    """rtt_relay in front of Postgres: 127.0.0.1:<free port> -> 127.0.0.1:target, ms/2 each way."""

    def __init__(self, target_port, ms):
        if not os.access(RELAY_BIN, os.X_OK):
            raise harness.Fail("%s is missing (make %s)" % (RELAY_BIN, os.path.relpath(RELAY_BIN, APP_HOME)))
        self.proc = subprocess.Popen([RELAY_BIN, str(target_port), str(int(ms * 500))], stdout=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True, start_new_session=True)
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "listening":
            self.cleanup()
            raise harness.Fail("rtt_relay did not start (said %r)" % line)
        self.port = int(line[1])

    def cleanup(self):
        stop_process(self.proc)
        self.proc.stdout.close()


def rtt_points(fast, ms, workers, sweep, files, use_netem):
    """POST /v1/events with ms of added round trip to Postgres at `workers` responders (and at
    RTT_SWEEP_WORKERS when sweep), a fresh stack per point on one Postgres."""
    pg = new_postgres(fast)
    relay = None
    try:
        if use_netem:
            netem_on_port(pg.port, ms)
            db_url = pg.url()
        else:
            relay = Relay(pg.port, ms)
            db_url = "postgresql://postgres@127.0.0.1:%d/backend" % relay.port
        # the round trip as the app sees it: a trivial query through the delayed path
        rtt_seen = measure_rtt(db_url)
        counts = [workers] + ([w for w in RTT_SWEEP_WORKERS if w != workers] if sweep else [])
        points = []
        for w in sorted(counts):
            print("  --rtt %s: %d responders" % (ms, w), flush=True)
            with harness.Stack(db_url, env=stack_env({"DIRECT_DATABASE_URL": db_url}), workers=w) as st:
                responders = st.responder_pids()
                url = "http://127.0.0.1:%d" % st.port
                run_wrk(url, files.events, seconds=WARMUP_SECONDS)
                groups = {"lighttpd": lambda: cpu_ticks(st.pid),
                          "responders": lambda: sum(cpu_ticks(p) for p in responders),
                          "postgres": lambda: tree_ticks(pg._postmaster_pid()),
                          "relay": lambda: cpu_ticks(relay.proc.pid) if relay else 0}
                with Meter(groups) as m:
                    r, _ = run_wrk(url, files.events)
                points.append(dict(r, workers=w, default_workers=(w == workers), cpu_us=m.per_request(r["requests"]),
                                   machine_busy_pct=m.machine_busy_pct(),
                                   responders_restarted=st.responder_pids() != responders))
        return {"ms": ms, "method": "netem" if use_netem else "relay", "measured_rtt_ms": rtt_seen, "points": points}
    finally:
        if relay:
            relay.cleanup()
        pg.cleanup()


def measure_rtt(db_url):
    """Median of 20 `SELECT 1` round trips through db_url, in ms (psql's \\timing)."""
    r = subprocess.run([os.path.join(harness.PG_BIN, "psql"), "-X", "-q", "-A", "-t", db_url],
                       input="\\timing on\n" + "SELECT 1;\n" * 21, capture_output=True, text=True, timeout=60)
    times = [float(x) for x in re.findall(r"Time: ([\d.]+) ms", r.stdout)][1:]
    return round(statistics.median(times), 2) if times else None


def run_rtt(fast, ms, workers, sweep, files):
    ok, why = netem_available()
    if not ok:
        print("  tc netem is not available (%s): using tests/bench/rtt_relay.c instead" % why, flush=True)
        res = rtt_points(fast, ms, workers, sweep, files, False)
        res["netem_unavailable"] = why
        return res
    # netem: the whole --rtt run in a network namespace of its own (a forked child that unshares),
    # so the qdisc touches no other traffic of the machine
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        code = 1
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.unshare(CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET)")
            subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=30)
            res = rtt_points(fast, ms, workers, sweep, files, True)
            os.write(wfd, json.dumps(res).encode())
            code = 0
        except BaseException as e:
            os.write(wfd, json.dumps({"error": "%s: %s" % (type(e).__name__, e)}).encode())
        finally:
            harness.cleanup_all()
            os._exit(code)
    os.close(wfd)
    data = b""
    while True:
        chunk = os.read(rfd, 65536)
        if not chunk:
            break
        data += chunk
    os.close(rfd)
    os.waitpid(pid, 0)
    res = json.loads(data.decode() or '{"error": "the namespace child said nothing"}')
    if "error" in res:
        raise harness.Fail("--rtt with netem: " + res["error"])
    return res


def print_rtt(r):
    print("== --rtt %s: the database behind an added %s ms round trip, by %s; SELECT 1 through it: %s ms" % (
        r["ms"], r["ms"], "tc netem in the bench's own network namespace" if r["method"] == "netem" else
        "rtt_relay (no sch_netem here; its CPU is its own column)", fmt_num(r["measured_rtt_ms"])))
    if r["measured_rtt_ms"] is None or r["measured_rtt_ms"] < r["ms"]:
        print("  WARNING: a SELECT 1 took %s ms, less than the added %s ms: the delay is not in place" % (
            fmt_num(r["measured_rtt_ms"]), r["ms"]))
    print("  %-12s %9s %17s %7s %9s %9s %9s %9s %6s" % ("responders", "events/s", "p50 / p99 ms", "errors",
                                                        "lighttpd", "respond.", "postgres", "relay", "busy%"))
    for p in r["points"]:
        c = p["cpu_us"]
        print("  %-12s %9s %17s %7d %9s %9s %9s %9s %6s" % (
            "%d%s" % (p["workers"], " (default)" if p["default_workers"] else ""), fmt_num(p["rps"]),
            "%s / %s" % (fmt_num(p["p50_ms"]), fmt_num(p["p99_ms"])), p["non2xx"] + p["socket_errors"],
            fmt_num(c["lighttpd"]), fmt_num(c["responders"]), fmt_num(c["postgres"]), fmt_num(c["relay"]),
            fmt_num(p["machine_busy_pct"])))


# ---------------------------------------------------------------------------------------------
# main


def git_revision():
    r = subprocess.run(["git", "-C", APP_HOME, "describe", "--always", "--dirty"], capture_output=True, text=True)
    return r.stdout.strip() or "unknown"


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def write_json(res):
    os.makedirs(OUT_DIR, exist_ok=True)
    path = os.path.join(OUT_DIR, "bench-%s.json" % res["started_at"].replace(":", "").replace("-", ""))
    for p in (path, os.path.join(OUT_DIR, "latest.json")):
        with open(p + ".tmp", "w") as f:
            json.dump(res, f, indent=1, sort_keys=True)
            f.write("\n")
        os.replace(p + ".tmp", p)
    return path


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="bench.py", description="make bench (see the module docstring)")
    ap.add_argument("--fast", action="store_true", help="fast commits (fsync, synchronous_commit, "
                    "full_page_writes off), as the tests; also BENCH_FAST=1")
    ap.add_argument("--fly", action="store_true", help="the app in a cgroup of Fly shared-cpu-1x's size")
    ap.add_argument("--rtt", type=float, metavar="MS", help="the database behind an added round trip of MS ms")
    ap.add_argument("--rtt-sweep", action="store_true", help="--rtt also at 2, 4, 8 and 16 responders")
    ap.add_argument("--all", action="store_true", help="default + --fly + --rtt 2")
    ap.add_argument("--compare", nargs=2, metavar=("A.json", "B.json"), help="two runs side by side")
    a = ap.parse_args(argv)
    if a.rtt is not None and not (0 < a.rtt <= 1000):
        ap.error("--rtt MS must be in (0, 1000]")
    if a.rtt_sweep and a.rtt is None:
        a.rtt = 2.0
    if a.rtt is not None and a.rtt == int(a.rtt):
        a.rtt = int(a.rtt)
    a.fast = a.fast or os.environ.get("BENCH_FAST") == "1"
    a.default = a.all or not (a.fly or a.rtt is not None)
    if a.all:
        a.fly = True
        a.rtt = a.rtt if a.rtt is not None else 2
    return a


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    if a.compare:
        docs = []
        for p in a.compare:
            with open(p) as f:
                docs.append(json.load(f))
        print(format_compare(docs[0], docs[1], os.path.basename(a.compare[0]), os.path.basename(a.compare[1])))
        return 0
    print("bench: %s" % ("FAST commits (fsync, synchronous_commit, full_page_writes off; --fast): not the "
                         "targets' conditions" if a.fast else
                         "durable commits (fsync, synchronous_commit, full_page_writes on)"), flush=True)
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
    workers = int(os.environ["BENCH_WORKERS"]) if os.environ.get("BENCH_WORKERS") else default_workers()
    res = {"schema": 1, "started_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
           "git_revision": git_revision(),
           "backend_version": harness.backend(["--version"], {}).stdout.strip(),
           "machine": {"nproc": os.cpu_count(), "loadavg_before": loadavg()},
           "settings": {"durability": "fast" if a.fast else "durable", "workers": workers,
                        "workers_from": "BENCH_WORKERS" if os.environ.get("BENCH_WORKERS") else "FCGI_WORKERS default",
                        "connections": CONNECTIONS, "seconds": SECONDS, "rounds": ROUNDS,
                        "read_seconds": READ_SECONDS, "read_connections": READ_CONNECTIONS,
                        "fly_seconds": FLY_SECONDS, "fly_warmup": FLY_WARMUP, "rtt_ms": a.rtt,
                        "rtt_sweep": a.rtt_sweep, "variants": variants},
           "modes": [m for m, on in (("default", a.default), ("fly", a.fly), ("rtt", a.rtt is not None)) if on]}
    print("bench: %s, %d responders (%s), %d connections, load average before %s, nproc %d" % (
        res["git_revision"], workers, res["settings"]["workers_from"], CONNECTIONS,
        " ".join("%.2f" % x for x in res["machine"]["loadavg_before"]), os.cpu_count()), flush=True)
    files = Files()
    rc = 0
    try:
        if a.default:
            runs = {}
            for v in variants:
                print("== default mode, variant %s" % v, flush=True)
                d = runs[v] = run_default(v, a.fast, workers, files)
                print_default(d)
                errors = d["events"].get("non2xx", 0) + d["events"].get("socket_errors", 0) + \
                    d["captures"]["non2xx"] + d["captures"]["socket_errors"] + \
                    sum(r["non2xx"] + r["socket_errors"] for r in d["reads"])
                if errors or not d["ceiling_current"]["tps"] or not d["ceiling_original"]["tps"]:
                    rc = 1
            # the first variant fills the targets; the others are kept beside it
            res["default"] = runs[variants[0]]
            if len(variants) > 1:
                res["other_variants"] = {v: runs[v] for v in variants[1:]}
                print("== variants compared (run one after the other on this machine)")
                print("  %-20s %9s %17s %11s %17s" % ("variant", "events/s", "p50 / p99 ms", "captures/s",
                                                      "p50 / p99 ms"))
                for v, d in runs.items():
                    print("  %-20s %9s %17s %11s %17s" % (
                        v, fmt_num(d["events"]["rps"]), "%s / %s" % (fmt_num(d["events"]["p50_ms"]),
                                                                     fmt_num(d["events"]["p99_ms"])),
                        fmt_num(d["captures"]["rps"]), "%s / %s" % (fmt_num(d["captures"]["p50_ms"]),
                                                                     fmt_num(d["captures"]["p99_ms"]))))
        if a.fly:
            try:
                res["fly"] = run_fly(a.fast, workers, files)
                print_fly(res["fly"])
            except (harness.Fail, OSError) as e:
                print("bench: --fly failed: %s" % e)
                res["fly"] = {"error": str(e)}
                rc = 1
        if a.rtt is not None:
            print("== --rtt %s" % a.rtt, flush=True)
            try:
                res["rtt"] = run_rtt(a.fast, a.rtt, workers, a.rtt_sweep, files)
                print_rtt(res["rtt"])
            except (harness.Fail, OSError) as e:
                print("bench: --rtt failed: %s" % e)
                res["rtt"] = {"ms": a.rtt, "error": str(e)}
                rc = 1
    finally:
        files.cleanup()
    res["machine"]["loadavg_after"] = loadavg()
    res["targets"] = targets_table(res)
    res["extra_targets"] = extra_targets(OUT_DIR)
    print("== targets (%s commits; load average before %s, after %s)" % (
        res["settings"]["durability"], " ".join("%.2f" % x for x in res["machine"]["loadavg_before"]),
        " ".join("%.2f" % x for x in res["machine"]["loadavg_after"])))
    print(format_targets(res["targets"] + res["extra_targets"]))
    print("bench: JSON in %s (and latest.json)" % write_json(res))
    return rc


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        sys.exit(main())
    finally:
        harness.cleanup_all()
