/* main.c - one binary, several commands: a static command table (like the route table), the
 * environment loaded once into the config, then the command's function. Help, the version and
 * unknown flags are answered before the environment is read, so they work without one. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "cmd/lighttpd_vars.h"
#include "cmd/serve.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/logfilter.h"
#include "core/rundir.h"
#include "core/unsub_token.h"
#include "domain/lead.h"
#include "jobs/migrate.h"
#include "jobs/rollups.h"
#include "jobs/scheduler.h"
#include "core/metrics.h"
#include "store/pgjob.h"
#include "store/sql.h"

/* Baked in by the Makefile (git describe); a build without them still says what it is. */
#ifndef BACKEND_VERSION
#define BACKEND_VERSION "unknown"
#endif
#ifndef BACKEND_REVISION
#define BACKEND_REVISION "unknown"
#endif

/* The exit status of a command line the binary does not understand (as getopt-based tools do). */
#define EXIT_USAGE 2

static const char *env_get(const char *name, void *ctx)
{
    (void)ctx;
    return getenv(name);
}

static int cmd_serve(const struct config *cfg, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return serve_main(cfg);
}

/* The scheduler counts its job outcomes in the responders' metrics table. Without it (RUN_DIR
 * missing: the scheduler run by hand) the jobs still run; only their counts are not kept. */
static int cmd_scheduler(const struct config *cfg, int argc, char **argv)
{
    if (argc == 1 && serve_metrics_open(cfg) != 0)
        log_warn("scheduler: job outcomes are not counted in the metrics");
    int rc = scheduler_main(cfg, argc, argv);
    metrics_close();
    return rc;
}

/* The configured schema must exist: serve never creates it (only migrate does), so a typo in
 * DATABASE_SCHEMA would otherwise show as "relation does not exist" on every request. */
static int check_schema(const struct config *cfg)
{
    char err[JOB_ERR_LEN];
    const char *url_name =
        cfg->direct_database_url != cfg->database_url ? "DIRECT_DATABASE_URL" : "DATABASE_URL";
    PGconn *c = pgjob_connect(cfg, err, sizeof(err));
    if (!c) {
        fprintf(stderr, "config error: %s: %s\n", url_name, err);
        return 1;
    }
    PGresult *r = NULL;
    const char *const params[] = {cfg->database_schema};
    int rc = 1;
    if (pgjob_exec(c, SQL_MIGRATE_HAS_SCHEMA, 1, params, &r, "cannot inspect the database", err,
                   sizeof(err)) != 0)
        fprintf(stderr, "config error: %s: %s\n", url_name, err);
    else if (PQntuples(r) == 0)
        fprintf(stderr,
                "config error: DATABASE_SCHEMA: schema '%.*s' does not exist in the database "
                "(`backend migrate` creates it)\n",
                CONFIG_ECHO_MAX_LEN, cfg->database_schema);
    else
        rc = 0;
    PQclear(r);
    r = NULL;
    /* config_load checked the zone against this machine's tzdata; the rollups also need the
     * database's, which is its own when Postgres was not built with the system's */
    const char *const tz[] = {cfg->site_time_zone};
    if (rc == 0 &&
        pgjob_exec(c, SQL_HAS_TIME_ZONE, 1, tz, &r, "cannot inspect the database", err, sizeof(err)) != 0) {
        fprintf(stderr, "config error: %s: %s\n", url_name, err);
        rc = 1;
    } else if (rc == 0 && PQntuples(r) == 0) {
        fprintf(stderr, "config error: SITE_TIME_ZONE: the database does not know the time zone '%.*s'\n",
                CONFIG_TIME_ZONE_MAX, cfg->site_time_zone);
        rc = 1;
    }
    PQclear(r);
    PQfinish(c);
    return rc;
}

static int cmd_check_config(const struct config *cfg, int argc, char **argv)
{
    /* --offline: the start-up scripts check before migrate has created the schema, and must not
     * depend on the database being reachable at that moment */
    bool offline = argc == 2 && strcmp(argv[1], "--offline") == 0;
    char err[256];
    /* RUN_DIR may not exist yet (entrypoint.sh and run.sh create it after this check) */
    if (rundir_check(cfg->run_dir, true, err, sizeof(err)) != 0) {
        fprintf(stderr, "config error: %s\n", err);
        return 1;
    }
    if (!offline && check_schema(cfg) != 0)
        return 1;
    config_print(cfg, STDOUT_FILENO);
    printf("configuration OK%s\n", offline ? " (database not checked)" : "");
    return 0;
}

