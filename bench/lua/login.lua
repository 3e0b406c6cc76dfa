-- POST /login with one account's credentials: args = email, password.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")

local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c)
    return string.format("%%%02X", string.byte(c))
  end))
end

-- wrk builds its fixed request after init(), so setting wrk.* here is enough.
function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.body = "username=" .. urlencode(args[1]) .. "&password=" .. urlencode(args[2])
end
