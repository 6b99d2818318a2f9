/* webhook.c - delivers migrations/0014's outbox rows (issue 16 item 6).
 *
 * A pass claims due rows in a short transaction of its own (FOR UPDATE SKIP LOCKED, one more
 * attempt, leased for WEBHOOK_LEASE_S), then sends each with no transaction open, then records the
 * outcome: so no row lock or transaction lives while a receiver is slow, and a scheduler that dies
 * mid-send leaves its rows due again once the lease runs out (at least once, never lost). Every
 * attempt sends the row's own id and body; only webhook-timestamp and the signature over it change.
 *
 * The target is checked before anything is sent: WEBHOOK_URL's host is resolved once per pass and
 * every address must be public (webhook_address_refusal) unless WEBHOOK_ALLOW_PRIVATE_TARGETS;
 * libcurl is then pinned to those addresses (CURLOPT_RESOLVE) and its socket callback refuses any
 * other, so a second DNS answer (rebinding) cannot reach an internal address. No proxy from the
 * environment, no redirect followed, http and https only, the answer read up to
 * WEBHOOK_RESPONSE_MAX bytes, every attempt within WEBHOOK_TIMEOUT_MS. */
#include "jobs/webhook.h"

#include <arpa/inet.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <sodium.h>

#include "core/bounds.h"
#include "core/clock.h"
#include "core/log.h"
#include "store/pgjob.h"
#include "store/sql.h"

int webhook_sign(const unsigned char *key, size_t keylen, const char *id, const char *timestamp,
                 const char *body, size_t body_len, char *out, size_t cap)
{
    if (cap < WEBHOOK_SIGNATURE_LEN + 1)
        return -1;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    /* any key length (the _init form; crypto_auth_hmacsha256() itself takes 32 bytes only) */
    crypto_auth_hmacsha256_init(&st, key, keylen);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)id, strlen(id));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)timestamp, strlen(timestamp));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, body_len);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(&st, sizeof(st));
    memcpy(out, "v1,", 3);
    sodium_bin2base64(out + 3, cap - 3, mac, sizeof(mac), sodium_base64_VARIANT_ORIGINAL);
    return 0;
}

/* an IPv4 address (host byte order) in net/prefix */
static bool in4(uint32_t a, uint32_t net, int prefix)
{
    uint32_t mask = prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);
    return (a & mask) == (net & mask);
}

static const char *refusal4(uint32_t a)
{
    static const struct {
        uint32_t net;
        int prefix;
        const char *why;
    } ranges[] = {
        {0x00000000u, 8, "unspecified (0.0.0.0/8)"},
        {0x0a000000u, 8, "private (10.0.0.0/8)"},
        {0x64400000u, 10, "carrier-grade NAT (100.64.0.0/10)"},
        {0x7f000000u, 8, "loopback (127.0.0.0/8)"},
        {0xa9fe0000u, 16, "link-local (169.254.0.0/16)"},
        {0xac100000u, 12, "private (172.16.0.0/12)"},
        {0xc0000000u, 24, "reserved (192.0.0.0/24)"},
        {0xc0000200u, 24, "documentation (192.0.2.0/24)"},
        {0xc0a80000u, 16, "private (192.168.0.0/16)"},
        {0xc6120000u, 15, "benchmarking (198.18.0.0/15)"},
        {0xc6336400u, 24, "documentation (198.51.100.0/24)"},
        {0xcb007100u, 24, "documentation (203.0.113.0/24)"},
        {0xe0000000u, 4, "multicast (224.0.0.0/4)"},
        {0xf0000000u, 4, "reserved or broadcast (240.0.0.0/4)"},
    };
    for (size_t i = 0; i < ARRAY_LEN(ranges); i++) {
        if (in4(a, ranges[i].net, ranges[i].prefix))
            return ranges[i].why;
    }
    return NULL;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static const char *refusal6(const unsigned char *b)
{
    static const unsigned char zero[16] = {0};
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    /* IPv4-translated (SIIT, RFC 6052 ::ffff:0:0/96) */
    static const unsigned char translated[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0};
    if (memcmp(b, zero, 16) == 0)
        return "unspecified (::)";
    if (memcmp(b, zero, 15) == 0 && b[15] == 1)
        return "loopback (::1)";
    /* an IPv4 address inside: judged as that address */
    if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0 || memcmp(b, zero, 12) == 0 ||
        memcmp(b, translated, 12) == 0)
        return refusal4(be32(b + 12));
    /* a site's own NAT64 (RFC 8215): it reaches that site's IPv4 network, wherever the IPv4 part
     * sits in the address (the prefix length is the site's), so none of it is public */
    if (memcmp(b, nat64, 4) == 0 && b[4] == 0 && b[5] == 1)
        return "local-use NAT64 (64:ff9b:1::/48)";
    if (b[0] == 0x20 && b[1] == 0x02)
        return refusal4(be32(b + 2)); /* 6to4 (2002::/16) */
    if ((b[0] & 0xfe) == 0xfc)
        return "unique-local (fc00::/7)";
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
        return "link-local (fe80::/10)";
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
        return "site-local (fec0::/10)";
    if (b[0] == 0xff)
        return "multicast (ff00::/8)";
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8)
        return "documentation (2001:db8::/32)";
    if (b[0] == 0x01 && b[1] == 0 && memcmp(b + 2, zero, 6) == 0)
        return "discard-only (100::/64)";
    return NULL;
}

