#!/usr/bin/env python3
"""The peers of `gridwatch analyze` in scripts/bench_peers.sh, one tool per process so each
gets its own wall time and peak RSS (measured outside, by /usr/bin/time).

Every tool computes the same two queries on a seed-format CSV: the per-substation summary
(rows, load avg/min/max/std, generation, voltage and frequency averages) and the hourly
group-by (per substation and hour: count, load avg/min/max, generation/solar/wind sums,
voltage and frequency avg/min/max). The summary is written as JSON for `compare`.

    python3 bench_peers.py polars|duckdb|pandas|python FILE.csv SUMMARY.json
    python3 bench_peers.py gridwatch-summary REPORT.json SUMMARY.json   # from `analyze --json`
    python3 bench_peers.py compare GRIDWATCH.json POLARS.json
"""
import csv
import json
import math
import sys

SUMMARY_KEYS = ["rows", "load_avg", "load_min", "load_max", "load_std", "generation_avg", "voltage_avg", "frequency_avg"]


def write_summary(path, summary, hourly_rows):
    with open(path, "w") as f:
        json.dump({"hourly_rows": hourly_rows, "locations": summary}, f)


def run_polars(path, out):
    import polars as pl

    lf = pl.scan_csv(path, try_parse_dates=True)
    summary = lf.group_by("location").agg(
        pl.len().alias("rows"),
        pl.col("load_mw").mean().alias("load_avg"),
        pl.col("load_mw").min().alias("load_min"),
        pl.col("load_mw").max().alias("load_max"),
        pl.col("load_mw").std().alias("load_std"),
        pl.col("generation_mw").mean().alias("generation_avg"),
        pl.col("voltage_kv").mean().alias("voltage_avg"),
        pl.col("frequency_hz").mean().alias("frequency_avg"),
    )
    hourly = lf.group_by("location", pl.col("timestamp").dt.truncate("1h").alias("hour")).agg(
        pl.len().alias("count"),
        pl.col("load_mw").mean().alias("load_avg"),
        pl.col("load_mw").min().alias("load_min"),
        pl.col("load_mw").max().alias("load_max"),
        pl.col("generation_mw").sum().alias("generation"),
        pl.col("solar_mw").sum().alias("solar"),
        pl.col("wind_mw").sum().alias("wind"),
        pl.col("voltage_kv").mean().alias("voltage_avg"),
        pl.col("voltage_kv").min().alias("voltage_min"),
        pl.col("voltage_kv").max().alias("voltage_max"),
        pl.col("frequency_hz").mean().alias("frequency_avg"),
        pl.col("frequency_hz").min().alias("frequency_min"),
        pl.col("frequency_hz").max().alias("frequency_max"),
    )
    # One scan for both queries (collect_all shares the common subplan).
    summary, hourly = pl.collect_all([summary, hourly])
    write_summary(out, {r["location"]: {k: r[k] for k in SUMMARY_KEYS} for r in summary.iter_rows(named=True)}, hourly.height)


def run_duckdb(path, out):
    import duckdb

    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT * FROM read_csv(?, header = true)", [path])
    rows = con.execute(
        """SELECT location, count(*), avg(load_mw), min(load_mw), max(load_mw), stddev_samp(load_mw),
                  avg(generation_mw), avg(voltage_kv), avg(frequency_hz)
           FROM t GROUP BY location"""
    ).fetchall()
    # Materialised so that no aggregate can be optimised away.
    con.execute(
        """CREATE TABLE hourly AS SELECT location, date_trunc('hour', "timestamp") AS hour, count(*) AS n,
                  avg(load_mw), min(load_mw), max(load_mw), sum(generation_mw), sum(solar_mw), sum(wind_mw),
                  avg(voltage_kv), min(voltage_kv), max(voltage_kv),
                  avg(frequency_hz), min(frequency_hz), max(frequency_hz)
           FROM t GROUP BY ALL"""
    )
    hourly_rows = con.execute("SELECT count(*) FROM hourly").fetchone()[0]
    write_summary(out, {r[0]: dict(zip(SUMMARY_KEYS, r[1:])) for r in rows}, hourly_rows)


