-- request-id.lua - an id for every request that reaches the routing stage: 16 hex digits, put in
-- the request's environment as REQUEST_ID. lighttpd hands the environment to the responders as a
-- FastCGI parameter (their log lines for the request carry it as "request_id") and the access log
-- writes it (%{REQUEST_ID}e), so the two lines of one request can be joined. A client's
-- X-Request-Id header is not used: it would let a client forge or collide ids in our logs.
-- lighty.c.rand() is lighttpd's PRNG (seeded from the kernel): unique enough for an id, not a secret.
local function hex32()
    return string.format("%08x", lighty.c.rand() % 0x100000000)
end
lighty.r.req_env["REQUEST_ID"] = hex32() .. hex32()
