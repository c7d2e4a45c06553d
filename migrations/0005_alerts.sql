-- Why a case needs attention now, derived from its latest observations
-- (see `alerts::refresh`): 'spo2' (SpO2 at or below 93 %) or 'fever'
-- (a temperature of 37.5 °C or more that rose since the previous reading).
-- NULL when nothing is wrong. Kept up to date in the transaction that adds
-- an observation, so the case list can filter on it.
ALTER TABLE cases ADD COLUMN alert TEXT;
CREATE INDEX cases_with_alert ON cases(alert) WHERE alert IS NOT NULL;

-- The centre's dashboard counts notifications per day.
CREATE INDEX cases_by_entered_at ON cases(entered_at);
