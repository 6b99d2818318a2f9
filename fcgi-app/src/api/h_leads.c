/* h_leads.c - POST /v1/leads/capture, /v1/leads/unsubscribe and /v1/leads/delete. Each is one
 * SQL function (migrations/0003_leads.sql): one round trip, one transaction. Emails and payloads
 * are personal data: they never reach a log line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/cors.h"
#include "core/clock.h"
#include "store/db.h"
#include "domain/enrich.h"
#include "domain/event.h"
#include "api/handlers.h"
#include "core/hash.h"
#include "core/jsonout.h"
#include "domain/lead.h"
#include "domain/validate.h"

static const char *const CONSENT_VALUES[] = {"pending", "express", "implied"};

struct capture_in {
    struct str email, anon_id, form_name, path, referrer, source_channel, honeypot;
    const char *consent; /* NULL when absent */
    json_t *payload;     /* borrowed */
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

/* A form post is flat: utm_source..utm_content become utm, every field that is not one of the
 * capture's own becomes the payload, and empty fields are left out. Returns a new object in the JSON body's
 * shape (caller frees). */
static json_t *form_to_body(json_t *form)
{
    static const char *const own[] = {"email",    "anonId",        "formName",      "path",
                                      "referrer", "sourceChannel", "consentStatus", "honeypot"};
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
    (void)v_free_object(is, body, "payload", "payload", &in->payload);
    in->has_utm_object = event_parse_utm(body, is, in->utm);
    (void)v_string(is, body, "honeypot", "honeypot", 0, SIZE_MAX, V_OPTIONAL, &in->honeypot);
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
    char *msg = arena_alloc(a, email.n + cn + pn + 3);
    char *mac = arena_alloc(a, HASH_HEX_LEN + 1);
    if (!payload || !msg || !mac)
        return -1;
    memcpy(msg, email.p, email.n);
    msg[email.n] = '\n';
    memcpy(msg + email.n + 1, consent, cn);
    msg[email.n + 1 + cn] = '\n';
    memcpy(msg + email.n + cn + 2, payload, pn);
    msg[email.n + cn + 2 + pn] = '\0';
    hash_peppered_hex(c->cfg, (struct str){msg, email.n + cn + 2 + pn}, mac);
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
    if (issues_any(&is)) {
        rejection_record(c, "invalid_request");
        http_invalid(c->resp, &is);
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
    row.heuristic = c->cfg->enable_heuristic_linking && !privacy ? "true" : "false";
    row.heuristic_window_minutes = param(c, str_from_cstr(window));
    row.heuristic_max = links_max;

    /* a form post's 303 target is settled before anything is written: once the capture commits,
     * the answer must not fail (the browser would post the form again) */
    const char *location = NULL;
    if (c->form_post) {
        /* a plain HTML form: send the browser back to the page; the origin only when allowed */
        struct str origin =
            cors_origin_allowed(c->cfg, c->req->origin) ? c->req->origin : (struct str){NULL, 0};
        if (!(location = lead_redirect_location(c->req->arena, in.path, origin)))
            goto out;
    }

    enum db_rc rc = db_exec(STMT_CAPTURE, row.v, &res);
    if (rc == DB_UNAVAILABLE) {
        http_db_unavailable(c->req, c->resp);
        goto out;
    }
    if (rc != DB_OK || PQntuples(res) != 1)
        goto out;
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
    union delete_lead_args del = {.email_normalized = norm.p};
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
