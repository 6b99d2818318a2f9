"""test_edge.py - what lighttpd itself answers, and whose address it believes.

1. Every answer under /v1/ is JSON in the contract's envelope, lighttpd's own included: oversized,
   malformed and raw-socket requests (400, 405, 411, 413, 431, 501, 505) and a responder that died
   (500) or timed out (504) are answered from lighttpd/errors/ (server.errorfile-prefix), with no
   responder involved; other methods on /v1/healthz are 405 with Allow (mod_magnet).
2. The client address: only a peer in TRUSTED_PROXIES may set it, and only through the one header
   CLIENT_IP_HEADER names; checked through the stored ip_hash (HMAC of the address) and the
   rate-limit count."""

import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import tempfile
import threading
import time
import uuid

import harness
from harness import ALLOWED_ORIGIN, PEPPER, Fail, Stack, expect, expect_eq, test

DB = "itedge"
JSON_CT = "application/json; charset=utf-8"
HOST = "api.edge.test"


# ---- shared resources

def pg():
    return harness.shared_postgres()


def db_url():
    return harness.migrated_database(DB)


def edge_stack():
    return harness.shared("edge-main-stack", lambda: Stack(db_url(), workers=2))


def hmac_hex(msg):
    return hmac.new(PEPPER.encode(), msg.encode(), hashlib.sha256).hexdigest()


def event_ip_hash(event_id):
    out = pg().psql("SELECT ip_hash FROM events WHERE id = '%s'" % event_id, db=DB).strip()
    if not out:
        raise Fail("event %s not stored" % event_id)
    return out


def post_event(s, headers):
    h = {"Host": HOST, "Content-Type": "application/json"}
    h.update(headers)
    b = {"anonId": "it-edge-%s" % uuid.uuid4().hex[:12], "eventType": "page_view", "path": "/edge"}
    return s.request("POST", "/v1/events", json.dumps(b).encode(), h)


def stored_ip_hash(s, headers, what):
    r = post_event(s, headers)
    expect_eq(r.status, 202, "%s: status" % what, r)
    return event_ip_hash(r.json["eventId"])


def expect_envelope(what, status, hdrs, body, raw, want_status, want_code):
    """A raw answer is want_status with Content-Type application/json and exactly
    {"ok":false,"error":want_code}."""
    desc = "%s: raw answer %r" % (what, raw[:400])
    expect_eq(status, want_status, "%s: status" % what + "\n  " + desc)
    expect_eq(hdrs.get("content-type"), JSON_CT, "%s: content-type" % what + "\n  " + desc)
    try:
        j = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Fail("%s: body is not JSON\n  %s" % (what, desc))
    expect_eq(j, {"ok": False, "error": want_code}, "%s: body" % what + "\n  " + desc)


def req(line, headers=(), body=b"", host=True):
    """A raw HTTP/1.1 request: request line, Host (unless host is False), headers, Connection: close."""
    head = line + "\r\n"
    if host:
        head += "Host: %s\r\n" % HOST
    for h in headers:
        head += h + "\r\n"
    head += "Connection: close\r\n\r\n"
    return head.encode("latin-1") + body


