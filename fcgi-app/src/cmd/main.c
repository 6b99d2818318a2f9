/* main.c - one binary, several commands: a static command table (like the route table), the
 * environment loaded once into the config, then the command's function. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/lighttpd_vars.h"
#include "cmd/serve.h"
#include "core/config.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/rundir.h"
#include "jobs/migrate.h"
#include "jobs/rollups.h"
#include "jobs/scheduler.h"

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

static int cmd_check_config(const struct config *cfg, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    char err[256];
    /* RUN_DIR may not exist yet (entrypoint.sh and run.sh create it after this check) */
    if (rundir_check(cfg->run_dir, true, err, sizeof(err)) != 0) {
        fprintf(stderr, "config error: %s\n", err);
        return 1;
    }
    config_print(cfg, STDOUT_FILENO);
    printf("configuration OK\n");
    return 0;
}

static int cmd_lighttpd_vars(const struct config *cfg, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return print_lighttpd_vars(cfg);
}

/* argc/argv start at the command's name, so a command sees its own arguments from argv[1]. */
struct command {
    const char *name;
    int (*run)(const struct config *cfg, int argc, char **argv);
    const char *help; /* the usage line, in this order */
};

static const struct command COMMANDS[] = {
    {"serve", cmd_serve, "  serve           FastCGI responder (spawned by lighttpd)\n"},
    {"migrate", migrate_main, "  migrate [status] apply pending migrations / list them\n"},
    {"rollups", rollups_main,
     "  rollups run | backfill | status | discrepancy   daily rollups (see README)\n"},
    {"retention", retention_main, "  retention purge delete raw events older than RETENTION_DAYS\n"},
    {"scheduler", scheduler_main, "  scheduler       run rollups and the purge on their schedule\n"},
    {"check-config", cmd_check_config,
     "  check-config    validate the environment and print it, secrets redacted\n"},
    {"lighttpd-vars", cmd_lighttpd_vars,
     "  lighttpd-vars   print the lighttpd settings derived from the environment\n"},
};

static void usage(FILE *f)
{
    fputs("usage: backend COMMAND\n", f);
    for (size_t i = 0; i < ARRAY_LEN(COMMANDS); i++)
        fputs(COMMANDS[i].help, f);
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 1 : 0;
    }
    const char *name = argv[1];
    const struct command *cmd = NULL;
    for (size_t i = 0; i < ARRAY_LEN(COMMANDS) && !cmd; i++)
        if (strcmp(name, COMMANDS[i].name) == 0)
            cmd = &COMMANDS[i];
    if (!cmd) {
        fprintf(stderr, "backend: unknown command '%s'\n", name);
        usage(stderr);
        return 1;
    }

    static struct config cfg;
    char err[256];
    if (config_load(&cfg, env_get, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "config error: %s\n", err);
        return 1;
    }
    log_set_level(cfg.log_level);
    log_set_component(name);
    if (hash_init() != 0) {
        fprintf(stderr, "backend: libsodium failed to initialise\n");
        return 1;
    }
    int rc = cmd->run(&cfg, argc - 1, argv + 1);
    config_free(&cfg);
    return rc;
}