static int cmd_lighttpd_vars(const struct config *cfg, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return print_lighttpd_vars(cfg);
}

/* `backend log-filter [COMPONENT]`: needs no environment (it wraps the output of the processes
 * that read it, before and whatever their configuration). It lives as long as its input: SIGINT,
 * SIGTERM and SIGHUP (a ^C, a container stop, a closed terminal) are meant for the programs whose
 * lines it carries, and it must pass on their last lines, so it ends at end of input only. */
static int cmd_log_filter(int argc, char **argv)
{
    const char *component = argc > 1 ? argv[1] : "backend";
    size_t n = strlen(component);
    bool ok = n > 0 && n <= LOG_COMPONENT_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = (component[i] >= 'a' && component[i] <= 'z') || component[i] == '-';
    if (argc > 2) {
        fprintf(stderr, "backend log-filter: unknown argument '%s' (backend log-filter --help)\n", argv[2]);
        return EXIT_USAGE;
    }
    if (!ok) {
        fprintf(
            stderr,
            "backend log-filter: component '%s' must be 1-%d of a-z and '-' (backend log-filter --help)\n",
            component, LOG_COMPONENT_MAX);
        return EXIT_USAGE;
    }
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN); /* a reader that is gone: write fails and we end */
    return logfilter_run(STDIN_FILENO, STDOUT_FILENO, component);
}

/* `backend unsubscribe-url --lead-id=ID | --email=ADDRESS`: prints the signed one-click link of a
 * lead (issue 16), for the operator's mails and for tests. --email looks the lead up (normalised as
 * a capture stores it); an unknown address exits 1 with a message on stderr. */
static int cmd_unsubscribe_url(const struct config *cfg, int argc, char **argv)
{
    const char *lead_id = NULL, *email = NULL;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--lead-id=", 10) == 0 && !lead_id && !email) {
            lead_id = argv[i] + 10;
        } else if (strncmp(argv[i], "--email=", 8) == 0 && !lead_id && !email) {
            email = argv[i] + 8;
        } else {
            fprintf(stderr,
                    "backend unsubscribe-url: unexpected argument '%s' (backend unsubscribe-url --help)\n",
                    argv[i]);
            return EXIT_USAGE;
        }
    }
    if (!lead_id && !email) {
        fputs("backend unsubscribe-url: give --lead-id=ID or --email=ADDRESS\n", stderr);
        return EXIT_USAGE;
    }
    if (!cfg->unsub_keys.has_current) {
        fputs("config error: UNSUBSCRIBE_SECRET: is required to make unsubscribe links\n", stderr);
        return 1;
    }
    char found[UNSUB_LEAD_ID_MAX + 1];
    if (email) {
        struct arena a;
        struct str domain;
        arena_init(&a, ARENA_BLOCK_BYTES); /* one block: an address of at most a few KB */
        struct str norm = lead_email_normalize(&a, str_from_cstr(email), &domain);
        char err[JOB_ERR_LEN];
        PGconn *conn = norm.p ? pgjob_connect(cfg, err, sizeof(err)) : NULL;
        PGresult *r = NULL;
        const char *const params[] = {norm.p};
        int rc = 1;
        if (!conn)
            fprintf(stderr, "backend unsubscribe-url: %s\n", norm.p ? err : "out of memory");
        else if (pgjob_exec(conn, SQL_LEAD_ID_BY_EMAIL, 1, params, &r, "cannot look the lead up", err,
                            sizeof(err)) != 0)
            fprintf(stderr, "backend unsubscribe-url: %s\n", err);
        else if (PQntuples(r) != 1)
            fputs("backend unsubscribe-url: no lead has this address\n", stderr);
        else if (strlen(PQgetvalue(r, 0, 0)) > UNSUB_LEAD_ID_MAX)
            fputs("backend unsubscribe-url: the lead's id is too long to sign\n", stderr);
        else
            rc = 0;
        if (rc == 0)
            snprintf(found, sizeof(found), "%s", PQgetvalue(r, 0, 0));
        PQclear(r);
        if (conn)
            PQfinish(conn);
        arena_free(&a);
        if (rc != 0)
            return 1;
        lead_id = found;
    }
    char url[UNSUB_URL_MAX + 1];
    if (unsub_link_make(cfg, str_from_cstr(lead_id), clock_wall_ms() / 1000, url, sizeof(url)) < 0) {
        fprintf(stderr, "backend unsubscribe-url: a lead id is 1 to %d bytes\n", UNSUB_LEAD_ID_MAX);
        return 1;
    }
    puts(url);
    return 0;
}

