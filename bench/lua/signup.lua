-- POST /users with a new address each time: args = run nonce, password.
-- thread id + counter + nonce keeps every address unique within and across runs.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")

unexpected = 0
local counter = 0
local nonce, password

function init(args)
  nonce = args[1]
  password = args[2]
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"email": "s%s-t%d-%d@example.com", "password": "%s", "full_name": "Bench"}',
    nonce, id, counter, password)
  return wrk.format("POST", "/users", { ["Content-Type"] = "application/json" }, body)
end

function response(status, headers, body)
  if status ~= 201 then
    unexpected = unexpected + 1
  end
end
