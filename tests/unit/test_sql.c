/* test_sql.c - store/sql.c: the call texts rendered from core/sqlfn.h, and the statement table. */
#include <stdio.h>
#include <string.h>

#include "core/bounds.h"
#include "core/sqlfn.h"
#include "store/sql.h"
#include "t.h"

/* Highest $N in s. */
static int max_placeholder(const char *s)
{
    int max = 0;
    for (const char *p = strchr(s, '$'); p; p = strchr(p + 1, '$')) {
        int n = 0;
        for (const char *q = p + 1; *q >= '0' && *q <= '9'; q++)
            n = n * 10 + (*q - '0');
        if (n > max)
            max = n;
    }
    return max;
}

static void test_call_texts(void)
{
    CHECK_STR(sql_call_text(SQLFN_ROLLUP_DAY),
              "SELECT * FROM rollup_day($1::text, $2::date, $3::boolean, $4::text)");
    CHECK_STR(sql_call_text(SQLFN_DELETE_LEAD), "SELECT lead_found FROM delete_lead($1::text, $2::text)");
    CHECK_STR(sql_call_text(SQLFN_RETENTION_PURGE),
              "SELECT events_deleted, sessions_deleted, visitors_deleted "
              "FROM retention_purge($1::timestamp(3))");
    const char *ie = sql_call_text(SQLFN_INGEST_EVENT);
    static const char ie_head[] =
        "SELECT event_id, visitor_id, session_id, deduplicated FROM ingest_event($1::text, "
        "$2::timestamp(3), ";
    CHECK(strncmp(ie, ie_head, sizeof(ie_head) - 1) == 0);
    CHECK(strstr(ie, "$21::\"TrafficSource\", $22::\"DeviceType\", $23::text") != NULL);
    /* every function: as many placeholders as parameters, and the text fits its bound */
    for (int i = 0; i < SQLFN_COUNT; i++) {
        const char *t = sql_call_text((enum sqlfn_id)i);
        CHECK_INT(max_placeholder(t), SQLFNS[i].nparams);
        CHECK(strlen(t) < SQL_CALL_TEXT_MAX);
        CHECK(sql_call_text((enum sqlfn_id)i) == t); /* rendered once */
    }
}

static void test_statements(void)
{
    for (int i = 0; i < STMT_COUNT; i++) {
        const char *t = sql_text((enum stmt_id)i);
        CHECK(strncmp(t, "SELECT", 6) == 0 || strncmp(t, "INSERT", 6) == 0 || strncmp(t, "WITH", 4) == 0);
        CHECK_INT(max_placeholder(t), SQL_STMTS[i].nparams);
        if (SQL_STMTS[i].fn)
            CHECK_INT(SQL_STMTS[i].fn->nparams, SQL_STMTS[i].nparams);
    }
    CHECK(sql_text(STMT_CAPTURE) == sql_call_text(SQLFN_CAPTURE_LEAD));
    CHECK_INT(SQL_STMTS[STMT_CAPTURE].nparams, 39); /* 0012: + wording_version, consent_method */
    CHECK_INT(SQL_STMTS[STMT_INGEST_EVENT].nparams, 26);
}

/* The union's names and .v[] are the same slots, in list order. */
static void test_args(void)
{
    union capture_lead_args a = {.email_normalized = "e", .consent_method = "m"};
    a.event.anon_id = "anon";
    a.event.is_conversion = "true";
    CHECK_STR(a.v[0], "e");
    CHECK_STR(a.v[CAPTURE_LEAD_OWN_NPARAMS - 1], "m");
    CHECK_STR(a.v[CAPTURE_LEAD_OWN_NPARAMS + INGEST_EVENT_anon_id], "anon");
    CHECK_STR(a.v[CAPTURE_LEAD_NPARAMS - 1], "true");
    /* email_domain, source_channel and consent may be NULL; form_name may not */
    CHECK_INT(sqlfn_first_missing(SQLFN_CAPTURE_LEAD, a.v), 4);
}

int main(void)
{
    test_call_texts();
    test_statements();
    test_args();
    return t_done("test_sql");
}
