/* csv.h - RFC 4180 cells for the CSV export: CRLF rows, a field holding , " CR or LF quoted with
 * its quotes doubled, and spreadsheet formula injection defused (a cell that begins with = + - @,
 * TAB or CR gets a leading single quote, so Excel, LibreOffice and Sheets show it as text). */
#ifndef CSV_H
#define CSV_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

/* Appends the cell (p, n) to b, preceded by a comma unless first. Bytes other than the ones named
 * above go through as they are (the export's text is UTF-8 already). */
void csv_cell(struct buf *b, const char *p, size_t n, bool first);
/* Ends a row (CRLF). */
void csv_end_row(struct buf *b);

#endif
