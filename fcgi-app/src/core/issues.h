/* issues.h - validation problems found in a request's input: a plain list of (path, message).
 * Field rules (domain) and body parsers (http) record them; the handler turns them into one
 * 400 invalid_request (http_invalid in http/http.h). No HTTP and no JSON here, so the domain
 * can report problems without knowing how they are answered. */
#ifndef ISSUES_H
#define ISSUES_H

#include <stddef.h>

#include "core/common.h"

struct issue {
    char *path;    /* dotted field path, "" for the whole body; owned (malloc) */
    char *message; /* owned (malloc) */
};

struct issues {
    struct issue *items; /* n entries, grown on demand; owned (malloc) */
    size_t n;
    size_t cap;
};

void issues_init(struct issues *is);
/* Copies path and message (NUL-terminated). Past ISSUES_MAX entries further issues are dropped. */
void issues_add(struct issues *is, const char *path, const char *message);
bool issues_any(const struct issues *is);
/* Frees every entry and the list; is is empty (and reusable) afterwards. */
void issues_free(struct issues *is);

#endif
