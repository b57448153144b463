-- wrk script: PATCH /profile with a different first name each time, so every
-- request is a real versioned write. Requests rotate over the tokens in
-- TOKENS_FILE (one per line), i.e. over those tokens' customers.
local counter = 0
local tokens = {}
for line in io.lines(os.getenv("TOKENS_FILE")) do tokens[#tokens + 1] = line end

request = function()
  counter = counter + 1
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. tokens[(counter % #tokens) + 1],
  }
  return wrk.format("PATCH", nil, headers, '{"firstName":"Bench' .. counter .. '"}')
end
