'use strict';
// tracker.js CONFIG.json RESULTS.json - the browser half of the tracker tests (issue 14; run.py
// starts the stack and the site server, then checks the database). Each scenario is a fresh
// browser context (no storage shared) on the test site (tests/browser/pages/tracker, served by
// run.py with only the snippet, under a strict CSP) and drives what a visitor does: full loads and
// SPA pushes, consent, GPC, the owner's ignore flag, the capture form as JSON and as a classic post.
// Recorded per scenario: every request the pages made (URL, method, body, GPC header), console
// errors and page errors, CSP violations, localStorage and cookies at the end, what the pages saw.
// Screenshots go to config.artifacts.
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const { CHROMIUM, ARGS, RECORD_CSP } = require('./lib');
const SETTLE_MS = 400; // beacons are queued by the browser: time to leave before the next step
const UNLOAD_MS = 1500;
// Playwright does not report the requests a document makes while it unloads (its beacons do
// arrive: the database shows them), so a step that must see what pagehide sends fires the event
// itself, as the browser would; the real unloads are checked in the database.
const PAGEHIDE = () => dispatchEvent(new PageTransitionEvent('pagehide', { persisted: false }));

async function scenario(browser, cfg, s, steps) {
    const opts = { viewport: { width: 1000, height: 700 } };
    if (s.gpc)
        opts.extraHTTPHeaders = { 'Sec-GPC': '1' };
    const ctx = await browser.newContext(opts);
    await ctx.addInitScript(RECORD_CSP);
    if (s.gpc)
        await ctx.addInitScript(() => Object.defineProperty(Navigator.prototype, 'globalPrivacyControl',
            { get: () => true, configurable: true }));
    const out = { name: s.name, property: s.property, requests: [], errors: [], csp: [], seen: {} };
    ctx.on('request', (r) => out.requests.push({
        url: r.url(), method: r.method(), body: r.postData(), gpc: r.headers()['sec-gpc'] || null,
        type: r.resourceType(),
    }));
    const page = await ctx.newPage();
    page.on('console', (m) => m.type() === 'error' && out.errors.push('console: ' + m.text()));
    page.on('pageerror', (e) => out.errors.push('pageerror: ' + e.message));
    const url = (p, query = '') => cfg.site + p + '?property=' + encodeURIComponent(s.property) + query;
    const settle = () => page.waitForTimeout(SETTLE_MS);
    const shot = (what) => page.screenshot({ path: path.join(cfg.artifacts, s.name + '-' + what + '.png') });
    const csp = async () => out.csp.push(...await page.evaluate(() => window.__csp || []));
    try {
        await steps({ page, ctx, url, settle, shot, out, csp });
        await csp();
        // storage as the site's origin sees it, then leave the page (pagehide: engagement, vitals)
        if (page.url().startsWith(cfg.site)) {
            out.storage = await page.evaluate(() => Object.assign({}, localStorage));
            out.sessionStorage = await page.evaluate(() => sessionStorage.length);
        }
        await page.goto('about:blank');
        // the unload beacons are the browser's to deliver: closing the context too soon cancels them
        await page.waitForTimeout(UNLOAD_MS);
        out.cookies = await ctx.cookies();
    } catch (e) {
        out.errors.push('step failed: ' + (e && e.stack ? e.stack : e));
        await shot('failed').catch(() => {});
    } finally {
        await ctx.close();
    }
    return out;
}

