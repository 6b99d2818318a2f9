/* http.c - validation issues of a request and their 400 reply. */
#include "http/http.h"

void issues_init(struct issues *is)
{
    is->list = json_array();
}

void issues_add(struct issues *is, const char *path, const char *message)
{
    json_t *issue = json_pack("{s:s, s:s}", "path", path, "message", message);
    if (!issue) /* a path that is not UTF-8 (a client's field name) becomes the whole body's */
        issue = json_pack("{s:s, s:s}", "path", "", "message", message);
    json_array_append_new(is->list, issue);
}

bool issues_any(const struct issues *is)
{
    return json_array_size(is->list) > 0;
}

void http_invalid(struct response *resp, struct issues *is)
{
    http_error(resp, 400, "invalid_request");
    json_object_set_new(resp->body, "issues", is->list);
    is->list = NULL;
}

void issues_free(struct issues *is)
{
    json_decref(is->list);
    is->list = NULL;
}
