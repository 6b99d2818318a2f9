/* fuzz_body.c - a request body through body_parse_or_reply, then the event path (event_parse,
 * event_params) and the lead rules on its "email" and "path", as POST /v1/events and
 * /v1/leads/capture run them, without the database.
 *
 * Input: byte 0 holds the options, the rest is the body.
 *   bits 0-1  Content-Type: application/json, text/plain, x-www-form-urlencoded, text/html
 *   bit  2    allow_form (the capture route)
 *   bits 3-4  request context (client address, user agent, Origin, Host); context 2 sends an
 *             Origin that is not UTF-8 (lighttpd passes header bytes >= 0x80 through); context 3
 *             also runs with the smallest MAX_BODY_BYTES so that 413 is reachable with small inputs
 *   bit  5    the body arrives a few bytes per read
 *   bits 6-7  0/1 plain, 2 the media type in odd case with parameters, 3 Content-Length one
 *             byte longer than the body
 *
 * Properties: a refused body leaves a 400/413/415 with a JSON body and no object; an accepted one
 * is an object; a valid event renders parameters that are valid UTF-8 without U+0000 and a
 * canonical rendering that parses back as the 12-element array; a valid email normalises to a
 * lower-cased address with a domain; a redirect target is same-site. Everything is freed, so
 * LeakSanitizer reports what leaks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/body.h"
#include "core/bounds.h"
#include "http/cors.h"
#include "domain/enrich.h"
#include "domain/event.h"
#include "core/hash.h"
#include "core/jsonout.h"
#include "domain/lead.h"
#include "core/log.h"
#include "domain/validate.h"

#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 2026-02-14T05:00:00Z: a fixed clock, so that a crash reproduces */
#define FUZZ_NOW_MS 1771045200000LL

static char ORIGIN_A[] = "https://www.example.com";
static char ORIGIN_B[] = "https://bücher.example";

static struct config cfg, cfg_small;

static const char *const CONTENT_TYPES[4] = {"application/json", "text/plain",
                                             "application/x-www-form-urlencoded", "text/html"};
static const char *const CONTENT_TYPES_ODD[4] = {
    " Application/JSON ; charset=UTF-8", "TEXT/PLAIN;charset=utf-8",
    "Application/X-WWW-Form-URLEncoded; charset=utf-8", "text/html; charset=utf-8"};

/* REMOTE_ADDR, HTTP_USER_AGENT, HTTP_ORIGIN, HTTP_HOST; NULL = absent */
static const char *const CONTEXTS[4][4] = {
    {"REMOTE_ADDR=203.0.113.7",
     "HTTP_USER_AGENT=Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 "
     "Safari/537.36",
     "HTTP_ORIGIN=https://www.example.com", "HTTP_HOST=api.example.com"},
    {"REMOTE_ADDR=2001:db8::1",
     "HTTP_USER_AGENT=Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile",
     "HTTP_ORIGIN=https://bücher.example", "HTTP_HOST=bücher.example"},
    {"REMOTE_ADDR=198.51.100.23", "HTTP_USER_AGENT=Googlebot/2.1 (+http://www.google.com/bot.html)",
     "HTTP_ORIGIN=https://ev\xffil.example", "HTTP_HOST=WWW.Example.COM:8443"},
    {NULL, NULL, NULL, "HTTP_HOST=localhost"},
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (hash_init() != 0)
        abort();
    log_set_level(LOG_ERROR);
    fuzz_config(&cfg, ORIGIN_A, ORIGIN_B);
    cfg_small = cfg;
    cfg_small.max_body_bytes = BODY_BYTES_MIN;
    return 0;
}

/* Parameter $n for Postgres: valid UTF-8 (the server refuses anything else with 22021, which
 * the handler answers 500). */
static void check_param(int n, const char *p)
{
    if (p && !fz_utf8_ok(p, strlen(p)))
        fprintf(stderr, "parameter $%d is not UTF-8\n", n);
    FZ_CHECK(!p || fz_utf8_ok(p, strlen(p)));
}

/* true when any key or string below v holds U+0000 (jsonb cannot store it). */
static bool json_has_nul(json_t *v)
{
    if (json_is_string(v))
        return memchr(json_string_value(v), '\0', json_string_length(v)) != NULL;
    size_t i;
    json_t *x;
    if (json_is_array(v)) {
        json_array_foreach(v, i, x)
        {
            if (json_has_nul(x))
                return true;
        }
    }
    const char *k;
    size_t kn;
    if (json_is_object(v)) {
        json_object_keylen_foreach(v, k, kn, x)
        {
            if (memchr(k, '\0', kn) || json_has_nul(x))
                return true;
        }
    }
    return false;
}

