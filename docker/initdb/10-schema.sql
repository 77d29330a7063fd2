-- The plant historian's four tables, exactly as the plant names them (quoted: names hold a
-- slash), each with a btree index on "time" (the live poll reads the newest rows by time).
-- Run once by the postgres image on an empty data directory; idempotent.
CREATE TABLE IF NOT EXISTS "CM_HAM_DO_AI1/Temp_value" (time timestamp without time zone, value double precision);
CREATE TABLE IF NOT EXISTS "CM_HAM_PH_AI1/pH_value" (time timestamp without time zone, value double precision);
CREATE TABLE IF NOT EXISTS "CM_PID_DO/Process_DO" (time timestamp without time zone, value double precision);
CREATE TABLE IF NOT EXISTS "CM_PRESSURE/Output" (time timestamp without time zone, value double precision);

CREATE INDEX IF NOT EXISTS temperature_time_idx ON "CM_HAM_DO_AI1/Temp_value" (time);
CREATE INDEX IF NOT EXISTS ph_time_idx ON "CM_HAM_PH_AI1/pH_value" (time);
CREATE INDEX IF NOT EXISTS dissolved_oxygen_time_idx ON "CM_PID_DO/Process_DO" (time);
CREATE INDEX IF NOT EXISTS pressure_time_idx ON "CM_PRESSURE/Output" (time);

-- The site's batches and phases (TRENDING_CONFIG's [events]): the simulator writes them as a
-- site's MES would, one row per phase and one per batch, a running one without its end.
CREATE TABLE IF NOT EXISTS batch_events (start_time timestamp without time zone, end_time timestamp without time zone, batch_id text, phase text, unit text, description text);
