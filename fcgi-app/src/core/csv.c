/* csv.c - one RFC 4180 cell at a time (csv.h). */
#include "core/csv.h"

#include <string.h>

/* Characters a spreadsheet may read as the start of a formula (OWASP's list: = + - @, TAB, CR). */
static bool formula_start(char ch)
{
    return ch == '=' || ch == '+' || ch == '-' || ch == '@' || ch == '\t' || ch == '\r';
}

void csv_cell(struct buf *b, const char *p, size_t n, bool first)
{
    if (!first)
        buf_put(b, ",", 1);
    bool prefix = n > 0 && formula_start(p[0]);
    bool quote = false;
    for (size_t i = 0; i < n && !quote; i++)
        quote = p[i] == ',' || p[i] == '"' || p[i] == '\r' || p[i] == '\n';
    if (quote)
        buf_put(b, "\"", 1);
    if (prefix)
        buf_put(b, "'", 1);
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '"') {
            buf_put(b, p + start, i + 1 - start); /* through the quote, then its double */
            buf_put(b, "\"", 1);
            start = i + 1;
        }
    }
    buf_put(b, p + start, n - start);
    if (quote)
        buf_put(b, "\"", 1);
}

void csv_end_row(struct buf *b)
{
    buf_put(b, "\r\n", 2);
}
