/* pgjob.c - job connections: generous timeouts, UTC, the configured schema. */
#include "store/pgjob.h"

#include <stdio.h>
#include <string.h>

#include "core/bounds.h"
#include "store/sql.h"

/* The non-empty password among parsed options, or NULL. Borrowed from opts. */
static const char *opts_password(const PQconninfoOption *opts)
{
    for (const PQconninfoOption *o = opts; o->keyword; o++) {
        if (strcmp(o->keyword, "password") == 0)
            return o->val && o->val[0] ? o->val : NULL;
    }
    return NULL;
}

/* Writes "<what>: <libpq message>" as one line, leaving the libpq part out when it would reveal
 * the password (it never should, but the message is not ours to trust). */
static void describe(char *err, size_t errlen, const char *what, const char *pqmsg, const char *password)
{
    char one[512];
    size_t n = 0;
    for (const char *p = pqmsg ? pqmsg : ""; *p && n + 2 < sizeof(one); p++) {
        if (*p == '\n') {
            while (p[1] == ' ' || p[1] == '\t')
                p++; /* libpq indents continuation lines */
            if (p[1] != '\0') {
                one[n++] = ';';
                one[n++] = ' ';
            }
        } else {
            one[n++] = (*p == '\r' || *p == '\t') ? ' ' : *p;
        }
    }
    one[n] = '\0';
    if (n == 0 || (password && strstr(one, password)))
        (void)snprintf(err, errlen, "%s", what);
    else
        (void)snprintf(err, errlen, "%s: %s", what, one);
}

PGconn *pgjob_connect(const struct config *cfg, char *err, size_t errlen)
{
    PGconn *c = NULL;
    PGresult *r = NULL;
    char timeout_s[16], stmt_ms[24];
    /* dbname comes first so that the values after it override the same keys in the URL. */
    const char *const keys[] = {"dbname", "connect_timeout", "application_name", "client_encoding", NULL};
    const char *const vals[] = {cfg->direct_database_url, timeout_s, "backend-job", "UTF8", NULL};
    /* a job writes no lead: no webhook options ("") */
    const char *const params[] = {cfg->database_schema, stmt_ms, "0", ""};

    /* config_load() has already checked that the URL parses */
    if (errlen)
        err[0] = '\0';
    (void)snprintf(timeout_s, sizeof(timeout_s), "%d", JOB_CONNECT_TIMEOUT_S);
    (void)snprintf(stmt_ms, sizeof(stmt_ms), "%d", JOB_STATEMENT_TIMEOUT_MS);
    c = PQconnectdbParams(keys, vals, 1);
    if (!c) {
        (void)snprintf(err, errlen, "cannot connect to the database: out of memory");
        goto out;
    }
    if (PQstatus(c) != CONNECTION_OK) {
        pgjob_describe_error(err, errlen,
                             cfg->direct_database_url != cfg->database_url
                                 ? "cannot connect to the database (DIRECT_DATABASE_URL)"
                                 : "cannot connect to the database",
                             PQerrorMessage(c), cfg->direct_database_url);
        goto fail;
    }

    r = PQexecParams(c, SQL_SESSION_SETUP, SQL_SETTINGS_NPARAMS, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        pgjob_describe_error(err, errlen, "cannot set up the database session", PQerrorMessage(c),
                             cfg->direct_database_url);
        goto fail;
    }
    goto out;

fail:
    PQfinish(c);
    c = NULL;
out:
    PQclear(r);
    return c;
}

/* The server's one-line reason for a failed result (primary message), else libpq's, into buf. */
const char *pgjob_reason(const PGresult *r, PGconn *c, char *buf, size_t buflen)
{
    const char *m = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!m || !m[0])
        m = PQerrorMessage(c);
    size_t o = 0;
    for (; *m && o + 1 < buflen; m++) {
        if (*m == '\n' && m[1] == '\0')
            break;
        buf[o++] = (*m == '\n' || *m == '\r') ? ' ' : *m;
    }
    if (buflen)
        buf[o] = '\0';
    return buf;
}

/* Runs one statement (parameters optional). On success returns 0 and, when out is given, the result
 * the caller PQclear-s; on failure writes "<what>: <reason>" into err. */
int pgjob_exec(PGconn *c, const char *sql, int nparams, const char *const *params, PGresult **out,
               const char *what, char *err, size_t errlen)
{
    PGresult *r = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char why[512];
        (void)snprintf(err, errlen, "%s: %s", what, pgjob_reason(r, c, why, sizeof(why)));
        PQclear(r);
        return -1;
    }
    if (out)
        *out = r;
    else
        PQclear(r);
    return 0;
}

void pgjob_describe_error(char *err, size_t errlen, const char *what, const char *pqmsg,
                          const char *database_url)
{
    PQconninfoOption *opts = database_url ? PQconninfoParse(database_url, NULL) : NULL;
    if (!opts) {
        (void)snprintf(err, errlen, "%s", what);
        return;
    }
    describe(err, errlen, what, pqmsg, opts_password(opts));
    PQconninfoFree(opts);
}

int pgjob_try_lock(PGconn *c, const char *key, bool *got, const char *what, char *err, size_t errlen)
{
    PGresult *r = NULL;
    const char *const params[] = {key};
    if (pgjob_exec(c, SQL_JOB_TRY_LOCK, 1, params, &r, what, err, errlen) != 0)
        return -1;
    *got = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    return 0;
}

int pgjob_lock(PGconn *c, const char *key, const char *what, char *err, size_t errlen)
{
    const char *const params[] = {key};
    return pgjob_exec(c, SQL_JOB_LOCK, 1, params, NULL, what, err, errlen);
}

int pgjob_unlock(PGconn *c, const char *key, const char *what, char *err, size_t errlen)
{
    const char *const params[] = {key};
    return pgjob_exec(c, SQL_JOB_UNLOCK, 1, params, NULL, what, err, errlen);
}
