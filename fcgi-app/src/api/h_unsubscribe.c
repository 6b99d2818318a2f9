/* h_unsubscribe.c - /v1/leads/unsubscribe: the signed one-click links of issue 16 (RFC 8058) beside
 * the bare-email POST of API.md (h_leads.c).
 *
 * GET ?token= shows a confirmation page and changes nothing: mail scanners fetch every link of a
 * message, and a GET that unsubscribed would unsubscribe everyone whose mail is scanned. The page
 * touches no database either, so it tells nothing about the lead beyond what the token says.
 * POST with the token (query or body) withdraws consent: the RFC 8058 form body
 * List-Unsubscribe=One-Click, or JSON. Never a redirect (RFC 8058 §3.2 clients do not follow one).
 * A token whose lead is gone (erased) answers as a success: the holder of a genuine link learns
 * nothing from it, and the lead is as unsubscribed as it can be. */
#include <stdio.h>
#include <string.h>

#include "api/handlers.h"
#include "core/clock.h"
#include "core/hash.h"
#include "core/unsub_token.h"
#include "http/body.h"

/* The pages carry no script, no style and no outside resource; they post only to this origin
 * and are never framed. The token is in the URL: no Referer leaves for another origin with it.
 * same-origin, not no-referrer: under no-referrer a browser posts the button's form with Origin
 * "null", which ENFORCE_ORIGIN refuses (403), so the button never worked in a real browser. */
#define PAGE_CSP "default-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

static void page_headers(struct ctx *c)
{
    (void)http_add_header(c->req, c->resp, "Content-Security-Policy", STRLIT(PAGE_CSP));
    (void)http_add_header(c->req, c->resp, "Referrer-Policy", STRLIT("same-origin"));
    (void)http_add_header(c->req, c->resp, "X-Content-Type-Options", STRLIT("nosniff"));
    (void)http_add_header(c->req, c->resp, "X-Frame-Options", STRLIT("DENY"));
}

/* A small HTML page: title and text are static strings of ours; form_token (verified base64url,
 * nothing to escape) adds the confirmation form when set. */
static void reply_page(struct ctx *c, int status, const char *title, const char *text, const char *form_token)
{
    char html[UNSUB_PAGE_MAX];
    int n = snprintf(html, sizeof(html),
                     "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                     "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                     "<meta name=\"robots\" content=\"noindex\"><title>%s</title></head>\n"
                     "<body><main><h1>%s</h1><p>%s</p>%s%s%s</main></body></html>\n",
                     title, title, text,
                     form_token ? "<form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" "
                                  "value=\"One-Click\"><input type=\"hidden\" name=\"token\" value=\""
                                : "",
                     form_token ? form_token : "",
                     form_token ? "\"><button type=\"submit\">Unsubscribe</button></form>" : "");
    if (n < 0 || (size_t)n >= sizeof(html) ||
        http_reply_bytes(c->resp, status, "text/html; charset=utf-8", html, (size_t)n) != 0) {
        http_error(c->resp, 500, "internal_error");
        return;
    }
    page_headers(c);
}

/* The answer to a refused token, as a page (GET, a browser's form post) or in the JSON envelope. */
static void reply_refused(struct ctx *c, bool html, enum unsub_verdict v)
{
    if (v == UNSUB_EXPIRED) {
        if (html)
            reply_page(
                c, 410, "Link expired",
                "This unsubscribe link is too old. Use the link in a recent message, or contact the sender.",
                NULL);
        else
            http_error(c->resp, 410, "token_expired");
        return;
    }
    if (html)
        reply_page(
            c, 403, "Link not valid",
            "This unsubscribe link is not valid. Check that it was copied whole, or contact the sender.",
            NULL);
    else
        http_error(c->resp, 403, "invalid_token");
}

static void reply_not_configured(struct ctx *c, bool html)
{
    if (html)
        reply_page(c, 503, "Unsubscribe unavailable", "Unsubscribe links are not set up on this service.",
                   NULL);
    else
        http_error(c->resp, 503, "unsubscribe_not_configured");
}

static enum unsub_verdict verify(struct ctx *c, struct str token, char lead_id[UNSUB_LEAD_ID_MAX + 1])
{
    int64_t iat = 0, now = clock_wall_ms() / 1000;
    return unsub_token_verify(&c->cfg->unsub_keys, token, now, (int64_t)c->cfg->unsub_max_age_days * 86400,
                              lead_id, &iat);
}

/* The query string's token (borrowed from *q, which the caller frees): .p NULL when absent. A
 * query that does not parse gives no token; a token that is not ours is refused by the verify. */
