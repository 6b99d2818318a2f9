'use strict';
// dashboard.js CONFIG.json RESULTS.json - the browser half of the dashboard tests (issue 15 item 5;
// run.py seeds the data through the API, runs the rollups and compares what the page showed with
// the API's own answers). Drives /dashboard/ of the real stack in Debian's chromium and records,
// step by step, what the page shows (KPI cards, chart data table, breakdown rows, realtime, ingest
// health, freshness notice, banner, the login message), the file a CSV download saved, every
// console error and page error (with the step it happened in) and every CSP violation.
// Two phases: "empty" (nothing rolled up yet: the wrong key, then the rollups-not-run state) and
// "full" (after the rollups: every control). Screenshots go to config.artifacts.
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const { CHROMIUM, ARGS, DESKTOP, PHONE, WAIT_MS, RECORD_CSP, lowContrast } = require('./lib');

// Runs in the page: everything the dashboard shows, read from the DOM as a user would see it.
function snapshot() {
    const text = (sel) => {
        const e = document.querySelector(sel);
        return e ? e.textContent.trim() : null;
    };
    const shown = (sel) => {
        const e = document.querySelector(sel);
        return !!e && !e.hidden && e.getClientRects().length > 0;
    };
    const rows = (sel) => [...document.querySelectorAll(sel + ' tbody tr')]
        .map((tr) => [...tr.cells].map((c) => c.textContent.trim()));
    const kpis = {};
    for (const li of document.querySelectorAll('.kpi'))
        kpis[li.dataset.kpi] = { value: li.querySelector('.kpi-value').textContent.trim(),
            delta: li.querySelector('.kpi-delta').textContent.trim() };
    const tab = document.querySelector('#bd-tabs [aria-selected="true"]');
    return {
        state: {
            from: document.getElementById('from').value, to: document.getElementById('to').value,
            property: document.getElementById('property').value,
            compare: document.getElementById('compare').checked,
            interval: document.getElementById('interval').value,
            dimension: tab ? tab.dataset.dimension : null,
            pressed: [...document.querySelectorAll('.preset[aria-pressed="true"]')].map((b) => b.dataset.days),
        },
        loginShown: shown('#login'), mainShown: shown('#main'), loginMessage: text('#login-msg'),
        customMessage: text('#custom-msg'),
        banner: shown('#banner') ? text('#banner') : null,
        freshness: shown('#freshness') ? text('#freshness') : null,
        tz: text('#tz'), today: text('#today'), windowLine: text('#window-line'),
        kpis,
        chart: {
            rows: rows('#chart-table'),
            paths: document.querySelectorAll('#chart svg path.series:not(.prev)').length,
            prevPaths: document.querySelectorAll('#chart svg path.series.prev').length,
            missing: document.querySelectorAll('#chart svg rect.missing').length,
            empty: text('#chart .empty'),
        },
        breakdown: { rows: rows('#bd-table'), caption: text('#bd-caption') },
        realtime: { v5: text('#rt-v5'), p5: text('#rt-p5'), v30: text('#rt-v30'), p30: text('#rt-p30') },
        ingest: { success: text('#in-success'), ttfb: text('#in-ttfb'), bots: text('#in-bots'),
            fresh: text('#in-fresh'), generated: text('#in-generated') },
        properties: [...document.querySelectorAll('#property option')].map((o) => o.value),
        focus: document.activeElement ? (document.activeElement.id || document.activeElement.tagName) : null,
        overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
        url: location.href,
    };
}

// Presses Tab from the top of the page until focus comes back round; returns what got focus, in
// order (id, or the tab's dimension, or the preset's days), and whether each showed an outline.
async function tabWalk(page, max) {
    // a click on the heading moves the browser's sequential focus starting point to the top
    await page.click('h1');
    const seen = [];
    for (let i = 0; i < max; i++) {
        await page.keyboard.press('Tab');
        const f = await page.evaluate(() => {
            const e = document.activeElement;
            if (!e || e === document.body)
                return null;
            const name = e.id || (e.dataset.days ? 'preset-' + e.dataset.days : e.tagName.toLowerCase());
            const st = getComputedStyle(e);
            return { name, outline: st.outlineStyle !== 'none' && parseFloat(st.outlineWidth) >= 2 };
        });
        if (!f || (seen.length && f.name === seen[0].name))
            break;
        seen.push(f);
    }
    return seen;
}

