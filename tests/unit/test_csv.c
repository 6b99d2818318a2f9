/* test_csv.c - core/csv.c: RFC 4180 quoting and the formula-injection prefix. */
#include <stdlib.h>
#include <string.h>

#include "core/csv.h"
#include "t.h"

/* One row of the given cells, as csv.c writes it; the caller frees it. */
static char *row(const char *const *cells, size_t n)
{
    struct buf b = BUF_INIT;
    for (size_t i = 0; i < n; i++)
        csv_cell(&b, cells[i], strlen(cells[i]), i == 0);
    csv_end_row(&b);
    return b.p;
}

static void check_cell(const char *in, const char *want)
{
    const char *cells[] = {in};
    char *got = row(cells, 1);
    size_t wn = strlen(want);
    CHECK(strlen(got) == wn + 2 && memcmp(got, want, wn) == 0 && strcmp(got + wn, "\r\n") == 0);
    if (strlen(got) != wn + 2 || memcmp(got, want, wn) != 0)
        fprintf(stderr, "  cell %s: got %s, want %s\n", in, got, want);
    free(got);
}

static void test_plain_and_quoted(void)
{
    check_cell("/pricing", "/pricing");
    check_cell("", "");
    check_cell("a,b", "\"a,b\"");
    check_cell("say \"hi\"", "\"say \"\"hi\"\"\"");
    check_cell("\"", "\"\"\"\"");
    check_cell("line\nbreak", "\"line\nbreak\"");
    check_cell("cr\rhere", "\"cr\rhere\"");
    check_cell("caf\xc3\xa9 \xe2\x82\xac", "caf\xc3\xa9 \xe2\x82\xac"); /* UTF-8 unchanged */
    check_cell("a'b", "a'b");
}

static void test_formula_injection(void)
{
    check_cell("=1+2", "'=1+2");
    check_cell("+1", "'+1");
    check_cell("-1", "'-1");
    check_cell("@SUM(A1)", "'@SUM(A1)");
    check_cell("\tx", "'\tx");
    check_cell("\rx", "\"'\rx\""); /* prefixed, and quoted for the CR */
    check_cell("=HYPERLINK(\"http://x\",\"y\")", "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"");
    check_cell("a=1", "a=1"); /* only the first character counts */
    check_cell(" =1", " =1");
}

static void test_rows(void)
{
    const char *cells[] = {"day", "visitors", "a,b"};
    char *got = row(cells, 3);
    CHECK_STR(got, "day,visitors,\"a,b\"\r\n");
    free(got);
}

int main(void)
{
    test_plain_and_quoted();
    test_formula_injection();
    test_rows();
    return t_done("test_csv");
}
