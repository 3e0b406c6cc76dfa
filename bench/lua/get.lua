-- A fixed GET (path and headers from wrk's command line): wrk sends it
-- without calling into Lua per request, so the client costs least.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")
