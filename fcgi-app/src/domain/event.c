/* event.c - validation, enrichment and the canonical dedupe rendering of one event. */
#include "domain/event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "domain/enrich.h"
#include "core/hash.h"
#include "core/jsonout.h"
#include "domain/validate.h"

const char *const UTM_KEYS[UTM_FIELDS] = {"source", "medium", "campaign", "term", "content"};

static const char *const DEVICE_TYPES[] = {"desktop", "mobile", "tablet", "bot", "unknown"};

static json_t *jstr(struct str s)
{
    return json_stringn(s.p, s.n);
}

enum v_result event_parse_path(json_t *body, struct issues *is, bool required, struct str *out)
{
    enum v_result r = v_string(is, body, "path", "path", 1, EVENT_PATH_MAX, required, out);
    if (r == V_OK && out->n > EVENT_PATH_MAX_BYTES) {
        char msg[64];
        snprintf(msg, sizeof(msg), "must be at most %d bytes of UTF-8", EVENT_PATH_MAX_BYTES);
        issues_add(is, "path", msg);
        *out = (struct str){NULL, 0};
        return V_INVALID;
    }
    return r;
}

enum v_result event_parse_client_id(json_t *body, struct issues *is, char out[UUID_STR_LEN + 1])
{
    struct str s;
    out[0] = '\0';
    enum v_result r = v_string(is, body, "eventId", "eventId", 1, SIZE_MAX, V_OPTIONAL, &s);
    if (r != V_OK)
        return r;
    bool ok = s.n == UUID_STR_LEN;
    for (size_t i = 0; ok && i < s.n; i++) {
        char ch = s.p[i];
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        ok = dash ? ch == '-'
                  : (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
    }
    if (!ok) {
        issues_add(is, "eventId", "must be a UUID (8-4-4-4-12 hexadecimal digits)");
        return V_INVALID;
    }
    memcpy(out, s.p, UUID_STR_LEN);
    out[UUID_STR_LEN] = '\0';
    ascii_lower_inplace(out, UUID_STR_LEN);
    return V_OK;
}

bool event_parse_utm(json_t *body, struct issues *is, struct str utm[UTM_FIELDS])
{
    json_t *obj = NULL;
    if (v_object(is, body, "utm", "utm", &obj) != V_OK)
        return false;
    for (int i = 0; i < UTM_FIELDS; i++) {
        char path[32];
        snprintf(path, sizeof(path), "utm.%s", UTM_KEYS[i]);
        (void)v_string(is, obj, UTM_KEYS[i], path, 1, EVENT_UTM_MAX, V_OPTIONAL, &utm[i]);
    }
    return true;
}

/* Reads one optional traffic metric into both the canonical traffic object and the props copy. */
static void metric_int(struct issues *is, json_t *src, const char *key, const char *path, long long max,
                       json_t *canon, json_t *metrics)
{
    long long v;
    if (v_coerced_int(is, src, key, path, 0, max, &v) == V_OK) {
        json_object_set_new(canon, key, json_integer(v));
        json_object_set_new(metrics, key, json_integer(v));
    }
}

static void parse_traffic(json_t *body, struct issues *is, struct event_in *ev)
{
    json_t *t = NULL;
    if (v_object(is, body, "traffic", "traffic", &t) != V_OK)
        return;
    json_t *canon = json_object();
    json_t *metrics = json_object();

    if (v_string(is, t, "propertyId", "traffic.propertyId", 1, EVENT_PROPERTY_ID_MAX, V_OPTIONAL,
                 &ev->property_id) == V_OK)
        json_object_set_new(canon, "propertyId", jstr(ev->property_id));
    if (v_enum(is, t, "deviceType", "traffic.deviceType", DEVICE_TYPES, ARRAY_LEN(DEVICE_TYPES),
               &ev->device_type) == V_OK)
        json_object_set_new(canon, "deviceType", json_string(ev->device_type));

    struct str cc;
    if (v_string(is, t, "countryCode", "traffic.countryCode", 2, 2, V_OPTIONAL, &cc) == V_OK) {
        bool letters = true;
        for (size_t i = 0; i < cc.n; i++) {
            char ch = cc.p[i];
            if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')))
                letters = false;
        }
        if (!letters || cc.n != 2) {
            issues_add(is, "traffic.countryCode", "must be 2 letters");
        } else {
            ev->country_code[0] = (char)(cc.p[0] & ~0x20);
            ev->country_code[1] = (char)(cc.p[1] & ~0x20);
            ev->country_code[2] = '\0';
            json_object_set_new(canon, "countryCode", json_string(ev->country_code));
        }
    }

    static const struct {
        const char *key, *path;
        size_t off;
    } flags[] = {
        {"isEntrance", "traffic.isEntrance", offsetof(struct event_in, is_entrance)},
        {"isExit", "traffic.isExit", offsetof(struct event_in, is_exit)},
        {"isConversion", "traffic.isConversion", offsetof(struct event_in, is_conversion)},
    };
    for (size_t i = 0; i < ARRAY_LEN(flags); i++) {
        bool b;
        if (v_bool(is, t, flags[i].key, flags[i].path, &b) == V_OK) {
            *(enum tri *)(void *)((char *)ev + flags[i].off) = b ? TRI_TRUE : TRI_FALSE;
            json_object_set_new(canon, flags[i].key, json_boolean(b));
        }
    }

    metric_int(is, t, "engagedTimeMs", "traffic.engagedTimeMs", EVENT_ENGAGED_MS_MAX, canon, metrics);
    metric_int(is, t, "scrollDepthPercent", "traffic.scrollDepthPercent", EVENT_SCROLL_PCT_MAX, canon,
               metrics);

    json_t *wv = NULL;
    if (v_object(is, t, "webVitals", "traffic.webVitals", &wv) == V_OK) {
        static const char *const vitals[] = {"fcpMs", "lcpMs", "inpMs", "ttfbMs"};
        json_t *wcanon = json_object();
        for (size_t i = 0; i < ARRAY_LEN(vitals); i++) {
            char path[48];
            snprintf(path, sizeof(path), "traffic.webVitals.%s", vitals[i]);
            metric_int(is, wv, vitals[i], path, EVENT_VITAL_MS_MAX, wcanon, metrics);
        }
        double cls;
        if (v_coerced_number(is, wv, "clsScore", "traffic.webVitals.clsScore", 0, EVENT_CLS_MAX, &cls) ==
            V_OK) {
            json_object_set_new(wcanon, "clsScore", json_real(cls));
            json_object_set_new(metrics, "clsScore", json_real(cls));
        }
        json_object_set_new(canon, "webVitals", wcanon);
    }
    ev->traffic_canon = canon;
    if (json_object_size(metrics) > 0)
        ev->metrics = metrics;
    else
        json_decref(metrics);
}

/* A metric key at the top of props is stored as that metric when traffic does not carry it
 * (traffic wins on a clash), and the rollups read it (p95 TTFB): it is held to the metric's bounds,
 * so that ttfbMs 1e308 is a 400 rather than a stored number. Its value is kept as sent. */
static void check_props_metrics(struct issues *is, const struct event_in *ev)
{
    static const struct {
        const char *key, *path;
        long long max; /* 0: the real-valued clsScore */
    } m[] = {
        {"engagedTimeMs", "props.engagedTimeMs", EVENT_ENGAGED_MS_MAX},
        {"scrollDepthPercent", "props.scrollDepthPercent", EVENT_SCROLL_PCT_MAX},
        {"fcpMs", "props.fcpMs", EVENT_VITAL_MS_MAX},
        {"lcpMs", "props.lcpMs", EVENT_VITAL_MS_MAX},
        {"inpMs", "props.inpMs", EVENT_VITAL_MS_MAX},
        {"ttfbMs", "props.ttfbMs", EVENT_VITAL_MS_MAX},
        {"clsScore", "props.clsScore", 0},
    };
    if (!ev->props)
        return;
    for (size_t i = 0; i < ARRAY_LEN(m); i++) {
        if (ev->metrics && json_object_get(ev->metrics, m[i].key))
            continue;
        long long iv;
        double dv;
        if (m[i].max)
            (void)v_coerced_int(is, ev->props, m[i].key, m[i].path, 0, m[i].max, &iv);
        else
            (void)v_coerced_number(is, ev->props, m[i].key, m[i].path, 0, EVENT_CLS_MAX, &dv);
    }
}

enum v_result event_parse_anon_id(json_t *body, struct issues *is, struct str *out)
{
    *out = (struct str){NULL, 0};
    /* null is "not sent" here (a tracker without consent may send the key empty-handed); every
     * other field keeps null as a wrong value */
    if (json_is_null(json_object_get(body, "anonId")))
        return V_ABSENT;
    return v_string(is, body, "anonId", "anonId", EVENT_ANON_ID_MIN, EVENT_ANON_ID_MAX, V_OPTIONAL, out);
}

void event_parse(json_t *body, int64_t now_ms, struct issues *is, struct event_in *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->is_entrance = ev->is_exit = ev->is_conversion = TRI_ABSENT;
    (void)event_parse_anon_id(body, is, &ev->anon_id);
    (void)v_string(is, body, "eventType", "eventType", 1, EVENT_TYPE_MAX, V_REQUIRED, &ev->event_type);
    (void)event_parse_path(body, is, V_REQUIRED, &ev->path);
    ev->has_timestamp = v_timestamp(is, body, "timestamp", "timestamp", now_ms, EVENT_MAX_FUTURE_MS,
                                    &ev->timestamp_ms) == V_OK;
    (void)v_string(is, body, "referrer", "referrer", 1, EVENT_REFERRER_MAX, V_OPTIONAL, &ev->referrer);
    ev->has_utm_object = event_parse_utm(body, is, ev->utm);
    parse_traffic(body, is, ev);
    if (v_free_object(is, body, "props", "props", &ev->props) == V_OK)
        check_props_metrics(is, ev);
    (void)v_string(is, body, "honeypot", "honeypot", 0, SIZE_MAX, V_OPTIONAL, &ev->honeypot);
    (void)event_parse_client_id(body, is, ev->client_id);
}

void event_free(struct event_in *ev)
{
    json_decref(ev->traffic_canon);
    json_decref(ev->metrics);
    ev->traffic_canon = ev->metrics = NULL;
}

const char *event_body_property(struct arena *a, json_t *body)
{
    static const char *const paths[][2] = {{"propertyId", NULL}, {"traffic", "propertyId"}};
    for (size_t i = 0; i < ARRAY_LEN(paths); i++) {
        json_t *v = json_object_get(body, paths[i][0]);
        if (paths[i][1])
            v = json_is_object(v) ? json_object_get(v, paths[i][1]) : NULL;
        if (!json_is_string(v) || memchr(json_string_value(v), '\0', json_string_length(v)))
            continue;
        struct str s = v_trim((struct str){json_string_value(v), json_string_length(v)});
        size_t n = v_codepoints(s);
        if (n >= 1 && n <= EVENT_PROPERTY_ID_MAX)
            return arena_strndup(a, s.p, s.n);
    }
    return NULL;
}

/* The normalised host of Origin, else of Host; a header that is not UTF-8 counts as absent (the
 * host is stored as text), and so does Origin: null. */
static struct str site_host(struct arena *a, const struct event_client *cl)
{
    struct str h = {NULL, 0};
    /* "null" is the opaque origin of sandboxed frames and file:// pages: no host */
    if (cl->origin.p && v_utf8_valid(cl->origin) && !str_eq(cl->origin, STRLIT("null")))
        h = enrich_normalize_host(a, cl->origin);
    if (!h.p && cl->host.p && v_utf8_valid(cl->host))
        h = enrich_normalize_host(a, cl->host);
    return h;
}

const char *event_property(struct arena *a, const struct event_client *cl, const struct event_in *ev)
{
    if (ev->property_id.p)
        return arena_strndup(a, ev->property_id.p, ev->property_id.n);
    struct str host = site_host(a, cl);
    return host.p && v_codepoints(host) <= EVENT_PROPERTY_ID_MAX ? host.p : "unknown";
}

/* One field of the cookieless hash: its length (8 bytes, little-endian) then its bytes, so that no
 * two different (host, address, agent) triples render the same message. */
static void hash_field(crypto_generichash_state *st, struct str s)
{
    unsigned char len[8];
    uint64_t n = s.p ? (uint64_t)s.n : 0;
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)(n >> (8 * i));
    crypto_generichash_update(st, len, sizeof(len));
    if (n)
        crypto_generichash_update(st, (const unsigned char *)s.p, s.n);
}