# (what, raw request, status, error code, extra headers expected)
EDGE_TABLE = [
    ("a 10 MiB body", req("POST /v1/events HTTP/1.1", ["Content-Type: application/json",
                                                      "Content-Length: 10485760"], b"{" + b" " * 16384),
     413, "payload_too_large", {}),
    ("a 10 MiB body on /v1/healthz", req("POST /v1/healthz HTTP/1.1", ["Content-Length: 10485760"]),
     413, "payload_too_large", {}),
    ("a 20 KB header block", req("GET /v1/readyz HTTP/1.1", ["X-H%02d: %s" % (i, "b" * 500) for i in range(40)]),
     431, "header_too_large", {}),
    ("one 9000-byte header", req("GET /v1/healthz HTTP/1.1", ["X-Big: " + "a" * 9000]),
     431, "header_too_large", {}),
    ("a 10k-character URL", req("GET /v1/readyz?x=%s HTTP/1.1" % ("u" * 10000)), 431, "header_too_large", {}),
    ("PUT /v1/healthz", req("PUT /v1/healthz HTTP/1.1", ["Content-Length: 2"], b"{}"),
     405, "method_not_allowed", {"allow": "GET, HEAD"}),
    ("DELETE /v1/healthz", req("DELETE /v1/healthz HTTP/1.1"), 405, "method_not_allowed", {"allow": "GET, HEAD"}),
    ("POST /v1/healthz", req("POST /v1/healthz HTTP/1.1", ["Content-Type: application/json", "Content-Length: 2"],
                             b"{}"), 405, "method_not_allowed", {"allow": "GET, HEAD"}),
    ("PATCH /v1/healthz?x=1", req("PATCH /v1/healthz?x=1 HTTP/1.1", ["Content-Length: 0"]),
     405, "method_not_allowed", {"allow": "GET, HEAD"}),
    ("an unknown method", req("BREW /v1/events HTTP/1.1"), 501, "not_implemented", {}),
    ("Transfer-Encoding gzip", req("POST /v1/events HTTP/1.1", ["Transfer-Encoding: gzip"]),
     501, "not_implemented", {}),
    ("HTTP/1.1 without Host", req("GET /v1/readyz HTTP/1.1", host=False), 400, "bad_request", {}),
    ("a header without a colon", req("GET /v1/readyz HTTP/1.1", ["NoColonHere"]), 400, "bad_request", {}),
    ("a space in a header name", req("GET /v1/readyz HTTP/1.1", ["Bad Name: x"]), 400, "bad_request", {}),
    ("a non-numeric Content-Length", req("POST /v1/events HTTP/1.1", ["Content-Length: ten"]),
     400, "bad_request", {}),
    ("two Content-Lengths", req("POST /v1/events HTTP/1.1", ["Content-Length: 2", "Content-Length: 3"], b"{}"),
     400, "bad_request", {}),
    ("a control byte in the URL", req("GET /v1/ready\x01z HTTP/1.1"), 400, "bad_request", {}),
    ("a TLS hello on the plain port", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03 junk\r\n\r\n",
     400, "bad_request", {}),
    ("HTTP/1.2", req("GET /v1/readyz HTTP/1.2"), 505, "http_version_not_supported", {}),
    ("HTTP/2.0 on an HTTP/1 connection", req("GET /v1/readyz HTTP/2.0"), 505, "http_version_not_supported", {}),
    ("a POST without length", req("POST /v1/events HTTP/1.1", ["Content-Type: application/json"]),
     411, "length_required", {}),
]


@test
def lighttpd_answers_are_json_envelopes():
    """Every row of EDGE_TABLE, sent on a raw socket: status, Content-Type and the envelope."""
    s = edge_stack()
    failures = []
    for what, data, status, code, extra in EDGE_TABLE:
        try:
            st, hdrs, body, raw, _ = s.raw(data, timeout=5)
            expect_envelope(what, st, hdrs, body, raw, status, code)
            for k, v in extra.items():
                expect_eq(hdrs.get(k), v, "%s: %s header (raw %r)" % (what, k, raw[:300]))
        except Fail as e:
            failures.append(str(e))
    # the stack still serves
    r = s.request("GET", "/v1/readyz")
    expect_eq(r.status, 200, "readyz after the table", r)
    if failures:
        raise Fail("%d of %d rows failed:\n%s" % (len(failures), len(EDGE_TABLE), "\n".join(failures)))


