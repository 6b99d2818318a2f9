/* lighttpd_vars.h - the `lighttpd-vars` command. */
#ifndef LIGHTTPD_VARS_H
#define LIGHTTPD_VARS_H

#include "core/config.h"

/* Prints server.port, var.backend_bin, mod_extforward's trusted proxies, ... for lighttpd.conf on
 * stdout; returns the exit code (1 with the reason on stderr when a value cannot go into the file). */
int print_lighttpd_vars(const struct config *cfg);

#endif