int event_cookieless_id(struct arena *a, const unsigned char salt[SALT_BYTES], const struct event_client *cl,
                        struct str *out)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char h[COOKIELESS_HASH_BYTES];
    crypto_generichash_state st;
    char *id = arena_alloc(a, COOKIELESS_ID_LEN + 1);
    if (!id)
        return -1;
    struct str host = site_host(a, cl);
    crypto_generichash_init(&st, salt, SALT_BYTES, sizeof(h));
    hash_field(&st, host);
    hash_field(&st, cl->remote_addr);
    hash_field(&st, cl->user_agent);
    crypto_generichash_final(&st, h, sizeof(h));
    size_t pn = sizeof(COOKIELESS_ID_PREFIX) - 1;
    memcpy(id, COOKIELESS_ID_PREFIX, pn);
    for (size_t i = 0; i < sizeof(h); i++) {
        id[pn + 2 * i] = hex[h[i] >> 4];
        id[pn + 2 * i + 1] = hex[h[i] & 15];
    }
    id[COOKIELESS_ID_LEN] = '\0';
    sodium_memzero(&st, sizeof(st));
    *out = (struct str){id, COOKIELESS_ID_LEN};
    return 0;
}

/* What a dedupe rendering holds for a path or referrer that is stored stripped: the stored value,
 * plus, when something was removed, "#" and an HMAC (with the pepper) of the value as sent. So two
 * views of one path with different queries in one bucket stay two events, an exact retry still
 * finds the first, and the key lets no one without the pepper test a guess at what was removed.
 * Values without a query or fragment render as before (their keys do not change). Arena-owned. */
