/* cors.h - the Origin allowlist (API.md §2, CORS). */
#ifndef CORS_H
#define CORS_H

#include "config.h"
#include "http.h"

bool cors_origin_allowed(const struct config *cfg, struct str origin);
/* An allowed Origin gets Access-Control-Allow-Origin and Vary: Origin; others nothing. */
void cors_decorate(const struct config *cfg, struct request *req, struct response *resp);
/* Answers an OPTIONS preflight: 204, 403 origin_not_allowed, or 400 invalid_request. */
void cors_preflight(const struct config *cfg, struct request *req, struct response *resp);

#endif
