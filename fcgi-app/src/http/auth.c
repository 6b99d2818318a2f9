/* auth.c - admin authentication. The presented key is never logged. */
#include "http/auth.h"

#include "core/hash.h"

static struct str bearer_token(struct str authz)
{
    struct str none = {NULL, 0};
    struct str scheme = STRLIT("Bearer ");
    if (!authz.p || authz.n <= scheme.n)
        return none;
    if (!str_eq_nocase((struct str){authz.p, scheme.n}, scheme))
        return none;
    return str_trim((struct str){authz.p + scheme.n, authz.n - scheme.n});
}

bool auth_admin_or_reply(const struct config *cfg, const struct request *req, struct response *resp)
{
    if (!cfg->admin_api_key) {
        http_error(resp, 503, "admin_auth_not_configured");
        return false;
    }
    struct str expected = {cfg->admin_api_key, cfg->admin_api_key_len};
    struct str key = http_param(req, "HTTP_X_ADMIN_KEY");
    if (!key.p)
        key = bearer_token(http_param(req, "HTTP_AUTHORIZATION"));
    if (key.p && hash_secret_eq(key, expected))
        return true;
    http_error(resp, 401, "unauthorized");
    return false;
}
