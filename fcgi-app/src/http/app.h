/* app.h - one request through the pipeline: preflight, route, rate limit, auth, body, handler. */
#ifndef APP_H
#define APP_H

#include <time.h>

#include "core/config.h"
#include "http/http.h"

/* Fills resp for req. req must have been through http_parse_request(). now is wall time, for
 * the rate-limit window. What the response carries is the caller's afterwards (http_response_free). */
void app_handle(const struct config *cfg, struct request *req, struct response *resp, time_t now);

#endif
