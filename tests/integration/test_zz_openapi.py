"""test_zz_openapi.py - the API's own description (lighttpd/www/v1/openapi.json, served at
GET /v1/openapi.json) against the service itself. Named to sort last: run.py imports modules in
sorted order, so every response the other modules received (harness.record_response) is in
harness.recorded_responses() when these tests run, and each one is validated here.

- the document is OpenAPI 3.1: its structure, every $ref resolves, every schema is a valid JSON
  Schema 2020-12 (jsonschema's check_schema), and, when openapi-spec-validator is installed (it is
  not packaged in Debian 12), the official OpenAPI 3.1 meta-schema;
- every route of the C route table (the route table ROUTES, parsed from the source, wherever the file
  lives under fcgi-app/src) is documented with its methods, admin auth, body types and rate-limit
  class (config.c's variable and default), and nothing undocumented is routed; the running
  service answers every documented operation (never 404) and 405 + Allow for other methods;
- every recorded response, and a set this module makes itself, is validated against the
  document: an undocumented status fails, a body is checked with jsonschema's Draft 2020-12
  validator ($refs resolved over the document's components), required headers are checked.

jsonschema is Debian's python3-jsonschema (infra/scripts/install-deps.sh); a Python that is not
Debian's own (pyenv) falls back to the Debian copy in /usr/lib/python3/dist-packages."""
import glob
import json
import os
import re
import sys
import uuid

import harness
from harness import ADMIN_KEY, ALLOWED_ORIGIN, APP_HOME, Fail, Stack, expect, expect_eq, test

try:
    import jsonschema
except ImportError:  # pragma: no cover - depends on the interpreter
    sys.path.append("/usr/lib/python3/dist-packages")
    try:
        import jsonschema
    except ImportError:
        jsonschema = None

DOC_PATH = os.path.join(APP_HOME, "lighttpd", "www", "v1", "openapi.json")
DB = "openapi"
METHODS = ("get", "head", "post", "put", "delete", "patch", "options", "trace")
STATIC = {"/v1/healthz", "/v1/openapi.json"}  # served by lighttpd, not in the route table


def need_jsonschema():
    if jsonschema is None:
        raise Fail("python module jsonschema not found: apt-get install python3-jsonschema "
                   "(infra/scripts/install-deps.sh)")


def load_doc():
    with open(DOC_PATH, encoding="utf-8") as f:
        return json.load(f)


def pointer(doc, ref):
    """The object a local $ref ("#/a/b") points at; Fail when it does not resolve."""
    if not ref.startswith("#/"):
        raise Fail("$ref %r is not local to the document" % ref)
    node = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise Fail("$ref %r does not resolve (at %r)" % (ref, part))
    return node


def deref(doc, obj):
    """Follows OpenAPI-level $refs (a response, a header) to the object."""
    seen = 0
    while isinstance(obj, dict) and "$ref" in obj:
        obj = pointer(doc, obj["$ref"])
        seen += 1
        if seen > 20:
            raise Fail("$ref loop")
    return obj


def validator_for(doc, schema):
    """A Draft 2020-12 validator for a schema of the document: the schema is wrapped with the
    document's components so that "#/components/..." resolves (jsonschema 4.10's RefResolver and
    4.18+'s referencing both resolve local refs against the root)."""
    need_jsonschema()
    wrapper = {"allOf": [schema], "components": doc["components"]}
    return jsonschema.Draft202012Validator(wrapper)


def schema_errors(doc, schema, instance):
    v = validator_for(doc, schema)
    return ["%s at /%s" % (e.message[:300], "/".join(str(p) for p in e.absolute_path))
            for e in v.iter_errors(instance)]


# ---------------------------------------------------------------------------------------------
# which documented response a real response is


