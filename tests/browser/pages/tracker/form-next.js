// form-next.html's own script: what a site does with ?actx_error (the fields the service refused).
'use strict';
const failed = new URLSearchParams(location.search).get('actx_error');
if (failed) {
    const p = document.getElementById('form-error');
    p.textContent = 'Please check: ' + failed.split(',').join(', ');
    p.hidden = false;
    for (const name of failed.split(',')) {
        const input = document.querySelector('#lead [name="' + CSS.escape(name) + '"]');
        if (input)
            input.setAttribute('aria-invalid', 'true');
    }
}
