"""test_form_post.py - a classic HTML form posted to /v1/leads/capture (issue 16 item 8), through
real lighttpd + responders + Postgres: `_next` as the redirect target with `path` kept as the form's
page, and a validation error sent back to the form's page (`actx_error`), or answered with a small
HTML page for a browser, or with the JSON 400 for everyone else; never to a page that is not the
site's, whatever the fields and headers say. Its own database (`formpost`), so counts are its own."""

import urllib.parse
import uuid

import harness
from harness import ALLOWED_ORIGIN, OTHER_ALLOWED_ORIGIN, Stack, expect, expect_eq, expect_error, test

DB = "formpost"
CAPTURE = "/v1/leads/capture"
FORM_CT = "application/x-www-form-urlencoded"
# what Chromium sends with a form navigation
BROWSER_ACCEPT = ("text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
                  "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7")
EVIL = "https://evil.example"


def stack():
    return harness.shared("formpost-stack", lambda: Stack(harness.migrated_database(DB), workers=2, env={
        "RATE_LIMIT_CAPTURE": 0, "RATE_LIMIT_EVENTS": 0}))


def uid():
    return uuid.uuid4().hex[:12]


def scalar(sql):
    return harness.shared_postgres().psql(sql, db=DB).strip()


def count(sql_from_where):
    return int(scalar("SELECT count(*) FROM " + sql_from_where))


def rejections():
    return count("ingest_rejections WHERE endpoint = '/v1/leads/capture'")


def leads_with(email):
    return count("leads WHERE email_normalized = %s" % harness.sql_lit(email.lower()))


def form(s, fields, headers=None, raw=None):
    body = raw if raw is not None else urllib.parse.urlencode(fields)
    h = {"Content-Type": FORM_CT}
    h.update(headers or {})
    return s.request("POST", CAPTURE, body.encode(), h)


def bad(extra=(), email="not-an-email"):
    """The fields of a form whose email is invalid."""
    return [("email", email), ("anonId", "anon-" + uid())] + list(extra)


def expect_json_400(r, paths, what):
    expect_error(r, 400, "invalid_request", extra=True)
    expect_eq(sorted({i["path"] for i in r.json["issues"]}), sorted(paths), "issue paths " + what, r)
    expect("Location" not in r.headers, "a Location on the JSON 400 " + what, r)


def expect_back(r, want, what):
    expect_eq(r.status, 303, "status " + what, r)
    expect_eq(r.header("Location"), want, "Location " + what, r)
    expect_eq(r.body, b"", "body of the 303 " + what, r)


