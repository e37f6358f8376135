-- wrk script: POST one AdmissionReview body (path in the BODY environment variable) to the webhook.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open(os.getenv("BODY") or "body.json", "rb"))
wrk.body = f:read("*a")
f:close()

-- Count non-200 answers so a broken server cannot look fast.
local bad = 0
function response(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
end
function done(summary, latency, requests)
  io.write(string.format("non-200 responses (last thread): %d\n", bad))
end
