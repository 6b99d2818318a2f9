/* h_leads.c - POST /v1/leads/capture, /v1/leads/unsubscribe and /v1/leads/delete. Each is one
 * SQL function (migrations/0003_leads.sql): one round trip, one transaction. Emails and payloads
 * are personal data: they never reach a log line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/cors.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/erasure.h"
#include "store/db.h"
#include "domain/enrich.h"
#include "domain/event.h"
#include "api/handlers.h"
#include "core/hash.h"
#include "core/jsonout.h"
#include "domain/lead.h"
#include "domain/lead_query.h"
#include "domain/validate.h"

static const char *const CONSENT_VALUES[] = {"pending", "express", "implied"};

struct capture_in {
    struct str email, anon_id, form_name, path, referrer, source_channel, honeypot;
    const char *consent; /* NULL when absent */
    /* the consent evidence (issue 16 item 3): a registered wording's version, how consent was
     * obtained (CONSENT_METHODS); .p / NULL when absent */
    struct str consent_version;
    const char *consent_method;
    json_t *payload; /* borrowed */
    struct str utm[UTM_FIELDS];
    bool has_utm_object;
};

/* Validates email as API.md says: at most 320, the pattern, as sent (not trimmed). */
static enum v_result email_field(struct issues *is, json_t *body, struct str *out)
{
    enum v_result r = v_string_raw(is, body, "email", "email", LEAD_EMAIL_MAX, V_REQUIRED, out);
    if (r == V_OK && !lead_email_valid(*out)) {
        issues_add(is, "email", "must be a valid email address");
        return V_INVALID;
    }
    return r;
}

/* A form post's redirect target after a capture (API.md): when given, path stays the page the form
 * was on (the form_submit event's path) and the visitor goes here. */
#define FORM_NEXT "_next"

/* A form post is flat: utm_source..utm_content become utm, every field that is not one of the
 * capture's own becomes the payload, and empty fields are left out. Returns a new object in the JSON body's
 * shape (caller frees). */
static json_t *form_to_body(json_t *form)
{
    static const char *const own[] = {"email",          "anonId",        "formName",      "path",
                                      "referrer",       "sourceChannel", "consentStatus", "honeypot",
                                      "consentVersion", "consentMethod"};
    json_t *body = json_object(), *utm = json_object(), *payload = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(form, k, v)
    {
        /* an HTML form sends its empty inputs as "": they mean "not given" */
        if (json_string_length(v) == 0)
            continue;
        bool is_own = false;
        for (size_t i = 0; i < ARRAY_LEN(own) && !is_own; i++)
            is_own = strcmp(k, own[i]) == 0;
        if (strcmp(k, FORM_NEXT) == 0)
            continue; /* the redirect target, read by h_capture: not the lead's data */
        if (is_own) {
            json_object_set(body, k, v);
        } else if (strncmp(k, "utm_", 4) == 0) {
            json_object_set(utm, k + 4, v);
        } else {
            json_object_set(payload, k, v);
        }
    }
    if (json_object_size(utm))
        json_object_set(body, "utm", utm);
    if (json_object_size(payload))
        json_object_set(body, "payload", payload);
    json_decref(utm);
    json_decref(payload);
    return body;
}