static const char *strip_token(struct arena *a, const struct config *cfg, struct str stored, struct str sent,
                               bool changed)
{
    if (!changed)
        return arena_strndup(a, stored.p, stored.n);
    char mac[HASH_HEX_LEN + 1];
    hash_peppered_hex(cfg, sent, mac);
    size_t sn = stored.p ? stored.n : 0;
    char *out = arena_alloc(a, sn + 1 + HASH_HEX_LEN + 1);
    if (!out)
        return NULL;
    if (sn)
        memcpy(out, stored.p, sn);
    out[sn] = '#';
    memcpy(out + sn + 1, mac, HASH_HEX_LEN + 1);
    return out;
}

static const char *tri_text(enum tri t, bool dflt)
{
    return (t == TRI_ABSENT ? dflt : t == TRI_TRUE) ? "true" : "false";
}

int event_params(struct arena *a, const struct config *cfg, const struct event_client *cl,
                 const struct event_in *ev, int64_t now_ms, union ingest_event_args *out)
{
    int rc = -1;
    json_t *head = NULL, *tail = NULL, *utm = NULL, *props = NULL;
    char ip_hash[HASH_HEX_LEN + 1], ua_hash[HASH_HEX_LEN + 1], iso[V_ISO_LEN];
    char *ids = arena_alloc(a, 3 * (UUID_STR_LEN + 1));
    if (!ids)
        goto out;

    hash_peppered_hex(cfg, cl->remote_addr, ip_hash);
    hash_peppered_hex(cfg, cl->user_agent.p ? cl->user_agent : STRLIT("unknown"), ua_hash);

    int64_t at = ev->has_timestamp ? ev->timestamp_ms : now_ms;
    v_format_pg_timestamp(at, iso);

    struct str host = site_host(a, cl);
    const char *property = event_property(a, cl, ev);
    /* the traffic source reads the referrer as sent; only the stored copies are stripped */
    struct traffic_input ti = {ev->utm[0], ev->utm[1], ev->referrer, host};
    const char *source = enrich_traffic_source(a, &ti);
    bool path_cut = false, ref_cut = false;
    struct str path =
        enrich_strip_path(a, ev->path, cfg->path_query_keys, cfg->path_query_key_count, &path_cut);
    struct str referrer = {NULL, 0};
    if (!path.p || (ev->referrer.p && enrich_strip_referrer(a, ev->referrer, &referrer, &ref_cut) != 0))
        goto out;
    const char *path_tok = strip_token(a, cfg, path, ev->path, path_cut);
    const char *ref_tok = ev->referrer.p ? strip_token(a, cfg, referrer, ev->referrer, ref_cut) : NULL;
    if (!path_tok || (ev->referrer.p && !ref_tok))
        goto out;
    const char *device = ev->device_type ? ev->device_type : enrich_device_type(cl->user_agent);
    bool is_page_view = str_eq(ev->event_type, STRLIT("page_view"));
    bool is_form_submit = str_eq(ev->event_type, STRLIT("form_submit"));

    /* props = the body's props plus the traffic metrics, traffic winning; NULL when empty */
    if (ev->props || ev->metrics) {
        props = ev->props ? json_copy(ev->props) : json_object();
        if (ev->metrics)
            json_object_update(props, ev->metrics);
        if (json_object_size(props) == 0) {
            json_decref(props);
            props = NULL;
        }
    }

    /* canonical rendering: ["v1", anonId, <session id>, eventType, path, time, referrer, ipHash,
     * uaHash, utm, traffic, props], object keys sorted; the session id is spliced in by SQL */
    if (ev->has_utm_object) {
        utm = json_object();
        for (int i = 0; i < UTM_FIELDS; i++) {
            if (ev->utm[i].p)
                json_object_set_new(utm, UTM_KEYS[i], jstr(ev->utm[i]));
        }
    }
    char time_token[48];
    if (ev->has_timestamp) {
        char full[V_ISO_LEN];
        v_format_iso(ev->timestamp_ms, full);
        snprintf(time_token, sizeof(time_token), "%s", full);
    } else {
        snprintf(time_token, sizeof(time_token), "bucket:%lld", (long long)(now_ms / EVENT_DEDUPE_BUCKET_MS));
    }
    const char *prefix, *suffix = NULL;
    if (ev->client_id[0]) {
        /* the client's eventId is the key within its anonId: ["v1-eventId", anonId, eventId], whole,
         * no session id spliced in (a NULL suffix tells ingest_event()); neither time nor body count */
        head = json_pack("[s, s%, s]", "v1-eventId", ev->anon_id.p, ev->anon_id.n, ev->client_id);
        if (!(prefix = jsonout_dump(a, head, true)))
            goto out;
    } else {
        head = json_pack("[s, s%]", "v1", ev->anon_id.p, ev->anon_id.n);
        tail = json_pack("[s%, s, s, o?, s, s, O?, O?, O?]", ev->event_type.p, ev->event_type.n, path_tok,
                         time_token, ref_tok ? json_string(ref_tok) : NULL, ip_hash, ua_hash, utm,
                         ev->traffic_canon, ev->props);
        /* a capture's own fields, last, so that events without them keep their keys */
        if (tail && ev->dedupe_extra.p)
            json_array_append_new(tail, jstr(ev->dedupe_extra));
        const char *head_s = jsonout_dump(a, head, true);
        const char *tail_s = jsonout_dump(a, tail, true);
        if (!head_s || !tail_s)
            goto out;
        size_t hn = strlen(head_s), tn = strlen(tail_s);
        char *pre = arena_strndup(a, head_s, hn); /* `["v1","anon"]` → `["v1","anon",` */
        char *suf = arena_strndup(a, tail_s, tn); /* `["page_view",...]` → `,"page_view",...]` */
        if (!pre || !suf)
            goto out;
        pre[hn - 1] = ',';
        suf[0] = ',';
        prefix = pre;
        suffix = suf;
    }

    char *visitor_id = ids, *session_id = ids + UUID_STR_LEN + 1, *event_id = ids + 2 * (UUID_STR_LEN + 1);
    uuid_v4(visitor_id);
    uuid_v4(session_id);
    uuid_v7(event_id);

    char inactivity[16];
    snprintf(inactivity, sizeof(inactivity), "%d", cfg->session_inactivity_minutes);

    union ingest_event_args r = {
        .anon_id = arena_strndup(a, ev->anon_id.p, ev->anon_id.n),
        .occurred_at = arena_strndup(a, iso, strlen(iso)),
        .ip_hash = arena_strndup(a, ip_hash, HASH_HEX_LEN),
        .ua_hash = arena_strndup(a, ua_hash, HASH_HEX_LEN),
        .event_type = arena_strndup(a, ev->event_type.p, ev->event_type.n),
        .path = arena_strndup(a, path.p, path.n),
        .referrer = referrer.p ? arena_strndup(a, referrer.p, referrer.n) : NULL,
        .inactivity_minutes = arena_strndup(a, inactivity, strlen(inactivity)),
        .visitor_id = visitor_id,
        .session_id = session_id,
        .event_id = event_id,
        .canon_prefix = prefix,
        .canon_suffix = suffix,
        .props = jsonout_dump(a, props, false),
        .property_id = property,
        .traffic_source = source,
        .device_type = device,
        .country_code = ev->country_code[0] ? arena_strndup(a, ev->country_code, 2) : NULL,
        .is_entrance = tri_text(ev->is_entrance, is_page_view),
        .is_exit = tri_text(ev->is_exit, false),
        .is_conversion = tri_text(ev->is_conversion, is_form_submit),
    };
    const char **utm_vals[UTM_FIELDS] = {&r.utm_source, &r.utm_medium, &r.utm_campaign, &r.utm_term,
                                         &r.utm_content};
    for (int i = 0; i < UTM_FIELDS; i++)
        *utm_vals[i] = ev->utm[i].p ? arena_strndup(a, ev->utm[i].p, ev->utm[i].n) : NULL;
    /* a NULL where the list allows none, or a suffix missing without the client's eventId: the
     * arena is full */
    if (sqlfn_first_missing(SQLFN_INGEST_EVENT, r.v) >= 0 || (!r.canon_suffix && !ev->client_id[0]))
        goto out;
    *out = r;
    rc = 0;
out:
    json_decref(head);
    json_decref(tail);
    json_decref(utm);
    json_decref(props);
    return rc;
}