static void check_event_params(const char *const *p)
{
    const char *prefix = p[INGEST_EVENT_canon_prefix], *suffix = p[INGEST_EVENT_canon_suffix],
               *session = p[INGEST_EVENT_session_id];
    for (int i = 0; i < INGEST_EVENT_NPARAMS; i++) {
        /* NULL where core/sqlfn.h allows it; the suffix only with the client's eventId */
        bool nullable = SQLFNS[SQLFN_INGEST_EVENT].params[i].nullable;
        if (i == INGEST_EVENT_canon_suffix)
            nullable = prefix && strncmp(prefix, "[\"v1-eventId\",", 14) == 0;
        FZ_CHECK(p[i] || nullable);
        check_param(i + 1, p[i]);
    }
    /* ingest_event() hashes prefix || '"' || session id || '"' || suffix: it must be the
     * canonical array ["v1", anonId, session, eventType, path, time, referrer, ipHash, uaHash,
     * utm, traffic, props] */
    json_error_t err;
    if (!suffix) {
        /* the client's eventId: the whole rendering is ["v1-eventId", anonId, eventId] */
        json_t *key = json_loads(prefix, JSON_REJECT_DUPLICATES, &err);
        FZ_CHECK(json_is_array(key) && json_array_size(key) == 3);
        FZ_CHECK(strcmp(json_string_value(json_array_get(key, 1)), p[INGEST_EVENT_anon_id]) == 0);
        FZ_CHECK(json_string_length(json_array_get(key, 2)) == UUID_STR_LEN);
        json_decref(key);
        return;
    }
    size_t n = strlen(prefix) + strlen(session) + strlen(suffix) + 3;
    char *canon = malloc(n);
    FZ_CHECK(canon != NULL);
    snprintf(canon, n, "%s\"%s\"%s", prefix, session, suffix);
    json_t *arr = json_loads(canon, JSON_REJECT_DUPLICATES, &err);
    if (!arr)
        fprintf(stderr, "canonical rendering does not parse (%s): %s\n", err.text, canon);
    FZ_CHECK(json_is_array(arr) && json_array_size(arr) == 12);
    FZ_CHECK(strcmp(json_string_value(json_array_get(arr, 0)), "v1") == 0);
    FZ_CHECK(strcmp(json_string_value(json_array_get(arr, 1)), p[INGEST_EVENT_anon_id]) == 0);
    FZ_CHECK(strcmp(json_string_value(json_array_get(arr, 2)), session) == 0);
    FZ_CHECK(strcmp(json_string_value(json_array_get(arr, 3)), p[INGEST_EVENT_event_type]) == 0);
    /* the stored path, then "#" and an HMAC of the path as sent when its query was stripped */
    const char *path_tok = json_string_value(json_array_get(arr, 4));
    size_t stored_n = strlen(p[INGEST_EVENT_path]);
    FZ_CHECK(
        strncmp(path_tok, p[INGEST_EVENT_path], stored_n) == 0 &&
        (path_tok[stored_n] == '\0' || (path_tok[stored_n] == '#' && strlen(path_tok + stored_n + 1) == 64)));
    FZ_CHECK(!strchr(p[INGEST_EVENT_path], '#'));
    json_decref(arr);
    free(canon);
    /* props is a jsonb object: parses, no U+0000 anywhere */
    if (p[INGEST_EVENT_props]) {
        json_t *props = json_loads(p[INGEST_EVENT_props], JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
        FZ_CHECK(json_is_object(props) && json_object_size(props) > 0 && !json_has_nul(props));
        json_decref(props);
    }
}

/* The lead rules on the body's "email" and "path", as the capture route applies them. */
static void check_lead(const struct config *c, struct request *req, json_t *root)
{
    json_t *e = json_object_get(root, "email");
    if (json_is_string(e)) {
        struct str email = {json_string_value(e), json_string_length(e)};
        if (lead_email_valid(email)) {
            FZ_CHECK(email.n <= LEAD_EMAIL_MAX && !memchr(email.p, '\0', email.n));
            struct str domain;
            struct str norm = lead_email_normalize(req->arena, email, &domain);
            FZ_CHECK(norm.p && norm.n == email.n); /* a valid address holds no white space */
            FZ_CHECK(domain.p && domain.n >= 4 && domain.p > norm.p && domain.p[-1] == '@');
            for (size_t i = 0; i < norm.n; i++)
                FZ_CHECK(!(norm.p[i] >= 'A' && norm.p[i] <= 'Z'));
            check_param(1, norm.p);
        }
    }
    json_t *path = json_object_get(root, "path");
    struct str ps = json_is_string(path) ? (struct str){json_string_value(path), json_string_length(path)}
                                         : (struct str){NULL, 0};
    struct str origin = cors_origin_allowed(c, req->origin) ? req->origin : (struct str){NULL, 0};
    const char *loc = lead_redirect_location(req->arena, ps, origin);
    FZ_CHECK(loc != NULL);
    size_t on = origin.p ? origin.n : 0;
    FZ_CHECK(strncmp(loc, origin.p ? origin.p : "", on) == 0);
    const char *target = loc + on;
    size_t tn = strlen(target);
    FZ_CHECK(tn >= 1 && target[0] == '/' && target[1] != '/' && target[1] != '\\');
    FZ_CHECK(!fz_has_ctl(target, tn));
    /* the path as sent, or without its query and fragment, or "/", and never over the header limit */
    FZ_CHECK(on + tn <= RESPONSE_HEADER_MAX_LEN);
    FZ_CHECK(strcmp(target, "/") == 0 || (ps.n == tn && memcmp(ps.p, target, tn) == 0) ||
             (tn < ps.n && memcmp(ps.p, target, tn) == 0 && (ps.p[tn] == '?' || ps.p[tn] == '#')));
}

/* The response of a refused body: a 400/413/415 with {"ok":false,"error":...}, rendered. */
static void check_refusal(struct request *req, const struct response *resp)
{
    FZ_CHECK(resp->status == 400 || resp->status == 413 || resp->status == 415);
    FZ_CHECK(json_is_object(resp->body) && json_is_false(json_object_get(resp->body, "ok")));
    FZ_CHECK(json_is_string(json_object_get(resp->body, "error")));
    size_t len = 0;
    char *out = http_serialize(req, resp, &len);
    FZ_CHECK(out && len > 0 && strlen(out) == len);
    const char *body = strstr(out, "\r\n\r\n");
    FZ_CHECK(body != NULL);
    json_t *back = json_loads(body + 4, 0, NULL);
    FZ_CHECK(json_equal(back, resp->body));
    json_decref(back);
    free(out);
}

/* The event path on an accepted body, as h_events runs it. */
static void run_event(const struct config *c, struct request *req, json_t *root)
{
    struct issues is;
    struct event_in ev;
    issues_init(&is);
    event_parse(root, FUZZ_NOW_MS, &is, &ev);
    if (issues_any(&is)) {
        /* what the rejection row and the 400 would carry */
        (void)event_body_property(req->arena, root);
        struct response resp;
        memset(&resp, 0, sizeof(resp));
        http_invalid(&resp, &is);
        check_refusal(req, &resp);
        http_response_free(&resp);
    } else {
        FZ_CHECK(ev.anon_id.p && ev.event_type.p && ev.path.p);
        /* what h_events takes from the request (event_client_of) */
        struct event_client cl = {req->remote_addr, req->user_agent, req->origin, req->host};
        union ingest_event_args row;
        FZ_CHECK(event_params(req->arena, c, &cl, &ev, FUZZ_NOW_MS, &row) == 0);
        check_event_params(row.v);
    }
    issues_free(&is);
    event_free(&ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 1 + BODY_BYTES_DEFAULT + 1)
        return 0;
    unsigned opt = data[0];
    const uint8_t *body = data + 1;
    size_t n = size - 1;
    unsigned ctx_i = (opt >> 3) & 3u, mode = (opt >> 6) & 3u;
    const struct config *c = ctx_i == 3 ? &cfg_small : &cfg;

    struct arena arena;
    arena_init(&arena, ARENA_MAX_BYTES);
    char ct[128], cl[48];
    snprintf(ct, sizeof(ct), "CONTENT_TYPE=%s", (mode == 2 ? CONTENT_TYPES_ODD : CONTENT_TYPES)[opt & 3u]);
    snprintf(cl, sizeof(cl), "CONTENT_LENGTH=%zu", mode == 3 ? n + 1 : n);
    char *params[8];
    size_t np = 0;
    params[np++] = ct;
    params[np++] = cl;
    for (size_t i = 0; i < 4; i++) {
        if (CONTEXTS[ctx_i][i])
            params[np++] = (char *)(uintptr_t)CONTEXTS[ctx_i][i];
    }
    params[np] = NULL;

    struct fz_reader rd = {body, n, 0, (opt & 0x20u) ? 1 + (int)(n % 7) : 0};
    struct request req;
    memset(&req, 0, sizeof(req));
    req.arena = &arena;
    req.params = params;
    req.read_body = fz_read;
    req.read_ctx = &rd;
    http_parse_request(&req);

    struct response resp;
    memset(&resp, 0, sizeof(resp));
    json_t *root = NULL;
    bool form = false;
    bool allow_form = (opt & 4u) != 0;
    int rc = body_parse_or_reply(c, &req, &resp, allow_form, &root, &form);
    if (rc != 0) {
        /* a refused body is returned only when it is a form whose fields had issues (400), so that
         * the rejection row can read its propertyId */
        FZ_CHECK(root == NULL || (form && allow_form && json_is_object(root) && resp.status == 400));
        check_refusal(&req, &resp);
    } else {
        FZ_CHECK(json_is_object(root) && resp.body == NULL);
        FZ_CHECK(!form || allow_form);
        FZ_CHECK((long)n <= c->max_body_bytes && mode != 3 && (opt & 3u) != 3);
        run_event(c, &req, root);
        check_lead(c, &req, root);
    }
    json_decref(root);
    http_response_free(&resp);
    arena_free(&arena);
    return 0;
}
