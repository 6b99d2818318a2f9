/* test_issues.c - core/issues: the plain (path, message) list and its ISSUES_MAX bound. */
#include <stdio.h>
#include <string.h>

#include "core/bounds.h"
#include "core/issues.h"
#include "t.h"

static void test_list(void)
{
    struct issues is;
    issues_init(&is);
    CHECK(!issues_any(&is));
    char path[] = "traffic.webVitals.lcpMs";
    issues_add(&is, path, "must be at most 120000");
    path[0] = 'X'; /* the list holds copies */
    issues_add(&is, "", "whole body");
    CHECK(issues_any(&is));
    CHECK_INT(is.n, 2);
    CHECK_STR(is.items[0].path, "traffic.webVitals.lcpMs");
    CHECK_STR(is.items[0].message, "must be at most 120000");
    CHECK_STR(is.items[1].path, "");
    issues_free(&is);
    CHECK_INT(is.n, 0);
    CHECK(is.items == NULL);
    issues_free(&is); /* twice is harmless */
}

/* ISSUES_MAX: entries past the bound are dropped, the first ones kept. */
static void test_bound(void)
{
    struct issues is;
    issues_init(&is);
    for (size_t i = 0; i < (size_t)ISSUES_MAX + 3; i++)
        issues_add(&is, i == 0 ? "first" : "p", "m");
    CHECK_INT(is.n, ISSUES_MAX);
    CHECK_STR(is.items[0].path, "first");
    issues_free(&is);
}

int main(void)
{
    test_list();
    test_bound();
    return t_done("test_issues");
}
