/* lighttpd_vars.c - the `lighttpd-vars` command: the lighttpd settings derived from the environment,
 * included by lighttpd.conf. */
#include "cmd/lighttpd_vars.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "core/bounds.h"
#include "core/rundir.h"

/* Strings go into lighttpd.conf between double quotes: refuse anything that would escape them. */
static int conf_safe(const char *name, const char *v)
{
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) {
            fprintf(stderr, "config error: %s: must not contain quotes, backslashes or control characters\n",
                    name);
            return -1;
        }
    }
    return 0;
}

int print_lighttpd_vars(const struct config *cfg)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0 || (size_t)n >= sizeof(self) - 1) {
        fprintf(stderr, "lighttpd-vars: cannot resolve the binary's path\n");
        return 1;
    }
    self[n] = '\0';
    char err[256];
    if (rundir_check(cfg->run_dir, false, err, sizeof(err)) != 0) {
        fprintf(stderr, "config error: %s\n", err);
        return 1;
    }
    char home[PATH_MAX];
    if (!realpath(cfg->app_home, home)) {
        fprintf(stderr, "config error: APP_HOME: no such directory\n");
        return 1;
    }
    if (conf_safe("APP_HOME", home) || conf_safe("RUN_DIR", cfg->run_dir) || conf_safe("BACKEND_BIN", self))
        return 1;
    const char *bind = cfg->bind_address; /* an address (config_load), so safe between quotes */
    printf("server.port = %d\n", cfg->port);
    printf("server.bind = \"%s\"\n", bind);
    printf("var.backend_bin = \"%s\"\n", self);
    printf("var.app_home = \"%s\"\n", home);
    printf("var.run_dir = \"%s\"\n", cfg->run_dir);
    printf("var.workers = %d\n", cfg->fcgi_workers);
    printf("server.max-request-size = %ld\n", (cfg->max_body_bytes + 1023) / 1024 + LIGHTTPD_BODY_SLACK_KB);
    /* The metrics listener: lighttpd.conf includes metrics.conf (a second socket that serves only
     * /metrics) or, with METRICS_PORT=0, metrics-off.conf (nothing). An IPv6 address is bracketed. */
    bool v6 = strchr(cfg->metrics_bind_address, ':') != NULL;
    printf("var.metrics_socket = \"%s%s%s:%d\"\n", v6 ? "[" : "", cfg->metrics_bind_address, v6 ? "]" : "",
           cfg->metrics_port);
    printf("var.metrics_conf = \"%s/lighttpd/%s\"\n", home,
           cfg->metrics_port ? "metrics.conf" : "metrics-off.conf");
    if (cfg->trusted_count > 0 && cfg->client_ip_header) {
        /* Only these peers may set the client address, and only through the one header the
         * deployment's proxy controls: a second header would pass through from the client
         * (Fly-Client-IP behind another proxy, X-Forwarded-For's left part on Fly). */
        if (conf_safe("CLIENT_IP_HEADER", cfg->client_ip_header))
            return 1;
        printf("server.modules += (\"mod_extforward\")\n");
        printf("extforward.headers = (\"%s\")\n", cfg->client_ip_header);
        printf("extforward.forwarder = (");
        int first = 1;
        for (size_t i = 0; i < cfg->trusted_count; i++) {
            /* mod_extforward refuses a /0 mask: the two /1 halves are the same range */
            struct trusted_net half[2] = {cfg->trusted[i], cfg->trusted[i]};
            int parts = cfg->trusted[i].prefix == 0 ? 2 : 1;
            if (parts == 2) {
                half[0].prefix = half[1].prefix = 1;
                half[1].addr[0] = 0x80;
            }
            for (int k = 0; k < parts; k++) {
                char net[INET6_ADDRSTRLEN + 8];
                if (config_format_trusted_net(&half[k], net, sizeof(net)) != 0) {
                    fprintf(stderr, "config error: TRUSTED_PROXIES: cannot format an entry\n");
                    return 1;
                }
                printf("%s\"%s\" => \"trust\"", first ? "" : ", ", net);
                first = 0;
            }
        }
        printf(")\n");
    }
    return 0;
}