/* argc/argv start at the command's name, so a command sees its own arguments from argv[1]. */
struct command {
    const char *name;
    int (*run)(const struct config *cfg, int argc, char **argv);
    const char *summary; /* one line of `backend --help` */
    const char *usage;   /* `backend NAME --help`: the synopsis and what each argument does */
    /* the arguments main checks itself before the environment is read (NULL-terminated; NULL:
     * the command parses its own and names a bad one) */
    const char *const *args;
    /* set instead of run for a command that reads no environment */
    int (*run_plain)(int argc, char **argv);
};

static const char *const NO_ARGS[] = {NULL};
static const char *const CHECK_CONFIG_ARGS[] = {"--offline", NULL};

static const struct command COMMANDS[] = {
    {"serve", cmd_serve, "FastCGI responder (spawned by lighttpd)",
     "usage: backend serve\n"
     "Runs one FastCGI responder on the socket lighttpd passes as fd 0. lighttpd spawns these\n"
     "(lighttpd/lighttpd.conf); start the service with entrypoint.sh or `make run`.\n",
     NO_ARGS, NULL},
    {"migrate", migrate_main, "apply pending migrations / list them",
     "usage: backend migrate [up|status]\n"
     "  up       apply the pending migrations of $APP_HOME/migrations (the default); creates\n"
     "           DATABASE_SCHEMA when it does not exist\n"
     "  status   list the migrations, applied and pending\n",
     NULL, NULL},
    {"rollups", rollups_main, "daily rollups: run | backfill | status | discrepancy",
     "usage: backend rollups run\n"
     "       backend rollups backfill [--from=YYYY-MM-DD] [--to=YYYY-MM-DD] [--property-id=ID]\n"
     "       backend rollups status [--property-id=ID]\n"
     "       backend rollups discrepancy [--from=YYYY-MM-DD] [--to=YYYY-MM-DD] [--property-id=ID]\n"
     "  run          roll up the days since the last run (ROLLUP_BATCH_DAYS at a time)\n"
     "  backfill     recompute the days in the window\n"
     "  status       rows, latest day and its age for one property\n"
     "  discrepancy  compare rollups with the raw events; exit 2 when they differ\n",
     NULL, NULL},
    {"retention", retention_main, "purge: delete raw events older than RETENTION_DAYS",
     "usage: backend retention purge\n"
     "Deletes raw events older than RETENTION_DAYS (the rollups keep their counts).\n",
     NULL, NULL},
    {"scheduler", cmd_scheduler, "run rollups and the purge on their schedule",
     "usage: backend scheduler\n"
     "Runs the rollups every ROLLUP_INTERVAL_MINUTES, today's (and yesterday's until final)\n"
     "every ROLLUP_REFRESH_MINUTES, the cookieless salts and the retention purge daily, until\n"
     "SIGTERM or SIGINT. entrypoint.sh starts it beside lighttpd.\n",
     NO_ARGS, NULL},
    {"check-config", cmd_check_config, "validate the environment and print it, secrets redacted",
     "usage: backend check-config [--offline]\n"
     "Reads the environment, refuses a bad value naming its variable, checks that DATABASE_SCHEMA\n"
     "exists in the database and that the database knows SITE_TIME_ZONE, and prints the effective\n"
     "settings with secrets redacted.\n"
     "  --offline   skip the database (the start-up scripts check before migrate runs)\n",
     CHECK_CONFIG_ARGS, NULL},
    {"unsubscribe-url", cmd_unsubscribe_url, "print a lead's signed one-click unsubscribe link",
     "usage: backend unsubscribe-url --lead-id=ID\n"
     "       backend unsubscribe-url --email=ADDRESS\n"
     "Prints PUBLIC_BASE_URL/v1/leads/unsubscribe?token=... for the lead, signed with\n"
     "UNSUBSCRIBE_SECRET and issued now (valid UNSUBSCRIBE_TOKEN_MAX_AGE_DAYS days). --email looks the\n"
     "lead up in the database; --lead-id does not (the id is signed as given).\n",
     NULL, NULL},
    {"lighttpd-vars", cmd_lighttpd_vars, "print the lighttpd settings derived from the environment",
     "usage: backend lighttpd-vars\n"
     "Prints the lighttpd settings (port, BIND_ADDRESS, workers, trusted proxies) that\n"
     "lighttpd/lighttpd.conf includes.\n",
     NO_ARGS, NULL},
    {"log-filter", NULL, "turn other programs' text lines into JSON log lines (stdin to stdout)",
     "usage: backend log-filter [COMPONENT]\n"
     "Copies stdin to stdout line by line: a JSON log line (an object with \"ts\" and \"level\")\n"
     "passes unchanged; any other line becomes one with ts, level (from its words), component\n"
     "(COMPONENT, default backend; \"lighttpd\" for lighttpd's error log lines, whose source goes\n"
     "in \"src\") and msg. Ends at end of input, not on SIGINT/SIGTERM/SIGHUP. run.sh and\n"
     "entrypoint.sh put lighttpd, the responders and the scheduler behind it.\n",
     NULL, cmd_log_filter},
};

