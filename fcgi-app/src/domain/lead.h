/* lead.h - the lead rules of API.md §3 that are not plain field checks. */
#ifndef LEAD_H
#define LEAD_H

#include "core/arena.h"
#include "core/common.h"
#include "domain/event.h"

#define LEAD_EMAIL_MAX 320
#define LEAD_EMAIL_DOMAIN_MAX 255 /* leads.email_domain VARCHAR(255) */
#define LEAD_FORM_NAME_MAX 255
#define LEAD_SOURCE_CHANNEL_MAX 255
#define LEAD_REFERRER_MAX 2048
#define LEAD_REASON_MAX 512
#define LEAD_HEURISTIC_LINKS_MAX 20

/* ^(?!\.)(?!.*\.\.)[A-Za-z0-9_'+.-]*[A-Za-z0-9_+-]@([A-Za-z0-9][A-Za-z0-9-]*\.)+[A-Za-z]{2,}$ on the
 * address exactly as sent (ASCII only). */
bool lead_email_valid(struct str email);

/* Trimmed and lower-cased (arena-owned); *domain points after the '@' inside it. .p NULL when
 * the arena is full. */
struct str lead_email_normalize(struct arena *a, struct str email, struct str *domain);

/* The query parameter a form's page gets back on a validation error: the failing field names. */
#define LEAD_ERROR_PARAM "actx_error"

/* path starts with '/' followed by neither '/' nor '\' and holds no control character: a path on
 * the site it is joined to, never another host ("//evil", "/\\evil", "javascript:"). */
bool lead_path_safe(struct str path);

/* The 303 target of a form post: path when it starts with '/' followed by neither '/' nor '\'
 * (and holds no control character), else "/"; prefixed with origin when origin.p is set (the
 * caller passes the request's Origin only when it is allowed). Never longer than
 * RESPONSE_HEADER_MAX_LEN: a longer target drops its query and fragment, then becomes "/" (origin
 * at most CORS_MAX_ORIGIN_LEN). Arena-owned; NULL when full. */
const char *lead_redirect_location(struct arena *a, struct str path, struct str origin);

/* Where a form post that failed validation sends the browser back: origin (when .p is set) +
 * page without its fragment, its query kept minus any old actx_error, then
 * actx_error=<fields> (fields already URL-safe). NULL when page is not lead_path_safe, when even
 * without the page's query it would not fit RESPONSE_HEADER_MAX_LEN, or when the arena is full.
 * Arena-owned. */
const char *lead_return_location(struct arena *a, struct str origin, struct str page, struct str fields);

#endif
