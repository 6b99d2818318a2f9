// t.vitals.src.js - readable source of /t.vitals.js, the optional web-vitals add-on of /t.js:
//
//   <script defer src="https://API/t.vitals.js"></script>
//
// Measures LCP, INP, CLS, FCP and TTFB with PerformanceObserver and sends one web_vitals event per
// page load when the page is first hidden or left, with traffic.webVitals {lcpMs, inpMs, clsScore,
// fcpMs, ttfbMs} (only those measured; milliseconds as integers 0-120000, CLS 0-10, the service's
// bounds). Simplified: INP is the longest interaction (the standard takes a high percentile once a
// page has more than 50), CLS the largest session window (gaps under 1 s, at most 5 s). Sent
// through window.actx, so t.js's rules (consent, GPC, ignore, localhost) apply.
(() => {
    const w = window, d = document, vitals = {};
    // the snippet's queue, in case this file runs first
    w.actx = w.actx || function () {
        (w.actx.q = w.actx.q || []).push(arguments);
    };
    const ms = (key, value) => {
        vitals[key] = Math.max(0, Math.min(120000, Math.round(value)));
    };
    // a browser without an entry type throws on observe: that vital is left out
    const observe = (type, fn, options) => {
        try {
            new PerformanceObserver((list) => list.getEntries().forEach(fn))
                .observe(Object.assign({ type, buffered: true }, options));
        } catch (e) {}
    };

    const nav = performance.getEntriesByType && performance.getEntriesByType('navigation')[0];
    if (nav && nav.responseStart > 0)
        ms('ttfbMs', nav.responseStart);
    observe('paint', (e) => e.name == 'first-contentful-paint' && ms('fcpMs', e.startTime));
    observe('largest-contentful-paint', (e) => ms('lcpMs', e.startTime));
    let inp = 0;
    observe('event', (e) => {
        if (e.interactionId && e.duration > inp)
            ms('inpMs', inp = e.duration);
    }, { durationThreshold: 16 });
    let cls = 0, session = 0, first = 0, prev = 0;
    // a page that never shifts has CLS 0, where the browser measures shifts at all
    if ((PerformanceObserver.supportedEntryTypes || []).includes('layout-shift'))
        vitals.clsScore = 0;
    observe('layout-shift', (e) => {
        if (e.hadRecentInput)
            return;
        if (session && e.startTime - prev < 1000 && e.startTime - first < 5000)
            session += e.value;
        else
            session = e.value, first = e.startTime;
        prev = e.startTime;
        cls = Math.max(cls, session);
        vitals.clsScore = Math.min(10, Math.round(cls * 1e4) / 1e4);
    });

    let sent = false;
    const report = (e) => {
        if (sent || (e.type != 'pagehide' && !d.hidden) || !Object.keys(vitals).length)
            return;
        sent = true;
        w.actx('web_vitals', undefined, { webVitals: vitals });
    };
    addEventListener('visibilitychange', report, true);
    addEventListener('pagehide', report, true);
})();
