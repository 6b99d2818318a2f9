"""test_unsubscribe_tokens.py - signed one-click unsubscribe links (issue 16 item 2, RFC 8058) and the
bare-email path once tokens are required (item 7), through real lighttpd + responders + Postgres.

Links are minted by `backend unsubscribe-url` (the operator's way) and, for the cases the service
cannot be asked to make (expired, signed with another secret), by an independent Python
implementation of the token layout of core/unsub_token.h. Every refused request is checked against
the rows it must not have changed."""

import base64
import hashlib
import hmac
import shlex
import struct
import subprocess
import time
import urllib.parse
import uuid

import harness
from harness import PEPPER, Fail, Stack, expect, expect_eq, expect_error, test

DB = "unsub"
UNSUB = "/v1/leads/unsubscribe"
BASE_URL = "https://mail-links.example"
SECRET = "5f" * 32                      # hex, 32 bytes
OLD_SECRET = base64.b64encode(bytes(range(100, 140))).decode()  # base64, 40 bytes
OTHER_SECRET = "a1" * 32
IP_HASH = hmac.new(PEPPER.encode(), b"127.0.0.1", hashlib.sha256).hexdigest()
FORM = "application/x-www-form-urlencoded"
ONE_CLICK = "List-Unsubscribe=One-Click"
HTML_CT = "text/html; charset=utf-8"
DAY = 86400


# ---- tokens, independently of the C code

def secret_bytes(s):
    try:
        return bytes.fromhex(s)
    except ValueError:
        return base64.b64decode(s)


def mint(secret, lead_id, iat=None):
    key = hashlib.blake2b(b"backend unsubscribe token v1", digest_size=32, key=secret_bytes(secret)).digest()
    lid = lead_id.encode()
    msg = bytes([1, len(lid)]) + lid + struct.pack(">Q", int(time.time()) if iat is None else iat)
    tag = hmac.new(key, msg, hashlib.sha512).digest()[:32]
    return base64.urlsafe_b64encode(msg + tag).rstrip(b"=").decode()


# ---- shared resources

def db_url():
    return harness.migrated_database(DB)


def stack(key, **env):
    base = {"RATE_LIMIT_UNSUBSCRIBE": 0, "RATE_LIMIT_CAPTURE": 0, "PUBLIC_BASE_URL": BASE_URL}
    base.update(env)
    return harness.shared("unsub-" + key, lambda: Stack(db_url(), workers=1, env=base))


def rotating():
    """The new secret with the old one still accepted."""
    return stack("rotating", UNSUBSCRIBE_SECRET=SECRET, UNSUBSCRIBE_SECRET_PREVIOUS=OLD_SECRET)


def rows(sql):
    import json
    out = harness.shared_postgres().psql("SELECT coalesce(json_agg(t), '[]'::json) FROM (%s) t" % sql, db=DB)
    return json.loads(out.strip())


def state(lead_id):
    """Everything an unsubscribe may change for one lead, plus the table sizes."""
    lit = harness.sql_lit(lead_id)
    return (rows("SELECT consent_status::text AS s, updated_at FROM leads WHERE id = %s" % lit),
            rows("SELECT status::text, source, ip_hash, \"timestamp\" FROM consent_events WHERE lead_id = %s "
                 "ORDER BY \"timestamp\", id" % lit),
            rows("SELECT (SELECT count(*) FROM leads) AS leads, (SELECT count(*) FROM consent_events) AS ce"))


def new_lead(s, consent="express"):
    email = "unsub-%s@example.com" % uuid.uuid4().hex[:12]
    r = s.request("POST", "/v1/leads/capture", {"email": email, "anonId": "anon-" + uuid.uuid4().hex[:12],
                                                "consentStatus": consent})
    expect_eq(r.status, 200, "capture", r)
    return email, r.json["leadId"]


def cli_url(s, *args):
    r = harness.backend(["unsubscribe-url"] + list(args), s.env)
    if r.returncode != 0:
        raise Fail("backend unsubscribe-url %s: exit %d: %s" % (" ".join(args), r.returncode, r.stderr))
    return r.stdout.strip()


def path_of(url):
    """The request path of a minted link (the link's host is PUBLIC_BASE_URL, not the test stack)."""
    expect(url.startswith(BASE_URL + UNSUB + "?token="), "link shape: %r" % url)
    return url[len(BASE_URL):]