@test
def next_is_the_target_and_path_the_recorded_page():
    s = stack()
    email = "next-%s@example.com" % uid()
    a = "anon-" + uid()
    r = form(s, [("email", email), ("anonId", a), ("path", "/contact"), ("_next", "/thanks?from=form"),
                 ("company", "Acme")], {"Origin": ALLOWED_ORIGIN})
    expect_back(r, ALLOWED_ORIGIN + "/thanks?from=form", "with _next")
    expect_eq(scalar("SELECT e.path FROM events e JOIN visitors v ON v.id = e.visitor_id "
                     "WHERE v.anon_id = %s AND e.event_type = 'form_submit'" % harness.sql_lit(a)),
              "/contact", "the form_submit event's path (the form's page, not _next)")
    expect_eq(scalar("SELECT f.payload::text FROM form_submissions f JOIN leads l ON l.id = f.lead_id "
                     "WHERE l.email_normalized = %s" % harness.sql_lit(email)),
              '{"company": "Acme"}', "payload (no _next in it)")
    # without _next, path stays the target and the recorded page (sites from before _next)
    a2 = "anon-" + uid()
    r = form(s, [("email", "old-%s@example.com" % uid()), ("anonId", a2), ("path", "/thanks.html")],
             {"Origin": ALLOWED_ORIGIN})
    expect_back(r, ALLOWED_ORIGIN + "/thanks.html", "with path only")
    expect_eq(scalar("SELECT e.path FROM events e JOIN visitors v ON v.id = e.visitor_id "
                     "WHERE v.anon_id = %s AND e.event_type = 'form_submit'" % harness.sql_lit(a2)),
              "/thanks.html", "the form_submit path with path only")
    # an empty _next is "not given"; _next follows path's safety rules
    cases = [("", ALLOWED_ORIGIN + "/p"), ("//evil.example/x", ALLOWED_ORIGIN + "/"),
             ("/\\evil.example", ALLOWED_ORIGIN + "/"), ("javascript:alert(1)", ALLOWED_ORIGIN + "/"),
             ("https://evil.example/", ALLOWED_ORIGIN + "/"), ("/a\r\nSet-Cookie: x=1", ALLOWED_ORIGIN + "/"),
             ("/ok", ALLOWED_ORIGIN + "/ok")]
    for nxt, want in cases:
        r = form(s, [("email", "n-%s@example.com" % uid()), ("anonId", "anon-" + uid()), ("path", "/p"),
                     ("_next", nxt)], {"Origin": ALLOWED_ORIGIN})
        expect_back(r, want, "for _next %r" % nxt)
        expect("Set-Cookie" not in r.headers, "an injected header", r)
    # encoded tricks arrive decoded: %2F%2F is //
    r = form(s, None, {"Origin": ALLOWED_ORIGIN},
             raw="email=e-%s%%40example.com&anonId=anon-%s&_next=%%2F%%2Fevil.example" % (uid(), uid()))
    expect_back(r, ALLOWED_ORIGIN + "/", "for an encoded //")
    # a JSON body's _next means nothing (JSON clients are unchanged)
    r = s.request("POST", CAPTURE, {"email": "j-%s@example.com" % uid(), "anonId": "anon-" + uid(),
                                    "_next": "/x"}, {"Origin": ALLOWED_ORIGIN})
    expect_eq((r.status, r.json.get("ok")), (200, True), "a JSON capture with _next", r)


@test
def multipart_form_is_a_form_post():
    """<form enctype="multipart/form-data">: the same fields, the same 303 and rows as urlencoded."""
    s = stack()
    email = "mp-%s@example.com" % uid()
    a = "anon-" + uid()
    b = "----WebKitFormBoundary" + uid()
    fields = [("email", email), ("anonId", a), ("path", "/contact"), ("_next", "/thanks"), ("company", "Acme")]
    body = "".join('--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (b, k, v)
                   for k, v in fields) + "--%s--\r\n" % b
    r = s.request("POST", CAPTURE, body.encode(), {"Content-Type": "multipart/form-data; boundary=" + b,
                                                   "Origin": ALLOWED_ORIGIN})
    expect_back(r, ALLOWED_ORIGIN + "/thanks", "a multipart form post")
    expect_eq(scalar("SELECT f.payload::text FROM form_submissions f JOIN leads l ON l.id = f.lead_id "
                     "WHERE l.email_normalized = %s" % harness.sql_lit(email)),
              '{"company": "Acme"}', "payload of the multipart post")
    # a file input is refused with the JSON 400, and nothing is stored
    before = leads_with(email + ".x")
    body = ('--%s\r\nContent-Disposition: form-data; name="email"\r\n\r\n%s.x\r\n'
            '--%s\r\nContent-Disposition: form-data; name="cv"; filename="cv.pdf"\r\n\r\n%%PDF\r\n--%s--\r\n'
            % (b, email, b, b))
    r = s.request("POST", CAPTURE, body.encode(), {"Content-Type": "multipart/form-data; boundary=" + b})
    expect_error(r, 400, "invalid_request", extra=True)
    expect_eq(leads_with(email + ".x"), before, "no lead from a refused multipart post")