const char *webhook_address_refusal(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
        return refusal4(ntohl(s4->sin_addr.s_addr));
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
        return refusal6(s6->sin6_addr.s6_addr);
    }
    return "not an IP address";
}

double webhook_backoff_s(int attempts, int base_s, double jitter)
{
    double d = base_s;
    for (int i = 1; i < attempts && d < WEBHOOK_RETRY_MAX_DELAY_S; i++)
        d *= 2;
    if (d > WEBHOOK_RETRY_MAX_DELAY_S)
        d = WEBHOOK_RETRY_MAX_DELAY_S;
    if (jitter < 0)
        jitter = 0;
    if (jitter > 1)
        jitter = 1;
    /* spread: receivers that were down for everyone are not hit by every sender at once */
    d -= d * 0.5 * jitter;
    return d < 1 ? 1 : d;
}

void webhook_url_for_log(const char *url, char *out, size_t cap)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        (void)curl_url_get(u, CURLUPART_PORT, &port, 0); /* only when the URL names one */
        (void)snprintf(out, cap, "%s://%s%s%s", scheme, host, port ? ":" : "", port ? port : "");
    } else {
        (void)snprintf(out, cap, "(unparsable URL)");
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
}

/* The checked addresses of WEBHOOK_URL's host for one pass. */
#define WEBHOOK_ADDRESSES_MAX 16
struct target {
    bool ready;                      /* resolved and every address allowed */
    char err[WEBHOOK_ERROR_MAX + 1]; /* why not (last_error), when !ready */
    struct sockaddr_storage addr[WEBHOOK_ADDRESSES_MAX];
    size_t naddr;
    struct curl_slist *resolve; /* "host:port:addr,addr" for CURLOPT_RESOLVE */
    bool pin_refused;           /* the socket callback refused an address (rebinding) */
};