def token_of(url):
    return urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["token"][0]


def form_post(s, path, body=ONE_CLICK):
    return s.request("POST", path, body, headers={"Content-Type": FORM})


def expect_page(r, status, want_text):
    expect_eq(r.status, status, "status", r)
    expect_eq(r.header("Content-Type"), HTML_CT, "content-type", r)
    csp = r.header("Content-Security-Policy") or ""
    expect("default-src 'none'" in csp and "form-action 'self'" in csp and "frame-ancestors 'none'" in csp,
           "strict CSP: %r" % csp, r)
    # same-origin: the token's URL leaves for no other origin, and the button's post keeps its Origin
    expect_eq(r.header("Referrer-Policy"), "same-origin", "Referrer-Policy", r)
    expect_eq(r.header("X-Content-Type-Options"), "nosniff", "nosniff", r)
    expect(r.header("Location") is None, "no redirect", r)
    text = r.body.decode()
    expect("<script" not in text.lower() and "style=" not in text.lower(), "no inline script or style", r)
    expect(want_text in text, "page says %r" % want_text, r)
    return text


# ---- tests

@test
def link_shape_and_cli():
    s = rotating()
    email, lead_id = new_lead(s)
    url = cli_url(s, "--email=" + email.upper())
    tok = token_of(url)
    expect(len(tok) == 104 and all(c.isalnum() or c in "-_" for c in tok), "a 104-character base64url token: %r" % tok)
    url2 = cli_url(s, "--lead-id=" + lead_id)
    # the same lead and (nearly) the same second: the C and the Python mint agree byte for byte
    expect(token_of(url2) in (mint(SECRET, lead_id, int(time.time()) + d) for d in (-2, -1, 0)),
           "the CLI's token is the documented layout signed with UNSUBSCRIBE_SECRET")
    r = harness.backend(["unsubscribe-url", "--email=nobody-%s@example.com" % uuid.uuid4().hex[:8]], s.env)
    expect(r.returncode == 1 and "no lead" in r.stderr and r.stdout == "", "unknown address: %r" % (r,))
    r = harness.backend(["unsubscribe-url"], s.env)
    expect_eq(r.returncode, 2, "no argument: usage exit")
    r = harness.backend(["unsubscribe-url", "--lead-id=x"], harness.service_env(db_url()))
    expect(r.returncode == 1 and "UNSUBSCRIBE_SECRET" in r.stderr, "no secret: %r" % (r,))
    # check-config shows neither secret
    r = harness.backend(["check-config", "--offline"], s.env)
    expect_eq(r.returncode, 0, "check-config: %s" % r.stderr)
    expect(SECRET not in r.stdout and OLD_SECRET not in r.stdout, "check-config prints a secret")
    expect("UNSUBSCRIBE_SECRET=<set, redacted>" in r.stdout, "check-config names the secret: %s" % r.stdout)


@test
def get_page_changes_nothing():
    s = rotating()
    email, lead_id = new_lead(s)
    path = path_of(cli_url(s, "--email=" + email))
    before = state(lead_id)
    for _ in range(3):  # a scanner fetching the link several times
        r = s.request("GET", path)
        text = expect_page(r, 200, "<form method=\"post\">")
        expect('name="token" value="%s"' % token_of(path) in text, "the token in a hidden field", r)
        expect('name="List-Unsubscribe" value="One-Click"' in text, "the one-click field", r)
    r = s.request("HEAD", path)
    expect_eq((r.status, r.body), (200, b""), "HEAD", r)
    expect_eq(state(lead_id), before, "leads and consent_events after GETs of the link")
    # a GET of a bad link: a page, and still nothing changed
    expect_page(s.request("GET", UNSUB + "?token=" + mint(OTHER_SECRET, lead_id)), 403, "not valid")
    expect_page(s.request("GET", UNSUB), 403, "not valid")
    expect_page(s.request("GET", UNSUB + "?token=" + mint(SECRET, lead_id, int(time.time()) - 401 * DAY)), 410,
                "too old")
    expect_eq(state(lead_id), before, "rows after refused GETs")


