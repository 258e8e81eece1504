#!/usr/bin/env python3
"""Run `gridwatch optimize` on substations built from real SimBench profiles.

SimBench (https://simbench.de, PyPI package `simbench`) ships one year (2016) of
15-minute profiles in `simbench/networks/1-complete_data-mixed-all-0-sw/`:
`LoadProfile.csv` (grid-level aggregate loads such as `mv_urban_pload`) and
`RESProfile.csv` (per-unit photovoltaic `PV*` and wind `WP*` feed-in). This script
builds one seed-format CSV from them: per substation, a SimBench load profile scaled to
a chosen peak, plus a SimBench PV and wind profile scaled to a chosen installed capacity
(the SUBSTATIONS table below: the sizes are this script's scenario, the shapes are
SimBench's). Voltage and frequency are set to nominal and generation to 1.1 x load:
`optimize` does not read them. SimBench times are German local time and are converted
to UTC as in `scripts/forecast_eval_simbench.py`.

It then analyses the CSV into a temporary data folder (`gridwatch analyze`) and runs
`gridwatch optimize` on it; extra arguments go to `optimize`.

Python standard library only.

    python3 scripts/optimize_simbench.py                        # builds target/release/gridwatch
    python3 scripts/optimize_simbench.py --wheel simbench-*.whl -- --target 90% --format csv
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import glob
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from forecast_eval_simbench import GermanLocalToUtc, gridwatch_command, log  # noqa: E402

NETWORK = "simbench/networks/1-complete_data-mixed-all-0-sw/"

# name, load profile, peak MW, PV profile, PV MW, wind profile, wind MW
SUBSTATIONS = [
    ("lv_rural1", "lv_rural1_pload", 2.0, "PV3", 1.5, None, 0.0),
    ("mv_rural", "mv_rural_pload", 30.0, "PV5", 12.0, "WP4", 20.0),
    ("mv_semiurb", "mv_semiurb_pload", 40.0, "PV6", 10.0, "WP7", 8.0),
    ("mv_urban", "mv_urban_pload", 60.0, "PV8", 6.0, None, 0.0),
    ("mv_comm", "mv_comm_pload", 45.0, "PV2", 8.0, None, 0.0),
    ("hv_urban", "hv_urban_pload", 250.0, "PV1", 30.0, "WP10", 40.0),
]


def open_member(wheel: str, name: str) -> io.TextIOBase:
    return io.TextIOWrapper(zipfile.ZipFile(wheel).open(NETWORK + name), encoding="utf-8", newline="")


def read_columns(stream, wanted: set[str]) -> tuple[list[dt.datetime], dict[str, list[float]]]:
    reader = csv.reader(stream, delimiter=";")
    header = [h.strip() for h in next(reader)]
    missing = wanted - set(header)
    if missing:
        sys.exit(f"columns not in the SimBench file: {', '.join(sorted(missing))}")
    idx = {c: header.index(c) for c in wanted}
    times, cols = [], {c: [] for c in wanted}
    for row in reader:
        if not row or not row[0].strip():
            continue
        times.append(dt.datetime.strptime(row[0].strip(), "%d.%m.%Y %H:%M"))
        for c, i in idx.items():
            cols[c].append(float(row[i]))
    return times, cols


def build_csv(wheel: str, out: Path) -> int:
    load_cols = {s[1] for s in SUBSTATIONS}
    res_cols = {s[3] for s in SUBSTATIONS if s[3]} | {s[5] for s in SUBSTATIONS if s[5]}
    with open_member(wheel, "LoadProfile.csv") as f:
        times, loads = read_columns(f, load_cols)
    with open_member(wheel, "RESProfile.csv") as f:
        res_times, res = read_columns(f, res_cols)
    if res_times != times:
        sys.exit("LoadProfile.csv and RESProfile.csv have different time steps")
    to_utc = GermanLocalToUtc()
    stamps = [to_utc(t).strftime("%Y-%m-%dT%H:%M:%SZ") for t in times]
    peaks = {c: max(v) for c, v in loads.items()}
    rows = 0
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["timestamp", "location", "load_mw", "generation_mw", "voltage_kv", "frequency_hz", "solar_mw", "wind_mw"])
        for i, ts in enumerate(stamps):
            for name, lp, peak, pv, pv_mw, wp, wp_mw in SUBSTATIONS:
                load = loads[lp][i] / peaks[lp] * peak
                solar = res[pv][i] * pv_mw if pv else 0.0
                wind = res[wp][i] * wp_mw if wp else 0.0
                w.writerow([ts, name, f"{load:.4f}", f"{1.1 * load:.4f}", "13.8", "60.0", f"{solar:.4f}", f"{wind:.4f}"])
                rows += 1
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wheel", help="a downloaded simbench wheel (default: pip download --no-deps simbench)")
    run = ap.add_mutually_exclusive_group()
    run.add_argument("--bin", help="gridwatch binary (default: cargo build --release, then target/release/gridwatch)")
    run.add_argument("--cargo-run", action="store_true", help="run through `cargo run --release --`")
    ap.add_argument("--keep", help="keep the CSV and the data folder here (default: a temporary directory)")
    ap.add_argument("optimize_args", nargs="*", help="passed to `gridwatch optimize` (put them after --)")
    args = ap.parse_args()

    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="gridwatch-optimize-simbench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    wheel = args.wheel
    if not wheel:
        log("pip download --no-deps simbench (~90 MB) ...")
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "simbench", "-d", str(tmp)], check=True)
        wheel = sorted(glob.glob(str(tmp / "simbench-*.whl")))[-1]
    data_csv = tmp / "simbench_substations.csv"
    rows = build_csv(wheel, data_csv)
    log(f"wrote {rows} rows ({len(SUBSTATIONS)} substations) to {data_csv}")
    cmd = gridwatch_command(args) + ["--data-dir", str(tmp / "data")]
    subprocess.run(cmd + ["analyze", str(data_csv)], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(cmd + ["optimize"] + args.optimize_args, check=True)


if __name__ == "__main__":
    main()
