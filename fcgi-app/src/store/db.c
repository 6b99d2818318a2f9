/* db.c - one libpq connection per responder. Every wait is bounded by a deadline (poll on the
 * socket, never a blocking libpq call), so a stopped, hung or unreachable Postgres becomes a
 * 503 within the request budget and the responder reconnects by itself afterwards.
 *
 * DATABASE_STATEMENTS=unnamed (the default): the connection keeps no session state, so it works
 * through a transaction pooler (PgBouncer on Fly Managed Postgres), where consecutive
 * transactions run on different server connections: each statement is unnamed and goes in one
 * pipeline after its settings (SQL_TX_SETTINGS, local to the implicit transaction that ends at
 * the pipeline's sync), in one round trip.
 * DATABASE_STATEMENTS=prepared: settings for the session and named statements prepared at
 * connect, cheaper for Postgres, for a direct connection or a session-mode pooler only. */
#include "store/db.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/bounds.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "store/pgjob.h"

static const struct config *g_cfg;
static PGconn *g_conn;
static int64_t g_connected_at_ms;
static int64_t g_last_used_ms;
static int64_t g_breaker_until_ms;
static int64_t g_deadline_ms;
/* A statement whose table or function does not exist yet (migrations pending) is prepared
 * later, on first use, instead of failing the whole connection. */
static bool g_prepared[STMT_COUNT];
/* SQL_TX_SETTINGS' parameters: schema, statement_timeout, idle_in_transaction_session_timeout,
 * the webhook options (every capture's transaction tells migrations/0014's trigger) */
static char g_stmt_to[16], g_idle_to[16];
static const char *g_settings[SQL_SETTINGS_NPARAMS];

void db_init(const struct config *cfg)
{
    g_cfg = cfg;
    snprintf(g_stmt_to, sizeof(g_stmt_to), "%d", DB_STATEMENT_TIMEOUT_MS);
    snprintf(g_idle_to, sizeof(g_idle_to), "%d", DB_IDLE_IN_TX_TIMEOUT_MS);
    g_settings[0] = cfg->database_schema;
    g_settings[1] = g_stmt_to;
    g_settings[2] = g_idle_to;
    g_settings[3] = cfg->webhook_tx_setting ? cfg->webhook_tx_setting : "";
    g_deadline_ms = clock_mono_ms() + DB_CONNECT_TIMEOUT_MS + DB_STATEMENT_TIMEOUT_MS;
}

static bool g_streaming;       /* a db_stream_open'd statement has rows still to read */
static bool g_stream_pipeline; /* ... sent in a pipeline (unnamed), whose sync is still to read */
static int64_t g_stream_deadline;
static PGresult *g_stream_first; /* the first answer, read by db_stream_open, not yet handed out */

void db_begin_request(int budget_ms)
{
    db_stream_close(); /* a stream the last response never read (its client was gone) */
    g_deadline_ms = clock_mono_ms() + budget_ms;
}

const char *db_sqlstate(const PGresult *res)
{
    const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return s ? s : "";
}

static void drop_connection(const char *why)
{
    if (g_conn) {
        log_warn("database connection dropped: %s", why);
        PQfinish(g_conn);
    }
    g_conn = NULL;
}

/* A planned replacement between requests: nothing is lost, so it is not a warning. */
static void recycle_connection(const char *why)
{
    log_info("database connection recycled after %s; reconnecting", why);
    PQfinish(g_conn);
    g_conn = NULL;
}

void db_close(void)
{
    if (g_conn)
        PQfinish(g_conn);
    g_conn = NULL;
}

