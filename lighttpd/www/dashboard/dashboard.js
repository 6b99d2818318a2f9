'use strict';
// dashboard.js - the dashboard page (issue 15 item 4). Plain JS, no build step, no dependency: it
// reads the admin API of this same origin (/v1/metrics/*, docs/API.md) with the key the user typed,
// kept in sessionStorage only (gone when the tab closes) and sent as Authorization: Bearer. The
// chart is SVG drawn here (no chart library: one line chart needs ~100 lines, and nothing has to
// be vendored, pinned or allowed by the CSP). Every element is built with the DOM API and every
// value from the API lands in textContent, so nothing the data holds is ever parsed as HTML.
(function () {
    const KEY_STORE = 'dashboard.adminKey';
    const REALTIME_MS = 30000;
    const MAX_DAYS = 366; // SUMMARY_MAX_DAYS of the API
    const BREAKDOWN_LIMIT = 10;
    const DAY_MS = 86400000;
    const DIMENSIONS = [
        ['page', 'Pages'], ['landing_page', 'Landing pages'], ['source', 'Sources'],
        ['referrer_host', 'Referrers'], ['utm_source', 'UTM source'], ['utm_medium', 'UTM medium'],
        ['utm_campaign', 'UTM campaign'], ['device', 'Devices'], ['country', 'Countries'],
    ];
    const BOT_REASONS = { empty_ua: 'no user agent', bot_ua: 'bot user agent', headless: 'headless browser' };

    const $ = (id) => document.getElementById(id);
    const state = {
        key: null, site: null, property: null, from: null, to: null, preset: 30, compare: false,
        interval: 'day', dimension: 'page', offset: 0, realtimeTimer: null, loadSeq: 0, loadsDone: 0,
        chartData: null,
    };

    // ---- formatting (the browser tests format the API's numbers the same way and compare)
    const intFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
    const fmtInt = (n) => intFmt.format(n);
    const fmtPct = (f) => (f * 100).toFixed(1) + '%';
    const fmtDelta = (d) => (d > 0 ? '+' : '') + (d * 100).toFixed(1) + '%';

    // ---- days: YYYY-MM-DD strings, computed in UTC so no local zone or DST can shift them
    const dayNum = (s) => Date.UTC(+s.slice(0, 4), +s.slice(5, 7) - 1, +s.slice(8, 10)) / DAY_MS;
    const dayStr = (n) => new Date(n * DAY_MS).toISOString().slice(0, 10);
    const addDays = (s, k) => dayStr(dayNum(s) + k);
    const isDay = (s) => /^\d{4}-\d\d-\d\d$/.test(s) && dayStr(dayNum(s)) === s;

    // ---- the API
    class ApiError extends Error {
        constructor(status, body, retryAfter) {
            super('HTTP ' + status);
            this.status = status;
            this.body = body;
            this.retryAfter = retryAfter;
        }
    }

    async function request(path) {
        let r;
        try {
            r = await fetch(path, { headers: { Authorization: 'Bearer ' + state.key }, cache: 'no-store' });
        } catch (e) {
            throw new ApiError(0, null, null);
        }
        if (r.ok)
            return r;
        let body = null;
        try {
            body = await r.json();
        } catch (e) {
            body = null;
        }
        throw new ApiError(r.status, body, r.headers.get('Retry-After'));
    }

    async function api(path, params) {
        const q = new URLSearchParams(params || {});
        const r = await request(path + (q.toString() ? '?' + q : ''));
        return r.json();
    }

    function windowParams(extra) {
        return Object.assign({ from: state.from, to: state.to, propertyId: state.property }, extra || {});
    }

    // What the user sees for a failed request. A 401 ends the session: the login form comes back.
    function failed(e) {
        if (!(e instanceof ApiError)) {
            banner('Something went wrong in this page: ' + e.message);
            return;
        }
        if (e.status === 401) {
            signOut('The admin key was not accepted (401 unauthorized). Enter the key again.');
            return;
        }
        const code = e.body && e.body.error ? e.body.error : '';
        if (e.status === 0)
            banner('Cannot reach the service (network error). Check the connection and reload.');
        else if (e.status === 503)
            banner('The service is unavailable right now (503' + (code ? ' ' + code : '') + ').' +
                (e.retryAfter ? ' Try again in ' + e.retryAfter + ' s.' : ' Try again shortly.'));
        else if (e.status === 429)
            banner('Too many requests (429). Try again in ' + (e.retryAfter || 'a few') + ' s.');
        else if (e.status === 400 && e.body && Array.isArray(e.body.issues))
            banner('The request was refused: ' +
                e.body.issues.map((i) => (i.path || '') + ' ' + (i.message || '')).join('; '));
        else
            banner('The service answered ' + e.status + (code ? ' ' + code : '') + '.');
    }

    function banner(text) {
        const b = $('banner');
        b.textContent = text;
        b.hidden = !text;
    }

    // ---- sign in and out
    function showLogin(message) {
        $('main').hidden = true;
        $('top-actions').hidden = true;
        $('site-line').hidden = true;
        $('login').hidden = false;
        $('login-msg').textContent = message || '';
        $('key').value = '';
        $('key').focus();
    }

    function signOut(message) {
        sessionStorage.removeItem(KEY_STORE);
        state.key = null;
        clearInterval(state.realtimeTimer);
        state.realtimeTimer = null;
        state.loadSeq++;
        banner('');
        showLogin(message);
    }

    async function signIn(key) {
        state.key = key;
        let site;
        try {
            // the key is checked by the first request: the site's zone, today and properties
            site = await api('/v1/metrics/site');
        } catch (e) {
            if (e instanceof ApiError && e.status === 401) {
                signOut('The admin key was not accepted (401 unauthorized). Check it and try again.');
                return;
            }
            showLogin('');
            failed(e);
            return;
        }
        sessionStorage.setItem(KEY_STORE, key);
        banner('');
        state.site = site;
        state.property = site.defaultPropertyId;
        setRange(addDays(site.today, -(state.preset - 1)), site.today, state.preset);
        readHash();
        renderSite();
        $('login').hidden = true;
        $('main').hidden = false;
        $('top-actions').hidden = false;
        $('site-line').hidden = false;
        await loadAll();
        clearInterval(state.realtimeTimer);
        // a failed refresh says so in the realtime panel itself (loadRealtime); nothing else to do
        state.realtimeTimer = setInterval(() => loadRealtime().catch(() => {}), REALTIME_MS);
    }

    function renderSite() {
        const s = state.site;
        $('tz').textContent = s.timeZone;
        $('today').textContent = s.today;
        const sel = $('property');
        sel.textContent = '';
        const ids = (s.properties || []).map((p) => p.propertyId);
        if (!ids.includes(s.defaultPropertyId))
            ids.unshift(s.defaultPropertyId);
        if (!ids.includes(state.property))
            ids.push(state.property);
        for (const id of ids) {
            const o = document.createElement('option');
            o.value = id;
            o.textContent = id === s.defaultPropertyId ? id + ' (all properties)' : id;
            sel.appendChild(o);
        }
        sel.value = state.property;
    }

    // ---- the view in the address (#from=&to=&property=&compare=&interval=&dimension=): a reload or
    // a bookmark shows the same figures. Only the view: the key never goes into the address.
    function writeHash() {
        const q = new URLSearchParams({
            from: state.from, to: state.to, property: state.property, compare: state.compare ? '1' : '0',
            interval: state.interval, dimension: state.dimension,
        });
        if (state.preset)
            q.set('preset', String(state.preset));
        history.replaceState(null, '', '#' + q);
    }

    // Takes what is valid of the address's view; anything else keeps its default.
    function readHash() {
        const q = new URLSearchParams(location.hash.slice(1));
        const from = q.get('from') || '', to = q.get('to') || '';
        if (isDay(from) && isDay(to) && from <= to && dayNum(to) - dayNum(from) + 1 <= MAX_DAYS) {
            const preset = Number(q.get('preset'));
            setRange(from, to, [7, 30, 90].includes(preset) && to === state.site.today &&
                dayNum(to) - dayNum(from) + 1 === preset ? preset : null);
        }
        const prop = q.get('property');
        if (prop && prop.length <= 128)
            state.property = prop;
        state.compare = q.get('compare') === '1';
        $('compare').checked = state.compare;
        if (['day', 'week', 'month'].includes(q.get('interval')))
            state.interval = q.get('interval');
        $('interval').value = state.interval;
        if (DIMENSIONS.some(([d]) => d === q.get('dimension')))
            state.dimension = q.get('dimension');
        markTabs();
    }

    // ---- the range
    function setRange(from, to, preset) {
        state.from = from;
        state.to = to;
        state.preset = preset;
        state.offset = 0;
        $('from').value = from;
        $('to').value = to;
        for (const b of document.querySelectorAll('.preset'))
            b.setAttribute('aria-pressed', String(Number(b.dataset.days) === preset));
    }

    function customRange(ev) {
        ev.preventDefault();
        const from = $('from').value, to = $('to').value;
        let msg = '';
        if (!isDay(from) || !isDay(to))
            msg = 'Enter both days (YYYY-MM-DD).';
        else if (from > to)
            msg = 'The first day must not be after the last.';
        else if (dayNum(to) - dayNum(from) + 1 > MAX_DAYS)
            msg = 'At most ' + MAX_DAYS + ' days.';
        $('custom-msg').textContent = msg;
        if (msg)
            return;
        setRange(from, to, null);
        loadAll();
    }

    // ---- loading: one sequence number, so an answer to an older range never paints over a newer one
    async function loadAll() {
        const seq = ++state.loadSeq;
        writeHash();
        const n = dayNum(state.to) - dayNum(state.from) + 1;
        $('window-line').textContent = state.from + ' to ' + state.to + ' (' + n + (n === 1 ? ' day' : ' days') +
            (state.compare ? ', compared with ' + addDays(state.from, -n) + ' to ' + addDays(state.from, -1) : '') +
            '), days of ' + state.site.timeZone + ', property ' + state.property;
        $('main').setAttribute('aria-busy', 'true');
        try {
            const tasks = [loadSummary(seq), loadChart(seq), loadBreakdown(seq), loadRealtime()];
            const results = await Promise.allSettled(tasks);
            const bad = results.find((r) => r.status === 'rejected');
            if (seq !== state.loadSeq)
                return;
            if (bad)
                failed(bad.reason);
            else
                banner('');
        } finally {
            if (seq === state.loadSeq) {
                $('main').removeAttribute('aria-busy');
                // how many loads have finished: what the browser tests wait for
                $('main').dataset.loads = String(++state.loadsDone);
            }
        }
    }

    async function loadSummary(seq) {
        const s = await api('/v1/metrics/summary', windowParams({ compareTo: String(state.compare) }));
        if (seq !== state.loadSeq)
            return;
        renderSummary(s);
    }

    function renderSummary(s) {
        const m = s.metrics;
        const rolled = s.freshness.rolledUpThrough !== null;
        const kpis = {
            visitors: [m.uniqueVisitors, fmtInt],
            pageViews: [m.totalPageViews, fmtInt],
            leads: [m.newLeads, fmtInt],
            leadCaptureRate: [m.leadCaptureRate, fmtPct],
            formCompletionRate: [m.formCompletionRate, fmtPct],
            conversionRate: [m.landingPageConversionRate, fmtPct],
        };
        for (const [name, [metric, fmt]] of Object.entries(kpis)) {
            const li = document.querySelector('.kpi[data-kpi="' + name + '"]');
            const value = li.querySelector('.kpi-value'), delta = li.querySelector('.kpi-delta');
            delta.className = 'kpi-delta';
            delta.textContent = '';
            delta.removeAttribute('title');
            if (!rolled || !metric) {
                // no rollup yet: a dash, never a zero that looks like a measurement
                value.textContent = '—';
                value.title = rolled ? 'not reported by this API version' : 'rollups have not run yet';
                continue;
            }
            value.removeAttribute('title');
            value.textContent = fmt(metric.value);
            if (!state.compare)
                continue;
            if (metric.delta === null) {
                delta.textContent = 'no baseline';
                delta.title = 'the previous period is 0 or has no rollup';
            } else {
                delta.textContent = fmtDelta(metric.delta) + ' vs previous';
                if (metric.delta > 0)
                    delta.classList.add('up');
                else if (metric.delta < 0)
                    delta.classList.add('down');
            }
        }
        renderFreshness(s.freshness);
        renderIngest(s.ingest, s.freshness);
    }

    function renderFreshness(f) {
        const p = $('freshness');
        if (f.rolledUpThrough === null) {
            p.textContent = 'Rollups have not run yet for this property: there are no figures to show. ' +
                'They are computed by `backend rollups run` (the scheduler runs it periodically).';
            p.hidden = false;
            return;
        }
        const missing = Array.isArray(f.missingDays) ? f.missingDays : [];
        const parts = [];
        if (f.rolledUpThrough < state.to)
            parts.push('Figures are rolled up through ' + f.rolledUpThrough + '; later days of this range are ' +
                'not in them yet (marked in the chart).');
        if (missing.length)
            parts.push('Days without a rollup: ' + missing.join(', ') + '.');
        p.textContent = parts.join(' ');
        p.hidden = parts.length === 0;
    }

    function renderIngest(g, f) {
        const total = g.totalEventsAccepted + g.totalEventsRejected;
        $('in-success').textContent = total ? fmtPct(g.successPct) + ' (' + fmtInt(g.totalEventsAccepted) +
            ' of ' + fmtInt(total) + ')' : 'no events in this range';
        $('in-ttfb').textContent = g.p95TtfbMs === null ? 'no measurement' : fmtInt(g.p95TtfbMs) + ' ms';
        const bots = g.botsDropped || {};
        const sum = Object.values(bots).reduce((a, b) => a + b, 0);
        const detail = Object.entries(bots).filter(([, v]) => v > 0)
            .map(([k, v]) => fmtInt(v) + ' ' + (BOT_REASONS[k] || k));
        $('in-bots').textContent = fmtInt(sum) + (detail.length ? ' (' + detail.join(', ') + ')' : '');
        if (f.rolledUpThrough === null) {
            // accepted, rejected and TTFB come from the rollups: not measured yet, not zero
            $('in-success').textContent = 'not rolled up yet';
            $('in-ttfb').textContent = 'not rolled up yet';
            $('in-fresh').textContent = 'rollups have not run yet';
            $('in-generated').textContent = '—';
        } else {
            $('in-fresh').textContent = f.rolledUpThrough + ' (' + f.lagDays + (f.lagDays === 1 ? ' day' : ' days') +
                ' behind today)';
            $('in-generated').textContent = f.generatedAt;
        }
    }

    // ---- the chart
    async function loadChart(seq) {
        const n = dayNum(state.to) - dayNum(state.from) + 1;
        const cur = api('/v1/metrics/timeseries', windowParams({ interval: state.interval }));
        const prev = state.compare ? api('/v1/metrics/timeseries', windowParams({
            interval: state.interval, from: addDays(state.from, -n), to: addDays(state.from, -1),
        })) : null;
        const [c, p] = await Promise.all([cur, prev]);
        if (seq !== state.loadSeq)
            return;
        drawChart(c.buckets, p ? p.buckets : null, c.freshness);
        fillChartTable(c.buckets);
        $('chart').dataset.interval = state.interval;
    }

    const SVG = 'http://www.w3.org/2000/svg';
    function el(name, attrs, text) {
        const e = document.createElementNS(SVG, name);
        for (const [k, v] of Object.entries(attrs || {}))
            e.setAttribute(k, String(v));
        if (text !== undefined)
            e.textContent = text;
        return e;
    }

    // The y axis: four equal whole-number steps of 1, 2 or 5 times a power of ten, up to or above
    // max, so every grid line is a count that can really happen.
    const Y_STEPS = 4;
    function yStep(max) {
        const raw = max / Y_STEPS;
        if (raw <= 1)
            return 1;
        const p = Math.pow(10, Math.floor(Math.log10(raw)));
        for (const k of [1, 2, 5])
            if (k * p >= raw)
                return k * p;
        return 10 * p;
    }

    function drawChart(buckets, prev, freshness) {
        state.chartData = [buckets, prev, freshness];
        const box = $('chart');
        box.textContent = '';
        const legend = $('legend');
        legend.textContent = '';
        if (freshness && freshness.rolledUpThrough === null) {
            const p = document.createElement('p');
            p.className = 'empty';
            p.textContent = 'Rollups have not run yet: nothing to draw.';
            box.appendChild(p);
            return;
        }
        // drawn at the box's own width (redrawn on resize), so the labels keep their size on a phone
        const W = Math.max(280, Math.round(box.clientWidth || 720)), H = W < 560 ? 220 : 260;
        const L = 44, R = 14, T = 14, B = 34;
        const series = [['visitors', 'Visitors'], ['pageViews', 'Page views']];
        const all = buckets.concat(prev || []);
        const step = yStep(Math.max(0, ...all.filter((b) => b.complete)
            .flatMap((b) => series.map(([k]) => b[k]))));
        const max = step * Y_STEPS;
        const n = Math.max(buckets.length, prev ? prev.length : 0);
        const x = (i) => L + (n <= 1 ? (W - L - R) / 2 : i * (W - L - R) / (n - 1));
        const y = (v) => T + (H - T - B) * (1 - v / max);
        const svg = el('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-labelledby': 'chart-svg-title' });
        svg.appendChild(el('title', { id: 'chart-svg-title' }, 'Visitors and page views per ' + state.interval +
            ', ' + state.from + ' to ' + state.to + (prev ? ', with the previous period dashed' : '')));
        // grid and y labels
        for (let k = 0; k <= Y_STEPS; k++) {
            const v = step * k;
            svg.appendChild(el('line', { class: 'grid', x1: L, x2: W - R, y1: y(v), y2: y(v) }));
            svg.appendChild(el('text', { class: 'axis', x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, fmtInt(v)));
        }
        // buckets without a full rollup: a grey band, and no point (a gap, not a zero)
        const half = n <= 1 ? (W - L - R) / 2 : (W - L - R) / (n - 1) / 2;
        buckets.forEach((b, i) => {
            if (b.complete)
                return;
            const r = el('rect', { class: 'missing', x: Math.max(L, x(i) - half), y: T,
                width: Math.min(W - R, x(i) + half) - Math.max(L, x(i) - half), height: H - T - B });
            r.appendChild(el('title', {}, b.start + (b.end !== b.start ? ' to ' + b.end : '') + ': not rolled up'));
            svg.appendChild(r);
        });
        // x labels: first, middle, last
        const ticks = [...new Set([0, Math.floor((buckets.length - 1) / 2), buckets.length - 1])];
        for (const i of ticks)
            if (buckets[i])
                svg.appendChild(el('text', { class: 'axis', x: x(i), y: H - B + 16,
                    'text-anchor': i === 0 && n > 1 ? 'start' : i === buckets.length - 1 && n > 1 ? 'end' : 'middle' },
                buckets[i].start));
        const line = (bs, key, cls) => {
            // one path of segments, broken at every incomplete bucket
            let d = '', pen = false;
            bs.forEach((b, i) => {
                if (!b.complete) {
                    pen = false;
                    return;
                }
                d += (pen ? 'L' : 'M') + x(i).toFixed(1) + ' ' + y(b[key]).toFixed(1);
                pen = true;
            });
            if (d)
                svg.appendChild(el('path', { class: cls, d }));
            // single points (no neighbour to join) still show as dots
            bs.forEach((b, i) => {
                const before = bs[i - 1], after = bs[i + 1];
                if (b.complete && !(before && before.complete) && !(after && after.complete))
                    svg.appendChild(el('circle', { class: 'dot ' + key.replace('pageViews', 'views'), cx: x(i),
                        cy: y(b[key]), r: 3 }));
            });
        };
        if (prev)
            for (const [k] of series)
                line(prev, k, 'series prev ' + k.replace('pageViews', 'views'));
        for (const [k] of series)
            line(buckets, k, 'series ' + k.replace('pageViews', 'views'));
        box.appendChild(svg);
        const item = (cls, text) => {
            const li = document.createElement('li');
            const s = document.createElement('span');
            s.className = 'swatch ' + cls;
            li.append(s, text);
            legend.appendChild(li);
        };
        item('visitors', 'Visitors');
        item('views', 'Page views');
        if (prev) {
            item('visitors prev', 'Visitors, previous period');
            item('views prev', 'Page views, previous period');
        }
        if (buckets.some((b) => !b.complete))
            item('missing', 'Not rolled up yet');
    }

    function fillChartTable(buckets) {
        const body = $('chart-table').tBodies[0];
        body.textContent = '';
        for (const b of buckets) {
            const tr = body.insertRow();
            for (const v of [b.start, b.end, fmtInt(b.visitors), fmtInt(b.pageViews), fmtInt(b.leads),
                fmtInt(b.conversions), b.complete ? 'yes' : 'no'])
                tr.insertCell().textContent = v;
        }
    }

    // ---- breakdowns
    function buildTabs() {
        const list = $('bd-tabs');
        for (const [dim, label] of DIMENSIONS) {
            const b = document.createElement('button');
            b.type = 'button';
            b.setAttribute('role', 'tab');
            b.id = 'tab-' + dim;
            b.dataset.dimension = dim;
            b.setAttribute('aria-controls', 'bd-panel');
            b.textContent = label;
            b.addEventListener('click', () => selectTab(dim, false));
            list.appendChild(b);
        }
        // arrow keys move between tabs (WAI-ARIA tabs pattern); Tab leaves the list
        list.addEventListener('keydown', (ev) => {
            const i = DIMENSIONS.findIndex(([d]) => d === state.dimension);
            let j = null;
            if (ev.key === 'ArrowRight' || ev.key === 'ArrowDown')
                j = (i + 1) % DIMENSIONS.length;
            else if (ev.key === 'ArrowLeft' || ev.key === 'ArrowUp')
                j = (i - 1 + DIMENSIONS.length) % DIMENSIONS.length;
            else if (ev.key === 'Home')
                j = 0;
            else if (ev.key === 'End')
                j = DIMENSIONS.length - 1;
            if (j === null)
                return;
            ev.preventDefault();
            selectTab(DIMENSIONS[j][0], true);
        });
        markTabs();
    }

    function markTabs() {
        for (const b of document.querySelectorAll('#bd-tabs [role="tab"]')) {
            const on = b.dataset.dimension === state.dimension;
            b.setAttribute('aria-selected', String(on));
            b.tabIndex = on ? 0 : -1;
            if (on)
                $('bd-panel').setAttribute('aria-labelledby', b.id);
        }
    }

    function selectTab(dim, focus) {
        state.dimension = dim;
        writeHash();
        state.offset = 0;
        markTabs();
        if (focus)
            $('tab-' + dim).focus();
        loadBreakdown(state.loadSeq).catch(failed);
    }

    async function loadBreakdown(seq) {
        const dim = state.dimension, offset = state.offset;
        const b = await api('/v1/metrics/breakdown', windowParams({
            dimension: dim, limit: String(BREAKDOWN_LIMIT), offset: String(offset),
        }));
        if (seq !== state.loadSeq || dim !== state.dimension || offset !== state.offset)
            return;
        const body = $('bd-table').tBodies[0];
        body.textContent = '';
        for (const v of b.values) {
            const tr = body.insertRow();
            for (const cell of [v.value, fmtInt(v.visitors), fmtInt(v.pageViews), fmtInt(v.entrances),
                fmtInt(v.conversions), fmtPct(v.share)])
                tr.insertCell().textContent = cell;
        }
        const label = DIMENSIONS.find(([d]) => d === dim)[1];
        $('bd-caption').textContent = b.valuesTotal === 0
            ? label + ': no values in this range' + (b.totals.visitors === 0 ? ' (or rollups have not run yet)' : '')
            : label + ': ' + (offset + 1) + '–' + (offset + b.values.length) + ' of ' + fmtInt(b.valuesTotal) +
              ' values, ordered by visitors';
        $('bd-caption').dataset.dimension = dim;
        $('bd-prev').disabled = offset === 0;
        $('bd-next').disabled = offset + b.values.length >= b.valuesTotal;
    }

    function page(step) {
        state.offset = Math.max(0, state.offset + step * BREAKDOWN_LIMIT);
        loadBreakdown(state.loadSeq).catch(failed);
    }

    // ---- CSV: fetched with the key (a plain link could not send it), then saved from a Blob
    async function downloadCsv(dimension) {
        try {
            const q = new URLSearchParams(windowParams({ dimension }));
            const r = await request('/v1/metrics/export.csv?' + q);
            const blob = await r.blob();
            const cd = r.headers.get('Content-Disposition') || '';
            const m = /filename="([^"]+)"/.exec(cd);
            const a = document.createElement('a');
            a.href = URL.createObjectURL(blob);
            a.download = m ? m[1] : 'metrics-' + dimension + '-' + state.from + '-' + state.to + '.csv';
            document.body.appendChild(a);
            a.click();
            a.remove();
            setTimeout(() => URL.revokeObjectURL(a.href), 10000);
        } catch (e) {
            failed(e);
        }
    }

    // ---- realtime: raw events of the last minutes, refreshed every 30 s
    async function loadRealtime() {
        if (!state.key)
            return;
        let r;
        try {
            r = await api('/v1/metrics/realtime', { propertyId: state.property });
        } catch (e) {
            if (e instanceof ApiError && e.status === 401)
                return failed(e);
            $('rt-at').textContent = 'Could not refresh (' + (e.status || 'network error') + '); retrying in 30 s.';
            throw e;
        }
        $('rt-v5').textContent = fmtInt(r.last5Minutes.visitors);
        $('rt-p5').textContent = fmtInt(r.last5Minutes.pageViews);
        $('rt-v30').textContent = fmtInt(r.last30Minutes.visitors);
        $('rt-p30').textContent = fmtInt(r.last30Minutes.pageViews);
        $('rt-at').textContent = 'As of ' + r.generatedAt + ', refreshed every 30 s.';
    }

    // ---- wiring
    function init() {
        buildTabs();
        $('login-form').addEventListener('submit', (ev) => {
            ev.preventDefault();
            const key = $('key').value.trim();
            if (!key) {
                $('login-msg').textContent = 'Enter the admin key.';
                return;
            }
            $('login-msg').textContent = '';
            $('login-submit').disabled = true;
            signIn(key).finally(() => { $('login-submit').disabled = false; });
        });
        $('logout').addEventListener('click', () => signOut('Signed out.'));
        for (const b of document.querySelectorAll('.preset'))
            b.addEventListener('click', () => {
                const days = Number(b.dataset.days);
                setRange(addDays(state.site.today, -(days - 1)), state.site.today, days);
                loadAll();
            });
        $('custom').addEventListener('submit', customRange);
        $('compare').addEventListener('change', () => {
            state.compare = $('compare').checked;
            loadAll();
        });
        $('interval').addEventListener('change', () => {
            state.interval = $('interval').value;
            writeHash();
            loadChart(state.loadSeq).catch(failed);
        });
        $('property').addEventListener('change', () => {
            state.property = $('property').value;
            state.offset = 0;
            loadAll();
        });
        let resizing = null;
        window.addEventListener('resize', () => {
            clearTimeout(resizing);
            resizing = setTimeout(() => state.chartData && drawChart(...state.chartData), 150);
        });
        $('bd-prev').addEventListener('click', () => page(-1));
        $('bd-next').addEventListener('click', () => page(1));
        $('bd-csv').addEventListener('click', () => downloadCsv(state.dimension));
        $('daily-csv').addEventListener('click', () => downloadCsv('daily'));
        const saved = sessionStorage.getItem(KEY_STORE);
        if (saved)
            signIn(saved);
        else
            showLogin('');
    }

    if (document.readyState === 'loading')
        document.addEventListener('DOMContentLoaded', init);
    else
        init();
})();