@test
def invalid_form_goes_back_to_its_page():
    s = stack()
    before = rejections()
    # the form names its page in path (it sent _next): back there, its query kept, an old actx_error gone
    r = form(s, bad([("path", "/contact?lang=en&actx_error=old&x"), ("_next", "/thanks")]),
             {"Origin": ALLOWED_ORIGIN, "Accept": BROWSER_ACCEPT})
    expect_back(r, ALLOWED_ORIGIN + "/contact?lang=en&x&actx_error=email", "with path and _next")
    expect_eq(r.header("Access-Control-Allow-Origin"), ALLOWED_ORIGIN, "ACAO on the 303", r)
    expect_eq(rejections(), before + 1, "the rejection is recorded")
    expect_eq(leads_with("not-an-email"), 0, "no lead")
    # without _next, path is the thanks page: the Referer (on the same origin) is the form's page
    r = form(s, bad([("path", "/thanks")]), {"Origin": OTHER_ALLOWED_ORIGIN,
                                             "Referer": OTHER_ALLOWED_ORIGIN + "/signup/?a=1&b=2#top"})
    expect_back(r, OTHER_ALLOWED_ORIGIN + "/signup/?a=1&b=2&actx_error=email", "from the Referer")
    # no Origin header: the Referer's origin when allowed
    r = form(s, bad(), {"Referer": ALLOWED_ORIGIN + "/f"})
    expect_back(r, ALLOWED_ORIGIN + "/f?actx_error=email", "from a Referer without Origin")
    # every failing field, as the form names it, each once
    r = form(s, [("email", "x"), ("anonId", "short"), ("consentStatus", "maybe"), ("utm_source", "u" * 300),
                 ("path", "/c"), ("_next", "/t")], {"Origin": ALLOWED_ORIGIN})
    loc = r.header("Location") or ""
    expect_eq(r.status, 303, "status with several failing fields", r)
    expect(loc.startswith(ALLOWED_ORIGIN + "/c?actx_error="), "Location %r" % loc, r)
    expect_eq(sorted(loc.split("=", 1)[1].split(",")), ["anonId", "consentStatus", "email", "utm_source"],
              "actx_error fields", r)
    # a page too long for the header with its query keeps its path
    long_q = "?q=" + "x" * 1300
    r = form(s, bad(), {"Origin": ALLOWED_ORIGIN, "Referer": ALLOWED_ORIGIN + "/long" + long_q})
    expect_back(r, ALLOWED_ORIGIN + "/long?actx_error=email", "for a long Referer")
    # the service's own page (Origin is this host): a relative Location
    self_origin = "http://127.0.0.1:%d" % s.port
    r = form(s, bad([("path", "/own"), ("_next", "/t")]), {"Origin": self_origin})
    expect_back(r, "/own?actx_error=email", "for a form on the service's own host")
    expect_eq(rejections(), before + 6, "every rejection recorded")