/* Waits until the socket is ready for ev or the deadline passes. 1 ready, 0 timeout, -1 error. */
static int wait_socket(PGconn *c, short ev, int64_t deadline)
{
    int fd = PQsocket(c);
    if (fd < 0)
        return -1;
    for (;;) {
        int64_t left = deadline - clock_mono_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {fd, ev, 0};
        int r = poll(&p, 1, (int)left);
        if (r > 0)
            return 1;
        if (r == 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

static bool result_ok(const PGresult *r)
{
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

static int64_t deadline_for(int op_ms)
{
    int64_t d = clock_mono_ms() + op_ms;
    return d < g_deadline_ms ? d : g_deadline_ms;
}

/* Collects the results of the query just sent; keeps the last one. NULL on timeout/loss. */
static PGresult *wait_result(PGconn *c, int64_t deadline)
{
    PGresult *last = NULL;
    for (;;) {
        while (PQisBusy(c)) {
            if (wait_socket(c, POLLIN, deadline) != 1 || !PQconsumeInput(c)) {
                PQclear(last);
                return NULL;
            }
        }
        PGresult *r = PQgetResult(c);
        if (!r)
            return last;
        PQclear(last);
        last = r;
    }
}

/* Sends what libpq has queued in non-blocking mode. false on timeout/loss. */
static bool flush_all(PGconn *c, int64_t deadline)
{
    for (;;) {
        int f = PQflush(c);
        if (f == 0)
            return true;
        if (f < 0 || wait_socket(c, POLLOUT, deadline) != 1)
            return false;
    }
}

/* Sends a flush-pending query in non-blocking mode and waits. NULL on timeout/loss. */
static PGresult *finish_send(PGconn *c, int64_t deadline)
{
    return flush_all(c, deadline) ? wait_result(c, deadline) : NULL;
}

/* Collects the results of a pipeline of two queries (the settings, the statement) and its sync.
 * Returns the statement's last result, or the settings' error when they failed (the statement is
 * then skipped by the server); NULL on timeout or loss. Leaves pipeline mode. */
static PGresult *finish_pipeline(PGconn *c, int64_t deadline)
{
    if (!flush_all(c, deadline))
        return NULL;
    PGresult *out = NULL;
    int ended = 0; /* queries whose results are all read; a NULL from PQgetResult ends one */
    for (;;) {
        while (PQisBusy(c)) {
            if (wait_socket(c, POLLIN, deadline) != 1 || !PQconsumeInput(c)) {
                PQclear(out);
                return NULL;
            }
        }
        PGresult *r = PQgetResult(c);
        if (!r) {
            if (PQstatus(c) != CONNECTION_OK || ++ended > 2)
                break; /* lost: no sync will come */
            continue;
        }
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            break;
        }
        if (st == PGRES_PIPELINE_ABORTED || (ended == 0 && st == PGRES_TUPLES_OK)) {
            PQclear(r); /* skipped after an error, or the settings' row */
            continue;
        }
        PQclear(out);
        out = r;
    }
    if (PQstatus(c) != CONNECTION_OK || !PQexitPipelineMode(c)) {
        /* the caller sees a lost connection: an error result on a bad connection, or NULL */
        if (PQstatus(c) == CONNECTION_OK) {
            PQclear(out);
            out = NULL;
        }
    }
    return out;
}

/* Prepares statement i. Returns DB_OK, DB_ERROR with *failed set (caller PQclear()s) when the
 * server refused it, or DB_UNAVAILABLE. */
static enum db_rc prepare_one(PGconn *c, int i, PGresult **failed)
{
    const struct stmt_def *s = &SQL_STMTS[i];
    *failed = NULL;
    if (!PQsendPrepare(c, s->name, sql_text((enum stmt_id)i), s->nparams, NULL))
        return DB_UNAVAILABLE;
    PGresult *r = finish_send(c, deadline_for(DB_STATEMENT_TIMEOUT_MS));
    if (result_ok(r)) {
        PQclear(r);
        g_prepared[i] = true;
        return DB_OK;
    }
    if (!r || PQstatus(c) != CONNECTION_OK) {
        PQclear(r);
        return DB_UNAVAILABLE;
    }
    log_warn("prepare %s failed: %s", s->name, db_sqlstate(r));
    *failed = r;
    return DB_ERROR;
}

/* DATABASE_STATEMENTS=prepared: the session's settings, then every statement prepared (in the
 * session's search_path). Unnamed: nothing, the settings travel with each statement. False when
 * the connection failed. */
static bool setup_session(PGconn *c)
{
    for (int i = 0; i < STMT_COUNT; i++)
        g_prepared[i] = false;
    if (g_cfg->db_statements != DB_STATEMENTS_PREPARED)
        return true;
    if (!PQsendQueryParams(c, SQL_SESSION_SETUP, SQL_SETTINGS_NPARAMS, NULL, g_settings, NULL, NULL, 0))
        return false;
    PGresult *r = finish_send(c, deadline_for(DB_STATEMENT_TIMEOUT_MS));
    bool ok = result_ok(r);
    PQclear(r);
    for (int i = 0; ok && i < STMT_COUNT; i++) {
        PGresult *failed = NULL;
        enum db_rc rc = prepare_one(c, i, &failed);
        PQclear(failed);
        ok = rc != DB_UNAVAILABLE;
    }
    return ok;
}

static enum db_rc connect_now(void)
{
    char ct[16], tut[16], app[32];
    snprintf(ct, sizeof(ct), "%d", (DB_CONNECT_TIMEOUT_MS + 999) / 1000 + 1);
    snprintf(tut, sizeof(tut), "%d", DB_TCP_USER_TIMEOUT_MS);
    snprintf(app, sizeof(app), "backend-%d", (int)getpid());
    /* client_encoding: request text is UTF-8, whatever PGCLIENTENCODING or the database says */
    const char *keys[] = {"dbname",           "connect_timeout",
                          "tcp_user_timeout", "keepalives",
                          "keepalives_idle",  "keepalives_interval",
                          "keepalives_count", "application_name",
                          "client_encoding",  NULL};
    const char *vals[] = {g_cfg->database_url, ct, tut, "1", "30", "10", "3", app, "UTF8", NULL};
    int64_t deadline = deadline_for(DB_CONNECT_TIMEOUT_MS);

    PGconn *c = PQconnectStartParams(keys, vals, 1);
    if (!c)
        return DB_UNAVAILABLE;
    PostgresPollingStatusType ps = PGRES_POLLING_WRITING;
    while (PQstatus(c) != CONNECTION_BAD && ps != PGRES_POLLING_OK && ps != PGRES_POLLING_FAILED) {
        short ev = ps == PGRES_POLLING_READING ? POLLIN : POLLOUT;
        if (wait_socket(c, ev, deadline) != 1)
            break;
        ps = PQconnectPoll(c);
    }
    if (ps != PGRES_POLLING_OK || PQstatus(c) != CONNECTION_OK) {
        char msg[600];
        pgjob_describe_error(msg, sizeof(msg), "database connect failed",
                             PQstatus(c) == CONNECTION_BAD ? PQerrorMessage(c) : "timed out",
                             g_cfg->database_url);
        log_repeat_msg(log_outage(), LOG_WARN, "%s", msg);
        PQfinish(c);
        metrics_db_connect(false);
        return DB_UNAVAILABLE;
    }
    if (PQsetnonblocking(c, 1) != 0 || !setup_session(c)) {
        log_repeat_msg(log_outage(), LOG_WARN, "database session setup failed");
        PQfinish(c);
        metrics_db_connect(false);
        return DB_UNAVAILABLE;
    }
    metrics_db_connect(true);
    g_conn = c;
    g_connected_at_ms = g_last_used_ms = clock_mono_ms();
    unsigned left_out = log_repeat_take(log_outage());
    if (left_out > 0)
        log_info("database connected; %u lines about the outage were not logged", left_out);
    else
        log_info("database connected");
    return DB_OK;
}

/* True when the server has closed the idle connection c: a healthy server sends nothing while no
 * statement is in flight, so a readable socket means the end of the stream (often after a FATAL
 * message such as 57P01 at a restart), an error, or, rarely, a notice (consumed and ignored).
 * Nothing is sent here: a statement sent on a new connection afterwards runs exactly once. */
static bool idle_conn_closed(PGconn *c)
{
    int fd = PQsocket(c);
    if (fd < 0)
        return true;
    for (int i = 0; i < DB_IDLE_CHECK_READS; i++) {
        struct pollfd p = {fd, POLLIN | POLLRDHUP, 0};
        int r = poll(&p, 1, 0);
        if (r < 0)
            return errno != EINTR;
        if (r == 0)
            return false;
        if (p.revents & (POLLERR | POLLHUP | POLLNVAL | POLLRDHUP))
            return true;
        if (!PQconsumeInput(c) || PQstatus(c) != CONNECTION_OK)
            return true;
    }
    return false;
}

enum db_rc db_ensure(void)
{
    int64_t now = clock_mono_ms();
    if (g_conn && PQstatus(g_conn) == CONNECTION_OK && PQtransactionStatus(g_conn) == PQTRANS_IDLE &&
        idle_conn_closed(g_conn)) {
        drop_connection("closed by the server while idle (Postgres restarted or ended the session); "
                        "nothing was sent on it, reconnecting");
    }
    if (g_conn && PQstatus(g_conn) == CONNECTION_OK) {
        /* recycled here, before anything of this request is sent, so no request fails for it */
        if (PQtransactionStatus(g_conn) != PQTRANS_IDLE)
            drop_connection("left inside a transaction");
        /* idle first: when both are due, the idle period is the reason worth reporting */
        else if (now - g_last_used_ms >= (int64_t)g_cfg->db_max_idle_s * 1000)
            recycle_connection("being idle for DATABASE_MAX_IDLE_SECONDS");
        else if (now - g_connected_at_ms >= (int64_t)g_cfg->db_max_lifetime_s * 1000)
            recycle_connection("its maximum lifetime (DATABASE_MAX_LIFETIME_SECONDS)");
        else
            return DB_OK;
    } else if (g_conn) {
        drop_connection("connection is bad");
    }
    if (now < g_breaker_until_ms)
        return DB_UNAVAILABLE;
    enum db_rc rc = connect_now();
    /* A refused connection fails in microseconds: try again on the next request, so the first
     * request after Postgres is back succeeds. Only a slow failure (a blackholed or hung server)
     * opens the breaker, so that requests do not each wait out the connect timeout. */
    if (rc != DB_OK && clock_mono_ms() - now >= DB_BREAKER_SLOW_CONNECT_MS)
        g_breaker_until_ms = clock_mono_ms() + DB_BREAKER_MS;
    return rc;
}

/* SQLSTATEs that mean "the database, not this statement": 08 connection, 57P0x shutdown or
 * starting, 53 resources, 57014 statement timeout, 25006 read-only standby after a failover. */
static bool is_unavailable_state(const char *st)
{
    return strncmp(st, "08", 2) == 0 || strncmp(st, "57P0", 4) == 0 || strncmp(st, "53", 2) == 0 ||
           strcmp(st, "57014") == 0 || strcmp(st, "25006") == 0 || strcmp(st, "26000") == 0;
}

/* Runs statement id once: prepared, or unnamed after its settings in one pipeline. *sent tells
 * whether the statement itself may have reached the server: false when the connection failed
 * while preparing it or libpq refused to queue it, so running it again cannot run it twice. */
static PGresult *run_once(enum stmt_id id, const char *const *values, bool *sent)
{
    const struct stmt_def *s = &SQL_STMTS[id];
    bool prepared = g_cfg->db_statements == DB_STATEMENTS_PREPARED;
    *sent = false;
    if (prepared) {
        if (!g_prepared[id]) {
            PGresult *failed = NULL;
            enum db_rc rc = prepare_one(g_conn, (int)id, &failed);
            if (rc != DB_OK)
                return failed; /* NULL when the connection failed */
        }
        if (!PQsendQueryPrepared(g_conn, s->name, s->nparams, values, NULL, NULL, 0))
            return NULL;
        *sent = true;
        return finish_send(g_conn, deadline_for(DB_STATEMENT_TIMEOUT_MS + 300));
    }
    if (!PQenterPipelineMode(g_conn))
        return NULL;
    if (!PQsendQueryParams(g_conn, SQL_TX_SETTINGS, SQL_SETTINGS_NPARAMS, NULL, g_settings, NULL, NULL, 0))
        return NULL;
    if (!PQsendQueryParams(g_conn, sql_text(id), s->nparams, NULL, values, NULL, NULL, 0) ||
        !PQpipelineSync(g_conn))
        return NULL;
    *sent = true;
    return finish_pipeline(g_conn, deadline_for(DB_STATEMENT_TIMEOUT_MS + 300));
}

static enum db_rc exec_with_retry(enum stmt_id id, const char *const *values, PGresult **out);

enum db_rc db_exec(enum stmt_id id, const char *const *values, PGresult **out)
{
    enum db_rc rc = exec_with_retry(id, values, out);
    if (rc != DB_OK)
        metrics_db_error(rc == DB_ERROR ? MDB_STATEMENT : MDB_UNAVAILABLE);
    return rc;
}

static enum db_rc exec_with_retry(enum stmt_id id, const char *const *values, PGresult **out)
{
    *out = NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        enum db_rc rc = db_ensure();
        if (rc != DB_OK)
            return rc;
        bool sent = false;
        PGresult *r = run_once(id, values, &sent);
        g_last_used_ms = clock_mono_ms();
        if (result_ok(r)) {
            *out = r;
            return DB_OK;
        }
        char st[6];
        snprintf(st, sizeof(st), "%s", db_sqlstate(r)); /* outlives PQclear(r) */
        if (r && PQstatus(g_conn) == CONNECTION_OK && !is_unavailable_state(st)) {
            log_error("statement %s failed: %s", SQL_STMTS[id].name, st);
            *out = r;
            return DB_ERROR;
        }
        if (!r && PQstatus(g_conn) == CONNECTION_OK) {
            /* no answer before the deadline on a live socket: the server hangs. Refuse at once for
             * a moment rather than make the requests queued behind this one wait out a connect. */
            g_breaker_until_ms = clock_mono_ms() + DB_BREAKER_MS;
        }
        /* the connection is gone or the server is going away: reconnect, and send again what never
         * reached the server, or what is safe to run twice. A statement that was sent and got no
         * answer may have committed: a capture, unsubscribe or delete then stays a 503. */
        bool lost = !r || PQstatus(g_conn) != CONNECTION_OK || strcmp(st, "26000") == 0 ||
                    strncmp(st, "57P0", 4) == 0;
        bool retry = lost && (!sent || SQL_STMTS[id].retry_safe);
        PQclear(r);
        char why[160];
        if (!sent)
            snprintf(why, sizeof(why), "%s before %s was sent (preparing it or queueing it); %s",
                     st[0] ? st : "lost", SQL_STMTS[id].name, retry ? "reconnecting to send it" : "not sent");
        else
            snprintf(why, sizeof(why), "%s during %s%s", st[0] ? st : "no answer before the deadline",
                     SQL_STMTS[id].name, retry ? "; safe to repeat, sending it again" : "; not repeated");
        drop_connection(why);
        if (!retry)
            return DB_UNAVAILABLE;
    }
    return DB_UNAVAILABLE;
}

/* Reads the rest of a finished stream's pipeline: the statement's end (NULL) and the sync. */
static bool stream_finish_pipeline(PGconn *c)
{
    if (!g_stream_pipeline)
        return true;
    for (;;) {
        while (PQisBusy(c)) {
            if (wait_socket(c, POLLIN, g_stream_deadline) != 1 || !PQconsumeInput(c))
                return false;
        }
        PGresult *r = PQgetResult(c);
        if (!r) {
            if (PQstatus(c) != CONNECTION_OK)
                return false;
            continue; /* the end of the statement's results */
        }
        ExecStatusType st = PQresultStatus(r);
        PQclear(r);
        if (st == PGRES_PIPELINE_SYNC)
            break;
    }
    g_stream_pipeline = false;
    return PQexitPipelineMode(c) == 1;
}

/* The statement's next result in single-row mode, waiting until g_stream_deadline; NULL when the
 * connection was lost or the deadline passed. */
static PGresult *stream_result(PGconn *c)
{
    while (PQisBusy(c)) {
        if (wait_socket(c, POLLIN, g_stream_deadline) != 1 || !PQconsumeInput(c))
            return NULL;
    }
    return PQgetResult(c);
}

/* Sends statement id for single-row reading. Returns its first result (a row, the end, or an
 * error; NULL when the connection failed or timed out) and sets *sent as run_once does. */
static PGresult *stream_send(enum stmt_id id, const char *const *values, bool *sent)
{
    const struct stmt_def *s = &SQL_STMTS[id];
    *sent = false;
    g_stream_pipeline = false;
    if (g_cfg->db_statements == DB_STATEMENTS_PREPARED) {
        if (!g_prepared[id]) {
            PGresult *failed = NULL;
            if (prepare_one(g_conn, (int)id, &failed) != DB_OK)
                return failed;
        }
        if (!PQsendQueryPrepared(g_conn, s->name, s->nparams, values, NULL, NULL, 0))
            return NULL;
        *sent = true;
        if (!PQsetSingleRowMode(g_conn))
            return NULL;
    } else {
        if (!PQenterPipelineMode(g_conn))
            return NULL;
        g_stream_pipeline = true;
        if (!PQsendQueryParams(g_conn, SQL_TX_SETTINGS, SQL_SETTINGS_NPARAMS, NULL, g_settings, NULL, NULL,
                               0) ||
            !PQsendQueryParams(g_conn, sql_text(id), s->nparams, NULL, values, NULL, NULL, 0) ||
            !PQpipelineSync(g_conn))
            return NULL;
        *sent = true;
    }
    for (;;) {
        int f = PQflush(g_conn);
        if (f == 0)
            break;
        if (f < 0 || wait_socket(g_conn, POLLOUT, g_stream_deadline) != 1)
            return NULL;
    }
    if (g_stream_pipeline) {
        /* the settings' row and end; single-row mode is then set for the statement, which is the
         * query libpq is now reading (libpq: "before retrieving results with PQgetResult") */
        PGresult *r = stream_result(g_conn);
        if (!r || PQresultStatus(r) != PGRES_TUPLES_OK)
            return r; /* an error: the statement is skipped (aborted), the caller drains */
        PQclear(r);
        r = stream_result(g_conn);
        if (r) {
            PQclear(r);
            return NULL; /* a second result of the settings: not the protocol we know */
        }
        if (PQstatus(g_conn) != CONNECTION_OK || !PQsetSingleRowMode(g_conn))
            return NULL;
    }
    return stream_result(g_conn);
}

enum db_rc db_stream_open(enum stmt_id id, const char *const *values, PGresult **failed)
{
    *failed = NULL;
    db_stream_close();
    for (int attempt = 0; attempt < 2; attempt++) {
        enum db_rc rc = db_ensure();
        if (rc != DB_OK) {
            metrics_db_error(MDB_UNAVAILABLE);
            return rc;
        }
        g_stream_deadline = deadline_for(DB_STATEMENT_TIMEOUT_MS + 300);
        bool sent = false;
        PGresult *r = stream_send(id, values, &sent);
        g_last_used_ms = clock_mono_ms();
        ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
        if (st == PGRES_SINGLE_TUPLE || st == PGRES_TUPLES_OK) {
            /* kept for the first db_stream_next, so the caller reads every row the same way */
            g_streaming = true;
            g_stream_first = r;
            return DB_OK;
        }
        char sqlstate[6];
        snprintf(sqlstate, sizeof(sqlstate), "%s", db_sqlstate(r));
        if (r && PQstatus(g_conn) == CONNECTION_OK && !is_unavailable_state(sqlstate)) {
            log_error("statement %s failed: %s", SQL_STMTS[id].name, sqlstate);
            /* the rest of the protocol (the error's end, the sync) before the next statement */
            bool clean = stream_result(g_conn) == NULL && stream_finish_pipeline(g_conn);
            if (!clean)
                drop_connection("the failed stream did not end cleanly");
            metrics_db_error(MDB_STATEMENT);
            *failed = r;
            return DB_ERROR;
        }
        PQclear(r);
        char why[160];
        snprintf(why, sizeof(why), "%s during %s%s", sqlstate[0] ? sqlstate : "no answer before the deadline",
                 SQL_STMTS[id].name, attempt == 0 ? "; a read, sending it again" : "");
        g_stream_pipeline = false;
        drop_connection(why);
        (void)sent; /* every streamed statement is a read: safe to send again whatever reached the server */
    }
    metrics_db_error(MDB_UNAVAILABLE);
    return DB_UNAVAILABLE;
}

enum db_rc db_stream_next(PGresult **row)
{
    *row = NULL;
    if (!g_streaming)
        return DB_OK;
    PGresult *r = g_stream_first;
    g_stream_first = NULL;
    if (!r)
        r = stream_result(g_conn);
    g_last_used_ms = clock_mono_ms();
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_SINGLE_TUPLE) {
        *row = r;
        return DB_OK;
    }
    if (st == PGRES_TUPLES_OK) {
        /* the end: the statement's last (empty) result, then its NULL and the pipeline's sync */
        PQclear(r);
        g_streaming = false;
        if (stream_result(g_conn) != NULL || !stream_finish_pipeline(g_conn))
            drop_connection("a stream did not end cleanly");
        return DB_OK;
    }
    char sqlstate[6];
    snprintf(sqlstate, sizeof(sqlstate), "%s", db_sqlstate(r));
    bool unavailable = !r || PQstatus(g_conn) != CONNECTION_OK || is_unavailable_state(sqlstate);
    PQclear(r);
    char why[160];
    snprintf(why, sizeof(why), "%s while streaming rows",
             sqlstate[0] ? sqlstate : "no answer before the deadline");
    g_streaming = false;
    g_stream_pipeline = false;
    drop_connection(why);
    metrics_db_error(unavailable ? MDB_UNAVAILABLE : MDB_STATEMENT);
    return unavailable ? DB_UNAVAILABLE : DB_ERROR;
}

void db_stream_close(void)
{
    PQclear(g_stream_first);
    g_stream_first = NULL;
    if (!g_streaming)
        return;
    g_streaming = false;
    g_stream_pipeline = false;
    /* unread rows may be many: ending the connection is bounded, draining them is not. Planned (a
     * HEAD request, a client that left), so not a warning. */
    log_info("a streamed statement was abandoned before its last row; reconnecting");
    PQfinish(g_conn);
    g_conn = NULL;
}