const SCENARIOS = {
    // no consent: full loads with UTM and an outside referrer, SPA pushes, a replaceState and a hash
    // change that are no new page, a back button, link clicks, a custom event queued before load
    async cookieless({ page, url, settle, shot, out, csp }) {
        await page.goto(url('/tracker/index.html', '&utm_source=news&utm_medium=email&utm_campaign=launch'),
            { referer: 'https://www.google.com/search?q=secret' });
        await settle();
        await page.click('#push-pricing');
        await settle();
        await page.click('#replace-same');
        await page.click('#hash');
        await settle();
        await page.click('#push-about');
        await settle();
        await page.evaluate(() => history.back());
        await page.waitForFunction(() => location.pathname === '/tracker/app/pricing');
        await settle();
        await page.click('#out');
        await page.click('#dl');
        await page.mouse.wheel(0, 1500);
        // engagement is reported from one second on
        await page.waitForTimeout(1200);
        await page.evaluate(PAGEHIDE);
        await settle();
        await shot('spa');
        await csp();
        await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('#second')]);
        // engagement (and vitals) of the second page go at the real pagehide, when the scenario ends
        await page.waitForTimeout(1200);
        out.seen.secondUrl = page.url();
        await shot('second');
    },
    // consent given on the page, a consented SPA view, the capture form sent as JSON with the id
    // filled in, consent withdrawn, a view without the id
    async consent({ page, url, settle, shot, out }) {
        await page.goto(url('/tracker/index.html'));
        await settle();
        await page.click('#consent-on');
        out.seen.id = await page.evaluate(() => localStorage.getItem('actx_id'));
        await page.click('#push-pricing');
        await settle();
        await page.fill('#json-form input[name=email]', out.email);
        await page.check('#json-form input[name=consentStatus]');
        await page.click('#json-submit');
        await page.waitForFunction(() => document.getElementById('capture-result').textContent !== '');
        out.seen.capture = JSON.parse(await page.textContent('#capture-result'));
        await shot('captured');
        await page.click('#consent-off');
        out.seen.afterWithdraw = await page.evaluate(() => localStorage.getItem('actx_id'));
        await page.click('#push-about');
        await settle();
    },
    // no consent: the classic form post, its 303 back to the site, the empty anonId left out
    async form({ page, url, settle, shot, out }) {
        await page.goto(url('/tracker/form.html'));
        await settle();
        await page.fill('input[name=email]', out.email);
        await page.check('input[name=consentStatus]');
        const [nav] = await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('#submit')]);
        const first = nav && nav.request().redirectedFrom();
        out.seen.form = {
            url: page.url(), status: nav ? nav.status() : null,
            redirectStatus: first ? (await first.response()).status() : null,
        };
        await shot('thanks');
    },
    // the classic form with _next (issue 16 item 8): an invalid email comes back to the form's page
    // with actx_error=email, which the page shows; the corrected post lands on _next
    async formnext({ page, url, settle, shot, out }) {
        await page.goto(url('/tracker/form-next.html'));
        await settle();
        await page.fill('input[name=email]', 'not-an-email');
        let [nav] = await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('#submit')]);
        let first = nav && nav.request().redirectedFrom();
        out.seen.back = {
            url: page.url(), status: nav ? nav.status() : null,
            redirectStatus: first ? (await first.response()).status() : null,
            error: await page.evaluate(() => {
                const p = document.getElementById('form-error');
                return p.hidden ? null : p.textContent;
            }),
            invalid: await page.getAttribute('input[name=email]', 'aria-invalid'),
        };
        await shot('back');
        await settle();
        await page.fill('input[name=email]', out.email);
        [nav] = await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('#submit')]);
        first = nav && nav.request().redirectedFrom();
        out.seen.next = {
            url: page.url(), status: nav ? nav.status() : null,
            redirectStatus: first ? (await first.response()).status() : null,
        };
        await shot('next');
    },
    // Sec-GPC and navigator.globalPrivacyControl: consent asked for, nothing kept, no anonId sent
    async gpc({ page, url, settle, out }) {
        await page.goto(url('/tracker/index.html'));
        await settle();
        out.seen.gpc = await page.evaluate(() => navigator.globalPrivacyControl);
        await page.click('#consent-on');
        await page.click('#push-pricing');
        await settle();
    },
    // the owner's #actx-ignore link, then later visits from the same browser: nothing is sent
    async ignore({ page, url, settle, out }) {
        await page.goto(url('/tracker/index.html', '#actx-ignore'));
        await settle();
        await page.goto(url('/tracker/second.html'));
        await settle();
        await page.goto(url('/tracker/index.html'));
        await settle();
        await page.click('#push-pricing');
        await settle();
        out.seen.flag = await page.evaluate(() => localStorage.getItem('actx_ignore'));
    },
    // a page on 127.0.0.1 without data-allow-local sends nothing
    async local({ page, url, settle }) {
        await page.goto(url('/tracker/nolocal.html'));
        await settle();
    },
    // headless Chromium's own user agent: answered, dropped as a bot, counted
    async headless({ page, url, settle, out }) {
        await page.goto(url('/tracker/index.html'));
        await settle();
        // what pagehide sends, seen here; the real one then has nothing left to send
        await page.evaluate(PAGEHIDE);
        await settle();
        out.seen.userAgent = await page.evaluate(() => navigator.userAgent);
    },
};

async function main() {
    const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
    fs.mkdirSync(cfg.artifacts, { recursive: true });
    const results = [];
    for (const s of cfg.scenarios) {
        // one browser per scenario, its user agent set on the command line: Playwright's per-context
        // userAgent is not applied to the beacons a page sends while it unloads, which then go out
        // with HeadlessChrome's own (and are dropped as a bot's)
        const args = ARGS.concat(s.userAgent ? ['--user-agent=' + s.userAgent] : []);
        const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args });
        try {
            results.push(await scenario(browser, cfg, s, (h) => SCENARIOS[s.name](Object.assign(h, {
                out: Object.assign(h.out, { email: s.email }),
            }))));
        } finally {
            await browser.close();
        }
    }
    fs.writeFileSync(process.argv[3], JSON.stringify(results, null, 1));
}

main().catch((e) => {
    console.error('tracker.js: ' + (e && e.stack ? e.stack : e));
    process.exit(1);
});
