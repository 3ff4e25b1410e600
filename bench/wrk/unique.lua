-- A unique TopicId on every request: BENCH_BODY with "%s" where the id
-- goes; BENCH_NONCE keeps ids unique across rounds and runs.
local template = os.getenv("BENCH_BODY")
local nonce = os.getenv("BENCH_NONCE") or "0"
local counter = 0
local headers = { ["Content-Type"] = "application/json" }

function request()
  counter = counter + 1
  return wrk.format("POST", nil, headers, string.format(template, nonce .. "-" .. counter))
end
