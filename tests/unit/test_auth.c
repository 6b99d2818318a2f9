/* test_auth.c - the admin key: x-admin-key or Authorization: Bearer, 503 when unset, 401 otherwise. */
#include <stdlib.h>
#include <string.h>

#include "http/auth.h"
#include "core/hash.h"
#include "core/bounds.h"
#include "t.h"
#include "treq.h"

#define KEY "k3y-0123456789abcdefghij" /* CONFIG_ADMIN_KEY_MIN_LEN characters */

static struct config cfg;

/* Runs auth over up to two header params ("HTTP_X_ADMIN_KEY=...", NULL for none); returns the
 * verdict and leaves the response status and error code in *status and err. */
static bool auth_with(const char *param1, const char *param2, int *status, char *err, size_t errlen)
{
    struct treq t;
    const char *params[5] = {"REQUEST_METHOD=GET", "REQUEST_URI=/v1/metrics/summary", NULL, NULL, NULL};
    size_t n = 2;
    if (param1)
        params[n++] = param1;
    if (param2)
        params[n++] = param2;
    treq_init(&t, params);
    bool ok = auth_admin_or_reply(&cfg, &t.req, &t.resp);
    *status = t.resp.status;
    const char *e = json_string_value(json_object_get(t.resp.body, "error"));
    snprintf(err, errlen, "%s", e ? e : "");
    if (ok && t.resp.body) {
        t_failed++;
        fprintf(stderr, "FAIL auth passed but wrote a body\n");
    }
    treq_free(&t);
    return ok;
}

static void expect(const char *p1, const char *p2, bool want_ok, int want_status, const char *want_err,
                   int line)
{
    int status = -1;
    char err[64];
    bool ok = auth_with(p1, p2, &status, err, sizeof(err));
    if (ok == want_ok && status == want_status && strcmp(err, want_err) == 0) {
        t_passed++;
    } else {
        t_failed++;
        fprintf(stderr, "FAIL %s:%d: [%s] [%s]: got %s %d '%s', want %s %d '%s'\n", __FILE__, line,
                p1 ? p1 : "-", p2 ? p2 : "-", ok ? "pass" : "refuse", status, err,
                want_ok ? "pass" : "refuse", want_status, want_err);
    }
}

#define ALLOW(p1, p2) expect((p1), (p2), true, 0, "", __LINE__)
#define DENY(p1, p2) expect((p1), (p2), false, 401, "unauthorized", __LINE__)

static void test_not_configured(void)
{
    memset(&cfg, 0, sizeof(cfg));
    expect(NULL, NULL, false, 503, "admin_auth_not_configured", __LINE__);
    expect("HTTP_X_ADMIN_KEY=" KEY, NULL, false, 503, "admin_auth_not_configured", __LINE__);
    expect("HTTP_AUTHORIZATION=Bearer " KEY, NULL, false, 503, "admin_auth_not_configured", __LINE__);
    /* an empty key is never a key */
    expect("HTTP_X_ADMIN_KEY=", NULL, false, 503, "admin_auth_not_configured", __LINE__);
}

static void test_configured(void)
{
    memset(&cfg, 0, sizeof(cfg));
    cfg.admin_api_key = KEY;
    cfg.admin_api_key_len = strlen(KEY);
    CHECK_INT(strlen(KEY), CONFIG_ADMIN_KEY_MIN_LEN);

    ALLOW("HTTP_X_ADMIN_KEY=" KEY, NULL);
    ALLOW("HTTP_AUTHORIZATION=Bearer " KEY, NULL);
    ALLOW("HTTP_AUTHORIZATION=bearer " KEY, NULL);
    ALLOW("HTTP_AUTHORIZATION=BEARER " KEY, NULL);
    ALLOW("HTTP_AUTHORIZATION=BeArEr " KEY, NULL);
    ALLOW("HTTP_AUTHORIZATION=Bearer  " KEY "  ", NULL); /* surrounding spaces */

    DENY(NULL, NULL);
    DENY("HTTP_X_ADMIN_KEY=", NULL);
    DENY("HTTP_X_ADMIN_KEY=wrong-0123456789abcdefghij", NULL); /* same length */
    DENY("HTTP_X_ADMIN_KEY=K3Y-0123456789ABCDEFGHIJ", NULL);   /* case matters */
    DENY("HTTP_X_ADMIN_KEY=k3y-0123456789abcdefghi", NULL);    /* one short */
    DENY("HTTP_X_ADMIN_KEY=" KEY "j", NULL);                   /* one long */
    DENY("HTTP_X_ADMIN_KEY=" KEY KEY, NULL);
    DENY("HTTP_X_ADMIN_KEY= " KEY, NULL); /* x-admin-key is taken as sent */
    DENY("HTTP_AUTHORIZATION=Bearer", NULL);
    DENY("HTTP_AUTHORIZATION=Bearer ", NULL);
    DENY("HTTP_AUTHORIZATION=Bearer wrong", NULL);
    DENY("HTTP_AUTHORIZATION=Basic " KEY, NULL);
    DENY("HTTP_AUTHORIZATION=Bearer" KEY, NULL);
    DENY("HTTP_AUTHORIZATION=" KEY, NULL);
    DENY("HTTP_AUTHORIZATION=Token " KEY, NULL);
    DENY("HTTP_AUTHORIZATION=Bearer " KEY "x", NULL);
    /* look-alike parameter names are not the header */
    DENY("HTTP_X_ADMIN_KEYS=" KEY, NULL);
    DENY("X_ADMIN_KEY=" KEY, NULL);

    /* with both headers, a correct x-admin-key is enough */
    ALLOW("HTTP_X_ADMIN_KEY=" KEY, "HTTP_AUTHORIZATION=Bearer wrong");
}

int main(void)
{
    CHECK_INT(hash_init(), 0);
    test_not_configured();
    test_configured();
    return t_done("test_auth");
}
