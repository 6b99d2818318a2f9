-- metrics-only.lua - every path but /metrics on the metrics listener (metrics.conf): 404 in the
-- API's envelope from lighttpd, no responder, no static file.
local r = lighty.r
r.resp_header["Content-Type"] = "application/json; charset=utf-8"
r.resp_header["Cache-Control"] = "no-store"
r.resp_body.set('{"ok":false,"error":"not_found"}')
return 404
