/* sqlfn.c - the descriptors derived from the lists in sqlfn.h. */
#include "core/sqlfn.h"

#define SQLFN_X_PARAM(name, type, nullable) {#name, type, nullable},
#define SQLFN_F_PARAMS(id, sqlname, list, cols)                                                              \
    static const struct sqlfn_param id##_PARAMS[] = {list(SQLFN_X_PARAM)};
SQLFN_ALL(SQLFN_F_PARAMS)

const struct sqlfn SQLFNS[SQLFN_COUNT] = {
#define SQLFN_F_DEF(id, sqlname, list, cols) [SQLFN_##id] = {sqlname, cols, id##_PARAMS, id##_NPARAMS},
    SQLFN_ALL(SQLFN_F_DEF)};

int sqlfn_first_missing(enum sqlfn_id id, const char *const *v)
{
    const struct sqlfn *f = &SQLFNS[id];
    for (int i = 0; i < f->nparams; i++) {
        if (!v[i] && !f->params[i].nullable)
            return i;
    }
    return -1;
}
