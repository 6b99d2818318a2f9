"""test_bench.py - the parts of `make bench` (tests/bench/bench.py) that decide what it reports:
reading wrk's and pgbench's output, the targets table's met / not met / not run, the other benches'
target rows, --compare; the bench's Postgres really durable (and fast when asked); and
tests/bench/rtt_relay.c passing bytes unchanged, in order, with at least the added round trip
(a correctness property of the relay: it must delay, whatever the machine's speed)."""

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

import harness
from harness import APP_HOME, expect, expect_eq, test

sys.path.insert(0, os.path.join(APP_HOME, "tests", "bench"))
import bench  # noqa: E402

WRK_OUT = """Running 2s test @ http://127.0.0.1:8080
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    10.46ms    3.21ms  40.12ms   80.00%
    Req/Sec     3.07k   211.45     3.40k    70.00%
  Latency Distribution
     50%  812.00us
     75%   11.50ms
     90%   14.02ms
     99%    1.25s
  6112 requests in 2.00s, 1.13MB read
  Non-2xx or 3xx responses: 3
  Socket errors: connect 0, read 1, write 0, timeout 2
Requests/sec:   3055.12
Transfer/sec:    579.50KB
"""

PGBENCH_OUT = """transaction type: /tmp/bench-x/ingest.sql
scaling factor: 1
query mode: prepared
number of clients: 32
number of threads: 2
maximum number of tries: 1
duration: 10 s
number of transactions actually processed: 61234
number of failed transactions: 5 (0.008%)
latency average = 5.213 ms
initial connection time = 40.123 ms
tps = 6138.21 (without initial connection time)
"""


@test
def wrk_output_read():
    r = bench.parse_wrk(WRK_OUT)
    expect_eq(r["rps"], 3055.12, "requests/s")
    expect_eq(r["p50_ms"], 0.812, "p50 (812us) in ms")
    expect_eq(r["p99_ms"], 1250.0, "p99 (1.25s) in ms")
    expect_eq(r["requests"], 6112, "requests")
    expect_eq(r["non2xx"], 3, "non-2xx")
    expect_eq(r["socket_errors"], 3, "socket errors (read + timeout)")
    expect_eq(bench.latency_ms("2.5ms"), 2.5, "2.5ms")
    expect_eq(bench.latency_ms("1.5m"), 90000.0, "1.5m")
    expect_eq(bench.latency_ms("fast"), None, "an unreadable latency")
    empty = bench.parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")
    expect_eq((empty["rps"], empty["requests"], empty["p99_ms"]), (0.0, 0, None), "wrk that ran nothing")


@test
def pgbench_output_read():
    r = bench.parse_pgbench(PGBENCH_OUT)
    expect_eq(r, {"tps": 6138.21, "latency_avg_ms": 5.213, "transactions": 61234, "failed": 5}, "pgbench summary")
    expect_eq(bench.parse_pgbench("pgbench: error: connection refused\n")["tps"], 0.0, "pgbench that failed")


def result(durability="durable", connections=32, events_rps=5200.0, pg_us=140.0, lighttpd=20.0, responders=45.0,
           pct=101.0, summary_us=150.0, fly=None, rtt=None):
    res = {"settings": {"durability": durability, "connections": connections},
           "default": {"events": {"rps": events_rps, "cpu_us": {"postgres": pg_us, "lighttpd": lighttpd,
                                                                 "responders": responders, "scheduler": 0.0}},
                       "http_pct_of_original": pct,
                       "reads": [{"name": "summary 30 days", "cpu_us": {"responders": 90.0}},
                                 {"name": "summary 366 days", "cpu_us": {"responders": summary_us}}]}}
    if fly is not None:
        res["fly"] = fly
    if rtt is not None:
        res["rtt"] = rtt
    return res


def by_name(rows):
    return {r["name"].split(",")[0].split(" (")[0]: r for r in rows}