@test
def invalid_form_never_goes_elsewhere():
    s = stack()
    # (headers, extra fields): no safe page, so the JSON 400 (no Accept, or one that does not prefer HTML)
    cases = [
        ({}, []),  # a server-side caller: no Origin, no Referer
        ({}, [("path", "/f"), ("_next", "/t")]),  # the page is named, but no site to put it on
        ({"Origin": ALLOWED_ORIGIN, "Referer": EVIL + "/f"}, []),
        ({"Origin": ALLOWED_ORIGIN, "Referer": ALLOWED_ORIGIN + ".evil.example/f"}, []),
        ({"Origin": ALLOWED_ORIGIN, "Referer": ALLOWED_ORIGIN + "@evil.example/f"}, []),
        ({"Origin": ALLOWED_ORIGIN, "Referer": ALLOWED_ORIGIN + "//evil.example/f"}, []),
        ({"Origin": ALLOWED_ORIGIN, "Referer": ALLOWED_ORIGIN + "/\\evil.example"}, []),
        ({"Origin": ALLOWED_ORIGIN}, []),
        ({"Origin": ALLOWED_ORIGIN}, [("path", "//evil.example/f"), ("_next", "/t")]),
        ({"Origin": ALLOWED_ORIGIN}, [("path", "/\\evil.example"), ("_next", "/t")]),
        ({"Origin": ALLOWED_ORIGIN}, [("path", "javascript:alert(1)"), ("_next", "/t")]),
        ({"Origin": ALLOWED_ORIGIN}, [("path", "https://evil.example/"), ("_next", "/t")]),
        ({"Origin": ALLOWED_ORIGIN}, [("_next", "/t"), ("path", "/" + "p" * 2048)]),  # path itself invalid
        ({"Referer": EVIL + "/f"}, [("path", "/f"), ("_next", "/t")]),
        ({"Referer": "null"}, [("path", "/f"), ("_next", "/t")]),
        ({"Origin": ALLOWED_ORIGIN, "Accept": "*/*"}, []),
        ({"Origin": ALLOWED_ORIGIN, "Accept": "application/json, text/html;q=0.5"}, []),
        ({"Origin": ALLOWED_ORIGIN, "Accept": "text/html;q=0"}, []),
    ]
    for headers, extra in cases:
        before = rejections()
        r = form(s, bad(extra), headers)
        paths = ["email"] + (["path"] if extra and extra[-1][0] == "path" else [])
        expect_json_400(r, paths, "for %r %r" % (headers, extra))
        expect_eq(rejections(), before + 1, "rejection recorded for %r %r" % (headers, extra))
    # a foreign Origin is refused before validation (ENFORCE_ORIGIN), never redirected
    r = form(s, bad([("path", "/f"), ("_next", "/t")]), {"Origin": EVIL, "Accept": BROWSER_ACCEPT})
    expect_error(r, 403, "origin_not_allowed")
    expect("Location" not in r.headers, "a Location for a foreign Origin", r)
    # JSON clients: unchanged, whatever Origin, Referer and Accept say
    r = s.request("POST", CAPTURE, {"email": "x", "anonId": "anon-" + uid(), "path": "/f"},
                  {"Origin": ALLOWED_ORIGIN, "Referer": ALLOWED_ORIGIN + "/f", "Accept": BROWSER_ACCEPT})
    expect_json_400(r, ["email"], "of a JSON body")


@test
def invalid_form_html_page_for_a_browser():
    s = stack()
    before = rejections()
    # no safe page and a browser's Accept: a small HTML page, escaped, with no script, under a strict CSP
    r = form(s, [("email", "<script>alert(1)</script>"), ("anonId", "<i>"), ("consentStatus", "<b>")],
             {"Accept": BROWSER_ACCEPT})
    expect_eq(r.status, 400, "status", r)
    expect_eq(r.header("Content-Type"), "text/html; charset=utf-8", "content type", r)
    csp = r.header("Content-Security-Policy") or ""
    expect("default-src 'none'" in csp and "form-action 'none'" in csp and "frame-ancestors 'none'" in csp,
           "CSP %r" % csp, r)
    expect_eq(r.header("X-Content-Type-Options"), "nosniff", "nosniff", r)
    expect_eq(r.header("Cache-Control"), "no-store", "Cache-Control", r)
    expect_eq(int(r.header("Content-Length")), len(r.body), "Content-Length", r)
    html = r.body.decode("utf-8")
    expect(html.startswith("<!doctype html>"), "not an HTML page: %r" % html[:80], r)
    expect("<script" not in html.lower() and "<i>" not in html.lower() and "style" not in html.lower(),
           "markup from the request in the page: %r" % html, r)
    expect(all(f in html for f in ("<li>email: ", "<li>anonId: ", "<li>consentStatus: ")),
           "the failing fields: %r" % html, r)
    expect("<a " not in html, "a link with no safe place to go: %r" % html, r)
    # the site is known (allowed Origin) but not the page: a link to the site's root
    r = form(s, bad(), {"Origin": ALLOWED_ORIGIN, "Accept": BROWSER_ACCEPT})
    expect_eq((r.status, r.header("Content-Type")), (400, "text/html; charset=utf-8"), "status, type", r)
    expect('<a href="%s/">' % ALLOWED_ORIGIN in r.body.decode(), "link to the site: %r" % r.body, r)
    expect("Location" not in r.headers, "a Location on the HTML page", r)
    # both rejections recorded, no lead
    expect_eq(rejections(), before + 2, "rejections recorded")
    expect_eq(leads_with("<script>alert(1)</script>"), 0, "no lead")