async function main() {
    const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
    fs.mkdirSync(cfg.artifacts, { recursive: true });
    const out = { phase: cfg.phase, errors: [], csp: [], steps: {}, requests: [] };
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
    let step = 'load';
    const ctx = await browser.newContext({ viewport: DESKTOP, acceptDownloads: true });
    try {
        await ctx.addInitScript(RECORD_CSP);
        ctx.on('request', (r) => out.requests.push(r.url()));
        const page = await ctx.newPage();
        // the page's timers run on a clock the test can move (the 30 s realtime refresh)
        await page.clock.install();
        page.on('console', (m) => m.type() === 'error' && out.errors.push({ step, text: m.text() }));
        page.on('pageerror', (e) => out.errors.push({ step, text: 'pageerror: ' + e.message }));
        const shot = (name, full = true) =>
            page.screenshot({ path: path.join(cfg.artifacts, 'dashboard-' + name + '.png'), fullPage: full });
        const loads = () => page.evaluate(() => Number(document.getElementById('main').dataset.loads || 0));
        // waits until loadAll has finished once more than `before` times, and the breakdown is idle
        const loaded = async (before) => {
            await page.waitForFunction((n) => Number(document.getElementById('main').dataset.loads || 0) > n,
                before, { timeout: WAIT_MS });
        };
        const record = async (name) => {
            out.steps[name] = await page.evaluate(snapshot);
            out.csp.push(...await page.evaluate(() => window.__csp || []));
        };
        const login = async (key) => {
            await page.focus('#key');
            await page.keyboard.type(key);
            await page.keyboard.press('Enter');
        };

        await page.goto(cfg.base + '/dashboard');
        await page.waitForSelector('#login:not([hidden])', { timeout: WAIT_MS });

        if (cfg.phase === 'empty') {
            // a wrong key: a clear message, the form again, nothing kept
            step = 'wrong-key';
            await login(cfg.wrongKey);
            await page.waitForFunction(() => document.getElementById('login-msg').textContent !== '',
                null, { timeout: WAIT_MS });
            await record('wrong-key');
            out.steps['wrong-key'].stored = await page.evaluate(() => sessionStorage.length);
            out.steps['wrong-key'].lowContrast = await page.evaluate(lowContrast);
            await shot('wrong-key');
            // the right key, before any rollup: the rollups-not-run state, not zeros
            step = 'not-rolled-up';
            const n = await loads();
            await login(cfg.key);
            await loaded(n);
            await record('not-rolled-up');
            out.steps['not-rolled-up'].lowContrast = await page.evaluate(lowContrast);
            await shot('not-rolled-up');
        } else {
            step = 'login';
            let n = await loads();
            await login(cfg.key);
            await loaded(n);
            await record('login');
            out.steps.login.storage = await page.evaluate(() => ({
                session: Object.assign({}, sessionStorage), local: localStorage.length,
            }));
            out.steps.login.cookies = (await ctx.cookies()).length;

            // a reload keeps the session (sessionStorage) without asking again
            step = 'reload';
            await page.reload();
            await loaded(0);
            await record('reload');

            step = 'property';
            n = await loads();
            await page.selectOption('#property', cfg.property);
            await loaded(n);
            await record('property');

            step = 'preset-7';
            n = await loads();
            await page.click('.preset[data-days="7"]');
            await loaded(n);
            await record('preset-7');

            // a range that ends before it starts: said next to the fields, nothing asked of the API
            step = 'custom-invalid';
            n = await loads();
            const asked = out.requests.length;
            await page.fill('#from', cfg.customTo);
            await page.fill('#to', cfg.customFrom);
            await page.click('#apply');
            await page.waitForFunction(() => document.getElementById('custom-msg').textContent !== '',
                null, { timeout: WAIT_MS });
            await record('custom-invalid');
            out.steps['custom-invalid'].calls = [n, await loads(), asked, out.requests.length];

            step = 'custom';
            n = await loads();
            await page.fill('#from', cfg.customFrom);
            await page.fill('#to', cfg.customTo);
            await page.click('#apply');
            await loaded(n);
            await record('custom');

            // the comparison, from the keyboard: focus the checkbox, Space
            step = 'compare';
            n = await loads();
            await page.focus('#compare');
            await page.keyboard.press('Space');
            await loaded(n);
            await record('compare');
            await shot('compare-desktop');
            out.steps.compare.lowContrast = await page.evaluate(lowContrast);
            out.steps.compare.tabOrder = await tabWalk(page, 80);

            step = 'week';
            await page.selectOption('#interval', 'week');
            await page.waitForFunction(() => document.getElementById('chart').dataset.interval === 'week',
                null, { timeout: WAIT_MS });
            await record('week');

            // a reload: whatever the browser restores in the controls, the figures follow it
            step = 'reload-compare';
            await page.reload();
            await loaded(0);
            await page.waitForFunction(() => document.getElementById('chart').dataset.interval !== undefined,
                null, { timeout: WAIT_MS });
            await record('reload-compare');

            // a breakdown tab by click, then the next one by the arrow key
            step = 'breakdown';
            const answer = (dim) => page.waitForResponse((r) => r.url().includes('/v1/metrics/breakdown') &&
                r.url().includes('dimension=' + dim), { timeout: WAIT_MS });
            let got = answer(cfg.tabClick);
            await page.click('#tab-' + cfg.tabClick);
            await got;
            await page.waitForFunction((d) => (document.getElementById('bd-caption').dataset.dimension === d),
                cfg.tabClick, { timeout: WAIT_MS });
            await record('breakdown-click');
            got = answer(cfg.tabKey);
            await page.keyboard.press('ArrowRight');
            await got;
            await page.waitForFunction((d) => (document.getElementById('bd-caption').dataset.dimension === d),
                cfg.tabKey, { timeout: WAIT_MS });
            await record('breakdown-key');

            step = 'csv';
            const [dl] = await Promise.all([page.waitForEvent('download', { timeout: WAIT_MS }),
                page.click('#bd-csv')]);
            const file = path.join(cfg.artifacts, 'dashboard-download-' + dl.suggestedFilename());
            await dl.saveAs(file);
            out.csv = { name: dl.suggestedFilename(), file };
            const [daily] = await Promise.all([page.waitForEvent('download', { timeout: WAIT_MS }),
                page.click('#daily-csv')]);
            const dailyFile = path.join(cfg.artifacts, 'dashboard-download-' + daily.suggestedFilename());
            await daily.saveAs(dailyFile);
            out.dailyCsv = { name: daily.suggestedFilename(), file: dailyFile };

            // realtime refreshes itself: 30 s later (on the page's clock) it asks again
            step = 'realtime';
            const realtimeCalls = () => out.requests.filter((u) => u.includes('/v1/metrics/realtime')).length;
            const before = realtimeCalls();
            const refreshed = page.waitForResponse((r) => r.url().includes('/v1/metrics/realtime'),
                { timeout: 5000 }).catch(() => null); // no refresh: the check on the counts says so
            await page.clock.fastForward(30000);
            await refreshed;
            await page.waitForTimeout(200);
            await record('realtime');
            out.steps.realtime.calls = [before, realtimeCalls()];

            step = 'phone';
            await page.setViewportSize(PHONE);
            await page.waitForTimeout(300);
            await record('phone');
            out.steps.phone.lowContrast = await page.evaluate(lowContrast);
            await shot('compare-phone');
            await page.setViewportSize(DESKTOP);

            // the service unavailable: a banner, not a blank page
            step = 'unavailable';
            await page.route('**/v1/metrics/summary*', (route) => route.fulfill({
                status: 503, contentType: 'application/json; charset=utf-8', headers: { 'Retry-After': '2' },
                body: '{"ok":false,"error":"database_unavailable"}',
            }));
            n = await loads();
            await page.click('.preset[data-days="30"]');
            await loaded(n);
            await record('unavailable');
            await shot('unavailable');
            await page.unroute('**/v1/metrics/summary*');

            // signing out forgets the key
            step = 'logout';
            await page.click('#logout');
            await page.waitForSelector('#login:not([hidden])', { timeout: WAIT_MS });
            await record('logout');
            out.steps.logout.stored = await page.evaluate(() => sessionStorage.length);
        }
    } catch (e) {
        out.errors.push({ step, text: 'step failed: ' + (e && e.stack ? e.stack : e) });
        try {
            const page = ctx.pages()[0];
            out.steps['failed-' + step] = await page.evaluate(snapshot);
            await page.screenshot({ path: path.join(cfg.artifacts, 'dashboard-failed-' + step + '.png'),
                fullPage: true });
        } catch (e2) {
            // the page itself is gone: the error above says why
        }
    } finally {
        await ctx.close();
        await browser.close();
    }
    fs.writeFileSync(process.argv[3], JSON.stringify(out, null, 1));
}

main().catch((e) => {
    console.error('dashboard.js: ' + (e && e.stack ? e.stack : e));
    process.exit(1);
});