def response_spec(doc, method, path):
    """(operation responses, where) for a request; responses maps status -> response object."""
    m = method.lower()
    item = doc["paths"].get(path)
    if item is not None:
        if m in item:
            return item[m]["responses"], "%s %s" % (method, path)
        if "x-other-methods" in item:
            return {"405": item["x-other-methods"]}, "%s %s (x-other-methods)" % (method, path)
        return {}, "%s %s (nothing documented)" % (method, path)
    unrouted = doc["x-unrouted"]
    if m == "options" and path.startswith("/v1/"):
        return unrouted["options"]["responses"], "OPTIONS %s (x-unrouted preflight)" % path
    return unrouted["responses"], "%s %s (x-unrouted)" % (method, path)


def check_response(doc, entry):
    """Problems (a list of strings) of one recorded response against the document."""
    method, path, status = entry["method"], entry["path"], str(entry["status"])
    responses, where = response_spec(doc, method, path)
    candidates = []
    if status in responses:
        candidates.append(deref(doc, responses[status]))
    lighttpd = doc["x-lighttpd-errors"]["responses"]
    if status in lighttpd:
        candidates.append(deref(doc, lighttpd[status]))
    if not candidates:
        return ["%s: status %s is not documented (documented: %s)" % (where, status, ", ".join(sorted(responses)))]
    failures = []
    for spec in candidates:
        problems = check_against(doc, entry, spec)
        if not problems:
            return []
        failures.extend(problems)
    return ["%s -> %s: %s" % (where, status, "; ".join(failures))]


def check_against(doc, entry, spec):
    problems = []
    headers = {k.lower(): v for k, v in entry["headers"].items()}
    for name, h in (spec.get("headers") or {}).items():
        h = deref(doc, h)
        value = headers.get(name.lower())
        if value is None:
            if h.get("required"):
                problems.append("required header %s missing" % name)
            continue
        if "schema" in h:
            problems.extend("header %s: %s" % (name, e) for e in schema_errors(doc, h["schema"], value))
    content = spec.get("content")
    if not content:
        if entry["body_len"]:
            problems.append("documented without a body, got %d bytes" % entry["body_len"])
        return problems
    ctype = headers.get("content-type", "")
    media = ctype.split(";")[0].strip().lower()
    if media not in content:
        problems.append("content type %r not documented (%s)" % (ctype, ", ".join(content)))
        return problems
    if entry["method"] == "HEAD" or entry["status"] == 304:
        return problems  # headers only
    if not media.endswith("json"):
        return problems  # an image (the pixel): its type is what is documented
    if entry["json"] is None:
        problems.append("body is not JSON")
        return problems
    schema = content[media].get("schema")
    if schema is not None:
        problems.extend(schema_errors(doc, schema, entry["json"]))
    return problems


def entry_of(r):
    """A harness Response as a recorded entry."""
    return {"method": r.method, "path": r.path.split("?", 1)[0], "status": r.status, "headers": dict(r.headers),
            "body_len": len(r.body), "json": r.json}


# ---------------------------------------------------------------------------------------------
# the route table in C


def router_source():
    """The one C file under fcgi-app/src that defines the route table (ROUTES[] = {...})."""
    found = []
    for path in sorted(glob.glob(os.path.join(APP_HOME, "fcgi-app", "src", "**", "*.c"), recursive=True)):
        with open(path, encoding="utf-8") as f:
            src = f.read()
        if re.search(r"\bROUTES\[\]\s*=\s*\{", src):
            found.append((path, src))
    if len(found) != 1:
        raise Fail("expected exactly one definition of ROUTES[] under fcgi-app/src, found %r" % [p for p, _ in found])
    return found[0]


ROUTE_RE = re.compile(r'\{\s*"(/[^"]*)"\s*,\s*([A-Z_|\s]+?)\s*,\s*(\w+)\s*,\s*(RL_\w+)\s*,\s*([A-Z_|\s0-9]+?)\s*,\s*(\w+)\s*\}')