static bool same_address(const struct sockaddr *a, const struct sockaddr_storage *b)
{
    if (a->sa_family != b->ss_family)
        return false;
    if (a->sa_family == AF_INET)
        return memcmp(&((const struct sockaddr_in *)(const void *)a)->sin_addr,
                      &((const struct sockaddr_in *)(const void *)b)->sin_addr, sizeof(struct in_addr)) == 0;
    return memcmp(&((const struct sockaddr_in6 *)(const void *)a)->sin6_addr,
                  &((const struct sockaddr_in6 *)(const void *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
}

static void address_text(const struct sockaddr *sa, char *out, size_t cap)
{
    const void *p = sa->sa_family == AF_INET
                        ? (const void *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr
                        : (const void *)&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
    if (!inet_ntop(sa->sa_family, p, out, (socklen_t)cap))
        (void)snprintf(out, cap, "?");
}

/* Resolves the host once and checks every address; fills t. */
static void target_prepare(const struct config *cfg, struct target *t)
{
    memset(t, 0, sizeof(*t));
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL;
    struct addrinfo *res = NULL;
    if (!u || curl_url_set(u, CURLUPART_URL, cfg->webhook_url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        (void)snprintf(t->err, sizeof(t->err), "target refused: WEBHOOK_URL does not parse");
        goto out;
    }
    /* an IPv6 literal comes bracketed */
    char name[WEBHOOK_URL_MAX + 1];
    size_t hn = strlen(host);
    if (hn >= 2 && host[0] == '[' && host[hn - 1] == ']')
        (void)snprintf(name, sizeof(name), "%.*s", (int)(hn - 2), host + 1);
    else
        (void)snprintf(name, sizeof(name), "%s", host);
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(name, port, &hints, &res);
    if (gai != 0) {
        (void)snprintf(t->err, sizeof(t->err), "cannot resolve %s: %s", host, gai_strerror(gai));
        goto out;
    }
    char entry[WEBHOOK_URL_MAX + 64 + WEBHOOK_ADDRESSES_MAX * (INET6_ADDRSTRLEN + 3)];
    size_t o = (size_t)snprintf(entry, sizeof(entry), "%s:%s:", host, port);
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        char a[INET6_ADDRSTRLEN];
        address_text(ai->ai_addr, a, sizeof(a));
        const char *why = webhook_address_refusal(ai->ai_addr);
        /* every address: one private answer among public ones is refused too */
        if (why && !cfg->webhook_allow_private) {
            (void)snprintf(t->err, sizeof(t->err),
                           "target refused: %s resolves to %s, a %s address "
                           "(WEBHOOK_ALLOW_PRIVATE_TARGETS=true allows it)",
                           host, a, why);
            goto out;
        }
        bool dup = false;
        for (size_t i = 0; i < t->naddr && !dup; i++)
            dup = same_address(ai->ai_addr, &t->addr[i]);
        if (dup || t->naddr == WEBHOOK_ADDRESSES_MAX)
            continue;
        memcpy(&t->addr[t->naddr], ai->ai_addr, ai->ai_addrlen);
        int w = snprintf(entry + o, sizeof(entry) - o, ai->ai_family == AF_INET6 ? "%s[%s]" : "%s%s",
                         t->naddr ? "," : "", a);
        if (w > 0 && (size_t)w < sizeof(entry) - o)
            o += (size_t)w;
        t->naddr++;
    }
    if (t->naddr == 0) {
        (void)snprintf(t->err, sizeof(t->err), "cannot resolve %s: no IPv4 or IPv6 address", host);
        goto out;
    }
    t->resolve = curl_slist_append(NULL, entry);
    t->ready = t->resolve != NULL;
    if (!t->ready)
        (void)snprintf(t->err, sizeof(t->err), "out of memory");
out:
    if (res)
        freeaddrinfo(res);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
}

/* libcurl's socket: only to an address target_prepare checked (a pinned connection), else none. */
static curl_socket_t open_checked(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct target *t = clientp;
    bool ok = false;
    for (size_t i = 0; purpose == CURLSOCKTYPE_IPCXN && i < t->naddr && !ok; i++)
        ok = same_address(&a->addr, &t->addr[i]);
    if (!ok) {
        t->pin_refused = true;
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

struct sink {
    size_t n;
    bool over;
};

/* The answer is not used (only its status): counted, and cut at WEBHOOK_RESPONSE_MAX. */
static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    (void)p;
    struct sink *s = ud;
    size_t n = size * nmemb;
    if (s->n + n > WEBHOOK_RESPONSE_MAX) {
        s->over = true;
        return 0;
    }
    s->n += n;
    return n;
}

/* One attempt. Returns true when delivered (2xx); *status the HTTP status (0 when none), err the
 * reason otherwise. */
static bool send_one(const struct config *cfg, CURL *h, struct target *t, const char *id, const char *body,
                     size_t len, long *status, char *err, size_t errcap)
{
    char ts[24], sig[WEBHOOK_SIGNATURE_LEN + 1], h_id[160], h_ts[64], h_sig[96];
    char cerr[CURL_ERROR_SIZE] = "";
    *status = 0;
    (void)snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
    if (webhook_sign(cfg->webhook_key, cfg->webhook_key_len, id, ts, body, len, sig, sizeof(sig)) != 0 ||
        snprintf(h_id, sizeof(h_id), "webhook-id: %s", id) >= (int)sizeof(h_id)) {
        (void)snprintf(err, errcap, "cannot sign the message");
        return false;
    }
    (void)snprintf(h_ts, sizeof(h_ts), "webhook-timestamp: %s", ts);
    (void)snprintf(h_sig, sizeof(h_sig), "webhook-signature: %s", sig);
    struct curl_slist *hdr = NULL;
    /* "Expect:" off: no 100-continue round trip for a body over 1 KiB */
    const char *lines[] = {"Content-Type: application/json", h_id, h_ts, h_sig, "Expect:"};
    for (size_t i = 0; i < ARRAY_LEN(lines); i++) {
        struct curl_slist *n = curl_slist_append(hdr, lines[i]);
        if (!n) {
            curl_slist_free_all(hdr);
            (void)snprintf(err, errcap, "out of memory");
            return false;
        }
        hdr = n;
    }
    struct sink sink = {0, false};
    t->pin_refused = false;
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdr);
    /* a status came, whatever the rest of the answer did (a long body is cut on purpose) */
    bool answered = rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && sink.over);
    if (answered && *status >= 200 && *status < 300)
        return true;
    if (answered)
        (void)snprintf(err, errcap, "HTTP %ld from the receiver", *status);
    else if (t->pin_refused)
        (void)snprintf(err, errcap, "target refused: the connection went to an address that was not checked");
    else if (snprintf(err, errcap, "%s%s%s", curl_easy_strerror(rc), cerr[0] ? ": " : "", cerr) >=
             (int)errcap)
        log_debug("webhook: a transport error cut to %zu bytes", errcap - 1); /* last_error's size */
    if (!answered)
        *status = 0;
    return false;
}

/* The options every attempt of a pass shares (one handle: a kept-alive connection is reused). */
static void setup_handle(const struct config *cfg, CURL *h, struct target *t)
{
    curl_easy_setopt(h, CURLOPT_URL, cfg->webhook_url);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_PROXY, ""); /* never http_proxy & co. from the environment */
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)cfg->webhook_timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)cfg->webhook_timeout_ms);
    curl_easy_setopt(h, CURLOPT_RESOLVE, t->resolve);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_checked);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, t);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "actx-backend-webhook/1");
}