def run_pandas(path, out):
    import pandas as pd

    df = pd.read_csv(path, parse_dates=["timestamp"])
    df["hour"] = df["timestamp"].dt.floor("h")
    hourly = df.groupby(["location", "hour"]).agg(
        count=("load_mw", "size"),
        load_avg=("load_mw", "mean"),
        load_min=("load_mw", "min"),
        load_max=("load_mw", "max"),
        generation=("generation_mw", "sum"),
        solar=("solar_mw", "sum"),
        wind=("wind_mw", "sum"),
        voltage_avg=("voltage_kv", "mean"),
        voltage_min=("voltage_kv", "min"),
        voltage_max=("voltage_kv", "max"),
        frequency_avg=("frequency_hz", "mean"),
        frequency_min=("frequency_hz", "min"),
        frequency_max=("frequency_hz", "max"),
    )
    summary = df.groupby("location").agg(
        rows=("load_mw", "size"),
        load_avg=("load_mw", "mean"),
        load_min=("load_mw", "min"),
        load_max=("load_mw", "max"),
        load_std=("load_mw", "std"),
        generation_avg=("generation_mw", "mean"),
        voltage_avg=("voltage_kv", "mean"),
        frequency_avg=("frequency_hz", "mean"),
    )
    write_summary(out, {loc: {k: float(r[k]) for k in SUMMARY_KEYS} for loc, r in summary.iterrows()}, len(hourly))


def run_python(path, out):
    """The seed's approach: csv.DictReader, every value kept in lists per substation and hour."""
    by_location, by_hour = {}, {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            loc = row["location"]
            values = (float(row["load_mw"]), float(row["generation_mw"]), float(row["voltage_kv"]),
                      float(row["frequency_hz"]), float(row["solar_mw"]), float(row["wind_mw"]))
            by_location.setdefault(loc, []).append(values)
            by_hour.setdefault((loc, row["timestamp"][:13]), []).append(values)
    hourly = {}
    for key, vals in by_hour.items():
        load = [v[0] for v in vals]
        volt = [v[2] for v in vals]
        freq = [v[3] for v in vals]
        hourly[key] = (len(vals), sum(load) / len(load), min(load), max(load), sum(v[1] for v in vals),
                       sum(v[4] for v in vals), sum(v[5] for v in vals), sum(volt) / len(volt), min(volt),
                       max(volt), sum(freq) / len(freq), min(freq), max(freq))
    summary = {}
    for loc, vals in by_location.items():
        load = [v[0] for v in vals]
        n = len(load)
        mean = sum(load) / n
        std = math.sqrt(sum((x - mean) ** 2 for x in load) / (n - 1)) if n > 1 else 0.0
        summary[loc] = dict(zip(SUMMARY_KEYS, (n, mean, min(load), max(load), std, sum(v[1] for v in vals) / n,
                                               sum(v[2] for v in vals) / n, sum(v[3] for v in vals) / n)))
    write_summary(out, summary, len(hourly))


def gridwatch_summary(report_path, out):
    with open(report_path) as f:
        reports = json.load(f)
    summary = {}
    for report in reports if isinstance(reports, list) else [reports]:
        for s in report["locations"]:
            summary[s["location"]] = {
                "rows": s["rows"], "load_avg": s["load_mw"]["avg"], "load_min": s["load_mw"]["min"],
                "load_max": s["load_mw"]["max"], "load_std": s["load_mw"]["std"],
                "generation_avg": s["generation_avg_mw"], "voltage_avg": s["voltage_kv"]["avg"],
                "frequency_avg": s["frequency_hz"]["avg"],
            }
    write_summary(out, summary, None)


def compare(ours_path, theirs_path):
    with open(ours_path) as f:
        ours = json.load(f)["locations"]
    with open(theirs_path) as f:
        theirs = json.load(f)["locations"]
    if set(ours) != set(theirs):
        print(f"DISAGREE: substations differ ({len(ours)} vs {len(theirs)})")
        return 1
    worst, where = 0.0, ""
    for loc, a in ours.items():
        b = theirs[loc]
        for k in SUMMARY_KEYS:
            diff = abs(a[k] - b[k]) / max(abs(b[k]), 1e-300)
            if diff > worst:
                worst, where = diff, f"{loc} {k}: {a[k]!r} vs {b[k]!r}"
    verdict = "AGREE" if worst <= 1e-9 else "DISAGREE"
    print(f"{verdict}: {len(ours)} substations x {len(SUMMARY_KEYS)} metrics, largest relative difference "
          f"{worst:.1e}{' (' + where + ')' if where else ''}")
    return 0 if verdict == "AGREE" else 1


def main():
    tool = sys.argv[1]
    if tool == "compare":
        sys.exit(compare(sys.argv[2], sys.argv[3]))
    runners = {"polars": run_polars, "duckdb": run_duckdb, "pandas": run_pandas, "python": run_python,
               "gridwatch-summary": gridwatch_summary}
    runners[tool](sys.argv[2], sys.argv[3])


if __name__ == "__main__":
    main()
