-- wrk script for benches/console_overhead.sh: ListSessions MaxResults=100, unsigned (open mode).
wrk.method = "POST"
wrk.path = "/"
wrk.headers["Content-Type"] = "application/x-amz-json-1.1"
wrk.headers["X-Amz-Target"] = "AWSGlue.ListSessions"
wrk.body = '{"MaxResults": 100}'

-- Fail loudly if the server answers anything but 200 (a bench of error pages measures nothing).
response = function(status, headers, body)
  if status ~= 200 then
    error("ListSessions answered " .. status .. ": " .. body)
  end
end
