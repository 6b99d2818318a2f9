"""test_tracker.py - the site tracker's files as lighttpd serves them (issue 14): /t.js and its
add-ons /t.vitals.js and /t.plus.js are static files with a JavaScript type, an ETag, a short
Cache-Control and a gzip copy chosen by Accept-Encoding; other methods are 405 from lighttpd; and
the core stays within its budget of 1,024 bytes gzipped (gzip -9 of the file served).

The requests go through http.client here, not Stack.request: these are not API answers, and
test_zz_openapi.py checks every answer Stack.request records against the API's description."""

import gzip
import http.client
import os
import subprocess

import harness
from harness import Stack, expect, expect_eq, test

DB = "ittracker"
FILES = ("t.js", "t.vitals.js", "t.plus.js")
CORE_BUDGET_GZIP = 1024  # issue 14: the core, gzip -9 of what is served
JS_TYPE = "text/javascript; charset=utf-8"
WWW = os.path.join(harness.APP_HOME, "lighttpd", "www")


def stack():
    return harness.shared("tracker-stack", lambda: Stack(harness.migrated_database(DB), workers=1))


def get(method, path, headers=None):
    """(status, headers as a lower-cased dict, body bytes) of one request, not recorded."""
    s = stack()
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


@test
def tracker_files_are_served_as_javascript_with_etag_cache_and_gzip():
    for name in FILES:
        with open(os.path.join(WWW, name), "rb") as f:
            source = f.read()
        path = "/" + name
        status, h, body = get("GET", path)
        expect_eq(status, 200, "GET %s status" % path)
        expect_eq(h.get("content-type"), JS_TYPE, "GET %s Content-Type" % path)
        expect_eq(h.get("cache-control"), "public, max-age=300", "GET %s Cache-Control" % path)
        expect_eq(h.get("vary"), "Accept-Encoding", "GET %s Vary" % path)
        expect_eq(h.get("x-content-type-options"), "nosniff", "GET %s X-Content-Type-Options" % path)
        expect_eq(h.get("cross-origin-resource-policy"), "cross-origin", "GET %s CORP" % path)
        expect("content-encoding" not in h, "GET %s without Accept-Encoding is not encoded: %r" % (path, h))
        expect_eq(body, source, "GET %s body is lighttpd/www/%s" % (path, name))
        etag = h.get("etag")
        expect(etag, "GET %s has an ETag: %r" % (path, h))

        status, hz, zbody = get("GET", path, {"Accept-Encoding": "gzip, deflate, br"})
        expect_eq(status, 200, "GET %s (gzip) status" % path)
        expect_eq(hz.get("content-encoding"), "gzip", "GET %s (gzip) Content-Encoding" % path)
        expect_eq(hz.get("content-type"), JS_TYPE, "GET %s (gzip) Content-Type" % path)
        expect_eq(hz.get("cache-control"), "public, max-age=300", "GET %s (gzip) Cache-Control" % path)
        expect_eq(hz.get("vary"), "Accept-Encoding", "GET %s (gzip) Vary" % path)
        expect_eq(gzip.decompress(zbody), source, "GET %s (gzip) decompresses to the file" % path)
        expect(hz.get("etag") and hz.get("etag") != etag,
               "the gzip copy has an ETag of its own: %r vs %r" % (hz.get("etag"), etag))

        for enc, tag in (({}, etag), ({"Accept-Encoding": "gzip"}, hz.get("etag"))):
            status, h304, b304 = get("GET", path, dict(enc, **{"If-None-Match": tag}))
            expect_eq((status, b304), (304, b""), "GET %s If-None-Match %s" % (path, tag))
        status, hh, hbody = get("HEAD", path)
        expect_eq((status, hh.get("content-type"), hh.get("etag"), hbody), (200, JS_TYPE, etag, b""),
                  "HEAD %s" % path)
        for method in ("POST", "PUT", "OPTIONS"):
            status, hm, mbody = get(method, path, {"Origin": harness.ALLOWED_ORIGIN, "Content-Length": "0"})
            expect_eq((status, hm.get("allow")), (405, "GET, HEAD"), "%s %s" % (method, path))
            expect_eq(mbody, b'{"ok":false,"error":"method_not_allowed"}', "%s %s body" % (method, path))
    # the gzip copies and the readable sources are not served as files
    for path in ("/t.js.gz", "/t.src.js", "/tracker/t.src.js", "/t.jsx"):
        status, h, body = get("GET", path)
        expect_eq(status, 404, "GET %s" % path)
        expect(h.get("content-type", "").startswith("application/json"), "GET %s is the API's 404: %r" % (path, h))


@test
def tracker_core_within_budget_gzipped():
    """gzip -9 of the /t.js that is served (and the gzip copy that is sent) at most 1,024 bytes."""
    status, h, body = get("GET", "/t.js")
    expect_eq(status, 200, "GET /t.js")
    z = subprocess.run(["gzip", "-9", "-n", "-c"], input=body, capture_output=True, check=True).stdout
    print("  tracker: /t.js %d bytes, %d gzipped (budget %d)" % (len(body), len(z), CORE_BUDGET_GZIP), flush=True)
    expect(len(z) <= CORE_BUDGET_GZIP, "/t.js is %d bytes gzipped, over the budget of %d" % (len(z), CORE_BUDGET_GZIP))
    status, hz, zbody = get("GET", "/t.js", {"Accept-Encoding": "gzip"})
    expect(len(zbody) <= CORE_BUDGET_GZIP, "the served gzip copy is %d bytes, over %d" % (len(zbody), CORE_BUDGET_GZIP))
