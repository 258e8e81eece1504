//! Properties of the synthetic data: determinism, realism, thresholds, anomalies, output.

use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc, Weekday};
use gridwatch::simulator::generator::{
    self, AnomalyKind, CSV_HEADER, CSV_HEADER_WITH_PF, Generator, GeneratorConfig, DataFormat,
};
use gridwatch::model::Reading;
use std::collections::{BTreeMap, BTreeSet};

fn clean(cfg: GeneratorConfig) -> Generator {
    Generator::new(cfg.without_anomalies())
}

fn bytes(g: &Generator, format: DataFormat) -> Vec<u8> {
    let mut out = Vec::new();
    generator::write_readings(format, g.config().include_power_factor, g.readings(), &mut out).unwrap();
    out
}

fn date(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let cfg = GeneratorConfig { days: 2, include_power_factor: true, ..Default::default() };
    let a = bytes(&Generator::new(cfg.clone()), DataFormat::Csv);
    let b = bytes(&Generator::new(cfg.clone()), DataFormat::Csv);
    assert_eq!(a, b);
    let c = bytes(&Generator::new(GeneratorConfig { seed: 43, ..cfg }), DataFormat::Csv);
    assert_ne!(a, c);
}

#[test]
fn known_rows_are_stable() {
    // Pins the output: the same seed must give the same bytes on every platform and
    // release. If a deliberate model change breaks this, update the expected lines
    // and say so in the changelog (users' sample data and benchmarks change).
    let g = Generator::new(GeneratorConfig::default());
    let line = |sub, ts| {
        let mut out = Vec::new();
        generator::write_reading_row(DataFormat::Csv, false, &g.reading(sub, ts), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    };
    assert_eq!(line(0, date(2025, 1, 14)), "2025-01-14T00:00:00Z,substation_001,76.17,88.92,13.802,59.996,0.00,5.36\n");
    assert_eq!(
        line(0, date(2025, 1, 14) + Duration::hours(12)),
        "2025-01-14T12:00:00Z,substation_001,99.63,116.51,13.801,59.989,13.78,22.95\n"
    );
    assert_eq!(g.readings().next().unwrap(), g.reading(0, date(2025, 1, 14)));
}

#[test]
fn reading_is_a_pure_function_of_substation_and_time() {
    let g = Generator::new(GeneratorConfig { days: 3, anomalies_per_week: 20.0, ..Default::default() });
    let n = g.config().substations;
    assert_eq!(g.readings().count() as u64, g.row_count());
    assert_eq!(g.row_count(), 3 * 96 * 8);
    for (i, r) in g.readings().enumerate() {
        let ts = g.config().start + Duration::minutes(15 * (i / n) as i64);
        assert_eq!(r.timestamp, ts);
        assert_eq!(r.location, generator::substation_name(i % n));
        assert_eq!(r, g.reading(i % n, ts), "row {i}");
    }
    // A generator configured elsewhere in time agrees at shared timestamps (live simulator case).
    let other = Generator::new(GeneratorConfig {
        start: date(2025, 1, 15),
        days: 1,
        anomalies_per_week: 20.0,
        ..Default::default()
    });
    let ts = date(2025, 1, 15) + Duration::hours(13);
    assert_eq!(other.reading(5, ts), g.reading(5, ts));
}

#[test]
fn readings_are_ordered_by_timestamp_then_substation() {
    let g = Generator::new(GeneratorConfig { days: 1, substations: 12, ..Default::default() });
    let keys: Vec<_> = g.readings().map(|r| (r.timestamp, r.location)).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
}

#[test]
fn substations_differ_in_size() {
    let g = clean(GeneratorConfig { days: 7, substations: 20, ..Default::default() });
    let mut by_sub: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for r in g.readings() {
        by_sub.entry(r.location).or_default().push(r.load_mw);
    }
    let means: Vec<f64> = by_sub.values().map(|v| mean(v)).collect();
    let (lo, hi) = means.iter().fold((f64::MAX, f64::MIN), |(a, b), &m| (a.min(m), b.max(m)));
    assert!(hi / lo > 1.8, "substation sizes too alike: {lo:.1}..{hi:.1}");
    assert!(lo > 30.0 && hi < 300.0, "{lo:.1}..{hi:.1}");
}

#[test]
fn evening_load_exceeds_night_load() {
    let g = clean(GeneratorConfig { days: 14, ..Default::default() });
    let (mut evening, mut night) = (Vec::new(), Vec::new());
    for r in g.readings() {
        match r.timestamp.hour() {
            18..=20 => evening.push(r.load_mw),
            3 => night.push(r.load_mw),
            _ => {}
        }
    }
    let ratio = mean(&evening) / mean(&night);
    assert!(ratio > 1.25, "evening/3am ratio {ratio:.3}");
}

#[test]
fn weekends_are_ten_to_fifteen_percent_lower() {
    let g = clean(GeneratorConfig { days: 28, substations: 10, ..Default::default() });
    let (mut weekend, mut weekday) = (Vec::new(), Vec::new());
    for r in g.readings() {
        match r.timestamp.weekday() {
            Weekday::Sat | Weekday::Sun => weekend.push(r.load_mw),
            _ => weekday.push(r.load_mw),
        }
    }
    let ratio = mean(&weekend) / mean(&weekday);
    assert!((0.82..=0.92).contains(&ratio), "weekend/weekday ratio {ratio:.3}");
}

#[test]
fn winter_and_summer_load_more_than_spring() {
    let avg = |start| {
        let g = clean(GeneratorConfig { start, days: 7, ..Default::default() });
        mean(&g.readings().map(|r| r.load_mw).collect::<Vec<_>>())
    };
    let (jan, apr, jul) = (avg(date(2025, 1, 13)), avg(date(2025, 4, 14)), avg(date(2025, 7, 14)));
    assert!(jan > apr * 1.05 && jul > apr * 1.03, "jan {jan:.1} apr {apr:.1} jul {jul:.1}");
}

#[test]
fn solar_is_zero_at_night_and_positive_at_summer_noon() {
    // (start, last dark hour before sunrise, first dark hour after sunset)
    for (start, dawn, dusk) in [(date(2025, 1, 10), 6, 17), (date(2025, 6, 18), 3, 20), (date(2025, 10, 1), 5, 19)] {
        let g = Generator::new(GeneratorConfig { start, days: 7, substations: 20, ..Default::default() });
        for r in g.readings() {
            let h = r.timestamp.hour();
            if h <= dawn || h >= dusk {
                assert_eq!(r.solar_mw, 0.0, "{} {} {}", r.location, r.timestamp, r.solar_mw);
            }
            assert!(r.solar_mw >= 0.0);
        }
    }
    let g = Generator::new(GeneratorConfig { start: date(2025, 7, 1), days: 7, ..Default::default() });
    for day in 0..7 {
        let noon = date(2025, 7, 1) + Duration::days(day) + Duration::hours(12);
        for r in g.readings_at(noon) {
            assert!(r.solar_mw > 0.0, "{} at {noon}: {}", r.location, r.solar_mw);
        }
    }
    // Summer noons are sunnier than winter noons.
    let noon_avg = |start: DateTime<Utc>| {
        let g = Generator::new(GeneratorConfig { start, days: 14, ..Default::default() });
        mean(&g.readings().filter(|r| r.timestamp.hour() == 12).map(|r| r.solar_mw).collect::<Vec<_>>())
    };
    assert!(noon_avg(date(2025, 6, 15)) > 1.3 * noon_avg(date(2025, 12, 10)));
}

#[test]
fn wind_is_never_negative_varies_and_is_smooth() {
    let g = Generator::new(GeneratorConfig { days: 28, ..Default::default() });
    let mut last: BTreeMap<String, f64> = BTreeMap::new();
    let mut max_step: f64 = 0.0;
    let (mut min, mut max) = (f64::MAX, f64::MIN);
    for r in g.readings() {
        assert!(r.wind_mw >= 0.0, "{r:?}");
        min = min.min(r.wind_mw);
        max = max.max(r.wind_mw);
        if let Some(prev) = last.insert(r.location.clone(), r.wind_mw) {
            max_step = max_step.max((r.wind_mw - prev).abs());
        }
    }
    assert!(max - min > 10.0, "wind barely varies: {min}..{max}");
    assert!(max_step < 0.25 * max, "wind jumps {max_step:.2} MW in 15 min (max {max:.2})");
}

#[test]
fn renewables_never_exceed_generation() {
    let g =
        Generator::new(GeneratorConfig { start: date(2025, 6, 1), days: 14, substations: 20, ..Default::default() });
    for r in g.readings() {
        assert!(r.solar_mw + r.wind_mw <= r.generation_mw, "{r:?}");
    }
}

/// True when a reading breaks one of the analysis thresholds.
fn violations(r: &Reading) -> Vec<&'static str> {
    let mut v = Vec::new();
    if r.voltage_kv < 13.5 {
        v.push("undervoltage");
    }
    if r.voltage_kv > 14.1 {
        v.push("overvoltage");
    }
    if (r.frequency_hz - 60.0).abs() > 0.05 {
        v.push("frequency");
    }
    if r.load_mw / r.generation_mw > 0.95 {
        v.push("overload");
    }
    v
}