static struct str query_token(struct ctx *c, json_t **q)
{
    struct issues is;
    issues_init(&is);
    *q = body_parse_form(c->req->query.p, c->req->query.n, &is);
    issues_free(&is);
    json_t *t = json_object_get(*q, "token");
    return t && json_is_string(t) ? (struct str){json_string_value(t), json_string_length(t)}
                                  : (struct str){NULL, 0};
}

static void unsubscribe_page(struct ctx *c)
{
    json_t *q = NULL;
    char lead_id[UNSUB_LEAD_ID_MAX + 1];
    struct str token = query_token(c, &q);
    if (!c->cfg->unsub_keys.has_current) {
        reply_not_configured(c, true);
    } else {
        enum unsub_verdict v = token.p ? verify(c, token, lead_id) : UNSUB_INVALID;
        if (v != UNSUB_OK)
            reply_refused(c, true, v);
        else
            reply_page(c, 200, "Unsubscribe",
                       "Press the button to stop receiving these messages. Nothing changes until you do.",
                       arena_strndup(c->req->arena, token.p, token.n));
    }
    json_decref(q);
}

/* POST with a token: withdraws consent for the token's lead. */
static void unsubscribe_token(struct ctx *c, struct str token)
{
    bool html = c->form_post;
    char lead_id[UNSUB_LEAD_ID_MAX + 1], ip_hash[HASH_HEX_LEN + 1];
    PGresult *res = NULL;
    if (!c->cfg->unsub_keys.has_current) {
        reply_not_configured(c, html);
        return;
    }
    enum unsub_verdict v = verify(c, token, lead_id);
    if (v != UNSUB_OK) {
        reply_refused(c, html, v);
        return;
    }
    hash_peppered_hex(c->cfg, c->req->remote_addr, ip_hash);
    union unsubscribe_lead_by_id_args args = {.lead_id = lead_id, .ip_hash = ip_hash};
    enum db_rc rc = db_exec(STMT_UNSUBSCRIBE_ID, args.v, &res);
    if (rc == DB_UNAVAILABLE) {
        http_db_unavailable(c->req, c->resp);
    } else if (rc != DB_OK || PQntuples(res) != 1) {
        http_error(c->resp, 500, "internal_error");
    } else if (html) {
        reply_page(c, 200, "Unsubscribed", "You will not receive these messages any more.", NULL);
    } else {
        /* the same whether the lead still exists (see the top of this file) */
        http_reply_json(c->resp, 200, json_pack("{s:b, s:b}", "ok", 1, "unsubscribed", 1));
    }
    PQclear(res);
}

void h_unsubscribe_route(struct ctx *c)
{
    if (c->req->method != M_POST) {
        unsubscribe_page(c);
        return;
    }
    json_t *q = NULL;
    struct str token = query_token(c, &q);
    json_t *bt = json_object_get(c->body, "token");
    json_t *one_click = json_object_get(c->body, "List-Unsubscribe");
    struct str body_token = {NULL, 0};
    if (bt && json_is_string(bt))
        body_token = (struct str){json_string_value(bt), json_string_length(bt)};
    if (!token.p && !body_token.p && !(bt && !json_is_string(bt))) {
        if (c->form_post) {
            /* a form body is for the one-click links only: as before them, 415 for the bare-email
             * path */
            http_error(c->resp, 415, "unsupported_media_type");
        } else if (c->cfg->unsub_require_token) {
            /* no lookup and nothing read from the body: one answer whatever the address (item 7) */
            http_error(c->resp, 403, "token_required");
        } else {
            h_unsubscribe(c);
        }
        json_decref(q);
        return;
    }
    struct issues is;
    issues_init(&is);
    if (bt && !json_is_string(bt))
        issues_add(&is, "token", "must be a string");
    else if (token.p && body_token.p && !str_eq(token, body_token))
        issues_add(&is, "token", "differs from the token of the query string");
    /* RFC 8058 §3.1: the one-click POST carries exactly this pair; a form without it is not one */
    if (c->form_post &&
        !(one_click && json_is_string(one_click) && strcmp(json_string_value(one_click), "One-Click") == 0))
        issues_add(&is, "List-Unsubscribe", "must be One-Click");
    else if (!c->form_post && one_click &&
             !(json_is_string(one_click) && strcmp(json_string_value(one_click), "One-Click") == 0))
        issues_add(&is, "List-Unsubscribe", "must be One-Click when given");
    if (issues_any(&is))
        http_invalid(c->resp, &is);
    else
        unsubscribe_token(c, token.p ? token : body_token);
    issues_free(&is);
    json_decref(q);
}
