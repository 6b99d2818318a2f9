"""dashboard.py - the dashboard's browser tests (issue 15 item 5), run by run.py after the tracker's.

A stack of its own (its own database, SITE_TIME_ZONE=America/Toronto, no rate limits: the page and
these checks make many admin requests from one address) is filled through the real API (events over
the last 14 site days on two properties, lead captures today), then dashboard.js drives
/dashboard/ in Debian's chromium twice:
  empty - before any rollup: a wrong key (a clear message, the form again), then the right key and
          the "rollups have not run yet" state (no zeros);
  full  - after `rollups backfill` (leaving one day out, so the chart marks it): login from the
          keyboard, reload, property picker, 7-day preset, custom range, comparison, weekly chart,
          two breakdown tabs (click, arrow key), CSV download, phone width, a 503, sign out.
Every number the page showed is compared with the API's own answer for the same window, formatted
as the page formats it (formatting below mirrors dashboard.js); the downloaded CSV with the bytes
of export.csv. No console error (except the 401/503 of the steps that cause them), no CSP
violation, no request to another origin. Screenshots (1280x800 and 375x812) go to the artifacts."""

import datetime
import decimal
import json
import os
import subprocess
import urllib.parse
import uuid
import zoneinfo

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
DB = "dashboard"
TZ = "America/Toronto"
DAYS = 14          # days of seeded traffic, ending today (site days)
GAP = 3            # today - GAP is left out of the rollups: the chart must mark it
PROPS = ("dash-a", "dash-b")
KEY_STORE = "dashboard.adminKey"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
XSS = "<img src=x onerror=alert(1)>"
# console errors a step causes on purpose: the browser reports the failed request itself
ALLOWED_ERRORS = {"wrong-key": "status of 401", "unavailable": "status of 503"}


# ---- the page's formatting (dashboard.js fmtInt, fmtPct, fmtDelta), reproduced
def js_fixed1(x):
    """Number.prototype.toFixed(1): the exact binary value rounded half away from zero."""
    return str(decimal.Decimal(x).quantize(decimal.Decimal("0.1"), rounding=decimal.ROUND_HALF_UP))


def fmt_int(n):
    return "{:,}".format(int(round(n)))


def fmt_pct(f):
    return js_fixed1(f * 100) + "%"


def fmt_delta(d):
    return ("+" if d > 0 else "") + js_fixed1(d * 100) + "%"


class Api:
    def __init__(self, stack):
        self.stack = stack

    def get(self, path, **params):
        q = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        r = self.stack.request("GET", path + ("?" + q if q else ""),
                               headers={"Authorization": "Bearer " + harness.ADMIN_KEY})
        if r.status != 200:
            raise AssertionError("GET %s?%s answered %d %r" % (path, q, r.status, r.body[:300]))
        return r


def expect_kpis(s, compare):
    """The KPI cards as the page must show them for summary answer s."""
    m = s["metrics"]
    rolled = s["freshness"]["rolledUpThrough"] is not None
    cards = {"visitors": (m.get("uniqueVisitors"), fmt_int), "pageViews": (m.get("totalPageViews"), fmt_int),
             "leads": (m.get("newLeads"), fmt_int), "leadCaptureRate": (m.get("leadCaptureRate"), fmt_pct),
             "formCompletionRate": (m.get("formCompletionRate"), fmt_pct),
             "conversionRate": (m.get("landingPageConversionRate"), fmt_pct)}
    out = {}
    for name, (metric, fmt) in cards.items():
        if not rolled or not metric:
            out[name] = {"value": "—", "delta": ""}
            continue
        delta = ""
        if compare:
            delta = "no baseline" if metric["delta"] is None else fmt_delta(metric["delta"]) + " vs previous"
        out[name] = {"value": fmt(metric["value"]), "delta": delta}
    return out


