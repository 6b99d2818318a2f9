// t.plus.src.js - readable source of /t.plus.js, opt-in extras for /t.js (tracker/t.src.js) kept
// out of its 1,024-byte core: the form helpers and link events. Load it after t.js:
//
//   <script defer src="https://API/t.plus.js" data-outbound data-downloads></script>
//
// - The capture form's anonId: when a form is submitted, its empty input named anonId gets the
//   consented id (t.js keeps it in localStorage); without one (no consent, or GPC) the input is
//   disabled, so the form posts no anonId at all and the service derives the cookieless id.
// - The capture form's page: in a form that has an input named _next (the redirect target), an
//   empty input named path gets this page's path and query (less actx_error, the service's
//   "these fields failed" mark), so form_submit is recorded under the form's page and a failed
//   post comes back to it. Without _next, path is the redirect target and is left alone.
// - form_start: the first input in a <form data-actx-form="name"> sends form_start, props
//   {formName} (the attribute, else the form's name or id), once per form element.
// - data-outbound: a click on a link to another host sends outbound_click, props {url}.
// - data-downloads: a click on a link to a file sends file_download, props {url}; a file is a link
//   with the download attribute or one of the extensions below, or of data-downloads="pdf,zip".
// Links are reported as origin and path, never their query. Everything goes through
// window.actx, so t.js's rules (consent, GPC, ignore, localhost) apply.
(() => {
    const w = window, o = document.currentScript.dataset;
    // the snippet's queue, in case this file runs first
    w.actx = w.actx || function () {
        (w.actx.q = w.actx.q || []).push(arguments);
    };
    const on = (type, fn) => addEventListener(type, fn, true);

    // the consented id, as t.js keeps it; never under GPC
    const consentedId = () => {
        try {
            return (!navigator.globalPrivacyControl && localStorage.actx_id) || '';
        } catch (e) {
            return '';
        }
    };
    // capturing on the window: this runs before the site's own submit handler reads the form
    on('submit', (e) => {
        for (const input of e.target.elements || [])
            if (input.name == 'anonId' && (!input.value || input.dataset.actxFilled)) {
                input.value = consentedId();
                input.disabled = !input.value;
                input.dataset.actxFilled = '1';
            } else if (input.name == 'path' && !input.value && e.target.elements._next)
                input.value = location.pathname + location.search.replace(/([?&])actx_error=[^&]*&?/, '$1').replace(/[?&]$/, '');
    });

    const started = new WeakSet();
    on('input', (e) => {
        const f = e.target.form;
        if (f && f.dataset.actxForm !== undefined && !started.has(f)) {
            started.add(f);
            w.actx('form_start', { formName: f.dataset.actxForm || f.getAttribute('name') || f.id || 'form' });
        }
    });

    const extensions = o.downloads
        ? new RegExp('\\.(' + o.downloads.split(',').map((x) => x.trim().replace(/\W/g, '')).filter(Boolean).join('|') + ')$', 'i')
        : /\.(pdf|zip|gz|tgz|7z|rar|dmg|exe|msi|pkg|deb|rpm|apk|iso|csv|xlsx?|docx?|pptx?|odt|ods|epub|mp3|mp4|mov|wav)$/i;
    const link = (e) => {
        const a = e.target.closest && e.target.closest('a[href]');
        if (!a || !/^https?:$/.test(a.protocol) || (e.type == 'auxclick' && e.button != 1))
            return;
        const url = a.origin + a.pathname;
        if (o.downloads !== undefined && (a.hasAttribute('download') || extensions.test(a.pathname)))
            w.actx('file_download', { url });
        else if (o.outbound !== undefined && a.host != location.host)
            w.actx('outbound_click', { url });
    };
    on('click', link);
    // a middle click opens the link in a new tab
    on('auxclick', link);
})();
