// The snippet's queue stub (an external file: the test site's CSP allows no inline script), and a
// custom event called before t.js has loaded, which must not be lost.
window.actx = window.actx || function () { (actx.q = actx.q || []).push(arguments); };
actx('signup_click', { plan: 'pro' });
