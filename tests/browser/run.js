'use strict';
// run.js CONFIG.json RESULTS.json - the browser half of the browser tests (run.py starts the stack
// and the two site servers, then checks the database). Drives Debian's chromium through
// playwright-core (never a downloaded browser). On each site page (one origin allowed by
// CORS_ALLOWED_ORIGINS, one not) it sends what a site sends: sendBeacon with a string
// (text/plain) and with an application/json Blob, a text/plain fetch that reads X-RateLimit-*,
// GETs until a 429 to read Retry-After, and a classic form post of a full lead with consent.
// What the page could see is written to RESULTS.json; screenshots go to config.artifacts.
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// No internet here, and nothing in the background may try to reach it.
const ARGS = [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

// Runs inside the page, in the site's origin: what a page can send and what it can read back.
async function pageRequests({ api, tag, readyzTries }) {
    const event = (what) => JSON.stringify({ anonId: tag + '-' + what, eventType: 'page_view', path: '/' + what });
    const read = (r) => ({
        status: r.status,
        limit: r.headers.get('X-RateLimit-Limit'),
        remaining: r.headers.get('X-RateLimit-Remaining'),
        reset: r.headers.get('X-RateLimit-Reset'),
        retryAfter: r.headers.get('Retry-After'),
    });
    const out = {};
    out.beaconText = navigator.sendBeacon(api + '/v1/events', event('beacon-text'));
    out.beaconJson = navigator.sendBeacon(api + '/v1/events',
        new Blob([event('beacon-json')], { type: 'application/json' }));
    try {
        const r = await fetch(api + '/v1/events',
            { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: event('fetch-text') });
        out.fetchText = Object.assign(read(r), { body: await r.text() });
    } catch (e) {
        out.fetchText = { error: String(e) };
    }
    out.readyz = [];
    for (let i = 0; i < readyzTries; i++) {
        try {
            const r = await fetch(api + '/v1/readyz');
            out.readyz.push(read(r));
            if (r.status === 429)
                break;
        } catch (e) {
            out.readyz.push({ error: String(e) });
            break;
        }
    }
    return out;
}

async function site(ctx, cfg, s) {
    const page = await ctx.newPage();
    const result = { name: s.name, origin: s.origin, console: [] };
    page.on('console', (m) => result.console.push(m.type() + ': ' + m.text()));
    await page.goto(s.origin + '/index.html');
    result.requests = await page.evaluate(pageRequests, { api: cfg.api, tag: s.tag, readyzTries: cfg.readyzTries });
    // beacons are queued by the browser; give them time to leave before the page goes away
    await page.waitForTimeout(500);
    await page.evaluate((r) => { document.getElementById('results').textContent = JSON.stringify(r, null, 1); },
        result.requests);
    await page.screenshot({ path: path.join(cfg.artifacts, s.name + '-requests.png'), fullPage: true });

    // a classic form post: no script sends it, the browser navigates to the answer
    await page.fill('input[name=email]', s.email);
    await page.fill('input[name=anonId]', s.tag + '-form');
    await page.check('input[name=consentStatus]');
    await page.evaluate((action) => { document.getElementById('lead').action = action; }, cfg.api + '/v1/leads/capture');
    const [nav] = await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('#submit')]);
    const first = nav && nav.request().redirectedFrom();
    result.form = {
        status: nav ? nav.status() : null,
        url: page.url(),
        redirectStatus: first ? (await first.response()).status() : null,
        text: (await page.textContent('body')).trim().slice(0, 400),
    };
    await page.screenshot({ path: path.join(cfg.artifacts, s.name + '-form.png'), fullPage: true });
    await page.close();
    return result;
}

async function main() {
    const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
    fs.mkdirSync(cfg.artifacts, { recursive: true });
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'browser-test-profile-'));
    let ctx;
    try {
        // an ordinary browser's user agent: HeadlessChrome's is dropped as a bot (BOT_POLICY=drop)
        const userAgent = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) ' +
            'Chrome/120.0.0.0 Safari/537.36';
        ctx = await chromium.launchPersistentContext(profile, {
            executablePath: CHROMIUM, headless: true, args: ARGS, userAgent,
        });
        const results = [];
        for (const s of cfg.sites)
            results.push(await site(ctx, cfg, s));
        fs.writeFileSync(process.argv[3], JSON.stringify(results, null, 1));
    } finally {
        if (ctx)
            await ctx.close();
        fs.rmSync(profile, { recursive: true, force: true });
    }
}

main().catch((e) => {
    console.error('run.js: ' + (e && e.stack ? e.stack : e));
    process.exit(1);
});
