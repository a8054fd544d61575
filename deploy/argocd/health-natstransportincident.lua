-- Argo CD health check for natsguard.io/NatsTransportIncident.
-- Runs in Argo CD's sandbox (base, table and package libraries only: no string library).
--   Healthy     Resolved (the override is gone; kept for the policy's retention)
--   Progressing Active or DeadlineApproaching: a break-glass override within its deadline is an
--               acknowledged, time-boxed state that is expected to end with a rollback, not a failure.
--               The policy itself already reports the override (Compliant=False => Degraded).
--   Degraded    Overdue: the rollback deadline has passed and a human must act now
--   Progressing no status yet (natsguard has not written the state)
--   Unknown     any other state (a newer natsguard than this script)
local hs = {}

local function describe(spec)
  local s = "override on Deployment "
  if spec ~= nil and spec.deployment ~= nil and spec.deployment.name ~= nil then
    s = s .. spec.deployment.name
  else
    s = s .. "(unknown)"
  end
  if spec ~= nil and spec.owner ~= nil and spec.owner ~= "" then
    s = s .. ", owner " .. spec.owner
  else
    s = s .. ", no owner recorded"
  end
  if spec ~= nil and spec.rollbackBy ~= nil then
    s = s .. ", rollback by " .. spec.rollbackBy
  end
  return s
end

local spec = obj.spec
local state = nil
if obj.status ~= nil then
  state = obj.status.state
end

if state == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for natsguard to record the incident's state: " .. describe(spec)
elseif state == "Resolved" then
  hs.status = "Healthy"
  local how = ""
  if obj.status.resolution ~= nil then
    how = " (" .. obj.status.resolution .. ")"
  end
  hs.message = "Resolved" .. how .. ": " .. describe(spec)
elseif state == "Active" then
  hs.status = "Progressing"
  hs.message = "Active " .. describe(spec)
elseif state == "DeadlineApproaching" then
  hs.status = "Progressing"
  hs.message = "Deadline approaching: " .. describe(spec)
elseif state == "Overdue" then
  hs.status = "Degraded"
  hs.message = "Overdue: " .. describe(spec)
else
  hs.status = "Unknown"
  hs.message = "Unrecognised incident state " .. tostring(state)
end
return hs
