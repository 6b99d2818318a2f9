/* cors.h - the Origin allowlist (API.md §2, CORS) and the Origin check on writes. */
#ifndef CORS_H
#define CORS_H

#include "core/config.h"
#include "http/http.h"

/* Response headers a page on an allowed origin may read (Access-Control-Expose-Headers). */
#define CORS_EXPOSE_HEADERS "Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset"

bool cors_origin_allowed(const struct config *cfg, struct str origin);
/* True when Origin is the request's own origin (a page the service serves itself). */
bool cors_origin_is_self(const struct request *req);
/* The Origin check of ENFORCE_ORIGIN: a write (anything but GET/HEAD) carrying an Origin that is
 * neither allowed nor the service's own gets 403 origin_not_allowed (written into resp) and false. */
bool cors_write_allowed_or_reply(const struct config *cfg, struct request *req, struct response *resp);
/* An allowed Origin gets Access-Control-Allow-Origin, -Allow-Credentials, -Expose-Headers and
 * Vary: Origin; others nothing. */
void cors_decorate(const struct config *cfg, struct request *req, struct response *resp);
/* Answers an OPTIONS preflight: 204, 403 origin_not_allowed, or 400 invalid_request. */
void cors_preflight(const struct config *cfg, struct request *req, struct response *resp);

#endif
