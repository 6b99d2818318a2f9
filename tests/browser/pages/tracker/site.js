// The test site's own script: SPA navigation buttons, consent buttons, link clicks that stay on
// the page (no request may leave for a third party), and a capture form posted as JSON by fetch.
'use strict';
const api = new URL(document.querySelector('script[src$="/t.js"]').src).origin;
const click = (id, fn) => document.getElementById(id).addEventListener('click', fn);
click('push-pricing', () => history.pushState({}, '', '/tracker/app/pricing'));
click('push-about', () => history.pushState({}, '', '/tracker/app/about'));
click('replace-same', () => history.replaceState({ again: 1 }, '', location.pathname));
click('hash', () => { location.hash = '#section'; });
click('consent-on', () => actx('consent', true));
click('consent-off', () => actx('consent', false));
click('out', (e) => e.preventDefault());
click('dl', (e) => e.preventDefault());
document.getElementById('json-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = {};
    for (const [k, v] of new FormData(e.target))
        body[k] = v;
    const out = document.getElementById('capture-result');
    try {
        const r = await fetch(api + '/v1/leads/capture',
            { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
        out.textContent = JSON.stringify({ status: r.status, body: await r.json(), sent: body });
    } catch (err) {
        out.textContent = JSON.stringify({ error: String(err), sent: body });
    }
});