static void usage(FILE *f)
{
    fputs("usage: backend [--help | --version] COMMAND [ARGS]\n"
          "       backend COMMAND --help\n\ncommands:\n",
          f);
    for (size_t i = 0; i < ARRAY_LEN(COMMANDS); i++)
        fprintf(f, "  %-14s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fputs("\nThe configuration comes from the environment (README: Configuration);\n"
          "`backend check-config` validates it.\n",
          f);
}

static bool is_help(const char *a)
{
    return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
}

/* Checks a command's arguments against its table entry before the environment is read.
 * Returns 0, or EXIT_USAGE with the offending argument named on stderr. */
static int check_args(const struct command *cmd, int argc, char **argv)
{
    if (!cmd->args)
        return 0;
    for (int i = 1; i < argc; i++) {
        size_t k = 0;
        while (cmd->args[k] && strcmp(argv[i], cmd->args[k]) != 0)
            k++;
        if (!cmd->args[k]) {
            fprintf(stderr, "backend %s: unknown %s '%s' (backend %s --help)\n", cmd->name,
                    argv[i][0] == '-' ? "flag" : "argument", argv[i], cmd->name);
            return EXIT_USAGE;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "help") == 0 || is_help(name)) {
        usage(stdout);
        return 0;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0) {
        printf("backend %s (revision %s)\n", BACKEND_VERSION, BACKEND_REVISION);
        return 0;
    }
    if (name[0] == '-') {
        fprintf(stderr, "backend: unknown flag '%s' (backend --help)\n", name);
        return EXIT_USAGE;
    }
    const struct command *cmd = NULL;
    for (size_t i = 0; i < ARRAY_LEN(COMMANDS) && !cmd; i++)
        if (strcmp(name, COMMANDS[i].name) == 0)
            cmd = &COMMANDS[i];
    if (!cmd) {
        fprintf(stderr, "backend: unknown command '%s'\n", name);
        usage(stderr);
        return EXIT_USAGE;
    }
    for (int i = 2; i < argc; i++) {
        if (is_help(argv[i])) {
            fputs(cmd->usage, stdout);
            return 0;
        }
    }
    int bad = check_args(cmd, argc - 1, argv + 1);
    if (bad)
        return bad;
    if (cmd->run_plain)
        return cmd->run_plain(argc - 1, argv + 1);

    static struct config cfg;
    char err[256];
    if (config_load(&cfg, env_get, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "config error: %s\n", err);
        return 1;
    }
    log_set_level(cfg.log_level);
    log_set_component(name);
    clock_set_site_zone(cfg.site_time_zone);
    if (hash_init() != 0) {
        fprintf(stderr, "backend: libsodium failed to initialise\n");
        return 1;
    }
    int rc = cmd->run(&cfg, argc - 1, argv + 1);
    config_free(&cfg);
    return rc;
}
