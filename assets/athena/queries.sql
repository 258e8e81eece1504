-- Example queries over the hourly rollups. Each one runs unchanged on both backends:
--
--   gridwatch sql --file assets/athena/queries.sql                      # all, local SQLite
--   gridwatch sql --file assets/athena/queries.sql --name renewable_share_per_substation
--   gridwatch sql --backend aws --file assets/athena/queries.sql --name peak_demand_per_day
--
-- They use the SQL both Athena (Trino) and SQLite understand: double-quoted identifiers
-- ("timestamp" is a reserved word in Athena), CASE, nullif, round, window functions.
-- `hourly` is the Athena table of assets/athena/create_table.sql; locally, `gridwatch sql`
-- provides a view of the same name and columns over the embedded database.
-- Columns: location, "timestamp" (hour start, RFC 3339 UTC text), count (readings),
-- load_avg_mw, load_min_mw, load_peak_mw, generation_avg_mw, solar_avg_mw, wind_avg_mw,
-- renewable_penetration, voltage_avg_kv/min/max, frequency_avg_hz/min/max,
-- frequency_max_dev_hz, power_factor_avg, power_factor_defaulted, stability_score,
-- efficiency_score, alert_status, alert_reasons, and the partition column day (YYYY-MM-DD).
--
-- On Athena, a condition on `day` limits what is read (and paid for); the other
-- conditions do not.

-- name: peak_demand_per_day
-- The highest load of each substation on each UTC day, with the hour it happened in.
SELECT location, day, "timestamp" AS peak_hour, load_peak_mw AS peak_mw
FROM (
    SELECT location, day, "timestamp", load_peak_mw,
           row_number() OVER (PARTITION BY location, day ORDER BY load_peak_mw DESC, "timestamp") AS rank_in_day
    FROM hourly
) ranked
WHERE rank_in_day = 1
ORDER BY location, day;

-- name: hours_under_13_5_kv
-- Per substation: hours whose average voltage was under 13.5 kV, hours with at least one
-- reading under 13.5 kV, and the lowest voltage seen.
SELECT location,
       count(*) AS hours,
       sum(CASE WHEN voltage_avg_kv < 13.5 THEN 1 ELSE 0 END) AS hours_avg_under_13_5_kv,
       sum(CASE WHEN voltage_min_kv < 13.5 THEN 1 ELSE 0 END) AS hours_any_under_13_5_kv,
       min(voltage_min_kv) AS lowest_kv
FROM hourly
GROUP BY location
ORDER BY location;

-- name: undervoltage_hours_2025
-- Every hour of 2025 with a reading under 13.5 kV (the day condition limits the scan).
SELECT location, "timestamp", voltage_avg_kv, voltage_min_kv, alert_status
FROM hourly
WHERE day BETWEEN '2025-01-01' AND '2025-12-31'
  AND voltage_min_kv < 13.5
ORDER BY location, "timestamp";

-- name: renewable_share_per_substation
-- Solar + wind as a share of generation over all stored hours (energy-weighted: each
-- hour's average MW counts as its MWh), highest share first.
SELECT location,
       round(100.0 * sum(solar_avg_mw + wind_avg_mw) / nullif(sum(generation_avg_mw), 0), 2) AS renewable_pct,
       round(100.0 * sum(solar_avg_mw) / nullif(sum(generation_avg_mw), 0), 2) AS solar_pct,
       round(100.0 * sum(wind_avg_mw) / nullif(sum(generation_avg_mw), 0), 2) AS wind_pct,
       round(sum(solar_avg_mw + wind_avg_mw), 1) AS renewable_mwh
FROM hourly
GROUP BY location
ORDER BY renewable_pct DESC, location;

-- name: alert_hours_per_day
-- Hours in warning or critical state per UTC day, over the whole grid.
SELECT day, alert_status, count(*) AS hours, count(DISTINCT location) AS substations
FROM hourly
WHERE alert_status <> 'normal'
GROUP BY day, alert_status
ORDER BY day, alert_status;
