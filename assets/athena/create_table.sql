-- The Athena table over the hourly rollups the Lambda writes to
--   s3://<bucket>/results/hourly/day=YYYY-MM-DD/<raw file>.json.gz
-- (gzip JSON lines, one HourlyRollup per line, every substation of that day in that raw
-- file; layout and writer: src/athena.rs).
--
-- assets/template.yaml creates the same database, table and a workgroup, so after
-- `aws cloudformation deploy` there is nothing to run here. This file is for a manual
-- setup: replace YOUR_BUCKET (two places) and run the two statements in the Athena console
-- or with `gridwatch sql --backend aws --file assets/athena/create_table.sql`.
--
-- Partition projection on `day` (type date): Athena computes the partitions from the
-- query's `WHERE day ...` condition, so new days need no MSCK REPAIR TABLE, no crawler,
-- and no ALTER TABLE ADD PARTITION. Queries without a day condition read every day from
-- projection.day.range's start. `location` is an ordinary column, not a partition (a
-- projected partition column would need its values known in advance).

-- name: create_database
CREATE DATABASE IF NOT EXISTS gridwatch;

-- name: create_table
CREATE EXTERNAL TABLE IF NOT EXISTS gridwatch.hourly (
  `location` string,
  `timestamp` string,
  `count` bigint,
  `load_avg_mw` double,
  `load_min_mw` double,
  `load_peak_mw` double,
  `generation_avg_mw` double,
  `solar_avg_mw` double,
  `wind_avg_mw` double,
  `renewable_penetration` double,
  `voltage_avg_kv` double,
  `voltage_min_kv` double,
  `voltage_max_kv` double,
  `frequency_avg_hz` double,
  `frequency_min_hz` double,
  `frequency_max_hz` double,
  `frequency_max_dev_hz` double,
  `power_factor_avg` double,
  `power_factor_defaulted` bigint,
  `stability_score` double,
  `efficiency_score` double,
  `alert_status` string,
  `alert_reasons` array<string>
)
PARTITIONED BY (`day` string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES ('ignore.malformed.json' = 'true')
STORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION 's3://YOUR_BUCKET/results/hourly/'
TBLPROPERTIES (
  'classification' = 'json',
  'compressionType' = 'gzip',
  'projection.enabled' = 'true',
  'projection.day.type' = 'date',
  'projection.day.format' = 'yyyy-MM-dd',
  'projection.day.range' = '2020-01-01,NOW+1DAYS',
  'projection.day.interval' = '1',
  'projection.day.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://YOUR_BUCKET/results/hourly/day=${day}/'
);
