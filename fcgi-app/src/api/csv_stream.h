/* csv_stream.h - a CSV body streamed from an open statement (db_stream_open): the header, then
 * one row at a time written by the route's own put, sent in chunks of EXPORT_CHUNK_BYTES, so a
 * responder holds one chunk and one row whatever the export's size. Shared by the metrics export
 * (h_export.c) and the lead export (h_lead_list.c, which reads its rows in pages). */
#ifndef CSV_STREAM_H
#define CSV_STREAM_H

#include <libpq-fe.h>

#include "core/buf.h"
#include "http/http.h"

struct csv_stream {
    const char *route;  /* names the route in the log line of a body cut short */
    const char *header; /* the header row, CRLF-terminated */
    /* Appends one row to b; -1 stops and cuts the body short (put has logged why). */
    int (*put)(struct buf *b, const PGresult *row, void *ctx);
    /* At the end of the open statement's rows: 1 when another statement of the same body is open
     * (the next page), 0 when the body is complete, -1 when it could not be opened (logged).
     * NULL: one statement is the whole body. */
    int (*more)(void *ctx);
    void *ctx;
};

/* An http_stream_fn over a struct csv_stream (arena-owned: it outlives the handler). Always
 * leaves no statement open. */
int csv_stream_write(void *stream, struct http_sink *out);

#endif
