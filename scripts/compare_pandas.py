#!/usr/bin/env python3
"""The seed tutorial's way (pandas, whole file in memory) on the same input as gridwatch.

Computes what gridwatch computes per substation and hour (load avg/min/max, generation,
solar, wind, renewable share, voltage avg/min/max, frequency avg/min/max) and the per-file
load statistics, and prints wall time and peak memory. Used by scripts/bench_compare.sh.

    python3 compare_pandas.py FILE.csv
"""
import resource
import sys
import time

import pandas as pd

start = time.perf_counter()
df = pd.read_csv(sys.argv[1], parse_dates=["timestamp"])
df["hour"] = df["timestamp"].dt.floor("h")
hourly = df.groupby(["location", "hour"]).agg(
    count=("load_mw", "size"),
    load_avg_mw=("load_mw", "mean"),
    load_min_mw=("load_mw", "min"),
    load_peak_mw=("load_mw", "max"),
    generation=("generation_mw", "sum"),
    solar=("solar_mw", "sum"),
    wind=("wind_mw", "sum"),
    voltage_avg_kv=("voltage_kv", "mean"),
    voltage_min_kv=("voltage_kv", "min"),
    voltage_max_kv=("voltage_kv", "max"),
    frequency_avg_hz=("frequency_hz", "mean"),
    frequency_min_hz=("frequency_hz", "min"),
    frequency_max_hz=("frequency_hz", "max"),
)
hourly["renewable_penetration"] = (hourly["solar"] + hourly["wind"]) / hourly["generation"]
summary = df.groupby("location")["load_mw"].agg(["mean", "min", "max", "std"])
elapsed = time.perf_counter() - start
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"pandas {pd.__version__}: {len(df)} rows, {len(hourly)} hourly rollups, {elapsed:.2f} s, peak RSS {peak_mb:.0f} MB")