static void capture_parse(json_t *body, struct issues *is, struct capture_in *in)
{
    memset(in, 0, sizeof(*in));
    (void)email_field(is, body, &in->email);
    (void)event_parse_anon_id(body, is, &in->anon_id);
    if (v_string(is, body, "formName", "formName", 1, LEAD_FORM_NAME_MAX, V_OPTIONAL, &in->form_name) != V_OK)
        in->form_name = STRLIT("lead_capture");
    (void)event_parse_path(body, is, V_OPTIONAL, &in->path);
    (void)v_string(is, body, "referrer", "referrer", 1, LEAD_REFERRER_MAX, V_OPTIONAL, &in->referrer);
    (void)v_string(is, body, "sourceChannel", "sourceChannel", 1, LEAD_SOURCE_CHANNEL_MAX, V_OPTIONAL,
                   &in->source_channel);
    (void)v_enum(is, body, "consentStatus", "consentStatus", CONSENT_VALUES, ARRAY_LEN(CONSENT_VALUES),
                 &in->consent);
    if (v_string(is, body, "consentVersion", "consentVersion", 1, CONSENT_VERSION_MAX, V_OPTIONAL,
                 &in->consent_version) == V_OK &&
        !consent_version_valid(in->consent_version)) {
        issues_add(is, "consentVersion", "must be 1-64 characters of A-Z a-z 0-9 . _ : -");
        in->consent_version = (struct str){NULL, 0};
    }
    (void)v_enum(is, body, "consentMethod", "consentMethod", CONSENT_METHODS, CONSENT_METHODS_LEN,
                 &in->consent_method);
    (void)v_free_object(is, body, "payload", "payload", &in->payload);
    in->has_utm_object = event_parse_utm(body, is, in->utm);
    (void)v_string(is, body, "honeypot", "honeypot", 0, SIZE_MAX, V_OPTIONAL, &in->honeypot);
}

/* The form's _next field, .p NULL when absent or empty (then path is the target, as before). */
static struct str form_next(json_t *form)
{
    json_t *v = json_object_get(form, FORM_NEXT);
    if (!json_is_string(v) || json_string_length(v) == 0)
        return (struct str){NULL, 0};
    return (struct str){json_string_value(v), json_string_length(v)};
}

/* "scheme://host[:port]" of an absolute http(s) URL, .p NULL otherwise. */
static struct str url_origin(struct str url)
{
    size_t skip = 0;
    if (url.n > 8 && memcmp(url.p, "https://", 8) == 0)
        skip = 8;
    else if (url.n > 7 && memcmp(url.p, "http://", 7) == 0)
        skip = 7;
    if (!skip)
        return (struct str){NULL, 0};
    size_t i = skip;
    while (i < url.n && url.p[i] != '/' && url.p[i] != '?' && url.p[i] != '#')
        i++;
    return (struct str){url.p, i};
}

/* Where a failed form post may send the visitor back to, decided only from what a foreign page
 * cannot forge past the Origin check: *origin is the site ("" for a page this service serves
 * itself: a relative Location), *page its path. Origin is the request's Origin when it is allowed
 * or the service's own; without an Origin, the Referer's origin when allowed. The page is path when
 * the form names its own page (it sent _next), else the Referer's path and query when the Referer
 * is on that origin. Returns false when there is no safe page; *origin is still set when the site
 * is known (the HTML page links to its root). */
static bool form_return(struct ctx *c, const struct capture_in *in, bool path_ok, bool has_next,
                        struct str *origin, struct str *page)
{
    struct str ref = http_param(c->req, "HTTP_REFERER");
    struct str o = c->req->origin;
    *origin = (struct str){NULL, 0};
    *page = (struct str){NULL, 0};
    if (o.p && o.n > 0) {
        if (cors_origin_allowed(c->cfg, o))
            *origin = o;
        else if (cors_origin_is_self(c->req))
            *origin = (struct str){o.p, 0}; /* relative: the page is on this host */
        else
            return false;
    } else {
        struct str ro = url_origin(ref);
        if (!cors_origin_allowed(c->cfg, ro))
            return false;
        *origin = ro;
        o = ro;
    }
    if (has_next && path_ok && lead_path_safe(in->path)) {
        *page = in->path;
        return true;
    }
    /* the Referer must be exactly on the origin: "https://site.example.evil/" is not "https://site" */
    if (ref.p && ref.n > o.n && memcmp(ref.p, o.p, o.n) == 0 && ref.p[o.n] == '/') {
        *page = (struct str){ref.p + o.n, ref.n - o.n};
        return lead_path_safe(*page);
    }
    return false;
}