/// (location, hour) → (max load, sum generation, count).
fn hourly_overload_ratios(readings: impl Iterator<Item = Reading>) -> BTreeMap<(String, DateTime<Utc>), f64> {
    let mut acc: BTreeMap<(String, DateTime<Utc>), (f64, f64, f64)> = BTreeMap::new();
    for r in readings {
        let hour = r.timestamp.with_minute(0).unwrap();
        let e = acc.entry((r.location, hour)).or_insert((0.0, 0.0, 0.0));
        e.0 = e.0.max(r.load_mw);
        e.1 += r.generation_mw;
        e.2 += 1.0;
    }
    acc.into_iter().map(|(k, (max, sum, n))| (k, max / (sum / n))).collect()
}

#[test]
fn clean_data_stays_inside_every_limit() {
    for (seed, start) in [(1, date(2025, 1, 1)), (2, date(2025, 4, 1)), (3, date(2025, 7, 1)), (4, date(2025, 10, 1))] {
        let cfg = GeneratorConfig {
            seed,
            start,
            days: 21,
            substations: 12,
            include_power_factor: true,
            ..Default::default()
        };
        let g = clean(cfg);
        for r in g.readings() {
            assert!(violations(&r).is_empty(), "{:?} {r:?}", violations(&r));
            let pf = r.power_factor.unwrap();
            assert!((0.90..=0.99).contains(&pf), "{r:?}");
            assert!((13.6..=14.0).contains(&r.voltage_kv), "voltage far from nominal: {r:?}");
            assert!((r.frequency_hz - 60.0).abs() <= 0.03, "{r:?}");
            assert!(r.load_mw > 0.0 && r.generation_mw > r.load_mw, "{r:?}");
        }
        for (key, ratio) in hourly_overload_ratios(g.readings()) {
            assert!(ratio < 0.95, "hourly load_max/gen_avg {ratio:.3} at {key:?}");
        }
    }
}