def expect_ingest(s):
    g, f = s["ingest"], s["freshness"]
    total = g["totalEventsAccepted"] + g["totalEventsRejected"]
    bots = g.get("botsDropped") or {}
    names = {"empty_ua": "no user agent", "bot_ua": "bot user agent", "headless": "headless browser"}
    detail = ["%s %s" % (fmt_int(v), names.get(k, k)) for k, v in bots.items() if v > 0]
    out = {
        "success": ("%s (%s of %s)" % (fmt_pct(g["successPct"]), fmt_int(g["totalEventsAccepted"]), fmt_int(total))
                    if total else "no events in this range"),
        "ttfb": "no measurement" if g["p95TtfbMs"] is None else fmt_int(g["p95TtfbMs"]) + " ms",
        "bots": fmt_int(sum(bots.values())) + (" (%s)" % ", ".join(detail) if detail else ""),
    }
    if f["rolledUpThrough"] is None:
        out.update(success="not rolled up yet", ttfb="not rolled up yet", fresh="rollups have not run yet",
                   generated="—")
    else:
        out.update(fresh="%s (%d %s behind today)" % (f["rolledUpThrough"], f["lagDays"],
                                                    "day" if f["lagDays"] == 1 else "days"),
                   generated=f["generatedAt"])
    return out


def expect_chart_rows(ts):
    return [[b["start"], b["end"], fmt_int(b["visitors"]), fmt_int(b["pageViews"]), fmt_int(b["leads"]),
             fmt_int(b["conversions"]), "yes" if b["complete"] else "no"] for b in ts["buckets"]]


def expect_breakdown_rows(bd):
    return [[v["value"], fmt_int(v["visitors"]), fmt_int(v["pageViews"]), fmt_int(v["entrances"]),
             fmt_int(v["conversions"]), fmt_pct(v["share"])] for v in bd["values"]]


def expect_realtime(rt):
    return {"v5": fmt_int(rt["last5Minutes"]["visitors"]), "p5": fmt_int(rt["last5Minutes"]["pageViews"]),
            "v30": fmt_int(rt["last30Minutes"]["visitors"]), "p30": fmt_int(rt["last30Minutes"]["pageViews"])}


# ---- the data, through the API
def seed(stack, run_id, today):
    """Events over DAYS site days on PROPS (visitors come back on later days), today's a minute
    old (the realtime figures), a campaign named like markup, two lead captures today."""
    zone = zoneinfo.ZoneInfo(TZ)
    now = datetime.datetime.now(datetime.timezone.utc)
    paths = ["/", "/pricing", "/blog/launch", "/docs"]
    devices = ["desktop", "mobile", "tablet"]
    countries = ["CA", "US", "FR"]
    sent = 0
    for k in range(DAYS):
        day = today - datetime.timedelta(days=DAYS - 1 - k)
        for i in range(2 + k % 3):
            if day == today:
                # a minute and a half ago: every event of the visit is in the past (the realtime
                # figures count it at once) and stays in the last 5 minutes for the whole run
                ts = now - datetime.timedelta(seconds=90 + 8 * i)
            else:
                ts = datetime.datetime.combine(day, datetime.time(12, 5 * i), zone)
            anon = "dash-%s-v%d" % (run_id, i)
            traffic = {"propertyId": PROPS[i % 2], "deviceType": devices[(i + k) % 3],
                       "countryCode": countries[(i * 2 + k) % 3], "isEntrance": True}
            first = {"anonId": anon, "eventType": "page_view", "path": paths[(i + k) % 4],
                     "timestamp": ts.isoformat(), "eventId": str(uuid.uuid4()), "traffic": traffic}
            if (i + k) % 3 == 0:
                first["utm"] = {"source": "newsletter", "medium": "email",
                                "campaign": XSS if k % 2 else "spring, \"launch\""}
            elif (i + k) % 3 == 1:
                first["referrer"] = "https://news.example.org/story/%d" % k
            evs = [first, {"anonId": anon, "eventType": "page_view", "path": "/pricing",
                           "timestamp": (ts + datetime.timedelta(seconds=20)).isoformat(),
                           "eventId": str(uuid.uuid4()),
                           "traffic": dict(traffic, isEntrance=False)}]
            if i == 0 and k % 2 == 0:
                for j, t in enumerate(("form_start", "form_submit")):
                    evs.append({"anonId": anon, "eventType": t, "path": "/pricing",
                                "timestamp": (ts + datetime.timedelta(seconds=30 + j)).isoformat(),
                                "eventId": str(uuid.uuid4()), "props": {"formName": "demo"},
                                "traffic": dict(traffic, isEntrance=False, isConversion=t == "form_submit")})
            for e in evs:
                r = stack.request("POST", "/v1/events", body=e, headers={"Content-Type": "application/json"})
                if r.status != 202:
                    raise AssertionError("seeding: POST /v1/events answered %d %r" % (r.status, r.body[:300]))
                sent += 1
    for i in range(2):
        r = stack.request("POST", "/v1/leads/capture", headers={"Content-Type": "application/json"}, body={
            "email": "dash-%s-%d@example.com" % (run_id, i), "anonId": "dash-%s-v%d" % (run_id, i),
            "consentStatus": "express", "path": "/pricing", "formName": "demo"})
        if r.status != 200:
            raise AssertionError("seeding: POST /v1/leads/capture answered %d %r" % (r.status, r.body[:300]))
    return sent