@test
def targets_met_not_met_and_not_run():
    rows = bench.targets_table(result(fly={"rps": 999.0}, rtt={"ms": 2, "points": [
        {"workers": 2, "default_workers": True, "rps": 2100.0}, {"workers": 16, "default_workers": False,
                                                                 "rps": 9000.0}]}))
    expect_eq(len(rows), 7, "target rows")
    got = {r["name"]: r["met"] for r in rows}
    expect_eq(list(got.values()), [True, True, True, False, False, True, True],
              "met per target (app CPU 65 > 60, fly 999 < 1000): %s" % got)
    rtt = [r for r in rows if "--rtt" in r["name"]][0]
    expect_eq(rtt["measured"], 2100.0, "the --rtt row takes the default responder count's point, not the best")
    # the boundaries are inclusive: exactly the target is met
    edge = bench.targets_table(result(events_rps=5000.0, pg_us=150.0, lighttpd=30.0, responders=30.0, pct=100.0,
                                      summary_us=200.0))
    expect_eq([r["met"] for r in edge][:4] + [edge[5]["met"]], [True] * 5, "values exactly at the targets")
    # modes that did not run say which flag runs them
    notes = {r["name"]: r["note"] for r in edge if r["met"] is None}
    expect(any(n == "not run (use --fly)" for n in notes.values()), "--fly row: %s" % notes)
    expect(any(n == "not run (use --rtt 2)" for n in notes.values()), "--rtt row: %s" % notes)
    only_fly = bench.targets_table({"settings": {"durability": "durable", "connections": 32}, "fly": {"rps": 1200.0}})
    expect_eq([r["met"] for r in only_fly], [None, None, None, None, True, None, None], "a --fly-only run")
    expect(only_fly[0]["note"] == "not run (default mode)", "default-mode rows of a --fly run: %s" % only_fly[0])
    # fast commits or another concurrency: measured, but not judged against the durable-32 targets
    fast = bench.targets_table(result(durability="fast", events_rps=9000.0))
    expect_eq((fast[0]["met"], fast[0]["measured"]), (None, 9000.0), "a --fast run's events/s row")
    expect("fast" in fast[0]["note"], "the note says why: %s" % fast[0]["note"])
    c16 = bench.targets_table(result(connections=16))
    expect(c16[0]["met"] is None and "16" in c16[0]["note"], "at 16 connections: %s" % c16[0])
    other = bench.targets_table(result(rtt={"ms": 5, "points": [{"workers": 2, "default_workers": True,
                                                                 "rps": 3000.0}]}))
    expect(other[6]["met"] is None and "--rtt 5" in other[6]["note"], "an --rtt 5 run: %s" % other[6])
    failed = bench.targets_table(result(fly={"error": "no cgroup"}))
    expect(failed[4]["met"] is None and "no cgroup" in failed[4]["note"], "a failed --fly: %s" % failed[4])
    text = bench.format_targets(rows)
    expect("NOT MET" in text and "≥ 5000 events/s" in text and "≤ 60 us" in text, "the table:\n" + text)


@test
def floor_beside_the_postgres_cpu_row():
    """The floor (one 1-row INSERT per durable transaction) is printed beside the Postgres CPU target,
    for scale, without changing whether the target is met."""
    res = result(pg_us=600.0)
    plain = bench.targets_table(res)
    expect("context" not in plain[1], "no floor measured, no context: %s" % plain[1])
    res["default"]["floor"] = {"tps": 9000.0, "cpu_us": {"postgres": 131.4}}
    rows = bench.targets_table(res)
    expect_eq((rows[1]["met"], rows[1].get("context")), (False, "a 1-row INSERT transaction: 131 us"),
              "the Postgres CPU row")
    line = [ln for ln in bench.format_targets(rows).splitlines() if ln.startswith("Postgres CPU")][0]
    expect("NOT MET [a 1-row INSERT transaction: 131 us]" in line, "the printed row: %r" % line)


@test
def other_benches_target_rows():
    d = tempfile.mkdtemp(prefix="bench-extra-")
    try:
        expect_eq(bench.extra_targets(d), [], "no files, no rows")
        with open(os.path.join(d, "purge.json"), "w") as f:
            json.dump({"bench": "purge", "time": "2026-12-07T09:00:00Z", "targets": [
                {"name": "purge of one month (5M events)", "target": "<= 60", "measured": 4.2, "unit": "s",
                 "met": True}]}, f)
        with open(os.path.join(d, "scale.json"), "w") as f:
            f.write("{not json")
        rows = bench.extra_targets(d)
        expect_eq(len(rows), 2, "rows: %s" % rows)
        expect_eq((rows[0]["name"], rows[0]["measured"], rows[0]["met"], rows[0]["source"]),
                  ("purge of one month (5M events)", 4.2, True, "purge.json (2026-12-07T09:00:00Z)"), "purge row")
        expect(rows[1]["source"].startswith("scale.json:") and rows[1]["met"] is None, "broken file: %s" % rows[1])
        text = bench.format_targets(rows)
        expect("[purge.json (2026-12-07T09:00:00Z)]" in text and "<= 60" in text, "table:\n" + text)
    finally:
        harness.shutil.rmtree(d, ignore_errors=True)


