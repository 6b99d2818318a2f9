/* serve.h - the FastCGI accept loop (the `serve` command lighttpd spawns). */
#ifndef SERVE_H
#define SERVE_H

#include "core/config.h"

/* Runs until lighttpd asks the responder to stop; returns the exit code. */
int serve_main(const struct config *cfg);

/* Maps RUN_DIR/metrics.shm (core/metrics.h) with the route labels' fingerprint, so that the
 * responders and the scheduler share one table. RUN_DIR must pass rundir_check. Returns 0, or -1
 * with the reason logged. */
int serve_metrics_open(const struct config *cfg);

#endif