@test
def one_click_form_post():
    s = rotating()
    email, lead_id = new_lead(s)
    path = path_of(cli_url(s, "--email=" + email))
    r = form_post(s, path)
    expect_page(r, 200, "Unsubscribed")
    leads, events, _ = state(lead_id)
    expect_eq(leads[0]["s"], "withdrawn", "consent_status")
    expect_eq([(e["status"], e["source"], e["ip_hash"]) for e in events][-1], ("withdrawn", "unsubscribe", IP_HASH),
              "the consent row")
    n = len(events)
    # idempotent: a second post answers the same; the consent rule writes its row as for the bare path
    r = form_post(s, path)
    expect_page(r, 200, "Unsubscribed")
    leads, events, _ = state(lead_id)
    expect_eq((leads[0]["s"], len(events)), ("withdrawn", n + 1), "after a second post")
    # the browser's post from the confirmation page: the token in the body, same origin
    email2, lead2 = new_lead(s)
    tok = token_of(cli_url(s, "--email=" + email2))
    r = s.request("POST", UNSUB, "List-Unsubscribe=One-Click&token=" + tok,
                  headers={"Content-Type": FORM, "Origin": "http://127.0.0.1:%d" % s.port})
    expect_page(r, 200, "Unsubscribed")
    expect_eq(state(lead2)[0][0]["s"], "withdrawn", "consent after the page's post")
    # a form without the one-click pair, or with another value, is refused and changes nothing
    email3, lead3 = new_lead(s)
    p3 = path_of(cli_url(s, "--email=" + email3))
    before = state(lead3)
    for body in ("", "List-Unsubscribe=Yes", "a=b"):
        r = form_post(s, p3, body)
        expect(r.status in (400,), "form body %r: %s" % (body, r.describe()))
    # a form post without any token keeps the old answer of the bare-email route
    expect_error(form_post(s, UNSUB, "email=" + email3), 415, "unsupported_media_type")
    expect_eq(state(lead3), before, "rows after refused form posts")


def multipart(parts, boundary="----actx-test-7MA4YWxkTrZu0gW"):
    """A multipart/form-data body as RFC 8058 suggests mail clients send it (RFC 7578)."""
    out = b""
    for headers, value in parts:
        out += b"--" + boundary.encode() + b"\r\n" + headers.encode() + b"\r\n\r\n" + value.encode() + b"\r\n"
    return out + b"--" + boundary.encode() + b"--\r\n", "multipart/form-data; boundary=\"%s\"" % boundary


@test
def one_click_multipart_post():
    s = rotating()
    email, lead_id = new_lead(s)
    path = path_of(cli_url(s, "--email=" + email))
    body, ct = multipart([('Content-Disposition: form-data; name="List-Unsubscribe"', "One-Click")])
    expect_page(s.request("POST", path, body, headers={"Content-Type": ct}), 200, "Unsubscribed")
    expect_eq(state(lead_id)[0][0]["s"], "withdrawn", "consent after the multipart one-click post")
    # the token in a part, an unquoted boundary, a part Content-Type and a preamble
    email2, lead2 = new_lead(s)
    tok = token_of(cli_url(s, "--email=" + email2))
    body, _ = multipart([('Content-Disposition: form-data; name="token"', tok),
                         ('content-disposition: form-data; name=List-Unsubscribe\r\nContent-Type: text/plain',
                          "One-Click")], boundary="b0undary")
    r = s.request("POST", UNSUB, b"preamble\r\n" + body, headers={"Content-Type": "multipart/form-data; boundary=b0undary"})
    expect_page(r, 200, "Unsubscribed")
    expect_eq(state(lead2)[0][0]["s"], "withdrawn", "consent after the token in a part")
    # malformed or unexpected multipart bodies: a clear 400, nothing changed
    email3, lead3 = new_lead(s)
    p3 = path_of(cli_url(s, "--email=" + email3))
    before = state(lead3)
    ok_part = ('Content-Disposition: form-data; name="List-Unsubscribe"', "One-Click")
    good, ct = multipart([ok_part])
    cases = {
        "no closing delimiter": (good[:-len(b"--\r\n") - 10], ct),
        "no boundary parameter": (good, "multipart/form-data"),
        "another boundary": (good, "multipart/form-data; boundary=other"),
        "a file part": multipart([ok_part, ('Content-Disposition: form-data; name="f"; filename="a.txt"', "x")]),
        "a repeated field": multipart([ok_part, ok_part]),
        "a part without a name": multipart([('Content-Disposition: form-data', "One-Click")]),
    }
    for what, (b, c) in cases.items():
        r = s.request("POST", p3, b, headers={"Content-Type": c})
        expect_eq(r.status, 400, what, r)
    expect_eq(state(lead3), before, "rows after refused multipart posts")