@test
def lighttpd_starts_without_config_warnings():
    """lighttpd reads the whole configuration (every include, every conditional block) at start and
    warns about a key it does not know, e.g. a setting of a module that is not loaded; such a key
    silently does nothing, so none may be there."""
    with Stack(db_url(), workers=1) as s:  # its own: other tests' requests log lines of their own
        expect_eq(s.request("GET", "/v1/healthz").status, 200, "stack up")
        # /v1/healthz needs no responder: wait until the responder has said all it says at start,
        # else a start-up warning of its own lands after the read (a race that passed for months)
        deadline = time.monotonic() + 10
        while "responder ready" not in s.stderr(200) and time.monotonic() < deadline:
            time.sleep(0.05)
        expect("responder ready" in s.stderr(200), "the responder's start line: %s" % s.stderr(20))
        # the harness reads lighttpd's own lines (not through `backend log-filter`)
        lines = [l for l in s.stderr(200).splitlines() if re.search(r"WARNING|ERROR|error|warn", l)]
    expect(not lines, "lighttpd warned or failed at start:\n" + "\n".join(lines))


@test
def healthz_is_static_and_options_is_a_preflight():
    """GET/HEAD /v1/healthz need no responder (answered while every responder is stopped);
    OPTIONS /v1/healthz is a CORS preflight like on every /v1/ path (API.md: 204 for an allowed
    origin, 403 origin_not_allowed without one), not lighttpd's empty 200."""
    s = edge_stack()
    r = s.request("OPTIONS", "/v1/healthz", headers={"Origin": ALLOWED_ORIGIN,
                                                    "Access-Control-Request-Method": "GET"})
    expect_eq(r.status, 204, "preflight status", r)
    expect_eq(r.header("Access-Control-Allow-Origin"), ALLOWED_ORIGIN, "Access-Control-Allow-Origin", r)
    r = s.request("OPTIONS", "/v1/healthz")
    harness.expect_error(r, 403, "origin_not_allowed")
    pids = s.responder_pids()
    try:
        for p in pids:
            os.kill(p, signal.SIGSTOP)
        r = s.request("GET", "/v1/healthz", timeout=3)
        expect_eq((r.status, r.header("Content-Type"), r.body), (200, JSON_CT, b'{"ok":true,"service":"backend"}'),
                  "GET /v1/healthz with every responder stopped", r)
        r = s.request("HEAD", "/v1/healthz", timeout=3)
        expect_eq(r.status, 200, "HEAD /v1/healthz with every responder stopped", r)
        r = s.request("POST", "/v1/healthz", b"{}", {"Content-Type": "application/json"}, timeout=3)
        harness.expect_error(r, 405, "method_not_allowed")
        expect_eq(r.header("Allow"), "GET, HEAD", "Allow", r)
    finally:
        for p in pids:
            try:
                os.kill(p, signal.SIGCONT)
            except OSError:
                pass


def _one_stopped_responder(s):
    pids = s.responder_pids()
    expect_eq(len(pids), 1, "responders")
    os.kill(pids[0], signal.SIGSTOP)
    return pids[0]


@test(timeout=60)
def responder_timeout_is_504_json():
    """A responder that never answers: lighttpd's read-timeout (10 s) gives 504 upstream_timeout."""
    with Stack(db_url(), workers=1) as s:
        pid = _one_stopped_responder(s)
        try:
            st, hdrs, body, raw, t = s.raw(req("GET /v1/readyz HTTP/1.1"), timeout=20)
            expect_envelope("a responder that timed out (%.1f s)" % t, st, hdrs, body, raw, 504, "upstream_timeout")
        finally:
            os.kill(pid, signal.SIGCONT)


@test(timeout=60)
def responder_death_is_500_json():
    """A responder killed while it holds a request: 500 internal_error from lighttpd."""
    with Stack(db_url(), workers=1) as s:
        pid = _one_stopped_responder(s)
        out = {}

        def send():
            out["r"] = s.raw(req("GET /v1/readyz HTTP/1.1"), timeout=8)

        t = threading.Thread(target=send, daemon=True)
        t.start()
        time.sleep(0.7)  # lighttpd has handed the request to the (stopped) responder
        os.kill(pid, signal.SIGKILL)
        t.join(10)
        expect("r" in out, "no answer after the responder died")
        st, hdrs, body, raw, _ = out["r"]
        expect_envelope("a responder that died mid-request", st, hdrs, body, raw, 500, "internal_error")