def rollups(env, today):
    """Backfills every property's rollups over the seeded days but today - GAP."""
    gap = today - datetime.timedelta(days=GAP)
    first = today - datetime.timedelta(days=DAYS - 1)
    for prop in (env.get("ROLLUP_DEFAULT_PROPERTY_ID") or "default",) + PROPS:
        for frm, to in ((first, gap - datetime.timedelta(days=1)), (gap + datetime.timedelta(days=1), today)):
            r = harness.backend(["rollups", "backfill", "--from=%s" % frm, "--to=%s" % to,
                                 "--property-id=%s" % prop], env, timeout=120)
            if r.returncode != 0:
                raise AssertionError("rollups backfill %s %s..%s: exit %d %s" % (prop, frm, to, r.returncode,
                                                                                 r.stderr[-400:]))


def browse(cfg, tmp):
    cfg_path, out_path = os.path.join(tmp, "dash-config.json"), os.path.join(tmp, "dash-results.json")
    with open(cfg_path, "w") as fh:
        json.dump(cfg, fh)
    r = subprocess.run(["node", os.path.join(HERE, "dashboard.js"), cfg_path, out_path], cwd=HERE,
                       capture_output=True, text=True, timeout=240)
    if r.returncode != 0 or not os.path.exists(out_path):
        raise AssertionError("dashboard.js exit %d\n%s%s" % (r.returncode, r.stdout, r.stderr))
    with open(out_path) as fh:
        return json.load(fh)