#[test]
fn no_anomalies_means_none_reported() {
    let g = clean(GeneratorConfig::default());
    assert!(g.episodes().is_empty());
    assert!(
        g.readings().all(|r| g.anomaly_at(generator::substation_index(&r.location).unwrap(), r.timestamp).is_none())
    );
}

fn breaks(kind: AnomalyKind, r: &Reading) -> bool {
    match kind {
        AnomalyKind::VoltageSag => r.voltage_kv < 13.5,
        AnomalyKind::Overvoltage => r.voltage_kv > 14.1,
        AnomalyKind::FrequencyExcursion => (r.frequency_hz - 60.0).abs() > 0.05,
        AnomalyKind::Overload => r.load_mw / r.generation_mw > 0.95,
    }
}

#[test]
fn every_anomaly_kind_appears_with_defaults() {
    let g = Generator::new(GeneratorConfig::default());
    let kinds: BTreeSet<AnomalyKind> = g.episodes().iter().map(|e| e.kind).collect();
    assert_eq!(kinds.len(), 4, "only {kinds:?}");
    let seen: BTreeSet<AnomalyKind> = g
        .readings()
        .filter_map(|r| g.anomaly_at(generator::substation_index(&r.location).unwrap(), r.timestamp))
        .collect();
    assert_eq!(seen, kinds);
    // "A few per substation per week": not a storm.
    let n = g.episodes().len();
    assert!((12..=60).contains(&n), "{n} episodes in 7 days x 8 substations");
}