# ---- the client address

def _proxy_stack(header, trusted="127.0.0.1, ::1", limit=3):
    env = {"TRUSTED_PROXIES": trusted, "RATE_LIMIT_EVENTS": limit}
    if header is not None:
        env["CLIENT_IP_HEADER"] = header
    return Stack(db_url(), workers=1, env=env)


@test
def behind_a_generic_proxy_fly_client_ip_is_not_believed():
    """TRUSTED_PROXIES set, CLIENT_IP_HEADER=X-Forwarded-For (the default): the proxy appends the
    client to X-Forwarded-For; a client's own Fly-Client-IP: 6.6.6.6 passes through it unchanged
    and must not become the address, neither for ip_hash nor for the rate-limit count."""
    for header in ("X-Forwarded-For", None):
        with _proxy_stack(header) as s:
            what = "CLIENT_IP_HEADER=%s" % header
            got = stored_ip_hash(s, {"Fly-Client-IP": "6.6.6.6", "X-Forwarded-For": "198.51.100.23"}, what)
            expect(got != hmac_hex("6.6.6.6"), "%s: stored as the spoofed Fly-Client-IP 6.6.6.6" % what)
            expect_eq(got, hmac_hex("198.51.100.23"), "%s: ip_hash is the X-Forwarded-For client's" % what)
            # a client-supplied left part of X-Forwarded-For is skipped too (rightmost untrusted wins)
            got = stored_ip_hash(s, {"X-Forwarded-For": "6.6.6.6, 198.51.100.24"}, what)
            expect_eq(got, hmac_hex("198.51.100.24"), "%s: ip_hash with a spoofed left XFF entry" % what)
            # one client, changing Fly-Client-IP every time, shares one count (limit 3, 2 used by .23/.24)
            rem = []
            for spoof in ("6.6.6.1", "6.6.6.2", "6.6.6.3"):
                r = post_event(s, {"Fly-Client-IP": spoof, "X-Forwarded-For": "198.51.100.25"})
                rem.append((r.status, r.header("X-RateLimit-Remaining")))
            expect_eq(rem, [(202, "2"), (202, "1"), (202, "0")], "%s: one count for 198.51.100.25" % what)
            r = post_event(s, {"Fly-Client-IP": "6.6.6.4", "X-Forwarded-For": "198.51.100.25"})
            harness.expect_error(r, 429, "rate_limited", extra=True)


@test
def on_fly_x_forwarded_for_is_not_believed():
    """CLIENT_IP_HEADER=Fly-Client-IP: Fly-Client-IP is the address and X-Forwarded-For is ignored."""
    with _proxy_stack("Fly-Client-IP") as s:
        got = stored_ip_hash(s, {"Fly-Client-IP": "203.0.113.7", "X-Forwarded-For": "6.6.6.6"}, "both headers")
        expect_eq(got, hmac_hex("203.0.113.7"), "ip_hash from Fly-Client-IP")
        got = stored_ip_hash(s, {"X-Forwarded-For": "6.6.6.6"}, "only X-Forwarded-For")
        expect_eq(got, hmac_hex("127.0.0.1"), "ip_hash with only X-Forwarded-For (the peer's)")


@test
def untrusted_peer_sets_no_address():
    """From a peer outside TRUSTED_PROXIES neither header is believed, whichever is configured;
    CLIENT_IP_HEADER empty means the peer address even from a trusted proxy."""
    for trusted, header in (("192.0.2.1", "X-Forwarded-For"), ("10.0.0.0/8, fd00::/8", "Fly-Client-IP"),
                            ("127.0.0.1", "")):
        with _proxy_stack(header, trusted=trusted) as s:
            what = "TRUSTED_PROXIES=%s CLIENT_IP_HEADER=%r" % (trusted, header)
            got = stored_ip_hash(s, {"Fly-Client-IP": "6.6.6.6", "X-Forwarded-For": "6.6.6.7"}, what)
            expect_eq(got, hmac_hex("127.0.0.1"), "%s: ip_hash is the peer's" % what)