def check_headers(checks, stack):
    r = stack.request("GET", "/dashboard/")
    got = {h: r.header(h) for h in ("Content-Type", "Content-Security-Policy", "X-Content-Type-Options",
                                    "Referrer-Policy", "Cache-Control")}
    checks.check("dashboard: GET /dashboard/ is the page with a strict CSP, nosniff, no referrer, revalidated",
                 r.status == 200 and b"dashboard.js" in r.body and got == {
                     "Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": CSP,
                     "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                     "Cache-Control": "no-cache"}, "%d %r" % (r.status, got))
    r = stack.request("GET", "/dashboard?x=1")
    checks.check("dashboard: /dashboard redirects to /dashboard/", r.status == 301
                 and r.header("Location") == "/dashboard/?x=1", "%d Location %r" % (r.status, r.header("Location")))
    types = {}
    for f, want in (("dashboard.js", "text/javascript; charset=utf-8"), ("dashboard.css", "text/css; charset=utf-8")):
        x = stack.request("GET", "/dashboard/" + f)
        types[f] = (x.status, x.header("Content-Type"), x.header("Content-Security-Policy") == CSP)
    checks.check("dashboard: its script and style are served with their types and the CSP",
                 types == {"dashboard.js": (200, "text/javascript; charset=utf-8", True),
                           "dashboard.css": (200, "text/css; charset=utf-8", True)}, "%r" % types)
    p = stack.request("POST", "/dashboard/", body=b"", headers={"Content-Type": "text/plain"})
    n = stack.request("GET", "/dashboard/nothing-here.js")
    checks.check("dashboard: other methods are 405 with Allow, an unknown file the JSON 404",
                 p.status == 405 and p.header("Allow") == "GET, HEAD" and n.status == 404
                 and (n.json or {}).get("error") == "not_found",
                 "POST %d Allow %r; unknown %d %r" % (p.status, p.header("Allow"), n.status, n.body[:100]))


def check_common(checks, res, base):
    phase = res["phase"]
    bad = [e for e in res["errors"] if not (e["step"] in ALLOWED_ERRORS and ALLOWED_ERRORS[e["step"]] in e["text"]
                                            and "Failed to load resource" in e["text"])]
    checks.check("dashboard %s: no console error or page error (but the 401/503 asked for), no CSP violation"
                 % phase, not bad and not res["csp"], "errors %r, CSP violations %r" % (bad, res["csp"]))
    others = sorted({u for u in res["requests"] if not u.startswith((base + "/", "blob:", "data:"))})
    checks.check("dashboard %s: no request to another origin" % phase, not others, "requests to %r" % others)
    urls = res["requests"] + [st.get("url") or "" for st in res["steps"].values()]
    leaked = [u for u in urls if harness.ADMIN_KEY in urllib.parse.unquote(u)]
    checks.check("dashboard %s: the key is in no URL, the page's address included (header only)" % phase, not leaked, "URLs %r" % leaked[:5])


def same(checks, name, got, want):
    checks.check(name, got == want, "page showed %r, the API says %r" % (got, want))


def check_window(checks, api, st, name, prop, compare=None):
    """The KPIs, ingest health, chart table and breakdown rows of step st against the API."""
    s = st["state"]
    compare = s["compare"] if compare is None else compare
    summ = api.get("/v1/metrics/summary", **{"from": s["from"], "to": s["to"], "propertyId": prop,
                                            "compareTo": "true" if compare else "false"}).json
    same(checks, "dashboard %s: KPI cards == summary API (%s..%s, %s%s)" % (
        name, s["from"], s["to"], prop, ", with deltas" if compare else ""), st["kpis"], expect_kpis(summ, compare))
    same(checks, "dashboard %s: ingest health == summary API" % name, st["ingest"], expect_ingest(summ))
    ts = api.get("/v1/metrics/timeseries", **{"from": s["from"], "to": s["to"], "propertyId": prop,
                                             "interval": s["interval"]}).json
    want_rows = expect_chart_rows(ts)
    incomplete = sum(1 for b in ts["buckets"] if not b["complete"])
    # one line per series (visitors, page views) when any bucket is rolled up; the previous
    # period's two dashed lines likewise
    paths = 2 if any(b["complete"] for b in ts["buckets"]) else 0
    prev_paths = 0
    if compare:
        c = summ["compareTo"]
        prev = api.get("/v1/metrics/timeseries", **{"from": c["from"], "to": c["to"], "propertyId": prop,
                                                   "interval": s["interval"]}).json
        prev_paths = 2 if any(b["complete"] for b in prev["buckets"]) else 0
    checks.check("dashboard %s: chart data == timeseries API (%s), %d bucket(s) marked not rolled up, %d line(s), "
                 "%d of the previous period" % (name, s["interval"], incomplete, paths, prev_paths),
                 st["chart"]["rows"] == want_rows and st["chart"]["missing"] == incomplete
                 and st["chart"]["paths"] == paths and st["chart"]["prevPaths"] == prev_paths,
                 "page %r, API %r" % (st["chart"], want_rows))
    return summ, ts


def verify_empty(checks, api, res, site_today):
    check_common(checks, res, api.base)
    w = res["steps"].get("wrong-key") or {}
    checks.check("dashboard: a wrong key shows a clear message and the form again, keeps nothing",
                 w.get("loginShown") is True and w.get("mainShown") is False
                 and "not accepted" in (w.get("loginMessage") or "") and "401" in w.get("loginMessage", "")
                 and w.get("stored") == 0 and w.get("lowContrast") == [], "page %r" % w)
    e = res["steps"].get("not-rolled-up") or {}
    if not e:
        checks.check("dashboard: the rollups-not-run state", False, "no snapshot; errors %r" % res["errors"])
        return
    s = e["state"]
    summ = api.get("/v1/metrics/summary", **{"from": s["from"], "to": s["to"], "propertyId": s["property"]}).json
    checks.check("dashboard: before any rollup, a clear 'rollups have not run yet' state and no zeros "
                 "(the API has no rollup either)",
                 summ["freshness"]["rolledUpThrough"] is None and e["mainShown"]
                 and "Rollups have not run yet" in (e.get("freshness") or "")
                 and all(v == {"value": "—", "delta": ""} for v in e["kpis"].values())
                 and "Rollups have not run yet" in (e["chart"].get("empty") or "")
                 and e["ingest"]["fresh"] == "rollups have not run yet",
                 "page %r; API freshness %r" % (e, summ["freshness"]))
    same(checks, "dashboard: before any rollup, KPI and ingest == summary API", (e["kpis"], e["ingest"]),
         (expect_kpis(summ, False), expect_ingest(summ)))
    rt = api.get("/v1/metrics/realtime", propertyId=s["property"]).json
    checks.check("dashboard: before any rollup, realtime (raw events) still shows today's visitors == API",
                 e["realtime"] == expect_realtime(rt) and rt["last5Minutes"]["visitors"] > 0,
                 "page %r, API %r" % (e["realtime"], rt))


def verify_full(checks, api, res, cfg, site):
    check_common(checks, res, api.base)
    steps = res["steps"]
    today = site["today"]
    d = datetime.date.fromisoformat(today)
    days_back = lambda n: str(d - datetime.timedelta(days=n))  # noqa: E731

    want = ["login", "reload", "property", "preset-7", "custom-invalid", "custom", "compare", "week", "reload-compare", "breakdown-click",
            "breakdown-key", "realtime", "phone", "unavailable", "logout"]
    checks.check("dashboard full: every step ran", all(k in steps for k in want),
                 "missing steps %r; errors %r" % ([k for k in want if k not in steps], res["errors"]))
    lg = steps.get("login")
    if not lg:
        checks.check("dashboard full: login", False, "no snapshot; errors %r" % res["errors"])
        return
    checks.check("dashboard: login by keyboard keeps the key in sessionStorage only (no cookie, no localStorage)",
                 lg["mainShown"] and not lg["loginShown"] and lg.get("storage") == {
                     "session": {KEY_STORE: harness.ADMIN_KEY}, "local": 0} and lg.get("cookies") == 0,
                 "page %r" % {k: lg.get(k) for k in ("mainShown", "loginShown", "storage", "cookies")})
    checks.check("dashboard: site time zone, today, property list and the default 30 days from /v1/metrics/site",
                 lg["tz"] == site["timeZone"] == TZ and lg["today"] == today
                 and lg["state"]["from"] == days_back(29) and lg["state"]["to"] == today
                 and lg["state"]["pressed"] == ["30"] and lg["state"]["property"] == site["defaultPropertyId"]
                 and set(p["propertyId"] for p in site["properties"]) <= set(lg["properties"])
                 and set(PROPS) <= set(lg["properties"]),
                 "page %r / %r; site %r" % (lg["state"], lg["properties"], site))
    check_window(checks, api, lg, "login", lg["state"]["property"])
    bd = api.get("/v1/metrics/breakdown", **{"dimension": "page", "from": lg["state"]["from"], "to": today,
                                            "propertyId": lg["state"]["property"], "limit": 10, "offset": 0}).json
    same(checks, "dashboard login: the first breakdown (pages) == breakdown API", lg["breakdown"]["rows"],
         expect_breakdown_rows(bd))
    if "realtime" in steps:
        st = steps["realtime"]
        rt = api.get("/v1/metrics/realtime", propertyId=st["state"]["property"]).json
        same(checks, "dashboard: realtime == realtime API (%s)" % st["state"]["property"], st["realtime"],
             expect_realtime(rt))
        c = st.get("calls") or [0, 0]
        checks.check("dashboard: realtime asks again by itself after 30 s", c[1] == c[0] + 1,
                     "realtime requests before and after 30 s: %r" % c)

    rl = steps.get("reload") or {}
    checks.check("dashboard: a reload keeps the session (no second login)",
                 rl.get("mainShown") is True and rl.get("loginShown") is False, "page %r" % rl.get("state"))

    pr = steps.get("property")
    if pr:
        checks.check("dashboard: the property picker switches every figure", pr["state"]["property"] == cfg["property"],
                     "state %r" % pr["state"])
        check_window(checks, api, pr, "property", cfg["property"])
    p7 = steps.get("preset-7")
    if p7:
        checks.check("dashboard: the 7-day preset is the last 7 site days", p7["state"]["from"] == days_back(6)
                     and p7["state"]["to"] == today and p7["state"]["pressed"] == ["7"], "state %r" % p7["state"])
        check_window(checks, api, p7, "preset-7", cfg["property"])
    ci = steps.get("custom-invalid")
    if ci:
        c = ci.get("calls") or [0, 1, 0, 1]
        checks.check("dashboard: a custom range ending before it starts is refused on the page, the API not asked",
                     "must not be after" in (ci.get("customMessage") or "")
                     and c[0] == c[1] and c[2] == c[3],
                     "message %r; loads and requests before/after %r" % (ci.get("customMessage"), c))
    cu = steps.get("custom")
    if cu:
        checks.check("dashboard: a custom range", cu["state"]["from"] == cfg["customFrom"]
                     and cu["state"]["to"] == cfg["customTo"] and cu["state"]["pressed"] == [], "state %r" % cu["state"])
        check_window(checks, api, cu, "custom", cfg["property"])
    cp = steps.get("compare")
    if cp:
        summ, _ = check_window(checks, api, cp, "compare", cfg["property"])
        c = summ.get("compareTo") or {}
        checks.check("dashboard: the comparison toggle (keyboard) shows the previous window and real deltas",
                     cp["state"]["compare"] is True and cp["focus"] == "compare"
                     and "compared with %s to %s" % (c.get("from"), c.get("to")) in cp["windowLine"]
                     and any(k["delta"].endswith("vs previous") and k["delta"][0] in "+-0"
                             for k in cp["kpis"].values()),
                     "page %r; API compareTo %r" % (cp["windowLine"], c))
    wk = steps.get("week")
    if wk:
        checks.check("dashboard: the interval picker", wk["state"]["interval"] == "week", "state %r" % wk["state"])
        check_window(checks, api, wk, "week", cfg["property"])
    rc = steps.get("reload-compare")
    if rc and wk:
        checks.check("dashboard: a reload shows the same view (range, property, comparison, interval, tab)",
                     rc["state"] == wk["state"], "before %r, after %r" % (wk["state"], rc["state"]))
        check_window(checks, api, rc, "reload-compare", cfg["property"])
    for key, dim in (("breakdown-click", cfg["tabClick"]), ("breakdown-key", cfg["tabKey"])):
        b = steps.get(key)
        if not b:
            continue
        s = b["state"]
        bd = api.get("/v1/metrics/breakdown", **{"dimension": dim, "from": s["from"], "to": s["to"],
                                                "propertyId": cfg["property"], "limit": 10, "offset": 0}).json
        checks.check("dashboard %s: tab %s selected, its table == breakdown API" % (key, dim),
                     s["dimension"] == dim and b["breakdown"]["rows"] == expect_breakdown_rows(bd)
                     and len(bd["values"]) > 0,
                     "dimension %r, page %r, API %r" % (s["dimension"], b["breakdown"]["rows"], bd.get("values")))
        if dim == "utm_campaign":
            checks.check("dashboard: a value made of markup is shown as text (no element, no script)",
                         any(r[0] == XSS for r in b["breakdown"]["rows"]), "rows %r" % b["breakdown"]["rows"])
    csv = res.get("csv")
    b = steps.get("breakdown-key")
    if csv and b:
        s = b["state"]
        r = api.get("/v1/metrics/export.csv", **{"dimension": cfg["tabKey"], "from": s["from"], "to": s["to"],
                                                "propertyId": cfg["property"]})
        with open(csv["file"], "rb") as fh:
            got = fh.read()
        want_name = "metrics-%s-%s-%s.csv" % (cfg["tabKey"], s["from"], s["to"])
        checks.check("dashboard: the CSV download is export.csv byte for byte, under the API's file name",
                     got == r.body and len(got) > 0 and csv["name"] == want_name,
                     "downloaded %s (%d bytes) %r; API %d bytes %r" % (csv["name"], len(got), got[:200], len(r.body),
                                                                      r.body[:200]))
    else:
        checks.check("dashboard: the CSV download", False, "no download; errors %r" % res["errors"])
    daily = res.get("dailyCsv")
    if daily and b:
        s = b["state"]
        r = api.get("/v1/metrics/export.csv", **{"dimension": "daily", "from": s["from"], "to": s["to"],
                                                "propertyId": cfg["property"]})
        with open(daily["file"], "rb") as fh:
            got = fh.read()
        checks.check("dashboard: the daily CSV download is export.csv?dimension=daily byte for byte",
                     got == r.body and got.count(b"\r\n") == 1 + (datetime.date.fromisoformat(s["to"])
                                                                  - datetime.date.fromisoformat(s["from"])).days + 1
                     and daily["name"] == "metrics-daily-%s-%s.csv" % (s["from"], s["to"]),
                     "downloaded %s %r; API %r" % (daily["name"], got[:300], r.body[:300]))
    else:
        checks.check("dashboard: the daily CSV download", False, "no download; errors %r" % res["errors"])
    ph = steps.get("phone")
    shots = [os.path.join(cfg["artifacts"], "dashboard-compare-%s.png" % w) for w in ("desktop", "phone")]
    checks.check("dashboard: fits a 375 px wide screen (no sideways scrolling); desktop and phone screenshots saved",
                 ph is not None and ph["overflow"] <= 0 and all(os.path.getsize(f) > 0 for f in shots
                                                                if os.path.exists(f)) and all(map(os.path.exists, shots)),
                 "overflow %r px; screenshots %r" % (ph and ph["overflow"], shots))
    un = steps.get("unavailable") or {}
    checks.check("dashboard: a 503 shows a clear banner with its Retry-After, the page stays",
                 "service is unavailable" in (un.get("banner") or "") and "503" in (un.get("banner") or "")
                 and "Try again in 2 s" in (un.get("banner") or "") and un.get("mainShown") is True,
                 "banner %r" % un.get("banner"))
    low = {k: steps[k].get("lowContrast") for k in ("compare", "phone") if k in steps}
    checks.check("dashboard: every visible text has a contrast of at least 4.5:1 (desktop and phone)",
                 len(low) == 2 and not any(low.values()), "under 4.5:1: %r" % low)
    # (a date input takes one Tab per field: month, day, year, its calendar button)
    order = [f["name"] for i, f in enumerate((cp or {}).get("tabOrder") or [])
             if i == 0 or f["name"] != cp["tabOrder"][i - 1]["name"]]
    want = ["property", "logout", "preset-7", "preset-30", "preset-90", "from", "to", "apply", "compare",
            "interval", "tab-%s" % (cp or {}).get("state", {}).get("dimension"), "bd-panel", "bd-csv", "daily-csv"]
    pos = [order.index(w) if w in order else -1 for w in want]
    no_outline = [f["name"] for f in (cp or {}).get("tabOrder") or [] if not f["outline"]]
    checks.check("dashboard: every control is reached with Tab, in reading order, one breakdown tab stop, each with "
                 "a visible focus outline",
                 -1 not in pos and pos == sorted(pos) and sum(1 for o in order if o.startswith("tab-")) == 1
                 and not no_outline, "tab order %r; without outline %r" % (order, no_outline))
    lo = steps.get("logout") or {}
    checks.check("dashboard: sign out forgets the key", lo.get("loginShown") is True and lo.get("stored") == 0,
                 "page %r" % {k: lo.get(k) for k in ("loginShown", "stored")})


def run(checks, artifacts, tmp, run_id):
    url = harness.migrated_database(DB)
    env = {"SITE_TIME_ZONE": TZ, "RATE_LIMIT_MAX": 0, "RATE_LIMIT_SUMMARY": 0, "RATE_LIMIT_EVENTS": 0,
           "RATE_LIMIT_CAPTURE": 0}
    stack = harness.shared("dashboard-stack", lambda: harness.Stack(url, workers=2, env=env))
    api = Api(stack)
    api.base = "http://127.0.0.1:%d" % stack.port
    check_headers(checks, stack)
    today = datetime.datetime.now(zoneinfo.ZoneInfo(TZ)).date()
    sent = seed(stack, run_id, today)
    print("dashboard: %d events seeded over %d days" % (sent, DAYS), flush=True)
    site = api.get("/v1/metrics/site").json
    cfg = {"base": api.base, "key": harness.ADMIN_KEY, "wrongKey": "not-the-key-" + run_id, "artifacts": artifacts,
           "phase": "empty"}
    res = browse(cfg, tmp)
    verify_empty(checks, api, res, site["today"])
    if checks.failed:
        print("dashboard: what the page showed (empty):\n" + json.dumps(res, indent=1)[:20000], flush=True)
    rollups(harness.service_env(url, {"SITE_TIME_ZONE": TZ}), today)
    site = api.get("/v1/metrics/site").json
    d = datetime.date.fromisoformat(site["today"])
    cfg.update(phase="full", property=PROPS[0], tabClick="utm_campaign", tabKey="device",
               customFrom=str(d - datetime.timedelta(days=DAYS // 2 - 1)), customTo=str(d - datetime.timedelta(days=1)))
    failed_before = checks.failed
    res = browse(cfg, tmp)
    verify_full(checks, api, res, cfg, site)
    if checks.failed > failed_before:
        print("dashboard: what the page showed (full):\n" + json.dumps(res, indent=1)[:40000], flush=True)