def route_table():
    """[(path, {methods}, rl_class, {flags})] from the ROUTES[] initializer."""
    name, src = router_source()
    m = re.search(r"ROUTES\[\]\s*=\s*\{(.*?)\n\};", src, re.S)
    if not m:
        raise Fail("%s: no ROUTES[] table found" % name)
    body = m.group(1)
    rows = ROUTE_RE.findall(body)
    # every initializer row must parse: a row the regex missed would be a route never checked
    if len(rows) != body.count('{"'):
        raise Fail("%s: parsed %d of %d ROUTES rows" % (name, len(rows), body.count('{"')))
    if not rows:
        raise Fail("%s: ROUTES is empty" % name)
    out = []
    for path, methods, _handler, rl, flags, _reject in rows:
        ms = {x.strip() for x in methods.split("|")}
        fl = {x.strip() for x in flags.split("|")} - {"0"}
        out.append((path, ms, rl, fl))
    return out


def rate_limit_classes():
    """{RL_X: (variable, default)} from config.c's limits table."""
    found = sorted(glob.glob(os.path.join(APP_HOME, "fcgi-app", "src", "**", "config.c"), recursive=True))
    if len(found) != 1:
        raise Fail("expected exactly one config.c under fcgi-app/src, found %r" % found)
    with open(found[0], encoding="utf-8") as f:
        src = f.read()
    rows = re.findall(r'\[(RL_\w+)\]\s*=\s*\{\s*"(\w+)"\s*,\s*(\d+)\s*\}', src)
    if len(rows) < 2:
        raise Fail("config.c: rate-limit table not found")
    return {cls: (var, int(d)) for cls, var, d in rows}


def doc_methods(item):
    return {m for m in METHODS if m in item}


# ---------------------------------------------------------------------------------------------
# the stack


def db_url():
    return harness.migrated_database(DB)


def stack():
    # an unsubscribe limit of 3 gives this module a real 429; the other classes stay off/default
    return harness.shared("openapi-stack", lambda: Stack(db_url(), workers=2, env={
        "RATE_LIMIT_UNSUBSCRIBE": 3, "RATE_LIMIT_EVENTS": 0, "RATE_LIMIT_CAPTURE": 0}))


# ---------------------------------------------------------------------------------------------
# tests


