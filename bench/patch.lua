-- wrk script: PATCH /profile with a different first name each time, so every
-- request is a real versioned write.
wrk.method = "PATCH"
wrk.headers["Content-Type"] = "application/json"
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, nil, nil, '{"firstName":"Bench' .. counter .. '"}')
end
