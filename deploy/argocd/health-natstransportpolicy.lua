-- Argo CD health check for natsguard.io/NatsTransportPolicy.
-- Runs in Argo CD's sandbox (base, table and package libraries only: no string library).
--   Suspended   spec.suspend is true (the operator does not evaluate the policy)
--   Progressing no status yet, or status/condition observedGeneration older than metadata.generation,
--               or Ready/Compliant not decided yet
--   Degraded    IncidentOverdue=True, Ready=False or Compliant=False (message says which, most urgent first)
--   Healthy     Ready=True and Compliant=True for the current generation
local hs = {}

local function condition(status, t)
  if status == nil or status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == t then
      return c
    end
  end
  return nil
end

local function msg(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  if c ~= nil and c.reason ~= nil and c.reason ~= "" then
    return c.reason
  end
  return fallback
end

local function counts(status)
  local w = status.workloads or 0
  local ok = status.compliant or 0
  return tostring(ok) .. "/" .. tostring(w) .. " workloads compliant, " ..
    tostring(status.violations or 0) .. " violation(s), " ..
    tostring(status.overrides or 0) .. " override(s), " ..
    tostring(status.overdue or 0) .. " overdue"
end

if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "Policy is suspended: natsguard does not evaluate it"
  return hs
end

local generation = 0
if obj.metadata ~= nil and obj.metadata.generation ~= nil then
  generation = obj.metadata.generation
end
local status = obj.status
if status == nil or status.observedGeneration == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for natsguard to evaluate the policy"
  return hs
end
if status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for natsguard to evaluate generation " .. tostring(generation) ..
    " (status describes " .. tostring(status.observedGeneration) .. ")"
  return hs
end

local ready = condition(status, "Ready")
local compliant = condition(status, "Compliant")
local overdue = condition(status, "IncidentOverdue")

-- A condition computed for an older generation is not an answer for this one.
for _, c in ipairs(status.conditions or {}) do
  local judged = c.type == "Ready" or c.type == "Compliant" or c.type == "IncidentOverdue"
  if judged and c.observedGeneration ~= nil and c.observedGeneration < generation then
    hs.status = "Progressing"
    hs.message = "Waiting for natsguard to update condition " .. tostring(c.type) ..
      " for generation " .. tostring(generation)
    return hs
  end
end

if overdue ~= nil and overdue.status == "True" then
  hs.status = "Degraded"
  hs.message = "Break-glass override past its rollback deadline: " .. msg(overdue, counts(status))
  return hs
end
if ready ~= nil and ready.status == "False" then
  hs.status = "Degraded"
  hs.message = "Policy not ready: " .. msg(ready, "Ready=False")
  return hs
end
if compliant ~= nil and compliant.status == "False" then
  hs.status = "Degraded"
  hs.message = "Not compliant: " .. msg(compliant, counts(status))
  return hs
end
if ready ~= nil and ready.status == "True" and compliant ~= nil and compliant.status == "True" then
  hs.status = "Healthy"
  hs.message = counts(status)
  return hs
end

hs.status = "Progressing"
hs.message = "Waiting for natsguard to decide Ready and Compliant"
return hs
