/* serve.h - the FastCGI accept loop (the `serve` command lighttpd spawns). */
#ifndef SERVE_H
#define SERVE_H

#include "core/config.h"

/* Runs until lighttpd asks the responder to stop; returns the exit code. */
int serve_main(const struct config *cfg);

#endif
