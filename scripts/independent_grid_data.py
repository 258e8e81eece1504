#!/usr/bin/env python3
"""Seed-format grid readings from a generator that is not gridwatch's (numpy, Gaussian noise).

Written from the description of the "noisy but realistic" file that made gridwatch's
first alarm rules flood: N substations x D days at 15 min, generation ~ 1.06 x load with
noise, voltage centres spread up to the limits, some substations with a steady frequency
bias of +0.06 Hz. No anomalies are injected: every alarm except the biased substations'
frequency alarms is a nuisance.

    python3 scripts/independent_grid_data.py --substations 340 --days 37 --out DIR [--daily]
    python3 scripts/independent_grid_data.py --target-mb 1000 --out DIR --name grid_1000mb.csv

With --target-mb the single file grows, 15 minutes at a time, until it reaches that many
megabytes (10^6 bytes); --days is then ignored (340 substations: ~2.6 MB a day).
"""
import argparse
import datetime as dt
import os

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--substations", type=int, default=340)
    ap.add_argument("--days", type=int, default=37)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--bias-share", type=float, default=0.05, help="share of substations with +0.06 Hz")
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--daily", action="store_true", help="one file per day (else one file)")
    ap.add_argument("--target-mb", type=float, help="one file of about this size (MB) instead of --days")
    ap.add_argument("--name", default="independent.csv", help="file name of the single file")
    a = ap.parse_args()
    if a.target_mb and a.daily:
        ap.error("--target-mb makes one file; it cannot be combined with --daily")
    rng = np.random.default_rng(a.seed)
    n = a.substations
    target_bytes = int(a.target_mb * 1e6) if a.target_mb else None
    steps = a.days * 96 if target_bytes is None else 1 << 40
    start = dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)
    base = rng.uniform(40, 300, n)
    v_centre = rng.uniform(13.56, 14.04, n)
    biased = rng.random(n) < a.bias_share
    os.makedirs(a.out, exist_ok=True)
    header = "timestamp,location,load_mw,generation_mw,voltage_kv,frequency_hz,solar_mw,wind_mw,power_factor\n"
    out = None
    written = 0
    for k in range(steps):
        if target_bytes is not None and written >= target_bytes:
            break
        ts = start + dt.timedelta(minutes=15 * k)
        hour = (k * 0.25) % 24
        daily = 0.75 + 0.25 * np.sin((hour - 8) / 24 * 2 * np.pi) + 0.1 * np.exp(-((hour - 19) ** 2) / 4)
        if out is None or (a.daily and k % 96 == 0):
            if out:
                out.close()
            name = f"grid_{ts:%Y-%m-%d}.csv" if a.daily else a.name
            out = open(os.path.join(a.out, name), "w")
            out.write(header)
            written += len(header)
        load = base * daily * (1 + 0.03 * rng.standard_normal(n))
        gen = load * 1.06 * (1 + 0.02 * rng.standard_normal(n))
        volt = v_centre + 0.04 * rng.standard_normal(n)
        freq = 60 + np.where(biased, 0.06, 0.0) + 0.01 * rng.standard_normal(n)
        sun = max(0.0, np.sin((hour - 6) / 12 * np.pi))
        solar = 0.2 * base * sun * rng.uniform(0.5, 1.0, n)
        wind = 0.1 * base * rng.uniform(0, 1, n)
        pf = np.clip(0.95 + 0.01 * rng.standard_normal(n), 0.85, 1.0)
        stamp = ts.strftime("%Y-%m-%dT%H:%M:%S")
        block = "".join(
            f"{stamp},sub_{i:03d},{load[i]:.3f},{gen[i]:.3f},{volt[i]:.4f},{freq[i]:.4f},{solar[i]:.3f},{wind[i]:.3f},{pf[i]:.3f}\n"
            for i in range(n))
        out.write(block)
        written += len(block)
    out.close()
    days = k / 96 if target_bytes is not None else a.days
    print(f"{n} substations x {days:g} days; {int(biased.sum())} with a +0.06 Hz bias: "
          + " ".join(f"sub_{i:03d}" for i in np.flatnonzero(biased)))


if __name__ == "__main__":
    main()
