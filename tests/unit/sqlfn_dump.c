/* sqlfn_dump.c - prints the SQL function lists of core/sqlfn.h as JSON, for
 * tests/integration/test_sqlfn.py, which compares them with pg_proc after migrating a fresh
 * database. Built by `make build` as fcgi-app/build/tests/sqlfn-dump (not a unit test: no test_
 * prefix). Output: {"ingest_event": {"columns": "...", "params": [{"name", "type", "nullable"}]}}. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/sqlfn.h"

int main(void)
{
    json_t *out = json_object();
    for (int i = 0; i < SQLFN_COUNT; i++) {
        const struct sqlfn *f = &SQLFNS[i];
        json_t *params = json_array();
        for (int k = 0; k < f->nparams; k++)
            json_array_append_new(params, json_pack("{s:s, s:s, s:b}", "name", f->params[k].name, "type",
                                                    f->params[k].type, "nullable", f->params[k].nullable));
        json_object_set_new(out, f->name, json_pack("{s:s, s:o}", "columns", f->columns, "params", params));
    }
    char *s = json_dumps(out, JSON_INDENT(1) | JSON_SORT_KEYS);
    json_decref(out);
    if (!s)
        return 1;
    int rc = puts(s) < 0 ? 1 : 0;
    free(s);
    return rc;
}
