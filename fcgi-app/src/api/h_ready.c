/* h_ready.c - GET /v1/readyz: can this responder run a query, and is the schema current? */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/db.h"
#include "api/handlers.h"
#include "core/log.h"
#include "jobs/migrate.h"
#include "core/xalloc.h"

/* The versions on disk as a Postgres text[] literal, built once at start-up (names are
 * [0-9A-Za-z_] only, so no quoting is needed). */
static char *g_disk_versions;
static size_t g_disk_count;

int ready_init(const struct config *cfg)
{
    char **versions = NULL;
    size_t n = 0;
    if (migrate_list_versions(cfg->app_home, &versions, &n) != 0) {
        log_error("cannot read the migrations folder under APP_HOME");
        return -1;
    }
    size_t len = 3;
    for (size_t i = 0; i < n; i++)
        len += strlen(versions[i]) + 1;
    g_disk_versions = xmalloc(len);
    size_t o = 0;
    g_disk_versions[o++] = '{';
    for (size_t i = 0; i < n; i++) {
        size_t k = strlen(versions[i]);
        if (i)
            g_disk_versions[o++] = ',';
        memcpy(g_disk_versions + o, versions[i], k);
        o += k;
    }
    g_disk_versions[o++] = '}';
    g_disk_versions[o] = '\0';
    g_disk_count = n;
    migrate_free_versions(versions, n);
    return 0;
}

void ready_free(void)
{
    free(g_disk_versions);
    g_disk_versions = NULL;
}

void h_readyz(struct ctx *c)
{
    PGresult *res = NULL;
    const char *params[] = {g_disk_versions};
    enum db_rc rc = db_exec(STMT_READY, params, &res);
    if (rc == DB_ERROR && strcmp(db_sqlstate(res), "42P01") == 0) {
        http_error(c->resp, 503, "schema_outdated"); /* schema_migrations does not exist yet */
    } else if (rc != DB_OK) {
        http_db_unavailable(c->req, c->resp);
    } else if (PQgetisnull(res, 0, 0) || strtoul(PQgetvalue(res, 0, 1), NULL, 10) < g_disk_count) {
        http_error(c->resp, 503, "schema_outdated");
    } else {
        http_reply_json(
            c->resp, 200,
            json_pack("{s:b, s:s, s:s}", "ok", 1, "database", "up", "schemaVersion", PQgetvalue(res, 0, 0)));
    }
    PQclear(res);
}
