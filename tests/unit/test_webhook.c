/* test_webhook.c - the webhook job's pure parts (issue 16 item 6): the Standard Webhooks signature
 * against the convention's published test vector and one computed with Python's hmac; the target
 * address rule (every refused range, its edges, IPv4 inside IPv6); the backoff; the URL as logs show
 * it; WEBHOOK_SECRET's and WEBHOOK_URL's parsing. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "core/config.h"
#include "jobs/webhook.h"
#include "t.h"

static void test_signature(void)
{
    char sig[WEBHOOK_SIGNATURE_LEN + 1];
    unsigned char key[WEBHOOK_SECRET_MAX_BYTES];
    size_t keylen = 0;
    const char *why = NULL;
    /* the Standard Webhooks specification's example (a 24-byte secret) */
    CHECK_INT(config_webhook_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", key, &keylen, &why), 0);
    CHECK_INT((long long)keylen, 24);
    const char *body = "{\"test\": 2432232314}";
    CHECK_INT(webhook_sign(key, keylen, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", body, strlen(body), sig,
                           sizeof(sig)),
              0);
    CHECK_STR(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    /* python3: hmac.new(bytes(range(7, 47)), b"msg_x.1700000000.{}", "sha256"), a 40-byte key */
    CHECK_INT(config_webhook_secret("whsec_BwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLg==", key,
                                    &keylen, &why),
              0);
    CHECK_INT((long long)keylen, 40);
    CHECK_INT(webhook_sign(key, keylen, "msg_x", "1700000000", "{}", 2, sig, sizeof(sig)), 0);
    CHECK_STR(sig, "v1,/52oWi94ybsliQcnntNbTdzz73KP/lv+vXTxAvLbQgc=");
    /* ...the same without the padding */
    CHECK_INT(config_webhook_secret("whsec_BwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLg", key,
                                    &keylen, &why),
              0);
    CHECK_INT((long long)keylen, 40);
    /* a changed byte of id, timestamp or body changes it */
    CHECK_INT(webhook_sign(key, keylen, "msg_y", "1700000000", "{}", 2, sig, sizeof(sig)), 0);
    CHECK(strcmp(sig, "v1,/52oWi94ybsliQcnntNbTdzz73KP/lv+vXTxAvLbQgc=") != 0);
    CHECK_INT(webhook_sign(key, keylen, "msg_x", "1700000001", "{}", 2, sig, sizeof(sig)), 0);
    CHECK(strcmp(sig, "v1,/52oWi94ybsliQcnntNbTdzz73KP/lv+vXTxAvLbQgc=") != 0);
    CHECK_INT(webhook_sign(key, keylen, "msg_x", "1700000000", "{ }", 3, sig, sizeof(sig)), 0);
    CHECK(strcmp(sig, "v1,/52oWi94ybsliQcnntNbTdzz73KP/lv+vXTxAvLbQgc=") != 0);
    /* too small an output */
    CHECK_INT(webhook_sign(key, keylen, "msg_x", "1", "{}", 2, sig, WEBHOOK_SIGNATURE_LEN), -1);
}

static void test_secrets(void)
{
    unsigned char key[WEBHOOK_SECRET_MAX_BYTES];
    size_t keylen = 99;
    const char *why = NULL;
    /* 23 bytes: too short; no prefix; not base64; 65 bytes: too long; trailing junk */
    CHECK_INT(config_webhook_secret("whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRY=", key, &keylen, &why), -1);
    CHECK_INT((long long)keylen, 0);
    CHECK(why && strstr(why, "whsec_"));
    CHECK_INT(config_webhook_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", key, &keylen, &why), -1);
    CHECK_INT(config_webhook_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa*w", key, &keylen, &why), -1);
    CHECK_INT(config_webhook_secret("whsec_", key, &keylen, &why), -1);
    char *big = rep("whsec_", "AAAA", 22, "");
    CHECK_INT(config_webhook_secret(big, key, &keylen, &why), -1); /* 66 bytes */
    free(big);
    CHECK_INT(config_webhook_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw ", key, &keylen, &why), -1);
}

static void test_urls(void)
{
    char host[64], out[128];
    const char *why = NULL;
    CHECK_INT(config_webhook_url_check("https://hooks.example.com:8443/in?token=x", host, sizeof(host), &why),
              0);
    CHECK_STR(host, "hooks.example.com");
    CHECK_INT(config_webhook_url_check("http://[::1]:9/x", host, sizeof(host), &why), 0);
    CHECK_STR(host, "[::1]");
    CHECK_INT(config_webhook_url_check("ftp://example.com/", host, sizeof(host), &why), -1);
    CHECK_INT(config_webhook_url_check("https://", host, sizeof(host), &why), -1);
    CHECK_INT(config_webhook_url_check("https://exa mple.com/", host, sizeof(host), &why), -1);
    CHECK_INT(config_webhook_url_check("https://example.com/\n", host, sizeof(host), &why), -1);
    char *long_url = rep("https://example.com/", "a", WEBHOOK_URL_MAX, "");
    CHECK_INT(config_webhook_url_check(long_url, host, sizeof(host), &why), -1);
    free(long_url);
    /* logs: scheme, host and port; never userinfo, path or query */
    webhook_url_for_log("https://user:pw@hooks.example.com:8443/in/SECRETPATH?token=SECRETQ", out,
                        sizeof(out));
    CHECK_STR(out, "https://hooks.example.com:8443");
    webhook_url_for_log("http://127.0.0.1/x?y", out, sizeof(out));
    CHECK_STR(out, "http://127.0.0.1");
    webhook_url_for_log("::::", out, sizeof(out));
    CHECK_STR(out, "(unparsable URL)");
}

static const char *refusal(const char *text)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (strchr(text, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        if (inet_pton(AF_INET6, text, &s6->sin6_addr) != 1)
            return "BAD TEST ADDRESS";
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        if (inet_pton(AF_INET, text, &s4->sin_addr) != 1)
            return "BAD TEST ADDRESS";
    }
    return webhook_address_refusal((const struct sockaddr *)&ss);
}

static void test_addresses(void)
{
    static const char *const refused[] = {
        "0.0.0.0",
        "0.255.255.255",
        "10.0.0.1",
        "10.255.255.255",
        "100.64.0.0",
        "100.127.255.255",
        "127.0.0.1",
        "127.255.255.254",
        "169.254.169.254",
        "172.16.0.1",
        "172.31.255.255",
        "192.0.0.8",
        "192.0.2.1",
        "192.168.1.1",
        "198.18.0.1",
        "198.19.255.255",
        "198.51.100.7",
        "203.0.113.9",
        "224.0.0.1",
        "239.255.255.255",
        "240.0.0.1",
        "255.255.255.255",
        "::",
        "::1",
        "::ffff:127.0.0.1",
        "::ffff:10.1.2.3",
        "::ffff:169.254.169.254",
        "64:ff9b::a9fe:a9fe",
        "64:ff9b:1::a00:1",
        "64:ff9b:1:ffff::1",
        "::ffff:0:127.0.0.1",
        "::ffff:0:a9fe:a9fe",
        "2002:7f00:1::",
        "2002:c0a8:101::1",
        "::127.0.0.1",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1",
        "febf::1",
        "fec0::1",
        "ff02::1",
        "2001:db8::1",
        "100::1",
    };
    for (size_t i = 0; i < ARRAY_LEN(refused); i++) {
        const char *why = refusal(refused[i]);
        if (!why || strcmp(why, "BAD TEST ADDRESS") == 0) {
            fprintf(stderr, "FAIL: %s should be refused (%s)\n", refused[i], why ? why : "allowed");
            t_failed++;
        } else {
            t_passed++;
        }
    }
    static const char *const allowed[] = {
        "1.1.1.1",          "8.8.8.8",          "9.255.255.255",   "11.0.0.0",        "100.63.255.255",
        "100.128.0.0",      "126.255.255.255",  "128.0.0.1",       "169.253.255.255", "172.15.255.255",
        "172.32.0.0",       "192.0.1.1",        "192.167.255.255", "192.169.0.0",     "198.17.255.255",
        "198.20.0.0",       "223.255.255.255",  "93.184.216.34",   "2606:4700::1111", "2001:4860:4860::8888",
        "::ffff:8.8.8.8",   "64:ff9b::808:808", "2002:808:808::1", "fbff::1",         "fe7f::1",
        "::ffff:0:8.8.8.8", "64:ff9a:ffff::1",  "64:ff9b:2::1",
    };
    for (size_t i = 0; i < ARRAY_LEN(allowed); i++) {
        const char *why = refusal(allowed[i]);
        if (why) {
            fprintf(stderr, "FAIL: %s should be allowed, refused as %s\n", allowed[i], why);
            t_failed++;
        } else {
            t_passed++;
        }
    }
    CHECK_STR(refusal("127.0.0.1"), "loopback (127.0.0.0/8)");
    CHECK_STR(refusal("::ffff:192.168.0.1"), "private (192.168.0.0/16)");
    CHECK_STR(refusal("fd00::1"), "unique-local (fc00::/7)");
    struct sockaddr other = {.sa_family = AF_UNIX};
    CHECK(webhook_address_refusal(&other) != NULL);
}

static void test_backoff(void)
{
    /* no jitter: base doubled per attempt, capped */
    CHECK_INT((long long)webhook_backoff_s(1, 30, 0), 30);
    CHECK_INT((long long)webhook_backoff_s(2, 30, 0), 60);
    CHECK_INT((long long)webhook_backoff_s(5, 30, 0), 480);
    CHECK_INT((long long)webhook_backoff_s(8, 30, 0), WEBHOOK_RETRY_MAX_DELAY_S);
    CHECK_INT((long long)webhook_backoff_s(1000, 30, 0), WEBHOOK_RETRY_MAX_DELAY_S);
    /* full jitter takes half off, never below a second */
    CHECK_INT((long long)webhook_backoff_s(3, 30, 1), 60);
    CHECK_INT((long long)webhook_backoff_s(1, 1, 1), 1);
    CHECK_INT((long long)webhook_backoff_s(3, 30, 7), 60); /* clamped to 1 */
    CHECK_INT((long long)webhook_backoff_s(3, 30, -1), 120);
    /* a day of retries at the default base: attempts enough, delays capped at an hour */
    double total = 0;
    int n = 0;
    while (total < 24 * 3600.0) {
        total += webhook_backoff_s(++n, WEBHOOK_RETRY_BASE_S_DEFAULT, 0);
    }
    CHECK(n > 20 && n < 40);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    test_signature();
    test_secrets();
    test_urls();
    test_addresses();
    test_backoff();
    return t_done("test_webhook");
}
