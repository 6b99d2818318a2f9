/* h_consent.c - POST and GET /v1/consent/wordings (issue 16 item 3): the exact consent texts a
 * capture may name by version, stored with their SHA-256 so the operator can show what a person
 * agreed to. Registering is idempotent per (version, text); a version never changes its text (409),
 * and once a consent event names it the database refuses any change or delete
 * (migrations/0012_consent_evidence.sql). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "core/bounds.h"
#include "core/hash.h"
#include "domain/lead_query.h"
#include "domain/validate.h"

/* A column as a JSON string, null for SQL NULL. */
static json_t *col(const PGresult *r, int row, int k)
{
    return PQgetisnull(r, row, k) ? json_null() : json_string(PQgetvalue(r, row, k));
}

static void wording_register(struct ctx *c)
{
    struct issues is;
    struct str version, text;
    PGresult *res = NULL;
    issues_init(&is);
    /* the version is a label (trimmed); the text is evidence: stored exactly as sent */
    if (v_string(&is, c->body, "version", "version", 1, CONSENT_VERSION_MAX, V_REQUIRED, &version) == V_OK &&
        !consent_version_valid(version))
        issues_add(&is, "version", "must be 1-64 characters of A-Z a-z 0-9 . _ : -");
    if (v_string_raw(&is, c->body, "text", "text", CONSENT_TEXT_MAX, V_REQUIRED, &text) == V_OK &&
        text.n == 0)
        issues_add(&is, "text", "must not be empty");
    http_error(c->resp, 500, "internal_error");
    if (issues_any(&is)) {
        http_invalid(c->resp, &is);
        goto out;
    }
    char sha[HASH_HEX_LEN + 1];
    hash_sha256_hex(text, sha);
    const char *v = arena_strndup(c->req->arena, version.p, version.n);
    const char *t = arena_strndup(c->req->arena, text.p, text.n);
    if (!v || !t)
        goto out;
    union register_consent_wording_args args = {.version = v, .text = t, .text_sha256 = sha};
    enum db_rc rc = db_exec(STMT_WORDING_REGISTER, args.v, &res);
    if (rc == DB_UNAVAILABLE) {
        http_db_unavailable(c->req, c->resp);
        goto out;
    }
    if (rc != DB_OK || PQntuples(res) != 1)
        goto out;
    bool created = PQgetvalue(res, 0, 0)[0] == 't', same = PQgetvalue(res, 0, 1)[0] == 't';
    if (!created && !same) {
        /* the stored text stays; say which hash it has so the operator can compare */
        http_reply_json(c->resp, 409,
                        json_pack("{s:b, s:s, s:s, s:s}", "ok", 0, "error", "wording_version_conflict",
                                  "version", v, "sha256", PQgetvalue(res, 0, 2)));
        goto out;
    }
    http_reply_json(c->resp, created ? 201 : 200,
                    json_pack("{s:b, s:b, s:{s:s, s:s, s:s, s:s}}", "ok", 1, "created", created, "wording",
                              "version", v, "sha256", PQgetvalue(res, 0, 2), "createdAt",
                              PQgetvalue(res, 0, 3), "text", t));
out:
    issues_free(&is);
    PQclear(res);
}

static void wording_list(struct ctx *c)
{
    PGresult *res = NULL;
    char lim[16];
    /* one more than answered: tells whether the list was cut */
    snprintf(lim, sizeof(lim), "%d", CONSENT_WORDINGS_LIST_MAX + 1);
    const char *params[] = {lim};
    http_error(c->resp, 500, "internal_error");
    enum db_rc rc = db_exec(STMT_WORDING_LIST, params, &res);
    if (rc == DB_UNAVAILABLE) {
        http_db_unavailable(c->req, c->resp);
        goto out;
    }
    if (rc != DB_OK)
        goto out;
    int n = PQntuples(res);
    bool truncated = n > CONSENT_WORDINGS_LIST_MAX;
    json_t *list = json_array();
    for (int i = 0; i < n && i < CONSENT_WORDINGS_LIST_MAX; i++) {
        json_array_append_new(list,
                              json_pack("{s:o, s:o, s:o, s:o, s:o, s:b}", "version", col(res, i, 0), "sha256",
                                        col(res, i, 1), "createdAt", col(res, i, 2), "text", col(res, i, 3),
                                        "firstUsedAt", col(res, i, 4), "used", !PQgetisnull(res, i, 4)));
    }
    http_reply_json(c->resp, 200,
                    json_pack("{s:b, s:o, s:b}", "ok", 1, "wordings", list, "truncated", truncated));
out:
    PQclear(res);
}

void h_consent_wordings(struct ctx *c)
{
    if (c->req->method == M_POST)
        wording_register(c);
    else
        wording_list(c);
}
