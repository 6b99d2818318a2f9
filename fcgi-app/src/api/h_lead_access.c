/* h_lead_access.c - the admin's answers about one person (issue 16 items 4 and 5):
 * GET /v1/leads/access?email= (everything stored about them, one JSON document built in Postgres
 * by lead_access(), migrations/0013) and GET /v1/leads/erasures?email= (whether and when that
 * address was erased, from the erasure log's keyed hashes: core/erasure.h).
 *
 * The email is in the query string: lighttpd's access log records the path without it (%U), and
 * nothing here logs it. Admin routes: an unknown address is a plain 404 (the key holder may know
 * which addresses exist). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "core/buf.h"
#include "core/erasure.h"
#include "domain/lead.h"
#include "domain/validate.h"
#include "http/body.h"

/* The query's email, validated as the capture validates it and normalised (arena-owned); .p NULL
 * when invalid (the 400 is written). */
static struct str query_email(struct ctx *c)
{
    struct issues is;
    struct str email = {NULL, 0}, norm = {NULL, 0}, domain;
    issues_init(&is);
    json_t *q = body_parse_form(c->req->query.p, c->req->query.n, &is);
    if (v_string_raw(&is, q, "email", "email", LEAD_EMAIL_MAX, V_REQUIRED, &email) == V_OK &&
        !lead_email_valid(email))
        issues_add(&is, "email", "must be a valid email address");
    if (issues_any(&is))
        http_invalid(c->resp, &is);
    else if (!(norm = lead_email_normalize(c->req->arena, email, &domain)).p)
        http_error(c->resp, 500, "internal_error");
    json_decref(q);
    issues_free(&is);
    return norm;
}

static bool db_failed(struct ctx *c, enum db_rc rc, const PGresult *res)
{
    if (rc == DB_UNAVAILABLE) {
        http_db_unavailable(c->req, c->resp);
        return true;
    }
    if (rc != DB_OK || PQntuples(res) < 1) {
        http_error(c->resp, 500, "internal_error");
        return true;
    }
    return false;
}

void h_lead_access(struct ctx *c)
{
    PGresult *res = NULL;
    struct buf b = BUF_INIT;
    struct str email = query_email(c);
    if (!email.p)
        return;
    char max[16];
    snprintf(max, sizeof(max), "%d", LEAD_ACCESS_EVENTS_MAX);
    union lead_access_args args = {.email_normalized = email.p, .events_max = max};
    enum db_rc rc = db_exec(STMT_LEAD_ACCESS, args.v, &res);
    if (db_failed(c, rc, res))
        goto out;
    if (PQgetisnull(res, 0, 0)) {
        http_error(c->resp, 404, "not_found");
        goto out;
    }
    /* the document is Postgres's JSON object, passed on as it is (never parsed again: it may be
     * megabytes), with the envelope's ok and the bound in front of its first key */
    const char *doc = PQgetvalue(res, 0, 0);
    size_t n = (size_t)PQgetlength(res, 0, 0);
    if (n < 2 || doc[0] != '{') {
        http_error(c->resp, 500, "internal_error");
        goto out;
    }
    char head[64];
    int hn = snprintf(head, sizeof(head), "{\"ok\":true,\"eventsMax\":%d,", LEAD_ACCESS_EVENTS_MAX);
    buf_put(&b, head, (size_t)hn);
    buf_put(&b, doc + 1, n - 1);
    if (http_reply_bytes(c->resp, 200, "application/json; charset=utf-8", b.p, b.n) != 0)
        http_error(c->resp, 500, "internal_error");
out:
    free(b.p);
    PQclear(res);
}

void h_lead_erasures(struct ctx *c)
{
    PGresult *res = NULL;
    struct str email = query_email(c);
    if (!email.p)
        return;
    char hashes[ERASURE_LOOKUP_KEYS][HASH_HEX_LEN + 1];
    size_t nh = erasure_lookup_hex(&c->cfg->erasure_keys, email, hashes);
    /* a text[] literal of lowercase hex strings: nothing to quote */
    char array[2 + ERASURE_LOOKUP_KEYS * (HASH_HEX_LEN + 1)], limit[16];
    size_t at = 0;
    array[at++] = '{';
    for (size_t i = 0; i < nh; i++) {
        if (i)
            array[at++] = ',';
        memcpy(array + at, hashes[i], HASH_HEX_LEN);
        at += HASH_HEX_LEN;
    }
    array[at++] = '}';
    array[at] = '\0';
    snprintf(limit, sizeof(limit), "%d", LEAD_ERASURES_LIST_MAX);
    const char *params[] = {array, limit};
    enum db_rc rc = db_exec(STMT_LEAD_ERASURES, params, &res);
    if (rc == DB_UNAVAILABLE) {
        http_db_unavailable(c->req, c->resp);
    } else if (rc != DB_OK) {
        http_error(c->resp, 500, "internal_error");
    } else {
        json_t *list = json_array();
        int rows = PQntuples(res);
        for (int i = 0; i < rows; i++)
            json_array_append_new(list, json_pack("{s:s}", "erasedAt", PQgetvalue(res, i, 0)));
        json_int_t total = rows ? (json_int_t)strtoll(PQgetvalue(res, 0, 1), NULL, 10) : 0;
        http_reply_json(c->resp, 200,
                        json_pack("{s:b, s:b, s:I, s:o, s:b}", "ok", 1, "erased", rows > 0, "count", total,
                                  "erasures", list, "truncated", total > rows));
    }
    PQclear(res);
}