/* The failing fields as the form names them (utm.source → utm_source, payload.x → x), each
 * percent-encoded but for unreserved characters, comma-joined, duplicates left out, at most
 * LEAD_ERROR_FIELDS_MAX_LEN (a name that does not fit is left out whole). Arena-owned. */
static struct str error_fields(struct arena *a, const struct issues *is)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = arena_alloc(a, LEAD_ERROR_FIELDS_MAX_LEN + 1);
    size_t n = 0;
    if (!out)
        return (struct str){NULL, 0};
    for (size_t i = 0; i < is->n; i++) {
        const char *f = is->items[i].path;
        char name[LEAD_ERROR_FIELDS_MAX_LEN];
        size_t m = 0;
        bool utm = strncmp(f, "utm.", 4) == 0;
        if (utm) {
            memcpy(name, "utm_", 4);
            m = 4;
            f += 4;
        } else if (strncmp(f, "payload.", 8) == 0) {
            f += 8;
        }
        if (*f == '\0')
            continue; /* the whole body: no field to point at */
        bool fits = true;
        for (; *f && fits; f++) {
            unsigned char ch = (unsigned char)*f;
            bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                         ch == '-' || ch == '_' || ch == '.' || ch == '~';
            if (m + (plain ? 1 : 3) > sizeof(name)) {
                fits = false;
            } else if (plain) {
                name[m++] = (char)ch;
            } else {
                name[m++] = '%';
                name[m++] = hex[ch >> 4];
                name[m++] = hex[ch & 15];
            }
        }
        if (!fits || n + (n ? 1 : 0) + m > LEAD_ERROR_FIELDS_MAX_LEN)
            continue;
        bool dup = false;
        for (size_t at = 0; at < n && !dup; at++) {
            if ((at == 0 || out[at - 1] == ',') && at + m <= n && memcmp(out + at, name, m) == 0 &&
                (at + m == n || out[at + m] == ','))
                dup = true;
        }
        if (dup)
            continue;
        if (n)
            out[n++] = ',';
        memcpy(out + n, name, m);
        n += m;
    }
    out[n] = '\0';
    return (struct str){out, n};
}

/* The q value of one Accept entry's parameters ("q=0.5"), 1 when absent; thousandths. */
static int accept_q(struct str params)
{
    for (size_t i = 0; i + 2 <= params.n; i++) {
        if ((params.p[i] == 'q' || params.p[i] == 'Q') && params.p[i + 1] == '=' &&
            (i == 0 || params.p[i - 1] == ';' || params.p[i - 1] == ' ')) {
            int q = 0, scale = 1000;
            size_t k = i + 2;
            if (k < params.n && params.p[k] == '1')
                return 1000;
            if (k < params.n && params.p[k] == '0')
                k++;
            if (k < params.n && params.p[k] == '.') {
                for (k++; k < params.n && params.p[k] >= '0' && params.p[k] <= '9' && scale > 1; k++) {
                    scale /= 10;
                    q += (params.p[k] - '0') * scale;
                }
            }
            return q;
        }
    }
    return 1000;
}

/* Accept ranks text/html (or the text wildcard) above application/json (or the full wildcard): a
 * browser's form navigation ("text/html,...", the full wildcard at q=0.8) does; curl's bare full
 * wildcard, a missing Accept and fetch() do not. */
