/* test_lead_query.c - the admin lead routes' rules (domain/lead_query.c): wording versions, the
 * email filter's LIKE escaping and the list cursor's round trip and refusals. */
#include <sodium.h>

#include "core/bounds.h"
#include "domain/lead_query.h"
#include "t.h"

static void test_version(void)
{
    CHECK(consent_version_valid(STRLIT("v1")));
    CHECK(consent_version_valid(STRLIT("2026-01_signup:en.2")));
    CHECK(!consent_version_valid(STRLIT("")));
    CHECK(!consent_version_valid(STRLIT("v 1")));
    CHECK(!consent_version_valid(STRLIT("v1/en")));
    CHECK(!consent_version_valid(STRLIT("v1\n")));
    CHECK(!consent_version_valid(STRLIT("=cmd")));
    char *at = rep("", "a", CONSENT_VERSION_MAX, "");
    char *over = rep("", "a", CONSENT_VERSION_MAX + 1, "");
    CHECK(consent_version_valid(str_from_cstr(at)));
    CHECK(!consent_version_valid(str_from_cstr(over)));
    free(at);
    free(over);
}

static void test_like(struct arena *a)
{
    CHECK_STR(lead_like_contains(a, STRLIT("Ada@Ex")), "%ada@ex%");
    CHECK_STR(lead_like_contains(a, STRLIT("a_b%c\\d")), "%a\\_b\\%c\\\\d%");
    CHECK_STR(lead_like_contains(a, STRLIT("")), "%%");
}

static void test_cursor(struct arena *a)
{
    const char *ms = NULL, *id = NULL;
    const char *c =
        lead_cursor_make(a, STRLIT("1765000000123"), STRLIT("3f1c2b6e-aaaa-bbbb-cccc-0123456789ab"));
    CHECK(c != NULL);
    CHECK(c && strchr(c, '=') == NULL && strchr(c, '+') == NULL && strchr(c, '/') == NULL);
    CHECK_INT(lead_cursor_parse(a, str_from_cstr(c), &ms, &id), 0);
    CHECK_STR(ms, "1765000000123");
    CHECK_STR(id, "3f1c2b6e-aaaa-bbbb-cccc-0123456789ab");
    /* an id with ':' survives: the first ':' ends the digits */
    c = lead_cursor_make(a, STRLIT("0"), STRLIT("node:42"));
    CHECK_INT(lead_cursor_parse(a, str_from_cstr(c), &ms, &id), 0);
    CHECK_STR(ms, "0");
    CHECK_STR(id, "node:42");
    /* what make refuses */
    CHECK(lead_cursor_make(a, STRLIT(""), STRLIT("x")) == NULL);
    CHECK(lead_cursor_make(a, STRLIT("12a"), STRLIT("x")) == NULL);
    CHECK(lead_cursor_make(a, STRLIT("1"), STRLIT("")) == NULL);
    char *long_id = rep("", "i", LEAD_CURSOR_ID_MAX + 1, "");
    char *max_id = rep("", "i", LEAD_CURSOR_ID_MAX, "");
    CHECK(lead_cursor_make(a, STRLIT("1"), str_from_cstr(long_id)) == NULL);
    c = lead_cursor_make(a, STRLIT("999999999999999"), str_from_cstr(max_id));
    CHECK(c != NULL && strlen(c) <= LEAD_CURSOR_TEXT_MAX);
    CHECK_INT(lead_cursor_parse(a, str_from_cstr(c), &ms, &id), 0);
    free(long_id);
    free(max_id);
    /* what parse refuses: not base64url, padding, no ':', no digits, letters in the ms, an empty id,
     * trailing garbage, too long */
    static const char *const bad[] = {"", "!!!!", "MTo=", "MTIz", "OmFi", "MWE6eA", "MTo", "MToxMjM*"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        CHECK_INT(lead_cursor_parse(a, str_from_cstr(bad[i]), &ms, &id), -1);
    char *huge = rep("", "A", LEAD_CURSOR_TEXT_MAX + 4, "");
    CHECK_INT(lead_cursor_parse(a, str_from_cstr(huge), &ms, &id), -1);
    free(huge);
}

int main(void)
{
    struct arena a;
    if (sodium_init() < 0)
        return 1;
    arena_init(&a, 1 << 16);
    test_version();
    test_like(&a);
    test_cursor(&a);
    arena_free(&a);
    return t_done("test_lead_query");
}
