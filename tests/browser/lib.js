'use strict';
// lib.js - what every browser test driver shares: Debian's chromium and its flags, the viewports,
// the CSP-violation recorder, and the in-page contrast check (tracker.js, dashboard.js,
// leadpages.js).

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARGS = [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 375, height: 812 };
const WAIT_MS = 15000;

// CSP violations are not always console messages: the page records them itself (an init script)
const RECORD_CSP = () => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation',
        (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
};

// Runs in the page: every visible text whose contrast with the background behind it (the nearest
// ancestor with an opaque background) is under 4.5:1 (WCAG AA), as 'text (ratio)'.
function lowContrast() {
    const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
    const lum = ([r, g, b]) => {
        const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
        return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const background = (e) => {
        for (; e; e = e.parentElement) {
            const c = rgb(getComputedStyle(e).backgroundColor);
            if (c.length === 3 || (c.length === 4 && c[3] === 1))
                return c.slice(0, 3);
        }
        return [255, 255, 255];
    };
    const bad = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        const e = n.parentElement;
        if (!n.textContent.trim() || !e || e.closest('svg, [hidden], noscript') || !e.getClientRects().length)
            continue;
        const fg = rgb(getComputedStyle(e).color).slice(0, 3);
        const a = lum(fg), b = lum(background(e));
        const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
        if (ratio < 4.5)
            bad.push(n.textContent.trim().slice(0, 40) + ' (' + ratio.toFixed(2) + ')');
    }
    return bad;
}

// Presses Tab from the top of the page until focus comes back round; returns what got focus, in

module.exports = { CHROMIUM, ARGS, DESKTOP, PHONE, WAIT_MS, RECORD_CSP, lowContrast };