@test
def compare_two_runs():
    a = result(events_rps=3000.0)
    a["targets"] = bench.targets_table(a)
    a["default"]["events"]["rounds"] = [{"rps": 2900.0}, {"rps": 3100.0}]
    b = result(events_rps=4500.0, pg_us=100.0)
    b["targets"] = bench.targets_table(b)
    b["fly"] = {"rps": 1100.0}
    rows = {k: (va, vb, ch) for k, va, vb, ch in bench.compare(a, b)}
    expect_eq(rows["default.events.rps"], (3000.0, 4500.0, 50.0), "events/s side by side, +50%")
    expect_eq(rows["default.events.cpu_us.postgres"][:2], (140.0, 100.0), "postgres CPU side by side")
    expect_eq(rows["fly.rps"], (None, 1100.0, None), "a figure only the second run has")
    expect_eq(rows["default.reads.summary 366 days.cpu_us.responders"][:2], (150.0, 150.0), "reads keyed by name")
    expect(not any("rounds" in k for k in rows), "per-round figures are left to the summary: %s" % list(rows))
    text = bench.format_compare(a, b, "before.json", "after.json")
    expect("+50%" in text and "before" in text and "after" in text and ".json" not in text, "the comparison:\n" + text)
    expect("events/s, durable commits, 32 connections" in text and "3000 no" in text and "4500 no" in text,
           "targets of both runs:\n" + text)


@test(timeout=120)
def bench_postgres_durable_and_fast():
    for durable, want in ((True, "on"), (False, "off")):
        pg = harness.BenchPostgres(durable=durable)
        try:
            got = [pg.psql("SHOW %s" % k, db="postgres").strip() for k in
                   ("fsync", "synchronous_commit", "full_page_writes")]
            expect_eq(got, [want] * 3, "fsync, synchronous_commit, full_page_writes with durable=%s" % durable)
        finally:
            pg.cleanup()


def echo_server():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)

    def serve():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return

            def echo(c=c):
                with c:
                    while True:
                        data = c.recv(65536)
                        if not data:
                            return
                        c.sendall(data)
            threading.Thread(target=echo, daemon=True).start()
    threading.Thread(target=serve, daemon=True).start()
    return srv


@test(timeout=60)
def rtt_relay_adds_the_round_trip():
    relay_bin = bench.RELAY_BIN
    expect(os.access(relay_bin, os.X_OK), "%s missing (make %s)" % (relay_bin, os.path.relpath(relay_bin, APP_HOME)))
    bad = subprocess.run([relay_bin, "5432", "-1"], capture_output=True, text=True, timeout=10)
    expect_eq(bad.returncode, 2, "a negative delay is refused: %s" % bad.stderr)
    srv = echo_server()
    ms = 4.0
    relay = bench.Relay(srv.getsockname()[1], ms)
    try:
        s = socket.create_connection(("127.0.0.1", relay.port), timeout=10)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        rtts = []
        for i in range(5):
            msg = b"ping %d" % i
            t0 = time.monotonic()
            s.sendall(msg)
            got = b""
            while len(got) < len(msg):
                got += s.recv(100)
            rtts.append((time.monotonic() - t0) * 1000.0)
            expect_eq(got, msg, "echo %d through the relay" % i)
        expect(min(rtts) >= ms, "each round trip takes at least %s ms: %s" % (ms, ["%.2f" % x for x in rtts]))
        # a larger stream (more than the relay's held-bytes bound) arrives whole and in order
        big = os.urandom(1 << 20)
        threading.Thread(target=s.sendall, args=(big,), daemon=True).start()
        got = bytearray()
        while len(got) < len(big):
            chunk = s.recv(1 << 16)
            expect(chunk, "the relay closed after %d of %d bytes" % (len(got), len(big)))
            got += chunk
        expect(bytes(got) == big, "1 MiB through the relay and back, unchanged")
        # our end-of-stream reaches the server, whose close comes back through the relay
        s.shutdown(socket.SHUT_WR)
        expect_eq(s.recv(10), b"", "end of stream after the half-close")
        s.close()
    finally:
        relay.cleanup()
        srv.close()
    expect_eq(relay.proc.returncode, 0, "the relay's exit status on SIGTERM")
