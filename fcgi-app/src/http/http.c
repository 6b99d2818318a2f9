/* http.c - a request's validation issues as its 400 reply. */
#include "http/http.h"

void http_invalid(struct response *resp, const struct issues *is)
{
    http_error(resp, 400, "invalid_request");
    json_t *list = json_array();
    for (size_t i = 0; i < is->n; i++) {
        const struct issue *it = &is->items[i];
        json_t *issue = json_pack("{s:s, s:s}", "path", it->path, "message", it->message);
        if (!issue) /* a path that is not UTF-8 (a client's field name) becomes the whole body's */
            issue = json_pack("{s:s, s:s}", "path", "", "message", it->message);
        json_array_append_new(list, issue);
    }
    json_object_set_new(resp->body, "issues", list);
}

void http_invalid_body(struct response *resp, const char *message)
{
    struct issues is;
    issues_init(&is);
    issues_add(&is, "", message);
    http_invalid(resp, &is);
    issues_free(&is);
}
