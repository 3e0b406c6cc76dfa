-- POST /refresh token rotation: args = token file, number of wrk threads.
-- A rotation spends the token it presents, so each in-flight request needs its
-- own chain: every thread takes its slice of the pre-made refresh tokens as a
-- pool, request() pops one and response() pushes back its successor.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")

unexpected = 0
unauthorized = 0
dry = 0
local pool = {}

function init(args)
  local threads = tonumber(args[2])
  local index = 0
  for line in io.lines(args[1]) do
    if line ~= "" then
      if index % threads == id then
        table.insert(pool, line)
      end
      index = index + 1
    end
  end
end

function request()
  local token = table.remove(pool)
  if token == nil then
    -- Only a lost answer (timeout, dropped socket) empties a pool: count it,
    -- and send a token the service refuses rather than reuse a spent one.
    dry = dry + 1
    token = ""
  end
  return wrk.format("POST", "/refresh", { ["Content-Type"] = "application/json" },
    '{"refresh_token": "' .. token .. '"}')
end

function response(status, headers, body)
  if status == 401 then
    unauthorized = unauthorized + 1
  end
  local token = status == 200 and body:match('"refresh_token"%s*:%s*"([^"]+)"')
  if token then
    table.insert(pool, token)
  else
    unexpected = unexpected + 1
  end
end
