/* privacy.c - the server side of the tracker's privacy modes (issue 14): the cookieless visitor id
 * under the day's salt, Sec-GPC / DNT, and the bot drop counter. */
#include <string.h>

#include <sodium.h>

#include "store/db.h"
#include "core/calendar.h"
#include "core/hash.h"
#include "core/log.h"
#include "domain/enrich.h"
#include "api/handlers.h"

#define MS_PER_DAY 86400000LL

/* The salt of one UTC day, kept by this responder until the day changes (at most 24 hours): one
 * round trip per responder per day, not per event. Every responder and machine reads the same row. */
static struct {
    int64_t day; /* days since 1970-01-01; -1: none */
    unsigned char salt[SALT_BYTES];
} g_salt = {-1, {0}};

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The salt of the UTC day of now_ms: cached, else read (or made) in Postgres. */
static enum db_rc day_salt(int64_t now_ms, unsigned char out[SALT_BYTES])
{
    int64_t day = now_ms / MS_PER_DAY;
    if (g_salt.day == day) {
        memcpy(out, g_salt.salt, SALT_BYTES);
        return DB_OK;
    }
    unsigned char cand[SALT_BYTES];
    char cand_hex[2 + 2 * SALT_BYTES + 1], date[V_DATE_LEN];
    randombytes_buf(cand, sizeof(cand));
    cand_hex[0] = '\\';
    cand_hex[1] = 'x';
    sodium_bin2hex(cand_hex + 2, sizeof(cand_hex) - 2, cand, sizeof(cand));
    sodium_memzero(cand, sizeof(cand));
    v_format_date(day, date);
    union daily_salt_args args = {.day = date, .candidate = cand_hex};
    PGresult *res = NULL;
    enum db_rc rc = db_exec(STMT_DAILY_SALT, args.v, &res);
    sodium_memzero(cand_hex, sizeof(cand_hex));
    if (rc == DB_OK) {
        const char *h = PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) ? PQgetvalue(res, 0, 0) : "";
        if (strlen(h) != 2 * SALT_BYTES) {
            rc = DB_ERROR;
        } else {
            for (size_t i = 0; i < SALT_BYTES; i++)
                out[i] = (unsigned char)(hexval(h[2 * i]) << 4 | hexval(h[2 * i + 1]));
            memcpy(g_salt.salt, out, SALT_BYTES);
            g_salt.day = day;
        }
    }
    PQclear(res);
    return rc;
}

static bool header_is_1(const struct request *req, const char *name)
{
    struct str v = http_param(req, name);
    while (v.p && v.n && (v.p[v.n - 1] == ' ' || v.p[v.n - 1] == '\t'))
        v.n--;
    while (v.p && v.n && (v.p[0] == ' ' || v.p[0] == '\t')) {
        v.p++;
        v.n--;
    }
    return v.p && str_eq(v, STRLIT("1"));
}

bool privacy_signal(const struct ctx *c)
{
    return c->cfg->honor_gpc && (header_is_1(c->req, "HTTP_SEC_GPC") || header_is_1(c->req, "HTTP_DNT"));
}

bool privacy_visitor_or_reply(struct ctx *c, int64_t now_ms, const struct event_client *cl, bool cookieless,
                              struct str *anon_id)
{
    if (anon_id->p && !cookieless)
        return true;
    unsigned char salt[SALT_BYTES];
    enum db_rc rc = day_salt(now_ms, salt);
    if (rc == DB_UNAVAILABLE) {
        http_db_unavailable(c->req, c->resp);
        return false;
    }
    int r = rc == DB_OK ? event_cookieless_id(c->req->arena, salt, cl, anon_id) : -1;
    sodium_memzero(salt, sizeof(salt));
    if (r != 0)
        http_error(c->resp, 500, "internal_error");
    return r == 0;
}

const char *privacy_bot_drop(struct ctx *c, const struct event_client *cl, const struct event_in *ev)
{
    if (!c->cfg->drop_bots)
        return NULL;
    const char *reason = enrich_bot_reason(cl->user_agent);
    if (!reason)
        return NULL;
    const char *property = event_property(c->req->arena, cl, ev);
    const char *params[] = {property, reason, c->cfg->site_time_zone};
    PGresult *res = NULL;
    /* the count is a statistic: failing to bump it never turns the drop into an error */
    if (!property || db_exec(STMT_BOT_DROP, params, &res) != DB_OK)
        log_warn("could not count a dropped bot event (%s)", reason);
    PQclear(res);
    return reason;
}