static bool accept_prefers_html(struct str accept)
{
    int html = 0, json = 0, any = 0, text_any = 0;
    for (size_t i = 0; accept.p && i < accept.n;) {
        size_t j = i;
        while (j < accept.n && accept.p[j] != ',')
            j++;
        struct str item = str_trim((struct str){accept.p + i, j - i});
        size_t semi = 0;
        while (semi < item.n && item.p[semi] != ';')
            semi++;
        struct str type = str_trim((struct str){item.p, semi});
        int q = accept_q(semi < item.n ? (struct str){item.p + semi + 1, item.n - semi - 1}
                                       : (struct str){"", 0});
        if (str_eq_nocase(type, STRLIT("text/html")))
            html = q > html ? q : html;
        else if (str_eq_nocase(type, STRLIT("application/json")))
            json = q > json ? q : json;
        else if (str_eq_nocase(type, STRLIT("text/*")))
            text_any = q > text_any ? q : text_any;
        else if (str_eq_nocase(type, STRLIT("*/*")))
            any = q > any ? q : any;
        i = j + 1;
    }
    if (!html)
        html = text_any;
    if (!json)
        json = any;
    return html > 0 && html > json;
}

static void html_escaped(struct buf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        switch (s[i]) {
        case '<':
            buf_puts(b, "&lt;");
            break;
        case '>':
            buf_puts(b, "&gt;");
            break;
        case '&':
            buf_puts(b, "&amp;");
            break;
        case '"':
            buf_puts(b, "&quot;");
            break;
        case '\'':
            buf_puts(b, "&#39;");
            break;
        default:
            buf_put(b, s + i, 1);
        }
    }
}

/* A 400 a browser can show: what was wrong (escaped; no script, no style, a CSP that allows none)
 * and a link to the site's root when the site is known (site.p set; "" is this host). */
static void form_error_page(struct ctx *c, const struct issues *is, struct str site)
{
    struct buf b = BUF_INIT;
    buf_puts(&b, "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">"
                 "<meta name=\"viewport\" content=\"width=device-width\">"
                 "<title>The form could not be sent</title></head>\n<body>\n"
                 "<h1>The form could not be sent</h1>\n<ul>\n");
    for (size_t i = 0; i < is->n && i < LEAD_ERROR_PAGE_ISSUES_MAX; i++) {
        buf_puts(&b, "<li>");
        if (is->items[i].path[0]) {
            html_escaped(&b, is->items[i].path, strlen(is->items[i].path));
            buf_puts(&b, ": ");
        }
        html_escaped(&b, is->items[i].message, strlen(is->items[i].message));
        buf_puts(&b, "</li>\n");
    }
    buf_puts(&b, "</ul>\n");
    if (site.p) {
        buf_puts(&b, "<p><a href=\"");
        html_escaped(&b, site.p, site.n);
        buf_puts(&b, "/\">Back to the site</a></p>\n");
    } else {
        buf_puts(&b, "<p>Go back with your browser and try again.</p>\n");
    }
    buf_puts(&b, "</body>\n</html>\n");
    if (http_reply_bytes(c->resp, 400, "text/html; charset=utf-8", b.p, b.n) == 0) {
        (void)http_add_header(c->req, c->resp, "Content-Security-Policy",
                              STRLIT("default-src 'none'; base-uri 'none'; form-action 'none'; "
                                     "frame-ancestors 'none'"));
        (void)http_add_header(c->req, c->resp, "X-Content-Type-Options", STRLIT("nosniff"));
        (void)http_add_header(c->req, c->resp, "Referrer-Policy", STRLIT("no-referrer"));
    }
    free(b.p);
}

/* A form post that failed validation: back to the form's page with actx_error when that page is
 * known and safe, else an HTML page for a browser, else the JSON 400 every other client gets. */
static void form_invalid(struct ctx *c, const struct issues *is, const struct capture_in *in, bool has_next)
{
    bool path_ok = true;
    for (size_t i = 0; i < is->n; i++)
        path_ok = path_ok && strcmp(is->items[i].path, "path") != 0;
    struct str site, page;
    bool back = form_return(c, in, path_ok, has_next, &site, &page);
    struct str fields = error_fields(c->req->arena, is);
    /* no field to name (an issue of the whole body): nothing the page could show, so no way back */
    const char *loc = back && fields.n ? lead_return_location(c->req->arena, site, page, fields) : NULL;
    if (loc && http_add_header(c->req, c->resp, "Location", str_from_cstr(loc)) == 0) {
        http_reply_json(c->resp, 303, NULL);
        return;
    }
    if (accept_prefers_html(http_param(c->req, "HTTP_ACCEPT"))) {
        form_error_page(c, is, site);
        return;
    }
    http_invalid(c->resp, is);
}