#[test]
fn anomalies_break_their_threshold_and_clear() {
    for seed in [42, 7, 1234] {
        let g = Generator::new(GeneratorConfig { seed, days: 14, anomalies_per_week: 10.0, ..Default::default() });
        for r in g.readings() {
            let sub = generator::substation_index(&r.location).unwrap();
            match g.anomaly_at(sub, r.timestamp) {
                Some(kind) => {
                    assert!(breaks(kind, &r), "{kind} episode without breach: {r:?}");
                    assert_eq!(violations(&r).len(), 1, "only the episode's rule breaks: {r:?}");
                }
                None => assert!(violations(&r).is_empty(), "breach outside an episode: {r:?}"),
            }
        }
        // Episodes last 2..8 intervals (overloads: whole hours) and end (alerts clear).
        for e in g.episodes() {
            let n = (e.end - e.start).num_minutes() / 15;
            assert!((2..=8).contains(&n), "{e:?}");
            assert!(
                g.anomaly_at(e.substation, e.end).is_none()
                    || g.episode_at(e.substation, e.end).unwrap().start == e.end
            );
        }
        // Hourly view: every hour an overload episode covers is an overload hour.
        let ratios = hourly_overload_ratios(g.readings());
        for e in g.episodes().iter().filter(|e| e.kind == AnomalyKind::Overload) {
            let mut h = e.start;
            while h < e.end {
                let key = (generator::substation_name(e.substation), h);
                if let Some(ratio) = ratios.get(&key) {
                    assert!(*ratio > 0.95, "overload hour {h} ratio {ratio:.3}");
                }
                h += Duration::hours(1);
            }
        }
    }
}

#[test]
fn anomaly_rate_scales_episode_count() {
    let count = |rate| {
        Generator::new(GeneratorConfig { days: 28, anomalies_per_week: rate, ..Default::default() }).episodes().len()
    };
    let (low, high) = (count(1.0), count(8.0));
    assert!(high > 4 * low, "rate 1 → {low}, rate 8 → {high}");
}

#[test]
fn csv_parses_back_with_the_right_header() {
    for pf in [false, true] {
        let g = Generator::new(GeneratorConfig { days: 1, include_power_factor: pf, ..Default::default() });
        let data = bytes(&g, DataFormat::Csv);
        let mut rdr = csv::Reader::from_reader(data.as_slice());
        let header: Vec<String> = rdr.headers().unwrap().iter().map(str::to_string).collect();
        assert_eq!(header.join(","), if pf { CSV_HEADER_WITH_PF } else { CSV_HEADER });
        let parsed: Vec<Reading> = rdr.deserialize().map(|r| r.unwrap()).collect();
        let expected: Vec<Reading> = g.readings().collect();
        assert_eq!(parsed, expected);
    }
}

#[test]
fn json_lines_parse_back() {
    let g = Generator::new(GeneratorConfig { days: 1, include_power_factor: true, ..Default::default() });
    let data = String::from_utf8(bytes(&g, DataFormat::JsonLines)).unwrap();
    let parsed: Vec<Reading> = data.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(parsed, g.readings().collect::<Vec<_>>());
    assert!(data.starts_with("{\"timestamp\":\"2025-01-14T00:00:00Z\",\"location\":\"substation_001\",\"load_mw\":"));
}

#[test]
fn appended_rows_match_a_full_write() {
    let g = Generator::new(GeneratorConfig { days: 1, ..Default::default() });
    let mut out = Vec::new();
    generator::write_header(DataFormat::Csv, false, &mut out).unwrap();
    for r in g.readings() {
        generator::write_reading_row(DataFormat::Csv, false, &r, &mut out).unwrap();
    }
    assert_eq!(out, bytes(&g, DataFormat::Csv));
}

