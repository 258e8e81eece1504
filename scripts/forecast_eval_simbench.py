#!/usr/bin/env python3
"""Evaluate gridwatch's 24 h load forecast on real SimBench load profiles.

SimBench (https://simbench.de, PyPI package `simbench`) ships one year (2016) of
real 15-minute load profiles in
`simbench/networks/1-complete_data-mixed-all-0-sw/LoadProfile.csv`.
This script finds that file (installed package, a given wheel/CSV, or a wheel fetched
with `pip download --no-deps simbench`), writes a representative set of `_pload`
profiles as small `timestamp,load_mw` CSVs (SimBench times are German local time and
are converted to UTC), runs `gridwatch forecast-eval` on each, and prints a Markdown
table: the model against the seasonal-naive baselines (same hour yesterday / last
week), MAPE and RMSE per profile, and the mean over the profiles.

Python standard library only.

    python3 scripts/forecast_eval_simbench.py                 # builds target/release/gridwatch
    python3 scripts/forecast_eval_simbench.py --bin path/to/gridwatch --wheel simbench-*.whl
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import glob
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

INNER = "simbench/networks/1-complete_data-mixed-all-0-sw/LoadProfile.csv"

# Chosen by category before looking at any result: households (H0), commercial (G0
# general, G1 weekday 8-18 h, G4 shops), agricultural (L0 general, L2 other farms),
# two other SimBench types (BL-H, WB-H), and grid-level aggregate profiles of a rural
# LV grid, an urban MV grid and an urban HV grid (what a substation actually sees).
DEFAULT_PROFILES = [
    ("H0-A", "household"),
    ("H0-B", "household"),
    ("H0-C", "household"),
    ("G0-A", "commercial, general"),
    ("G1-A", "commercial, weekdays 8-18 h"),
    ("G4-A", "commercial, shop"),
    ("L0-A", "agricultural, general"),
    ("L2-A", "agricultural, other"),
    ("BL-H", "other SimBench type"),
    ("WB-H", "other SimBench type"),
    ("lv_rural1", "LV grid, rural"),
    ("mv_urban", "MV grid, urban"),
    ("hv_urban", "HV grid, urban"),
]

REPO = Path(__file__).resolve().parent.parent
METHODS = ["model", "same-hour-yesterday", "same-hour-last-week"]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def open_load_profile(args, tmp: Path) -> io.TextIOBase:
    """The LoadProfile.csv as a text stream, from wherever it can be found."""
    if args.csv:
        return open(args.csv, encoding="utf-8", newline="")
    wheel = args.wheel
    if not wheel:
        spec = importlib.util.find_spec("simbench")  # does not import (pandapower is heavy)
        if spec and spec.submodule_search_locations:
            for loc in spec.submodule_search_locations:
                path = Path(loc).parent / INNER
                if path.exists():
                    log(f"using the installed package: {path}")
                    return open(path, encoding="utf-8", newline="")
        log("simbench is not installed: pip download --no-deps simbench (~90 MB) ...")
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "simbench", "-d", str(tmp)],
            check=True,
        )
        wheels = sorted(glob.glob(str(tmp / "simbench-*.whl")))
        if not wheels:
            sys.exit("pip download produced no simbench wheel")
        wheel = wheels[-1]
    log(f"reading {INNER} from {wheel}")
    z = zipfile.ZipFile(wheel)
    return io.TextIOWrapper(z.open(INNER), encoding="utf-8", newline="")


def last_sunday(year: int, month: int) -> int:
    d = dt.date(year, month + 1, 1) - dt.timedelta(days=1) if month < 12 else dt.date(year, 12, 31)
    return d.day - (d.weekday() + 1) % 7


class GermanLocalToUtc:
    """SimBench timestamps are German wall-clock time (CET/CEST, EU rules): the spring
    hour 02:00-02:59 is missing and the autumn one appears twice (first CEST, then CET)."""

    def __init__(self) -> None:
        self.seen_ambiguous: set[dt.datetime] = set()

    def __call__(self, local: dt.datetime) -> dt.datetime:
        y = local.year
        summer_start = dt.datetime(y, 3, last_sunday(y, 3), 2)
        autumn = dt.datetime(y, 10, last_sunday(y, 10), 2)
        if autumn <= local < autumn + dt.timedelta(hours=1):
            offset = 1 if local in self.seen_ambiguous else 2
            self.seen_ambiguous.add(local)
        elif summer_start <= local < autumn:
            offset = 2
        else:
            offset = 1
        return local - dt.timedelta(hours=offset)


def extract(stream, profiles: list[str], out_dir: Path, local_time: str) -> dict[str, Path]:
    reader = csv.reader(stream, delimiter=";")
    header = [h.strip() for h in next(reader)]
    cols = {}
    for p in profiles:
        name = p if p.endswith("_pload") else f"{p}_pload"
        if name not in header:
            available = sorted(h[: -len("_pload")] for h in header if h.endswith("_pload"))
            sys.exit(f"profile {p!r} not in LoadProfile.csv; available: {', '.join(available)}")
        cols[p] = header.index(name)
    time_col = header.index("time")
    to_utc = GermanLocalToUtc() if local_time == "eu" else (lambda t: t)
    files = {p: open(out_dir / f"{p}.csv", "w", newline="") for p in profiles}
    writers = {p: csv.writer(f) for p, f in files.items()}
    for w in writers.values():
        w.writerow(["timestamp", "load_mw"])
    rows = 0
    for row in reader:
        if not row or not row[0].strip():
            continue
        t = to_utc(dt.datetime.strptime(row[time_col].strip(), "%d.%m.%Y %H:%M"))
        ts = t.strftime("%Y-%m-%dT%H:%M:%SZ")
        for p, i in cols.items():
            writers[p].writerow([ts, row[i]])
        rows += 1
    for f in files.values():
        f.close()
    log(f"wrote {len(profiles)} profiles x {rows} quarter-hours to {out_dir}")
    return {p: out_dir / f"{p}.csv" for p in profiles}


def gridwatch_command(args) -> list[str]:
    if args.bin:
        return [args.bin]
    if args.cargo_run:
        return ["cargo", "run", "--quiet", "--release", "--bin", "gridwatch", "--"]
    log("building the release binary (cargo build --release --bin gridwatch) ...")
    subprocess.run(["cargo", "build", "--quiet", "--release", "--bin", "gridwatch"], cwd=REPO, check=True)
    meta = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=REPO, check=True, capture_output=True, text=True
    )
    exe = Path(json.loads(meta.stdout)["target_directory"]) / "release" / "gridwatch"
    return [str(exe)]


def evaluate(cmd: list[str], path: Path, min_train_days: int) -> dict[str, dict]:
    out = subprocess.run(
        cmd + ["forecast-eval", str(path), "--min-train-days", str(min_train_days), "--format", "json"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    )
    if out.stderr.strip():
        log(out.stderr.strip())
    reports = json.loads(out.stdout)
    if len(reports) != 1:
        sys.exit(f"{path}: expected one series, got {len(reports)}")
    return {r["method"]: r for r in reports[0]["rows"]}


def markdown(results: list[tuple[str, str, dict]], min_train_days: int) -> str:
    def cell(values: list[float], i: int, fmt: str) -> str:
        s = format(values[i], fmt)
        return f"**{s}**" if values[i] == min(values) else s

    lines = [
        "| profile | kind | MAPE % model | MAPE % same hour yesterday | MAPE % same hour last week "
        "| RMSE model | RMSE yesterday | RMSE last week |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    sums = {m: [0.0, 0.0] for m in METHODS}
    wins = {"mape": 0, "rmse": 0}
    for name, kind, rows in results:
        mape = [rows[m]["mape_pct"] for m in METHODS]
        rmse = [rows[m]["rmse"] for m in METHODS]
        for m, a, b in zip(METHODS, mape, rmse):
            sums[m][0] += a
            sums[m][1] += b
        wins["mape"] += mape[0] == min(mape)
        wins["rmse"] += rmse[0] == min(rmse)
        lines.append(
            f"| {name} | {kind} | "
            + " | ".join(cell(mape, i, ".2f") for i in range(3))
            + " | "
            + " | ".join(cell(rmse, i, ".4f") for i in range(3))
            + " |"
        )
    n = len(results)
    mean_mape = [sums[m][0] / n for m in METHODS]
    mean_rmse = [sums[m][1] / n for m in METHODS]
    lines.append(
        f"| **mean of {n}** | | "
        + " | ".join(cell(mean_mape, i, ".2f") for i in range(3))
        + " | "
        + " | ".join(cell(mean_rmse, i, ".4f") for i in range(3))
        + " |"
    )
    forecasts = results[0][2]["model"]["forecasts"] if results else 0
    lines.append("")
    lines.append(
        f"Model best on {wins['mape']}/{n} profiles by MAPE and {wins['rmse']}/{n} by RMSE. "
        f"Rolling origin: a 24 h forecast from every UTC midnight after {min_train_days} training days "
        f"({forecasts} forecasts per profile), each from the data before its origin only. "
        "Profiles are normalised to a peak of 1, so RMSE is in units of the annual peak."
    )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--wheel", help="a downloaded simbench wheel (zip) to read the profiles from")
    src.add_argument("--csv", help="a LoadProfile.csv to read directly")
    run = ap.add_mutually_exclusive_group()
    run.add_argument("--bin", help="gridwatch binary to run (default: cargo build --release, then target/release/gridwatch)")
    run.add_argument("--cargo-run", action="store_true", help="run through `cargo run --release --`")
    ap.add_argument("--profiles", help="comma-separated SimBench profile names (default: a representative 13)")
    ap.add_argument("--min-train-days", type=int, default=14)
    ap.add_argument(
        "--local-time",
        choices=["eu", "naive"],
        default="eu",
        help="SimBench times are German local time: convert with EU DST rules (default) or keep them as UTC",
    )
    ap.add_argument("--out-dir", help="keep the per-profile CSVs here (default: a temporary directory)")
    args = ap.parse_args()

    if args.profiles:
        profiles = [(p.strip(), "") for p in args.profiles.split(",") if p.strip()]
    else:
        profiles = DEFAULT_PROFILES
    tmp = Path(tempfile.mkdtemp(prefix="gridwatch-simbench-"))
    try:
        out_dir = Path(args.out_dir) if args.out_dir else tmp
        out_dir.mkdir(parents=True, exist_ok=True)
        with open_load_profile(args, tmp) as stream:
            files = extract(stream, [p for p, _ in profiles], out_dir, args.local_time)
        cmd = gridwatch_command(args)
        results = []
        for name, kind in profiles:
            log(f"forecast-eval {name} ...")
            results.append((name, kind, evaluate(cmd, files[name], args.min_train_days)))
        print(markdown(results, args.min_train_days))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