/* Records one attempt's outcome. Returns the state it left the row in ("" when the row was no
 * longer pending), or NULL when the database failed (err set). */
static const char *record(const struct config *cfg, PGconn *c, const char *id, int attempts, bool delivered,
                          long status, const char *why, char *state, size_t cap, char *err, size_t errlen)
{
    char st[16], delay[32], window[32];
    PGresult *r = NULL;
    (void)snprintf(st, sizeof(st), "%ld", status);
    double jitter = (double)randombytes_uniform(1000001) / 1e6;
    (void)snprintf(delay, sizeof(delay), "%.3f",
                   webhook_backoff_s(attempts, cfg->webhook_retry_base_s, jitter));
    (void)snprintf(window, sizeof(window), "%ld", (long)cfg->webhook_retry_hours * 3600L);
    const char *params[] = {
        id, status ? st : NULL, delivered ? NULL : why, delivered ? "true" : "false", delay, window};
    if (pgjob_exec(c, SQL_WEBHOOK_RESULT, 6, params, &r, "record", err, errlen) != 0)
        return NULL;
    (void)snprintf(state, cap, "%s", PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    return state;
}

static int purge(const struct config *cfg, PGconn *c)
{
    char days[16], err[JOB_ERR_LEN];
    PGresult *r = NULL;
    (void)snprintf(days, sizeof(days), "%d", cfg->webhook_purge_days);
    const char *params[] = {days, STR_OF(WEBHOOK_PURGE_BATCH)};
    if (pgjob_exec(c, SQL_WEBHOOK_PURGE, 2, params, &r, "purge", err, sizeof(err)) != 0) {
        log_warn("webhook: %s", err);
        return -1;
    }
    if (strcmp(PQgetvalue(r, 0, 0), "0") != 0)
        log_info("webhook: %s delivered or failed row(s) older than %d days deleted", PQgetvalue(r, 0, 0),
                 cfg->webhook_purge_days);
    PQclear(r);
    return 0;
}

int webhook_run(const struct config *cfg, PGconn *c)
{
    static bool curl_ready;
    if (purge(cfg, c) != 0)
        return -1;
    if (!cfg->webhook_url || !cfg->webhook_key_len) /* config_load makes this impossible */
        return 0;
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            log_error("webhook: libcurl did not initialise");
            return -1;
        }
        curl_ready = true;
    }
    char where[WEBHOOK_URL_MAX + 16], err[JOB_ERR_LEN], why[WEBHOOK_ERROR_MAX + 1], state[16];
    webhook_url_for_log(cfg->webhook_url, where, sizeof(where));
    struct target t;
    bool prepared = false;
    CURL *h = NULL;
    int sent = 0, delivered = 0, retry = 0, failed = 0, rc = 0;
    struct timespec t0 = clock_mono_now();
    while (sent < WEBHOOK_BATCH_MAX && rc == 0) {
        double left = WEBHOOK_PASS_BUDGET_MS - clock_since_ms(&t0);
        if (left <= 0)
            break;
        /* no more than can be sent in the time left, should every receiver time out */
        long n = (long)(left / cfg->webhook_timeout_ms);
        if (n < 1)
            n = 1;
        if (n > WEBHOOK_BATCH_MAX - sent)
            n = WEBHOOK_BATCH_MAX - sent;
        char lim[16];
        (void)snprintf(lim, sizeof(lim), "%ld", n);
        const char *cp[] = {lim, STR_OF(WEBHOOK_LEASE_S)};
        PGresult *rows = NULL;
        if (pgjob_exec(c, SQL_WEBHOOK_CLAIM, 2, cp, &rows, "claim", err, sizeof(err)) != 0) {
            log_warn("webhook: %s", err);
            rc = -1;
            break;
        }
        int nrows = PQntuples(rows);
        if (nrows > 0 && !prepared) {
            /* resolved once per pass, only when something is due */
            target_prepare(cfg, &t);
            prepared = true;
            if (!t.ready)
                log_warn("webhook: %s (%s)", t.err, where);
            else if (!(h = curl_easy_init()))
                (void)snprintf(t.err, sizeof(t.err), "out of memory"), t.ready = false;
            else
                setup_handle(cfg, h, &t);
        }
        for (int i = 0; i < nrows; i++) {
            const char *id = PQgetvalue(rows, i, 0), *body = PQgetvalue(rows, i, 1);
            int attempts = atoi(PQgetvalue(rows, i, 2));
            long status = 0;
            bool ok = false;
            if (t.ready)
                ok = send_one(cfg, h, &t, id, body, (size_t)PQgetlength(rows, i, 1), &status, why,
                              sizeof(why));
            else
                (void)snprintf(why, sizeof(why), "%s", t.err);
            sent++;
            if (!record(cfg, c, id, attempts, ok, status, why, state, sizeof(state), err, sizeof(err))) {
                log_warn("webhook: %s", err);
                rc = -1;
                break;
            }
            if (strcmp(state, "delivered") == 0) {
                delivered++;
            } else if (strcmp(state, "failed") == 0) {
                failed++;
                log_error("webhook: %s failed for good after %d attempt(s): %s (%s)", id, attempts, why,
                          where);
            } else if (!state[0]) {
                /* erased with its lead while it was being sent: nothing left to retry */
                log_info("webhook: %s is gone (its lead was erased)", id);
            } else {
                retry++;
                log_warn("webhook: %s attempt %d: %s (%s); retried later", id, attempts, why, where);
            }
        }
        PQclear(rows);
        if (nrows < n)
            break;
    }
    if (h)
        curl_easy_cleanup(h);
    if (prepared)
        curl_slist_free_all(t.resolve);
    if (sent > 0)
        log_info("webhook: %d sent to %s: %d delivered, %d to retry, %d failed", sent, where, delivered,
                 retry, failed);
    return rc;
}