@test
def document_is_openapi_3_1():
    """Structure of an OpenAPI 3.1 document, every $ref resolves, every schema is a valid 2020-12
    schema, operationIds are unique, statuses are HTTP codes."""
    need_jsonschema()
    doc = load_doc()
    expect(re.fullmatch(r"3\.1\.\d+", str(doc.get("openapi"))), "openapi is 3.1.x: %r" % doc.get("openapi"))
    expect(isinstance(doc.get("info"), dict) and doc["info"].get("title") and doc["info"].get("version"),
           "info.title and info.version")
    refs = []

    def walk(node, where):
        if isinstance(node, dict):
            if "$ref" in node:
                refs.append((node["$ref"], where))
            for k, v in node.items():
                walk(v, where + "/" + str(k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, where + "/" + str(i))
    walk(doc, "#")
    expect(len(refs) > 50, "the document uses $refs (%d)" % len(refs))
    for ref, where in refs:
        pointer(doc, ref)  # Fail names the ref that does not resolve

    schemas = [("#/components/schemas/" + k, v) for k, v in doc["components"]["schemas"].items()]
    op_ids = []
    ops = []
    for path, item in doc["paths"].items():
        expect(path.startswith("/v1/"), "path %s starts with /v1/" % path)
        for m in doc_methods(item):
            ops.append(("%s %s" % (m.upper(), path), item[m]))
        if "x-other-methods" in item:
            ops.append(("%s other methods" % path, {"responses": {"405": item["x-other-methods"]}}))
    ops.append(("x-unrouted", {"responses": doc["x-unrouted"]["responses"]}))
    ops.append(("x-unrouted options", doc["x-unrouted"]["options"]))
    ops.append(("x-lighttpd-errors", {"responses": doc["x-lighttpd-errors"]["responses"]}))
    for name, op in ops:
        expect(op.get("responses"), "%s has responses" % name)
        if "operationId" in op:
            op_ids.append(op["operationId"])
        for p in op.get("parameters", []):
            expect(p.get("in") in ("query", "header", "path", "cookie") and p.get("name"), "%s parameter %r" % (name, p))
            schemas.append(("%s parameter %s" % (name, p["name"]), p["schema"]))
        for ct, media in ((op.get("requestBody") or {}).get("content") or {}).items():
            schemas.append(("%s request %s" % (name, ct), media["schema"]))
        for status, resp in op["responses"].items():
            expect(re.fullmatch(r"[1-5][0-9][0-9]", status), "%s: status %r is an HTTP status" % (name, status))
            resp = deref(doc, resp)
            expect(isinstance(resp.get("description"), str), "%s %s has a description" % (name, status))
            for ct, media in (resp.get("content") or {}).items():
                schemas.append(("%s %s %s" % (name, status, ct), media["schema"]))
            for h, spec in (resp.get("headers") or {}).items():
                spec = deref(doc, spec)
                if "schema" in spec:
                    schemas.append(("%s %s header %s" % (name, status, h), spec["schema"]))
    expect_eq(len(op_ids), len(set(op_ids)), "operationIds are unique")
    for where, schema in schemas:
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.exceptions.SchemaError as e:
            raise Fail("%s: not a valid JSON Schema 2020-12: %s" % (where, e.message))
    for name, scheme in doc["components"]["securitySchemes"].items():
        expect(scheme.get("type") in ("apiKey", "http"), "security scheme %s" % name)
    # the official OpenAPI 3.1 meta-schema, when openapi-spec-validator is installed (it is not
    # packaged in Debian 12, so the checks above are the ones that always run)
    try:
        from openapi_spec_validator import validate as validate_spec
    except ImportError:
        print("  openapi: openapi-spec-validator not installed; structural checks only", flush=True)
        return
    try:
        validate_spec(doc)
    except Exception as e:
        raise Fail("not a valid OpenAPI 3.1 document (openapi-spec-validator): %s" % str(e)[:2000])
    print("  openapi: valid against the OpenAPI 3.1 meta-schema (openapi-spec-validator)", flush=True)


@test
def every_route_of_the_table_is_documented():
    """the route table (ROUTES) against the document, row by row and both ways: path, methods (GET
    brings HEAD), admin auth (security), body types, and the rate-limit class with config.c's
    variable and default."""
    doc = load_doc()
    classes = rate_limit_classes()
    table = route_table()
    routed_paths = set()
    for path, methods, rl, flags in table:
        routed_paths.add(path)
        item = doc["paths"].get(path)
        if item is None:
            raise Fail("route %s (the route table) is not in the OpenAPI document" % path)
        want = set()
        if "M_GET" in methods:
            want |= {"get", "head"}
        if "M_POST" in methods:
            want.add("post")
        expect_eq(doc_methods(item) - {"options"}, want, "documented methods of %s" % path)
        expect("options" in item and "x-other-methods" in item, "%s documents its preflight and other methods" % path)
        for m in want:
            op = item[m]
            admin = bool(op.get("security", doc.get("security")))
            expect_eq(admin, "ROUTE_ADMIN" in flags, "%s %s needs the admin key" % (m.upper(), path))
            if admin:
                expect("401" in op["responses"] and "503" in op["responses"], "%s %s documents 401 and 503" % (m, path))
            cts = set(((op.get("requestBody") or {}).get("content") or {}))
            want_cts = set()
            # http/app.c reads a body route's body only for POST (GET of the same path has none)
            if "ROUTE_BODY_JSON" in flags and m == "post":
                want_cts |= {"application/json", "text/plain"}
            if "ROUTE_BODY_FORM" in flags and m == "post":
                want_cts |= {"application/x-www-form-urlencoded", "multipart/form-data"}
            expect_eq(cts, want_cts, "%s %s request content types" % (m.upper(), path))
            if want_cts:
                expect(op["requestBody"].get("required") and "415" in op["responses"] and "413" in op["responses"],
                       "%s %s: body required, 413 and 415 documented" % (m.upper(), path))
            x = op.get("x-rate-limit") or {}
            var, default = classes[rl]
            expect_eq((x.get("class"), x.get("env"), x.get("defaultPerMinute")), (rl, var, default),
                      "%s %s x-rate-limit" % (m.upper(), path))
            expect("429" in op["responses"], "%s %s documents 429" % (m.upper(), path))
    documented = set(doc["paths"])
    extra = documented - routed_paths - STATIC
    expect(not extra, "documented paths the route table does not have: %s" % sorted(extra))
    with open(os.path.join(APP_HOME, "lighttpd", "lighttpd.conf"), encoding="utf-8") as f:
        conf = f.read()
    expect("healthz|openapi\\.json" in conf, "lighttpd.conf serves the static documents")


@test
def the_service_answers_every_documented_operation():
    """Asked over HTTP: every documented operation is answered (never 404) with a documented
    status; every other method is 405 with Allow = the documented methods; the served document
    is the file."""
    doc = load_doc()
    s = stack()
    problems = []
    for path, item in doc["paths"].items():
        allow = sorted(m.upper() for m in doc_methods(item) - {"options"})
        for m in sorted(doc_methods(item)):
            hdrs = {"x-admin-key": ADMIN_KEY}
            body = None
            if m == "options":
                hdrs.update({"Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "POST"})
            if m == "post":
                body = {}
            r = s.request(m.upper(), path, body, hdrs)
            if r.status == 404:
                problems.append("%s %s answered 404" % (m.upper(), path))
            problems.extend(check_response(doc, entry_of(r)))
        for other in ("PUT", "DELETE", "PATCH") + tuple(m for m in ("POST", "GET") if m.lower() not in item):
            r = s.request(other, path, b"{}" if other != "GET" else None, {"Content-Type": "application/json"})
            if r.status != 405 or sorted(x.strip() for x in (r.header("Allow") or "").split(",")) != allow:
                problems.append("%s %s: expected 405 with Allow %s, got %s Allow %r" %
                                (other, path, ", ".join(allow), r.status, r.header("Allow")))
            problems.extend(check_response(doc, entry_of(r)))
    expect(not problems, "\n".join(problems))
    r = s.request("GET", "/v1/openapi.json")
    expect_eq(r.json, doc, "GET /v1/openapi.json is lighttpd/www/v1/openapi.json", r)
    expect_eq(r.header("Content-Type"), "application/json; charset=utf-8", "content type", r)
    expect_eq(r.header("Cache-Control"), "public, max-age=300", "cache control", r)
    r = s.request("GET", "/v1/healthz")
    expect_eq(r.header("Cache-Control"), "no-store", "healthz stays uncached", r)


def own_responses(s):
    """Responses of every route and every status this module can cause on its own stack."""
    a = "oa-" + uuid.uuid4().hex[:12]
    email = "oa-%s@example.com" % uuid.uuid4().hex[:8]
    key = {"x-admin-key": ADMIN_KEY}
    rs = [
        s.request("GET", "/v1/healthz"), s.request("HEAD", "/v1/healthz"),
        s.request("GET", "/v1/openapi.json"), s.request("HEAD", "/v1/openapi.json"),
        s.request("PUT", "/v1/openapi.json", b"{}", {"Content-Type": "application/json"}),
        s.request("OPTIONS", "/v1/events", headers={"Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "POST",
                                                    "Access-Control-Request-Headers": "content-type"}),
        s.request("OPTIONS", "/v1/events", headers={"Origin": ALLOWED_ORIGIN}),
        s.request("OPTIONS", "/v1/nowhere", headers={"Origin": "https://evil.example",
                                                     "Access-Control-Request-Method": "POST"}),
        s.request("GET", "/v1/readyz"), s.request("HEAD", "/v1/readyz"),
        s.request("POST", "/v1/readyz", b"{}", {"Content-Type": "application/json"}),
        s.request("GET", "/v1/nowhere"), s.request("GET", "/v1/events/"),
        s.request("POST", "/v1/events", {"anonId": a, "eventType": "page_view", "path": "/oa?x=1",
                                         "eventId": str(uuid.uuid4()),
                                         "traffic": {"webVitals": {"lcpMs": "1200", "clsScore": 0.1}}},
                  {"Origin": ALLOWED_ORIGIN}),
        s.request("POST", "/v1/events", json.dumps({"anonId": a, "eventType": "page_view", "path": "/b"}),
                  {"Content-Type": "text/plain"}),
        s.request("POST", "/v1/events", {"anonId": a, "eventType": "x", "path": "/h", "honeypot": "bot"}),
        s.request("POST", "/v1/events", {"anonId": "short", "path": "", "traffic": {"scrollDepthPercent": 101}}),
        s.request("POST", "/v1/events", b'{"anonId":', {"Content-Type": "application/json"}),
        s.request("POST", "/v1/events", b"a=b", {"Content-Type": "application/x-www-form-urlencoded"}),
        s.request("POST", "/v1/events", {"anonId": a, "eventType": "x", "path": "/"}, {"Origin": "https://evil.example"}),
        s.request("POST", "/v1/events", b"{}", {"Content-Type": "application/json"}),
        s.request("GET", "/v1/p.gif?p=/oa-pixel&utm_source=news"), s.request("HEAD", "/v1/p.gif?p=/oa-pixel"),
        s.request("GET", "/v1/p.gif?e="),
        s.request("POST", "/v1/leads/capture", {"email": email, "anonId": a, "consentStatus": "express",
                                                "payload": {"company": "Acme"}}),
        s.request("POST", "/v1/leads/capture", "email=%s&anonId=%s&path=/thanks&utm_source=news&company=Acme"
                  % (email.replace("@", "%40"), a), {"Content-Type": "application/x-www-form-urlencoded",
                                                     "Origin": ALLOWED_ORIGIN}),
        s.request("POST", "/v1/leads/capture", {"email": "not-an-email", "anonId": a}),
        s.request("POST", "/v1/leads/capture", {"email": email, "anonId": a, "honeypot": "x"}),
        s.request("POST", "/v1/leads/unsubscribe", {"email": email, "reason": "too many"}),
        s.request("POST", "/v1/leads/unsubscribe", {"email": "nobody-%s@example.com" % a}),
        s.request("POST", "/v1/leads/delete", {"email": email}),
        s.request("POST", "/v1/leads/delete", {"email": email}, {"x-admin-key": "wrong-key-wrong-key-wrong"}),
        s.request("POST", "/v1/leads/delete", {"email": email}, key),
        s.request("POST", "/v1/leads/delete", {"email": email}, {"Authorization": "Bearer " + ADMIN_KEY}),
        s.request("POST", "/v1/leads/delete", {"email": 5}, key),
        s.request("GET", "/v1/metrics/summary?from=2026-01-01&to=2026-01-07&compareTo=true", headers=key),
        s.request("HEAD", "/v1/metrics/summary?from=2026-01-01&to=2026-01-07", headers=key),
        s.request("GET", "/v1/metrics/summary?from=2026-02-30&to=2025-01-01", headers=key),
        s.request("GET", "/v1/metrics/summary?from=2026-01-01&to=2026-01-07"),
        # the read APIs of issue 15: an answer, a HEAD, a refused query and a missing key each
        s.request("GET", "/v1/metrics/site", headers=key), s.request("HEAD", "/v1/metrics/site", headers=key),
        s.request("GET", "/v1/metrics/site"),
        s.request("GET", "/v1/metrics/timeseries?from=2026-01-01&to=2026-01-31&interval=week", headers=key),
        s.request("HEAD", "/v1/metrics/timeseries?from=2026-01-01&to=2026-01-31", headers=key),
        s.request("GET", "/v1/metrics/timeseries?from=2026-01-01&to=2026-01-31&interval=hour", headers=key),
        s.request("GET", "/v1/metrics/breakdown?from=2026-01-01&to=2026-01-31&dimension=page&limit=5", headers=key),
        s.request("HEAD", "/v1/metrics/breakdown?from=2026-01-01&to=2026-01-31&dimension=page", headers=key),
        s.request("GET", "/v1/metrics/breakdown?from=2026-01-01&to=2026-01-31&dimension=nope", headers=key),
        s.request("GET", "/v1/metrics/realtime", headers=key), s.request("HEAD", "/v1/metrics/realtime", headers=key),
        s.request("GET", "/v1/metrics/realtime?propertyId=", headers=key),
        s.request("GET", "/v1/metrics/export.csv?from=2026-01-01&to=2026-01-31&dimension=daily", headers=key),
        s.request("HEAD", "/v1/metrics/export.csv?from=2026-01-01&to=2026-01-31&dimension=page", headers=key),
        s.request("GET", "/v1/metrics/export.csv?from=2026-01-01&to=2026-01-31&dimension=nope", headers=key),
        s.request("GET", "/v1/metrics/export.csv?from=2026-01-01&to=2026-01-31&dimension=daily"),
        # the webhook deliveries (issue 16 item 6)
        s.request("GET", "/v1/webhooks/deliveries?limit=5", headers=key),
        s.request("HEAD", "/v1/webhooks/deliveries", headers=key),
        s.request("GET", "/v1/webhooks/deliveries?state=sent", headers=key),
        s.request("GET", "/v1/webhooks/deliveries"),
    ]
    # the unsubscribe class is limited to 3 a minute on this stack: the 4th is a real 429
    for _ in range(4):
        rs.append(s.request("POST", "/v1/leads/unsubscribe", {"email": "nobody-%s@example.com" % a}))
    statuses = {(r.method, r.status) for r in rs}
    for want in [("POST", 202), ("POST", 200), ("POST", 303), ("POST", 400), ("POST", 401), ("POST", 403),
                 ("POST", 404), ("POST", 405), ("POST", 415), ("POST", 429), ("GET", 200), ("GET", 400),
                 ("GET", 401), ("GET", 404), ("OPTIONS", 204), ("OPTIONS", 400), ("OPTIONS", 403), ("HEAD", 200),
                 ("PUT", 405)]:
        expect(want in statuses, "the module's own requests produced %s %s" % want)
    return rs


@test(timeout=300)
def responses_match_the_document():
    """Every response of this run (the other modules' recorded ones and this module's own) is
    documented for its route and status and matches the document's schemas; the validator itself
    refuses a wrong body and an undocumented status."""
    need_jsonschema()
    doc = load_doc()
    s = stack()
    own = [entry_of(r) for r in own_responses(s)]

    # the checker can fail: a stored event's answer without eventId, and an undocumented status
    good = next(e for e in own if e["path"] == "/v1/events" and e["status"] == 202 and "eventId" in (e["json"] or {}))
    bad = dict(good, json={k: v for k, v in good["json"].items() if k != "eventId"})
    expect(check_response(doc, good) == [], "a real 202 validates: %s" % check_response(doc, good))
    expect(check_response(doc, bad), "a 202 without eventId is refused")
    expect(check_response(doc, dict(good, status=418)), "an undocumented status is refused")
    expect(check_response(doc, dict(good, headers={"content-type": "text/html"})), "a non-JSON type is refused")

    recorded = harness.recorded_responses()
    problems = {}
    for e in recorded + own:
        for p in check_response(doc, e):
            problems.setdefault(p, 0)
            problems[p] += 1
    print("  openapi: %d recorded + %d own responses validated, %d distinct problems" %
          (len(recorded), len(own), len(problems)), flush=True)
    expect(not problems, "responses that do not match the document:\n" +
           "\n".join("%s (x%d)" % (p, n) for p, n in sorted(problems.items())[:40]))
