/* multipart.h - multipart/form-data bodies (RFC 7578) of text fields only. RFC 8058 lets a mail
 * client's one-click unsubscribe POST arrive as multipart/form-data, and an HTML form with
 * enctype="multipart/form-data" posts that way too. */
#ifndef MULTIPART_H
#define MULTIPART_H

#include <jansson.h>

#include "core/common.h"
#include "core/issues.h"

/* The boundary parameter of a Content-Type value (case-insensitive name, token or quoted
 * string), as a slice of ct. {NULL, 0} when missing, empty or longer than MULTIPART_BOUNDARY_MAX
 * (RFC 2046's 70). */
struct str multipart_boundary(struct str ct);

/* Parses (p, n) into an object of strings, like body_parse_form. A part without a name, with a
 * filename (a file upload), a repeated name, a name or value that is not UTF-8 or holds U+0000, or
 * a body that is not well-formed (no closing delimiter, headers over MULTIPART_PART_HEADERS_MAX) is
 * recorded in *is. Caller owns the result (json_decref); never NULL. */
json_t *body_parse_multipart(const char *p, size_t n, struct str boundary, struct issues *is);

#endif
