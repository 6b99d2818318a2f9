"""leadpages.py - the lead-side pages a person sees (issue 16 items 2 and 8), run by run.py after the
dashboard's; leadpages.js drives Debian's chromium.

Its own database and stack (UNSUBSCRIBE_SECRET and PUBLIC_BASE_URL set, otherwise the defaults): a
lead is captured over the API, its link minted by `backend unsubscribe-url --email=` (the
operator's way) and opened on this stack's own host (the link's path; its host is PUBLIC_BASE_URL).
  - the confirmation page (GET): a button, and the lead's consent_status unchanged;
  - Tab reaches the button, Enter presses it: the "Unsubscribed" page, consent withdrawn with a
    consent_events row of source unsubscribe;
  - the link with its token altered: the 403 page, and no row changed;
  - a phone width (375 px): no sideways scrolling.
The classic form's HTML 400 (item 8): a browser only gets it when there is no safe page to send it
back to and the service accepts the post. A page's Origin is then "null" (a data: or file:// page,
or a page with a no-referrer policy: Chromium sends Origin null with a POST under no-referrer),
and with ENFORCE_ORIGIN on (the default) "null" is refused 403 before validation; any other page on
an allowed origin sends a Referer, which is always a safe page, so the visitor is sent back with
actx_error. The page is reached for real on a second stack with ENFORCE_ORIGIN=false (an operator
setting): a data: page posts a form with an invalid email.
Every page: no console error (but the 4xx of the page that is one), no CSP violation, no request to
another origin, no script, text contrast >= 4.5:1. Screenshots: unsubscribe-confirm.png,
unsubscribe-confirm-phone.png, unsubscribe-done.png, unsubscribe-invalid.png, form-error-page.png."""

import json
import os
import subprocess
import urllib.parse
import uuid

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
DB = "leadpages"
BASE_URL = "https://mail-links.example"
SECRET = "6b" * 32
UNSUB = "/v1/leads/unsubscribe"
SHOTS = ("unsubscribe-confirm", "unsubscribe-confirm-phone", "unsubscribe-done", "unsubscribe-invalid",
         "form-error-page")
# the one console error each step causes on purpose: the browser reports the page's own status
ALLOWED_ERRORS = {"invalid": "status of 403", "form-error": "status of 400"}
FORM_PAGE = ('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Contact</title></head><body>'
             '<form method="post" action="%s/v1/leads/capture"><input name="email" value="not-an-email">'
             '<input type="hidden" name="anonId" value="%s"><input type="hidden" name="consentStatus" '
             'value="express"><button type="submit">Send</button></form></body></html>')


def scalar(sql):
    return harness.shared_postgres().psql(sql, db=DB).strip()


def lead_state(lead_id):
    lit = harness.sql_lit(lead_id)
    return (scalar("SELECT consent_status::text FROM leads WHERE id = %s" % lit),
            scalar("SELECT string_agg(status::text || '/' || source, ',' ORDER BY \"timestamp\", id) "
                   "FROM consent_events WHERE lead_id = %s" % lit),
            scalar("SELECT count(*) FROM consent_events"))


def browse(cfg, tmp):
    cfg_path, out_path = os.path.join(tmp, "lead-config.json"), os.path.join(tmp, "lead-results.json")
    with open(cfg_path, "w") as fh:
        json.dump(cfg, fh)
    r = subprocess.run(["node", os.path.join(HERE, "leadpages.js"), cfg_path, out_path], cwd=HERE,
                       capture_output=True, text=True, timeout=180)
    if r.returncode != 0 or not os.path.exists(out_path):
        raise AssertionError("leadpages.js exit %d\n%s%s" % (r.returncode, r.stdout, r.stderr))
    with open(out_path) as fh:
        return json.load(fh)


def altered(path):
    """The link with one character of its token changed (still base64url)."""
    i = path.index("token=") + len("token=") + 20
    return path[:i] + ("A" if path[i] != "A" else "B") + path[i + 1:]