/* A capture that failed validation: its rejection row, then a form post's way back or the JSON 400. */
static void capture_invalid(struct ctx *c, const struct issues *is, const struct capture_in *in,
                            bool has_next)
{
    rejection_record(c, "invalid_request");
    if (c->form_post)
        form_invalid(c, is, in, has_next);
    else
        http_invalid(c->resp, is);
}

/* Arena copy of (p, n) as a NUL-terminated parameter; NULL for an absent value. */
static const char *param(struct ctx *c, struct str s)
{
    return s.p ? arena_strndup(c->req->arena, s.p, s.n) : NULL;
}

static const char *ip_hash_param(struct ctx *c)
{
    char *h = arena_alloc(c->req->arena, HASH_HEX_LEN + 1);
    if (h)
        hash_peppered_hex(c->cfg, c->req->remote_addr, h);
    return h;
}

/* What tells one capture's form_submit event from another's, for its dedupe key: an HMAC (with the
 * pepper, so the key holds no email) of the normalised email, consent and payload; formName and
 * sourceChannel are in the event's props already. Two captures from one browser within a dedupe
 * bucket are then two events, one per lead, and only an exact retry finds the first. *out is
 * arena-owned. Returns -1 when the arena is full. */
static int capture_dedupe_extra(struct ctx *c, struct str email, const struct capture_in *in, struct str *out)
{
    struct arena *a = c->req->arena;
    /* the email holds no newline (its pattern) and consent is one of three words */
    const char *payload = in->payload ? jsonout_dump(a, in->payload, true) : "";
    const char *consent = in->consent ? in->consent : "";
    size_t pn = payload ? strlen(payload) : 0, cn = strlen(consent);
    /* the consent evidence only when named, so a capture without it keeps the key it always had */
    const char *method = in->consent_method ? in->consent_method : "";
    size_t vn = in->consent_version.n, mn = strlen(method);
    size_t en = vn || mn ? vn + mn + 2 : 0;
    char *msg = arena_alloc(a, email.n + cn + pn + en + 3);
    char *mac = arena_alloc(a, HASH_HEX_LEN + 1);
    if (!payload || !msg || !mac)
        return -1;
    memcpy(msg, email.p, email.n);
    msg[email.n] = '\n';
    memcpy(msg + email.n + 1, consent, cn);
    msg[email.n + 1 + cn] = '\n';
    memcpy(msg + email.n + cn + 2, payload, pn);
    size_t at = email.n + cn + 2 + pn;
    if (en) {
        /* the version is [A-Za-z0-9._:-] and the method a fixed word: neither holds a newline */
        msg[at++] = '\n';
        if (vn)
            memcpy(msg + at, in->consent_version.p, vn);
        at += vn;
        msg[at++] = '\n';
        memcpy(msg + at, method, mn);
        at += mn;
    }
    msg[at] = '\0';
    hash_peppered_hex(c->cfg, (struct str){msg, at}, mac);
    *out = (struct str){mac, HASH_HEX_LEN};
    return 0;
}