@test
def bad_trusted_proxies_stop_lighttpd():
    """A TRUSTED_PROXIES entry that is not an address or a CIDR with a valid prefix stops lighttpd
    with the variable's name (before: 10.0.0.0/99 was accepted and trusted nobody)."""
    for bad, name in (("10.0.0.0/99", "TRUSTED_PROXIES"), ("1.2.3", "TRUSTED_PROXIES"),
                      ("::::", "TRUSTED_PROXIES"), ("Fly-Client-IP\"", "CLIENT_IP_HEADER")):
        env = {"TRUSTED_PROXIES": bad} if name == "TRUSTED_PROXIES" else {"CLIENT_IP_HEADER": bad}
        s = Stack(db_url(), workers=1, env=env, wait=False)
        try:
            try:
                rc = s.proc.wait(timeout=10)
            except Exception:
                raise Fail("lighttpd with %s=%r still running after 10 s; stderr:\n%s" % (name, bad, s.stderr()))
            err = s.stderr()
            expect(rc != 0, "lighttpd with %s=%r exited 0; stderr:\n%s" % (name, bad, err))
            expect(name in err, "the error for %s=%r does not name it; stderr:\n%s" % (name, bad, err))
        finally:
            s.cleanup()


@test
def error_documents_are_complete():
    """Every lighttpd/errors/status-NNN.html is the envelope alone and is typed application/json by
    name in lighttpd.conf (a file missing from mimetype.assign would go out untyped); the statuses
    lighttpd produces itself all have one."""
    d = os.path.join(harness.APP_HOME, "lighttpd", "errors")
    with open(harness.LIGHTTPD_CONF) as f:
        conf = f.read()
    names = sorted(os.listdir(d))
    codes = set()
    for n in names:
        expect(n.startswith("status-") and n.endswith(".html") and n[7:10].isdigit() and len(n) == 15,
               "unexpected file %s in lighttpd/errors" % n)
        with open(os.path.join(d, n), "rb") as f:
            j = json.loads(f.read().decode("utf-8"))
        expect_eq(sorted(j), ["error", "ok"], "%s: keys" % n)
        expect(j["ok"] is False and isinstance(j["error"], str) and j["error"], "%s: envelope %r" % (n, j))
        expect('"%s" => "application/json; charset=utf-8"' % n in conf, "%s is not typed in lighttpd.conf" % n)
        codes.add(int(n[7:10]))
    made_by_lighttpd = {400, 403, 404, 405, 408, 411, 412, 413, 414, 416, 417, 431, 500, 501, 502, 503, 504, 505}
    expect_eq(sorted(made_by_lighttpd - codes), [], "statuses without an error document")


@test
def fly_env_gives_fly_client_ip_from_fly_proxies_only():
    """infra/fly/fly.toml's [env] is valid for the new parser and makes lighttpd believe exactly
    Fly-Client-IP, from exactly its TRUSTED_PROXIES."""
    env = harness.fly_toml()["env"]
    expect_eq(env.get("CLIENT_IP_HEADER"), "Fly-Client-IP", "fly.toml CLIENT_IP_HEADER")
    r = harness.lighttpd_vars({k: v for k, v in env.items() if k != "PORT"})
    expect_eq(r.returncode, 0, "lighttpd-vars with fly.toml's env (stderr %r)" % r.stderr)
    lines = r.stdout.splitlines()
    expect('extforward.headers = ("Fly-Client-IP")' in lines, "extforward.headers: %r" % lines)
    expect('extforward.forwarder = ("fdaa::/16" => "trust", "172.16.0.0/12" => "trust")' in lines,
           "extforward.forwarder: %r" % lines)
