/* h_webhooks.c - GET /v1/webhooks/deliveries (issue 16 item 6): the webhook outbox's delivery
 * state for the operator, newest first, a page at a time; never a body (it holds the email and,
 * when enabled, the form's payload). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "api/window.h"
#include "core/bounds.h"
#include "domain/validate.h"

static const char *const STATES[] = {"pending", "delivered", "failed"};

static bool digits(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
    }
    return true;
}

/* A cursor is "<created_at>~<id>" of the previous page's last row, as nextCursor gives it:
 * YYYY-MM-DDTHH:MM:SS.mmmZ, then an id of letters, digits, '_' and '-'. Splits it into ts (25
 * bytes with the NUL) and id; false when it is not one. */
static bool parse_cursor(struct str s, char *ts, char *id, size_t idcap)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ~";
    size_t n = sizeof(shape) - 1;
    if (s.n <= n || s.n - n >= idcap)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (shape[i] == 'd' ? !digits(s.p + i, 1) : s.p[i] != shape[i])
            return false;
    }
    int64_t days = 0;
    if (v_parse_date((struct str){s.p, 10}, &days) != 0 || atoi(s.p + 11) > 23 || atoi(s.p + 14) > 59 ||
        atoi(s.p + 17) > 59)
        return false;
    for (size_t i = n; i < s.n; i++) {
        char ch = s.p[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
              ch == '-'))
            return false;
    }
    memcpy(ts, s.p, n - 1);
    ts[n - 1] = '\0';
    memcpy(id, s.p + n, s.n - n);
    id[s.n - n] = '\0';
    return true;
}

static json_t *str_or_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? json_null() : json_string(PQgetvalue(r, row, col));
}

void h_webhook_deliveries(struct ctx *c)
{
    struct issues is;
    PGresult *res = NULL;
    const char *state = NULL;
    long long limit = WEBHOOK_LIST_LIMIT_DEFAULT;
    struct str cur = {NULL, 0};
    char ts[32], id[WEBHOOK_CURSOR_MAX];

    issues_init(&is);
    json_t *q = window_query(c->req, &is);
    (void)v_enum(&is, q, "state", "state", STATES, ARRAY_LEN(STATES), &state);
    (void)v_coerced_int(&is, q, "limit", "limit", 1, WEBHOOK_LIST_LIMIT_MAX, &limit);
    if (v_string(&is, q, "cursor", "cursor", 1, WEBHOOK_CURSOR_MAX, V_OPTIONAL, &cur) == V_OK &&
        !parse_cursor(cur, ts, id, sizeof(id)))
        issues_add(&is, "cursor", "must be a nextCursor of an earlier answer");
    json_decref(q);
    http_error(c->resp, 500, "internal_error");
    if (issues_any(&is)) {
        http_invalid(c->resp, &is);
        goto out;
    }
    char lim[24];
    (void)snprintf(lim, sizeof(lim), "%lld", limit);
    const char *params[] = {state, cur.p ? ts : NULL, cur.p ? id : NULL, lim};
    enum db_rc rc = db_exec(STMT_WEBHOOK_DELIVERIES, params, &res);
    if (rc != DB_OK) {
        window_db_failed(c, rc);
        goto out;
    }
    /* columns: 0 id, 1 type, 2 state, 3 attempts, 4 created, 5 next attempt, 6 last attempt,
     * 7 last status, 8 last error, 9 delivered */
    int n = PQntuples(res);
    json_t *items = json_array();
    for (int i = 0; i < n; i++) {
        json_t *status =
            PQgetisnull(res, i, 7) ? json_null() : json_integer(strtoll(PQgetvalue(res, i, 7), NULL, 10));
        bool pending = strcmp(PQgetvalue(res, i, 2), "pending") == 0;
        json_array_append_new(
            items,
            json_pack("{s:s, s:s, s:s, s:I, s:s, s:o, s:o, s:o, s:o, s:o}", "id", PQgetvalue(res, i, 0),
                      "type", PQgetvalue(res, i, 1), "state", PQgetvalue(res, i, 2), "attempts",
                      (json_int_t)strtoll(PQgetvalue(res, i, 3), NULL, 10), "createdAt",
                      PQgetvalue(res, i, 4), "nextAttemptAt", pending ? str_or_null(res, i, 5) : json_null(),
                      "lastAttemptAt", str_or_null(res, i, 6), "lastStatus", status, "lastError",
                      str_or_null(res, i, 8), "deliveredAt", str_or_null(res, i, 9)));
    }
    json_t *next = json_null();
    if (n == (int)limit && n > 0) {
        char buf[WEBHOOK_CURSOR_MAX + 32];
        (void)snprintf(buf, sizeof(buf), "%s~%s", PQgetvalue(res, n - 1, 4), PQgetvalue(res, n - 1, 0));
        next = json_string(buf);
    }
    http_reply_json(c->resp, 200,
                    json_pack("{s:b, s:o, s:I, s:o}", "ok", 1, "deliveries", items, "limit",
                              (json_int_t)limit, "nextCursor", next));
out:
    issues_free(&is);
    PQclear(res);
}