void h_capture(struct ctx *c)
{
    struct issues is;
    struct capture_in in;
    struct event_in ev;
    union capture_lead_args row;
    PGresult *res = NULL;
    json_t *form_body = c->form_post ? form_to_body(c->body) : NULL;
    json_t *body = form_body ? form_body : c->body;
    int64_t now = clock_wall_ms();

    memset(&ev, 0, sizeof(ev));
    issues_init(&is);
    capture_parse(body, &is, &in);
    http_error(c->resp, 500, "internal_error");
    struct str next = c->form_post ? form_next(c->body) : (struct str){NULL, 0};
    if (issues_any(&is)) {
        capture_invalid(c, &is, &in, next.p != NULL);
        goto out;
    }
    if (in.honeypot.n > 0) {
        http_reply_json(c->resp, 202, json_pack("{s:b}", "ok", 1));
        goto out;
    }

    /* the form_submit event, through the event path */
    ev.anon_id = in.anon_id;
    ev.event_type = STRLIT("form_submit");
    ev.path = in.path.p ? in.path : STRLIT("/");
    ev.referrer = in.referrer;
    memcpy(ev.utm, in.utm, sizeof(ev.utm));
    ev.has_utm_object = in.has_utm_object;
    ev.is_entrance = ev.is_exit = TRI_ABSENT;
    ev.is_conversion = TRI_TRUE;
    ev.traffic_canon = json_pack("{s:b}", "isConversion", 1);
    ev.props = json_pack("{s:s%}", "formName", in.form_name.p, in.form_name.n);
    if (in.source_channel.p)
        json_object_set_new(ev.props, "sourceChannel",
                            json_stringn(in.source_channel.p, in.source_channel.n));

    struct event_client client = event_client_of(c->req);
    /* Sec-GPC / DNT: cookieless whatever anonId says, and no heuristic links from this request */
    bool privacy = privacy_signal(c);
    if (!privacy_visitor_or_reply(c, now, &client, privacy, &ev.anon_id))
        goto out;
    struct str domain;
    struct str email = lead_email_normalize(c->req->arena, in.email, &domain);
    char *ids = arena_alloc(c->req->arena, 2 * (UUID_STR_LEN + 1));
    const char *payload = NULL;
    if (in.payload && !(payload = jsonout_dump(c->req->arena, in.payload, false)))
        goto out;
    if (!email.p || capture_dedupe_extra(c, email, &in, &ev.dedupe_extra) != 0 ||
        event_params(c->req->arena, c->cfg, &client, &ev, now, &row.event) != 0)
        goto out;
    char window[16], links_max[16];
    snprintf(window, sizeof(window), "%d", c->cfg->heuristic_link_window_minutes);
    snprintf(links_max, sizeof(links_max), "%d", LEAD_HEURISTIC_LINKS_MAX);
    if (!ids)
        goto out;
    uuid_v4(ids);
    uuid_v4(ids + UUID_STR_LEN + 1);
    row.email_normalized = email.p;
    /* leads.email_domain is VARCHAR(255) while a valid address may carry a longer domain: the
     * column is informational (nothing reads it), so such a domain is stored as NULL */
    row.email_domain = domain.n <= LEAD_EMAIL_DOMAIN_MAX ? param(c, domain) : NULL;
    row.source_channel = param(c, in.source_channel);
    row.consent = in.consent;
    row.form_name = param(c, in.form_name);
    row.payload = payload;
    row.lead_id = ids;
    row.submission_id = ids + UUID_STR_LEN + 1;
    /* a heuristic link only from a browser that kept its own id (anonId sent: the tracker's consented
     * mode) and sent no privacy signal: a cookieless id is derived from the IP and UA, exactly what
     * the heuristic matches on, so behind a NAT it would tie this email to other people's visits */
    row.heuristic = c->cfg->enable_heuristic_linking && !privacy && in.anon_id.p ? "true" : "false";
    row.heuristic_window_minutes = param(c, str_from_cstr(window));
    row.heuristic_max = links_max;
    row.wording_version = param(c, in.consent_version);
    row.consent_method = in.consent_method;
    if (in.consent_version.p && !row.wording_version)
        goto out; /* the arena is full: never a capture without the evidence it named */

    /* a form post's 303 target is settled before anything is written: once the capture commits,
     * the answer must not fail (the browser would post the form again) */
    const char *location = NULL;
    if (c->form_post) {
        /* a plain HTML form: send the browser on to _next (else path, as before _next existed); the
         * origin only when allowed */
        struct str origin =
            cors_origin_allowed(c->cfg, c->req->origin) ? c->req->origin : (struct str){NULL, 0};
        if (!(location = lead_redirect_location(c->req->arena, next.p ? next : in.path, origin)))
            goto out;
    }

    enum db_rc rc = db_exec(STMT_CAPTURE, row.v, &res);
    if (rc == DB_UNAVAILABLE) {
        http_db_unavailable(c->req, c->resp);
        goto out;
    }
    if (rc != DB_OK || PQntuples(res) != 1)
        goto out;
    if (strcmp(PQgetvalue(res, 0, 4), "t") != 0) {
        /* capture_lead wrote nothing: the wording named is not registered */
        issues_add(&is, "consentVersion", "is not a registered consent wording (POST /v1/consent/wordings)");
        capture_invalid(c, &is, &in, next.p != NULL);
        goto out;
    }
    if (location) {
        if (http_add_header(c->req, c->resp, "Location", str_from_cstr(location)) != 0)
            goto out;
        http_reply_json(c->resp, 303, NULL);
        goto out;
    }
    http_reply_json(c->resp, 200,
                    json_pack("{s:b, s:s, s:s, s:s, s:I}", "ok", 1, "leadId", PQgetvalue(res, 0, 0),
                              "visitorId", PQgetvalue(res, 0, 1), "sessionId", PQgetvalue(res, 0, 2),
                              "heuristicLinksCreated", (json_int_t)strtoll(PQgetvalue(res, 0, 3), NULL, 10)));
out:
    json_decref(ev.traffic_canon);
    json_decref(ev.props);
    json_decref(form_body);
    issues_free(&is);
    PQclear(res);
}