def check_page(checks, name, st, csp_words, referrer="same-origin"):
    """What every page must be: its CSP strict, nosniff, its Referrer-Policy, no script, readable."""
    h = (st or {}).get("headers") or {}
    csp = h.get("content-security-policy", "")
    checks.check("leadpages %s: served with a strict CSP (%s), nosniff, Referrer-Policy %s"
                 % (name, ", ".join(csp_words), referrer),
                 all(w in csp for w in csp_words) and h.get("x-content-type-options") == "nosniff"
                 and h.get("referrer-policy") == referrer, "headers %r" % h)
    checks.check("leadpages %s: no script on the page, every text at least 4.5:1" % name,
                 st is not None and st["scripts"] == 0 and st["lowContrast"] == [],
                 "scripts %r, under 4.5:1 %r" % (st and st["scripts"], st and st["lowContrast"]))


def run(checks, artifacts, tmp, run_id):
    url = harness.migrated_database(DB)
    env = {"UNSUBSCRIBE_SECRET": SECRET, "PUBLIC_BASE_URL": BASE_URL, "RATE_LIMIT_UNSUBSCRIBE": 0,
           "RATE_LIMIT_CAPTURE": 0}
    stack = harness.shared("leadpages-stack", lambda: harness.Stack(url, workers=1, env=env))
    lax = harness.shared("leadpages-lax-stack", lambda: harness.Stack(url, workers=1, env={
        "ENFORCE_ORIGIN": "false", "RATE_LIMIT_CAPTURE": 0}))
    base, lax_base = "http://127.0.0.1:%d" % stack.port, "http://127.0.0.1:%d" % lax.port
    email = "leadpage-%s@example.com" % run_id
    r = stack.request("POST", "/v1/leads/capture", {"email": email, "anonId": "anon-lp-" + run_id,
                                                     "consentStatus": "express"})
    if r.status != 200:
        raise AssertionError("capture answered %d %r" % (r.status, r.body[:300]))
    lead_id = r.json["leadId"]
    m = harness.backend(["unsubscribe-url", "--email=" + email], stack.env)
    link = m.stdout.strip()
    if m.returncode != 0 or not link.startswith(BASE_URL + UNSUB + "?token="):
        raise AssertionError("backend unsubscribe-url: exit %d %r %r" % (m.returncode, link, m.stderr))
    link_path = link[len(BASE_URL):]
    bad_email = "not-an-email-" + run_id
    anon = "anon-lp-form-" + run_id
    form_page = "data:text/html," + urllib.parse.quote(FORM_PAGE % (lax_base, anon))
    rejections = lambda: int(scalar("SELECT count(*) FROM ingest_rejections WHERE endpoint = '/v1/leads/capture'"))  # noqa: E731
    rej_before, leads_before = rejections(), int(scalar("SELECT count(*) FROM leads"))
    before = lead_state(lead_id)

    # the browser, twice: first every page that must change nothing (the link, a phone width, the
    # altered link, the form), then the rows are read, then the link again and its button pressed
    for name in SHOTS:  # a screenshot must be this run's (the artifacts directory may be reused)
        if os.path.exists(os.path.join(artifacts, name + ".png")):
            os.remove(os.path.join(artifacts, name + ".png"))
    cfg = {"base": base, "linkPath": link_path, "alteredPath": altered(link_path), "formPage": form_page,
           "artifacts": artifacts, "phase": "look"}
    look = browse(cfg, tmp)
    middle = lead_state(lead_id)
    cfg["phase"] = "press"
    press = browse(cfg, tmp)
    after = lead_state(lead_id)
    steps = dict(look["steps"], **press["steps"])

    # ---- every step: no console error but the ones the step causes, no CSP violation, no other origin
    errors, csp, requests = (look[k] + press[k] for k in ("errors", "csp", "requests"))
    unexpected = [e for e in errors if ALLOWED_ERRORS.get(e["step"], "\0") not in e["text"]]
    checks.check("leadpages: no console error or page error (but each 4xx page's own status), no CSP violation",
                 not unexpected and not csp, "errors %r, CSP violations %r" % (unexpected, csp))
    others = sorted({q["url"] for q in requests
                     if not q["url"].startswith((base + "/", lax_base + "/", "data:", "about:"))})
    checks.check("leadpages: no request to anyone but the service", not others, "requests to %r" % others)

    # ---- the confirmation page (GET): a button, nothing changed
    c = steps.get("confirm")
    checks.check("leadpages unsubscribe: the link opens the confirmation page with its button (200)",
                 c is not None and c.get("status") == 200 and c["h1"] == "Unsubscribe" and c["buttons"] == ["Unsubscribe"]
                 and "Nothing changes until you do" in c["text"], "page %r" % c)
    if c:
        check_page(checks, "confirmation", c, ("default-src 'none'", "form-action 'self'", "frame-ancestors 'none'"))
    gets = [q for q in look["requests"] if q["url"] == base + link_path]
    checks.check("leadpages unsubscribe: opening the link (a GET), a phone width and the altered link change "
                 "nothing (consent_status stays express, no consent_events row)",
                 before[0] == "express" and middle == before and len(gets) == 1 and gets[0]["method"] == "GET"
                 and not [q for q in look["requests"] if q["method"] != "GET" and q["url"].startswith(base)],
                 "before %r, after the GETs %r; requests %r" % (before, middle, look["requests"]))
    ph = steps.get("confirm-phone")
    checks.check("leadpages unsubscribe: the page fits a 375 px screen (no sideways scrolling), still readable",
                 ph is not None and ph["overflow"] <= 0 and ph["lowContrast"] == [] and ph["buttons"] == ["Unsubscribe"],
                 "page %r" % ph)

    # ---- keyboard: Tab to the button, Enter: the Unsubscribed page, consent withdrawn
    k = steps.get("keyboard") or {}
    checks.check("leadpages unsubscribe: Tab from the top gives the button focus", k.get("focus") == "BUTTON:Unsubscribe",
                 "focus %r" % k.get("focus"))
    d = steps.get("done")
    checks.check("leadpages unsubscribe: Enter on the button shows the 'Unsubscribed' page (200, no redirect)",
                 d is not None and d.get("status") == 200 and d["h1"] == "Unsubscribed" and d["buttons"] == []
                 and d["url"].startswith(base + UNSUB), "page %r" % d)
    if d:
        check_page(checks, "unsubscribed", d, ("default-src 'none'", "frame-ancestors 'none'"))
    checks.check("leadpages unsubscribe: the button withdrew consent (consent_status withdrawn, a consent_events "
                 "row with source unsubscribe)", after[0] == "withdrawn" and after[1] == middle[1] + ",withdrawn/unsubscribe"
                 and int(after[2]) == int(middle[2]) + 1, "before %r, after %r" % (middle, after))

    # ---- the altered link: the 403 page, nothing changed (the rows above: one withdrawal in all)
    v = steps.get("invalid")
    checks.check("leadpages unsubscribe: an altered token shows the 403 page, without a button",
                 v is not None and v.get("status") == 403 and v["h1"] == "Link not valid" and v["buttons"] == [],
                 "page %r" % v)
    if v:
        check_page(checks, "invalid link", v, ("default-src 'none'", "frame-ancestors 'none'"))

    # ---- the classic form's HTML 400, from a data: page (Origin null) to the ENFORCE_ORIGIN=false stack
    f = steps.get("form-error")
    checks.check("leadpages form: a browser's form post with an invalid email and nowhere safe to return gets the "
                 "HTML 400 naming the failing field, without a link",
                 f is not None and f.get("status") == 400 and (f.get("request") or {}).get("origin") == "null"
                 and "text/html" in (f.get("request") or {}).get("accept", "")
                 and f["h1"] == "The form could not be sent" and any(i.startswith("email: ") for i in f["items"])
                 and f["links"] == [] and f["url"] == lax_base + "/v1/leads/capture", "page %r" % f)
    if f:
        check_page(checks, "form error", f, ("default-src 'none'", "form-action 'none'", "frame-ancestors 'none'"),
                   "no-referrer")
    checks.check("leadpages form: the refused post is one rejection and no lead",
                 rejections() == rej_before + 1 and int(scalar("SELECT count(*) FROM leads")) == leads_before,
                 "rejections %d -> %d, leads %d -> %s" % (rej_before, rejections(), leads_before,
                                                          scalar("SELECT count(*) FROM leads")))
    shots = [os.path.join(artifacts, s + ".png") for s in SHOTS]
    missing = [s for s in shots if not os.path.exists(s) or os.path.getsize(s) == 0]
    checks.check("leadpages: screenshots saved (%s)" % ", ".join(SHOTS), not missing, "missing %r" % missing)
    if checks.failed:
        print("leadpages: what the pages showed:\n" + json.dumps([look, press], indent=1)[:20000], flush=True)
