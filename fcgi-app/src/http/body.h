/* body.h - content type, size and parsing of request bodies (API.md §1). */
#ifndef BODY_H
#define BODY_H

#include <jansson.h>

#include "core/config.h"
#include "http/http.h"

/* Checks type and size, reads the body and parses it into a JSON object. On failure the
 * response is already written (400/413/415) and -1 is returned; a form body whose fields had
 * issues is still returned in *out. *out is owned by the caller (json_decref), NULL when there is
 * none. *form is set when the body was a form: application/x-www-form-urlencoded or
 * multipart/form-data (only when allow_form). */
int body_parse_or_reply(const struct config *cfg, struct request *req, struct response *resp, bool allow_form,
                        json_t **out, bool *form) ATTR_WUR;

/* Parses a flat form-urlencoded body into an object of strings. A repeated key, a key or value
 * that is not UTF-8 or holds U+0000 is recorded in *is (path = the key). Caller owns the result. */
json_t *body_parse_form(const char *p, size_t n, struct issues *is);

#endif