@test
def json_post():
    s = rotating()
    for where in ("query", "body", "both"):
        email, lead_id = new_lead(s)
        tok = token_of(cli_url(s, "--email=" + email))
        path = UNSUB + ("?token=" + tok if where != "body" else "")
        body = {"token": tok} if where != "query" else {"List-Unsubscribe": "One-Click"}
        r = s.request("POST", path, body)
        expect_eq((r.status, r.json), (200, {"ok": True, "unsubscribed": True}), "JSON post, token in " + where, r)
        expect_eq(r.header("Content-Type"), "application/json; charset=utf-8", "content-type", r)
        expect_eq(state(lead_id)[0][0]["s"], "withdrawn", "consent, token in " + where)
    email, lead_id = new_lead(s)
    tok = token_of(cli_url(s, "--email=" + email))
    before = state(lead_id)
    r = s.request("POST", UNSUB + "?token=" + tok, {"token": mint(SECRET, lead_id, int(time.time()) - 5)})
    expect_eq(r.status, 400, "two different tokens", r)
    r = s.request("POST", UNSUB, {"token": 5})
    expect_eq(r.status, 400, "a token that is not a string", r)
    r = s.request("POST", UNSUB, {"token": tok, "List-Unsubscribe": "No"})
    expect_eq(r.status, 400, "List-Unsubscribe other than One-Click", r)
    expect_eq(state(lead_id), before, "rows after refused JSON posts")
    # an erased lead's genuine link answers as a success (nothing to tell, nothing to write)
    email, lead_id = new_lead(s)
    tok = token_of(cli_url(s, "--email=" + email))
    r = s.request("POST", "/v1/leads/delete", {"email": email}, headers={"x-admin-key": harness.ADMIN_KEY})
    expect_eq(r.status, 200, "delete", r)
    counts = state(lead_id)
    r = s.request("POST", UNSUB, {"token": tok})
    expect_eq((r.status, r.json), (200, {"ok": True, "unsubscribed": True}), "erased lead", r)
    expect_eq(state(lead_id), counts, "nothing written for an erased lead")


@test
def forged_altered_expired_rotated():
    s = rotating()
    email, lead_id = new_lead(s)
    good = token_of(cli_url(s, "--email=" + email))
    before = state(lead_id)
    altered = []
    for i in (0, 1, 10, 40, 60, 80, 103):  # version, length, id, issued-at, tag
        c = "A" if good[i] != "A" else "B"
        altered.append(good[:i] + c + good[i + 1:])
    other_lead = str(uuid.uuid4())
    cases = ([("altered %d" % i, t) for i, t in enumerate(altered)] +
             [("forged", mint(OTHER_SECRET, lead_id)), ("truncated", good[:-1]), ("extended", good + "A"),
              ("padded", good + "="), ("empty", ""), ("future", mint(SECRET, lead_id, int(time.time()) + 3600)),
              ("another id, old signature", mint(SECRET, other_lead)[:-43] + good[-43:])])
    for what, tok in cases:
        for r in (form_post(s, UNSUB + "?token=" + urllib.parse.quote(tok)), s.request("POST", UNSUB, {"token": tok})):
            if r.header("Content-Type") == HTML_CT:
                expect_page(r, 403, "not valid")
            else:
                expect_error(r, 403, "invalid_token")
    expired = mint(SECRET, lead_id, int(time.time()) - 401 * DAY)
    expect_error(s.request("POST", UNSUB, {"token": expired}), 410, "token_expired")
    expect_page(form_post(s, UNSUB + "?token=" + expired), 410, "too old")
    # an expired token with a forged tag is invalid, not expired
    expect_error(s.request("POST", UNSUB, {"token": mint(OTHER_SECRET, lead_id, int(time.time()) - 401 * DAY)}),
                 403, "invalid_token")
    # within UNSUBSCRIBE_TOKEN_MAX_AGE_DAYS (default 400) still good: checked on a lead of its own below
    expect_eq(state(lead_id), before, "rows after refused tokens")

    # rotation: a link signed with the previous secret works while it is configured, not after
    email2, lead2 = new_lead(s)
    old_tok = mint(OLD_SECRET, lead2, int(time.time()) - 399 * DAY)
    new_only = stack("new-only", UNSUBSCRIBE_SECRET=SECRET)
    before2 = state(lead2)
    expect_error(new_only.request("POST", UNSUB, {"token": old_tok}), 403, "invalid_token")
    expect_eq(state(lead2), before2, "rows after a retired secret's token")
    r = s.request("POST", UNSUB, {"token": old_tok})
    expect_eq((r.status, r.json), (200, {"ok": True, "unsubscribed": True}), "previous secret, 399 days old", r)
    expect_eq(state(lead2)[0][0]["s"], "withdrawn", "consent after the previous secret's link")


