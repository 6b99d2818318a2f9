/* auth.h - the admin key (x-admin-key or Authorization: Bearer), compared in constant time. */
#ifndef AUTH_H
#define AUTH_H

#include "core/config.h"
#include "http/http.h"

/* true when the request carries the admin key; otherwise writes 503 admin_auth_not_configured
 * (no key configured) or 401 unauthorized and returns false. */
bool auth_admin_or_reply(const struct config *cfg, const struct request *req, struct response *resp);

#endif
