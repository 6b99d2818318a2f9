/* utf8.h - UTF-8 checks and trimming over (ptr, len) strings. */
#ifndef UTF8_H
#define UTF8_H

#include "core/common.h"

/* Trims the white space and line terminators that ECMAScript's String.prototype.trim removes
 * (ASCII space and controls, U+00A0, U+1680, U+2000–U+200A, U+2028, U+2029, U+202F, U+205F,
 * U+3000, U+FEFF). s must be valid UTF-8; the result borrows from s. */
struct str v_trim(struct str s);
/* true when (p, n) is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
bool v_utf8_valid(struct str s);
/* Number of code points in valid UTF-8. */
size_t v_codepoints(struct str s);

#endif
