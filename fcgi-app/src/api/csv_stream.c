/* csv_stream.c - see csv_stream.h. */
#include "api/csv_stream.h"

#include <stdlib.h>
#include <string.h>

#include "core/bounds.h"
#include "core/log.h"
#include "store/db.h"

int csv_stream_write(void *stream, struct http_sink *out)
{
    const struct csv_stream *cs = stream;
    struct buf b = BUF_INIT;
    int rc = 0;
    buf_put(&b, cs->header, strlen(cs->header));
    for (;;) {
        PGresult *row = NULL;
        if (db_stream_next(&row) != DB_OK) {
            /* the body is cut short: lighttpd ends the response without its last chunk */
            log_warn("%s: the statement failed after the first byte; the body is cut short", cs->route);
            rc = -1;
            break;
        }
        if (!row) {
            int more = cs->more ? cs->more(cs->ctx) : 0;
            if (more == 1)
                continue;
            rc = more;
            break;
        }
        int pr = cs->put(&b, row, cs->ctx);
        PQclear(row);
        if (pr != 0) {
            rc = -1;
            break;
        }
        if (b.n >= EXPORT_CHUNK_BYTES) {
            if (http_sink_chunk(out, b.p, b.n) != 0) {
                rc = -1; /* the client is gone */
                break;
            }
            b.n = 0;
        }
    }
    if (rc == 0 && b.n > 0)
        rc = http_sink_chunk(out, b.p, b.n);
    db_stream_close(); /* nothing when the rows were all read */
    free(b.p);
    return rc;
}