#[cfg(feature = "cli")]
mod cli {
    use super::*;
    use clap::Parser;
    use gridwatch::cli::generate::{GenerateArgs, run};
    use std::io::Read;
    use std::path::{Path, PathBuf};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: GenerateArgs,
    }

    fn args(flags: &[&str]) -> GenerateArgs {
        Cli::try_parse_from(std::iter::once("generate").chain(flags.iter().copied())).unwrap().args
    }

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);
    impl TempDir {
        fn new(name: &str) -> Self {
            let p = std::env::temp_dir().join(format!("gridwatch-generator-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            Self(p)
        }
        fn path(&self, rel: &str) -> String {
            self.0.join(rel).to_string_lossy().into_owned()
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn split_daily_writes_one_file_per_day() {
        let t = TempDir::new("daily");
        let out = t.path("data");
        run(args(&["--days", "3", "--substations", "4", "--output", &out])).unwrap();
        let names = files(Path::new(&out));
        assert_eq!(names, ["grid_data_2025-01-14.csv", "grid_data_2025-01-15.csv", "grid_data_2025-01-16.csv"]);
        let g = Generator::new(GeneratorConfig { days: 3, substations: 4, ..Default::default() });
        let mut all = Vec::new();
        for n in &names {
            let mut rdr = csv::Reader::from_path(Path::new(&out).join(n)).unwrap();
            let day: Vec<Reading> = rdr.deserialize().map(|r| r.unwrap()).collect();
            assert_eq!(day.len(), 96 * 4);
            assert!(day.iter().all(|r| n.contains(&r.timestamp.format("%Y-%m-%d").to_string())));
            all.extend(day);
        }
        assert_eq!(all, g.readings().collect::<Vec<_>>());
    }

    #[test]
    fn single_gzip_jsonl_file_round_trips() {
        let t = TempDir::new("single");
        let out = t.path("week.jsonl.gz");
        let flags =
            ["--split", "none", "--format", "jsonl", "--gzip", "--power-factor", "--seed", "9", "--output", &out];
        run(args(&flags)).unwrap();
        let mut text = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(&out).unwrap()).read_to_string(&mut text).unwrap();
        let parsed: Vec<Reading> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let g = Generator::new(GeneratorConfig { seed: 9, include_power_factor: true, ..Default::default() });
        assert_eq!(parsed, g.readings().collect::<Vec<_>>());
    }

    #[test]
    fn single_file_into_a_directory_gets_a_dated_name() {
        let t = TempDir::new("dir");
        let out = t.path("out");
        run(args(&["--split", "none", "--days", "1", "--start", "2025-03-02", "--output", &out])).unwrap();
        assert_eq!(files(Path::new(&out)), ["grid_data_2025-03-02.csv"]);
    }

    #[test]
    fn target_size_is_reached_approximately() {
        let t = TempDir::new("size");
        let out = t.path("big.csv");
        run(args(&["--split", "none", "--target-size", "3MB", "--days", "1", "--output", &out])).unwrap();
        let size = std::fs::metadata(&out).unwrap().len();
        assert!((3_000_000..3_400_000).contains(&size), "size {size}");
        // More than the one day asked for: days are added until the size is reached.
        let rows = csv::Reader::from_path(&out).unwrap().records().count();
        assert!(rows > 96 * 8 * 2, "{rows} rows");
    }

    #[test]
    fn target_size_with_daily_split_and_gzip_counts_disk_bytes() {
        let t = TempDir::new("sizegz");
        let out = t.path("d");
        run(args(&["--gzip", "--target-size", "1MB", "--output", &out])).unwrap();
        let total: u64 =
            files(Path::new(&out)).iter().map(|n| std::fs::metadata(Path::new(&out).join(n)).unwrap().len()).sum();
        assert!((1_000_000..1_300_000).contains(&total), "total {total}");
        assert!(files(Path::new(&out)).iter().all(|n| n.ends_with(".csv.gz")));
    }

    #[test]
    fn bad_options_are_clear_errors() {
        let t = TempDir::new("bad");
        let out = t.path("x");
        let err = |flags: &[&str]| {
            let mut f = flags.to_vec();
            f.extend(["--output", &out]);
            run(args(&f)).unwrap_err().to_string()
        };
        assert!(err(&["--substations", "0"]).contains("--substations"));
        assert!(err(&["--interval-minutes", "0"]).contains("--interval-minutes"));
        assert!(err(&["--interval-minutes", "7"]).contains("divide a day"));
        assert!(err(&["--days", "0"]).contains("--days"));
        assert!(err(&["--anomaly-rate=-1"]).contains("--anomaly-rate"));
        let file_out = t.path("x.csv");
        let e = run(args(&["--output", &file_out])).unwrap_err().to_string();
        assert!(e.contains("--split none"), "{e}");
        let gz = run(args(&["--split", "none", "--output", &t.path("y.csv.gz")])).unwrap_err().to_string();
        assert!(gz.contains("--gzip"), "{gz}");
        assert!(Cli::try_parse_from(["generate", "--start", "yesterday"]).is_err());
        assert!(Cli::try_parse_from(["generate", "--target-size", "lots"]).is_err());
        assert!(Cli::try_parse_from(["generate", "--no-anomalies", "--anomaly-rate", "3"]).is_err());
    }
}
