-- static-method.lua - every method on the static documents (/v1/healthz, /v1/openapi.json) but
-- GET, HEAD (the file) and OPTIONS (the responders' CORS preflight), and on the tracker's files
-- (/t.js, /t.vitals.js, /t.plus.js) and the dashboard's (/dashboard/...) every method but GET
-- and HEAD: 405 in the API's envelope, with Allow, and no responder. Run by mod_magnet only for
-- those methods (lighttpd.conf), so GET/HEAD never start Lua.
local r = lighty.r
r.resp_header["Allow"] = "GET, HEAD"
r.resp_header["Content-Type"] = "application/json; charset=utf-8"
r.resp_header["Cache-Control"] = "no-store"
r.resp_body.set('{"ok":false,"error":"method_not_allowed"}')
return 405
