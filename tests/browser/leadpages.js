'use strict';
// leadpages.js CONFIG.json RESULTS.json - the browser half of the lead-side page tests (issue 16
// items 2 and 8; leadpages.py captures the lead, mints the link and checks the database). Drives
// Debian's chromium through the pages a person sees: the signed unsubscribe link (confirmation
// page, the button pressed from the keyboard, the "Unsubscribed" page, an altered link, a phone
// width) and the classic form's HTML 400 page (a form with an invalid email posted from a data:
// page, which has no origin the service could send the visitor back to). Records what each page
// shows, its HTTP status and headers, every console error and page error (with its step), every CSP
// violation and every request. Screenshots go to config.artifacts.
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const { CHROMIUM, ARGS, DESKTOP, PHONE, WAIT_MS, RECORD_CSP, lowContrast } = require('./lib');

// Runs in the page: what a person sees, read from the DOM.
function snapshot() {
    const text = (sel) => {
        const e = document.querySelector(sel);
        return e ? e.textContent.trim() : null;
    };
    return {
        title: document.title, h1: text('h1'), text: document.body ? document.body.innerText.trim() : '',
        buttons: [...document.querySelectorAll('button')].map((b) => b.textContent.trim()),
        items: [...document.querySelectorAll('li')].map((l) => l.textContent.trim()),
        links: [...document.querySelectorAll('a')].map((a) => a.getAttribute('href')),
        scripts: document.querySelectorAll('script').length,
        styled: document.querySelectorAll('style, link[rel="stylesheet"], [style]').length,
        overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
        focus: document.activeElement ? document.activeElement.tagName : null,
        url: location.href,
    };
}

async function main() {
    const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
    fs.mkdirSync(cfg.artifacts, { recursive: true });
    const out = { phase: cfg.phase, errors: [], csp: [], steps: {}, requests: [] };
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
    let step = 'load';
    const ctx = await browser.newContext({ viewport: DESKTOP });
    try {
        await ctx.addInitScript(RECORD_CSP);
        ctx.on('request', (r) => out.requests.push({ step, url: r.url(), method: r.method() }));
        const page = await ctx.newPage();
        page.on('console', (m) => m.type() === 'error' && out.errors.push({ step, text: m.text() }));
        page.on('pageerror', (e) => out.errors.push({ step, text: 'pageerror: ' + e.message }));
        const shot = (name) => page.screenshot({ path: path.join(cfg.artifacts, name + '.png'), fullPage: true });
        const record = async (name, resp) => {
            const s = await page.evaluate(snapshot);
            s.lowContrast = await page.evaluate(lowContrast);
            if (resp) {
                s.status = resp.status();
                s.headers = await resp.allHeaders();
            }
            out.steps[name] = s;
            out.csp.push(...(await page.evaluate(() => window.__csp || [])).map((v) => name + ': ' + v));
        };

        // the link as a mail reader opens it: the confirmation page (nothing may change: run.py
        // looks at the rows between the two phases)
        step = cfg.phase === 'look' ? 'confirm' : 'confirm-again';
        let resp = await page.goto(cfg.base + cfg.linkPath);
        await record(step, resp);
        if (cfg.phase === 'look') {
            await shot('unsubscribe-confirm');

            // the same page at a phone's width
            step = 'confirm-phone';
            await page.setViewportSize(PHONE);
            await page.waitForTimeout(200);
            await record('confirm-phone', null);
            await shot('unsubscribe-confirm-phone');
            await page.setViewportSize(DESKTOP);

            // an altered link: the 403 page
            step = 'invalid';
            resp = await page.goto(cfg.base + cfg.alteredPath);
            await record('invalid', resp);
            await shot('unsubscribe-invalid');

            // the classic form on a page of no origin the service could send the visitor back to
            step = 'form';
            await page.goto(cfg.formPage);
            step = 'form-error';
            const [fe] = await Promise.all([
                page.waitForNavigation({ timeout: WAIT_MS }),
                page.click('button'),
            ]);
            await record('form-error', fe);
            out.steps['form-error'].request = await fe.request().allHeaders();
            await shot('form-error-page');
        } else {
            // keyboard only: Tab from the top of the page reaches the button, Enter presses it
            step = 'keyboard';
            await page.click('h1');
            await page.keyboard.press('Tab');
            out.steps.keyboard = { focus: await page.evaluate(() => {
                const e = document.activeElement;
                return e ? e.tagName + ':' + e.textContent.trim() : null;
            }) };
            step = 'done';
            const [done] = await Promise.all([
                page.waitForNavigation({ timeout: WAIT_MS }),
                page.keyboard.press('Enter'),
            ]);
            await record('done', done);
            await shot('unsubscribe-done');
        }
    } catch (e) {
        out.errors.push({ step, text: 'step failed: ' + (e && e.stack ? e.stack : e) });
        try {
            await ctx.pages()[0].screenshot({ path: path.join(cfg.artifacts, 'leadpages-failed-' + step + '.png'),
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
    console.error('leadpages.js: ' + (e && e.stack ? e.stack : e));
    process.exit(1);
});
