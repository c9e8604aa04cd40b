-- wrk script for the authentication rows of proxy_bench.py: every request carries the same
-- bearer token, read once per thread from the file named after the URL:
--   wrk -t1 -c32 -d10s -s bench/bearer.lua http://127.0.0.1:PORT/bench TOKEN_FILE
-- The token is set in init(), before wrk formats its request, so wrk still sends one
-- pre-built request and spends no Lua per request (no request() or response() here).

function init(args)
  local path = args[1]
  if path == nil then
    error("bearer.lua: give the token file after the URL")
  end
  local file = assert(io.open(path, "r"))
  local token = file:read("*l")
  file:close()
  if token == nil or token == "" then
    error("bearer.lua: the token file is empty")
  end
  wrk.headers["Authorization"] = "Bearer " .. token
end