/* Unsubscribe and delete: {email}, matched case-insensitively; 404 when unknown. */
static void by_email(struct ctx *c, enum stmt_id stmt, bool with_reason, const char *done_key)
{
    struct issues is;
    struct str email, reason, domain;
    PGresult *res = NULL;

    issues_init(&is);
    (void)email_field(&is, c->body, &email);
    if (with_reason)
        (void)v_string(&is, c->body, "reason", "reason", 1, LEAD_REASON_MAX, V_OPTIONAL, &reason);
    http_error(c->resp, 500, "internal_error");
    if (issues_any(&is)) {
        http_invalid(c->resp, &is);
        goto out;
    }
    struct str norm = lead_email_normalize(c->req->arena, email, &domain);
    const char *ip_hash = ip_hash_param(c);
    if (!norm.p || !ip_hash)
        goto out;
    union unsubscribe_lead_args un = {.email_normalized = norm.p, .ip_hash = ip_hash};
    /* the erasure's proof: a keyed hash of the address, never the address (core/erasure.h) */
    char proof[HASH_HEX_LEN + 1];
    erasure_proof_hex(&c->cfg->erasure_keys, norm, proof);
    union delete_lead_args del = {.email_normalized = norm.p, .email_hmac = proof};
    enum db_rc rc = db_exec(stmt, stmt == STMT_DELETE ? del.v : un.v, &res);
    if (rc == DB_UNAVAILABLE) {
        http_db_unavailable(c->req, c->resp);
        goto out;
    }
    if (rc != DB_OK || PQntuples(res) != 1)
        goto out;
    if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
        http_error(c->resp, 404, "not_found");
        goto out;
    }
    http_reply_json(c->resp, 200, json_pack("{s:b, s:b}", "ok", 1, done_key, 1));
out:
    issues_free(&is);
    PQclear(res);
}

void h_unsubscribe(struct ctx *c)
{
    by_email(c, STMT_UNSUBSCRIBE, true, "found");
}

void h_delete(struct ctx *c)
{
    by_email(c, STMT_DELETE, false, "deleted");
}