@test
def not_configured():
    s = stack("unset")
    email, lead_id = new_lead(s)
    tok = mint(SECRET, lead_id)
    before = state(lead_id)
    expect_page(s.request("GET", UNSUB + "?token=" + tok), 503, "not set up")
    expect_error(s.request("POST", UNSUB, {"token": tok}), 503, "unsubscribe_not_configured")
    expect_eq(state(lead_id), before, "rows")
    # the bare-email path is unchanged
    r = s.request("POST", UNSUB, {"email": email})
    expect_eq((r.status, r.json), (200, {"ok": True, "found": True}), "bare-email unsubscribe", r)


def raw_request(port, body):
    """The whole answer as bytes, minus the per-request id line."""
    import socket
    req = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: itest\r\nContent-Type: application/json\r\n"
           "Content-Length: %d\r\nConnection: close\r\n\r\n" % (UNSUB, len(body))).encode() + body
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        c.sendall(req)
        out = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            out += chunk
    lines = out.split(b"\r\n")
    return b"\r\n".join(l for l in lines if not l.lower().startswith((b"x-request-id:", b"date:")))


@test
def require_token_no_enumeration():
    s = stack("required", UNSUBSCRIBE_SECRET=SECRET, UNSUBSCRIBE_REQUIRE_TOKEN="true")
    email, lead_id = new_lead(s)
    before = state(lead_id)
    unknown = "nobody-%s@example.com" % uuid.uuid4().hex[:12]
    answers = {}
    for what, addr in (("known", email), ("unknown", unknown), ("known, other case", email.upper()),
                       ("invalid", "not-an-address")):
        answers[what] = raw_request(s.port, ('{"email": "%s"}' % addr).encode())
    expect(answers["known"].startswith(b"HTTP/1.1 403"), "a 403: %r" % answers["known"][:200])
    expect(b'{"ok":false,"error":"token_required"}' in answers["known"], "token_required: %r" % answers["known"])
    for what, a in answers.items():
        expect_eq(a, answers["known"], "the answer for the %s address (byte for byte)" % what)
    expect_eq(state(lead_id), before, "rows after refused bare-email requests")
    # the signed link works in this mode
    tok = token_of(cli_url(s, "--email=" + email))
    r = form_post(s, UNSUB + "?token=" + tok)
    expect_page(r, 200, "Unsubscribed")
    expect_eq(state(lead_id)[0][0]["s"], "withdrawn", "consent after the link")


@test
def readme_curl_example():
    """The README's RFC 8058 example, as a mailbox provider sends it, run with curl."""
    s = rotating()
    email, lead_id = new_lead(s)
    url = "http://127.0.0.1:%d%s" % (s.port, path_of(cli_url(s, "--email=" + email)))
    # README: curl -X POST -H 'Content-Type: application/x-www-form-urlencoded' \
    #              --data 'List-Unsubscribe=One-Click' 'https://api.example.com/v1/leads/unsubscribe?token=...'
    cmd = "curl -sS -o /dev/null -w '%%{http_code}' -X POST -H 'Content-Type: application/x-www-form-urlencoded' " \
          "--data 'List-Unsubscribe=One-Click' %s" % shlex.quote(url)
    out = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=30)
    expect_eq(out.stdout, "200", "curl's status (%s)" % out.stderr)
    expect_eq(state(lead_id)[0][0]["s"], "withdrawn", "consent after curl")


@test
def cleanup_stacks():
    for key in ("rotating", "new-only", "unset", "required"):
        harness.drop_shared("unsub-" + key)
