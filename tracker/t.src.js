// t.src.js - the site tracker, readable source of /t.js (tracker/build.sh minifies it into
// lighttpd/www/t.js and t.js.gz; the budget test holds the served file to 1,024 bytes gzipped).
//
//   <script defer src="https://API/t.js" data-property="example.com"></script>
//
// Cookieless by default: nothing is written to the device and no anonId is sent (the service
// derives a daily-salted visitor id). With consent a random id lives in localStorage and is sent
// as anonId; with navigator.globalPrivacyControl nothing persistent is stored or sent. Every event
// carries a random eventId, the service's idempotency key, so a retried beacon is stored once.
// Plain modern JavaScript: no eval, no inline code, so a strict CSP (script-src and connect-src
// naming the API origin) is enough.
(() => {
    const w = window, d = document, loc = location, s = d.currentScript, o = s.dataset;
    // nothing from a developer's own machine (localhost, 127.x, [::1], file:) unless data-allow-local
    if (!('allowLocal' in o) && /^(localhost|127\.|\[::1]|$)/.test(loc.hostname))
        return;
    // the API origin comes from the script's own src; data-api (a base like "/actx" on the site's
    // own host, for a first-party reverse-proxy path) overrides it
    const url = (o.api || new URL(s.src).origin) + '/v1/events';
    const gpc = navigator.globalPrivacyControl;
    // localStorage throws where storage is blocked: an object stands in, and nothing is kept
    let ls;
    try {
        ls = localStorage;
    } catch (e) {
        ls = {};
    }
    // a random UUID v4 (the eventId, and the consented id): a blob: URL ends in one by the File API
    // standard, in every context (crypto.randomUUID needs a secure one). It is not revoked: an
    // empty Blob's entry per event, freed with the page, costs less than the bytes to revoke it.
    const uuid = () => URL.createObjectURL(new Blob()).slice(-36);

    // the landing page's UTM parameters, kept for the page's life: an SPA view without them would
    // start a new session on the service (its UTM tuple would differ)
    let utm;
    for (let [k, v] of new URLSearchParams(loc.search))
        if (k.startsWith('utm_') && (v = v.trim()))
            (utm ||= {})[k.slice(4)] = v.slice(0, 255);

    // the service drops the query (but PATH_QUERY_ALLOWLIST keys) and the fragment before storage
    const path = () => loc.pathname + loc.search + ('hash' in o ? loc.hash : '');
    // every event of a page view carries its path and referrer (the page left, after an SPA
    // navigation); before the first view (queued calls) the path is the location's
    let last, referrer = d.referrer || undefined;
    const send = (eventType, traffic, props) => {
        const body = JSON.stringify({
            eventType, props, utm, referrer, anonId: gpc ? undefined : ls.actx_id, eventId: uuid(), path: last || path(),
            traffic: { propertyId: o.property, ...traffic },
        });
        // anonId: the consented id, never under GPC, else left out of the JSON. The owner's own
        // browser sends nothing; a string body is text/plain (no CORS preflight); fetch when the
        // beacon queue is full
        ls.actx_ignore || navigator.sendBeacon(url, body) ||
            fetch(url, { method: 'POST', body, keepalive: true }).catch(() => {});
    };

    // engagement: visible time since the page was shown, and the deepest scroll of this page view,
    // sent when the page is hidden or left, and before an SPA navigation for the page left
    let shown = !d.hidden && Date.now(), depth = 0;
    const scrolled = () => (depth = Math.max(depth, (scrollY + innerHeight) / d.documentElement.scrollHeight * 100));
    // (listeners: no parameters, the event is not a value here)
    const flush = () => {
        const t = shown && Date.now() - shown;
        shown = !d.hidden && Date.now();
        t > 999 && send('engagement', { engagedTimeMs: Math.min(t, 864e5), scrollDepthPercent: Math.min(100, scrolled() | 0) });
    };
    // page views: one per path; an SPA navigation has the page left as its referrer
    const view = () => {
        const p = path();
        if (p != last) {
            last && (flush(), depth = 0, referrer = loc.origin + last);
            last = p;
            // the first page of a visit: not an SPA navigation, not a link from the site itself
            send('page_view', { isEntrance: referrer?.split('/')[2] != loc.host });
        }
    };

    // every listener on the window, capturing: it sees document events before the site's own
    const on = (type, fn) => addEventListener(type, fn, true);
    for (const k of ['pushState', 'replaceState']) {
        const orig = history[k];
        history[k] = function () {
            orig.apply(this, arguments);
            view();
        };
    }
    on('popstate', view);
    'hash' in o && on('hashchange', view);
    on('scroll', scrolled);
    on('pagehide', flush);
    // hidden: report; shown again: restart the clock (flush does both)
    on('visibilitychange', flush);
    // the queue: actx('consent', true|false), actx('ignore', true|false), or a custom event
    // actx(name, props[, traffic]); calls made before this script ran wait in actx.q
    const queued = w.actx?.q || [];
    const actx = w.actx = (name, arg, traffic) =>
        name == 'consent' ? (arg && !gpc ? (ls.actx_id ||= uuid()) : delete ls.actx_id)
            : name == 'ignore' ? (arg ? (ls.actx_ignore = 1) : delete ls.actx_ignore)
                : send(name, traffic, arg);
    loc.hash == '#actx-ignore' && actx('ignore', 1);
    o.consent == 'granted' && actx('consent', 1);
    for (const args of queued)
        actx(...args);
    view();
})();
