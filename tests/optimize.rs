//! Optimisation insights: hand-computed fixtures per method, a property test of the
//! battery sizing against a linear program (microlp), and the `gridwatch optimize`
//! command on the bundled sample data.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use gridwatch::optimize::config::{Tariff, TariffPeriod};
use gridwatch::optimize::renewables::{max_scale, reverse_flow, ScaleLimit};
use gridwatch::optimize::shifting::shift_day;
use gridwatch::optimize::storage::{shaved_load, size_storage, StorageParams};
use gridwatch::optimize::{cost, optimize_curve, summary_line, Curve, OptimizeConfig, OptimizeError, Target};
use proptest::prelude::*;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn hourly(start: &str, loads: &[f64]) -> Curve {
    let t0 = at(start);
    let points: Vec<_> = loads.iter().enumerate().map(|(i, &l)| (t0 + Duration::hours(i as i64), l)).collect();
    Curve::from_load(&points, 1.0).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

// ---------------------------------------------------------------- storage sizing

/// Cap 10 MW, η 0.8, charging at most 0.5 × the power rating:
/// loads 5 12 14 6 4 14.5 9 (from 20:00): power = 4.5 (the 14.5 at 01:00), charge limit 2.25.
/// Missing energy D: 0, 2, 6, 6 - 0.8·2.25 = 4.2, 2.4, 2.4 + 4.5 = 6.9, 6.9 - 0.8·1 = 6.1.
/// The battery never refills between the two peaks, so the episode runs 21:00 .. 01:00.
#[test]
fn sizing_carries_a_partial_recharge_into_the_next_peak() {
    let curve = hourly("2025-01-14T20:00:00Z", &[5.0, 12.0, 14.0, 6.0, 4.0, 14.5, 9.0]);
    let mut cfg = OptimizeConfig::default();
    cfg.battery.round_trip_efficiency = 0.8;
    cfg.battery.charge_power_ratio = 0.5;
    let r = optimize_curve("s1", &curve, &cfg, &[Target::CapMw(10.0)]);
    let s = &r.targets[0].storage;
    assert!(close(s.power_mw, 4.5) && close(s.charge_limit_mw, 2.25), "{s:?}");
    assert!(close(s.energy_mwh, 6.9), "{s:?}");
    assert_eq!(s.hours_above_cap, 3.0);
    assert!(close(s.excess_mwh, 10.5));
    assert_eq!(s.power_set_at, Some(at("2025-01-15T01:00:00Z")));
    assert_eq!((s.energy_set_from, s.energy_set_to), (Some(at("2025-01-14T21:00:00Z")), Some(at("2025-01-15T01:00:00Z"))));
    assert_eq!(s.sizing_days, vec![date("2025-01-14"), date("2025-01-15")]);
    let deepest: Vec<(NaiveDate, f64)> = s.deepest_days.iter().map(|d| (d.date, d.energy_mwh)).collect();
    assert_eq!(deepest.len(), 2);
    assert_eq!((deepest[0].0, deepest[1].0), (date("2025-01-15"), date("2025-01-14")));
    assert!(close(deepest[0].1, 6.9) && close(deepest[1].1, 6.0), "{deepest:?}");
    assert!(s.assumptions.iter().any(|a| a.contains("efficiency 0.8")), "{:?}", s.assumptions);
    assert!(s.assumptions.iter().any(|a| a.contains("2.250 MW")), "{:?}", s.assumptions);
}

#[test]
fn a_lossless_unlimited_battery_needs_only_the_net_deficit() {
    // η = 1 and charging 100 × the rating: the 3 MWh valley after the first peak refills it.
    let p = StorageParams { cap_mw: 10.0, round_trip_efficiency: 1.0, charge_power_ratio: 100.0, step_hours: 1.0 };
    let s = size_storage(&[13.0, 7.0, 12.0], &p);
    assert_eq!((s.power_mw, s.energy_mwh, s.energy_episode), (3.0, 3.0, Some((0, 0))));
    // The same with 15-minute steps: energies are a quarter.
    let s = size_storage(&[13.0, 7.0, 12.0], &StorageParams { step_hours: 0.25, ..p });
    assert_eq!((s.power_mw, s.energy_mwh), (3.0, 0.75));
}

#[test]
fn no_battery_when_the_load_stays_under_the_cap() {
    let curve = hourly("2025-01-14T00:00:00Z", &[5.0, 8.0, 6.0]);
    let r = optimize_curve("s1", &curve, &OptimizeConfig::default(), &[Target::PercentOfPeak(100.0)]);
    let t = &r.targets[0];
    assert_eq!((t.cap_mw, t.storage.power_mw, t.storage.energy_mwh), (8.0, 0.0, 0.0));
    assert!(t.storage.sizing_days.is_empty() && t.storage.power_set_at.is_none());
    // Nothing above the cap in the peak hours: +0, not the -0 of an empty float sum ("-0.00").
    assert!(t.shifting.shifted_mwh == 0.0 && t.shifting.shifted_mwh.is_sign_positive(), "{:?}", t.shifting);
    assert_eq!(t.cost.payback_years, None);
    assert_eq!(summary_line(t), "peak shaving: the load never exceeds 100 % (8.0 MW), no battery needed");
}

#[test]
fn the_shaved_load_holds_the_cap_and_recharges_below_it() {
    let loads = [12.0, 5.0, 5.0];
    let p = StorageParams { cap_mw: 10.0, round_trip_efficiency: 0.5, charge_power_ratio: 1.0, step_hours: 1.0 };
    let s = size_storage(&loads, &p);
    assert_eq!((s.power_mw, s.energy_mwh), (2.0, 2.0));
    // Empty after the peak; charging 2 MW stores 1 MWh per hour: full after two hours.
    assert_eq!(shaved_load(&loads, &p, &s), vec![10.0, 7.0, 7.0]);
}

// ---------------------------------------------------------------- load shifting

#[test]
fn shifting_moves_flexible_peak_load_to_the_cheapest_hours() {
    let prices = [50.0, 80.0, 160.0, 160.0];
    let peak = [false, false, true, true];
    let mut loads = [4.0, 7.0, 12.0, 9.0];
    let o = shift_day(&mut loads, &prices, &peak, 10.0, 0.25, 1.0);
    assert_eq!((o.shiftable_mwh, o.shifted_mwh), (2.0, 2.0));
    assert_eq!(loads, [6.0, 7.0, 10.0, 9.0]);

    // Flexibility limits: 10 % of 12 MW may move from each peak hour.
    let mut loads = [0.0, 0.0, 12.0, 12.0];
    let o = shift_day(&mut loads, &prices, &peak, 10.0, 0.1, 1.0);
    assert!(close(o.shifted_mwh, 2.4));
    assert!(close(loads[0], 2.4) && loads[1] == 0.0 && close(loads[2], 10.8) && close(loads[3], 10.8), "{loads:?}");
}

#[test]
fn shifting_never_fills_an_hour_above_the_threshold() {
    // 6 MWh could move (4 + 2) but the other hours have room for 1.5 only: each peak
    // hour gives up a quarter of what it could.
    let mut loads = [9.0, 9.5, 14.0, 12.0];
    let o = shift_day(&mut loads, &[50.0, 80.0, 160.0, 160.0], &[false, false, true, true], 10.0, 0.5, 1.0);
    assert_eq!((o.shiftable_mwh, o.shifted_mwh), (6.0, 1.5));
    assert_eq!(loads, [10.0, 10.0, 13.0, 11.5]);
}

/// A day at 5 MW with 12 MW from 17 to 21 h, cap 10 MW, default tariff (peak 17-21 h at
/// 160, night 0-6 h at 50, else 80), demand charge 744 per MW-month (24 per MW-day in
/// January), half the load flexible.
#[test]
fn a_day_priced_as_measured_with_shaving_and_with_shifting() {
    let loads: Vec<f64> = (0..24).map(|h| if (17..21).contains(&h) { 12.0 } else { 5.0 }).collect();
    let curve = hourly("2025-01-14T00:00:00Z", &loads);
    let mut cfg = OptimizeConfig::default();
    cfg.tariff.demand_charge_per_mw_month = 744.0;
    cfg.flexible_share = 0.5;
    let r = optimize_curve("s1", &curve, &cfg, &[Target::CapMw(10.0)]);
    // measured energy: 6·5·50 + 11·5·80 + 4·12·160 + 3·5·80 = 14780; demand 12·24 = 288
    assert!(close(r.cost_measured.energy, 14780.0) && close(r.cost_measured.demand, 288.0), "{:?}", r.cost_measured);
    assert!(close(r.load_factor, 148.0 / 24.0 / 12.0));
    let t = &r.targets[0];

    // shifting: 8 MWh from 160 to the night hours at 50 -> 14780 - 1280 + 400; demand 240
    let sh = &t.shifting;
    assert!(close(sh.shifted_mwh, 8.0) && sh.days_with_shift == 1, "{sh:?}");
    assert!(close(sh.peak_after_mw, 10.0) && close(sh.load_factor_after, 148.0 / 24.0 / 10.0));
    assert!(close(t.cost.with_load_shifting.total, 13900.0 + 240.0), "{:?}", t.cost.with_load_shifting);
    assert!(close(t.cost.load_shifting_savings_per_year, (15068.0 - 14140.0) * 365.0));

    // shaving: 2 MW / 8 MWh; empty at 21 h, recharges 2 MW at 80 in 21-23 h (net 7 MW).
    assert_eq!((t.storage.power_mw, t.storage.energy_mwh), (2.0, 8.0));
    let shaved = 5900.0 + 4.0 * 10.0 * 160.0 + 3.0 * 7.0 * 80.0;
    assert!(close(t.cost.with_peak_shaving.energy, shaved) && close(t.cost.with_peak_shaving.demand, 240.0));
    let savings = (15068.0 - shaved - 240.0) * 365.0;
    assert!(close(t.cost.peak_shaving_savings_per_year, savings));
    assert!(close(t.cost.battery_cost, 2.0 * 300_000.0 + 8.0 * 250_000.0));
    assert!(close(t.cost.payback_years.unwrap(), 2_600_000.0 / savings));
    assert_eq!(summary_line(t), format!("peak shaving: 2.0 MW / 8.0 MWh caps the peak at 10 MW, payback {:.1} y", 2_600_000.0 / savings));
    assert!(t.cost.assumptions.iter().any(|a| a.contains("peak 17-21 h 160 EUR/MWh") && a.contains("744 EUR/MW-month")), "{:?}", t.cost.assumptions);
    assert!(sh.assumptions.iter().any(|a| a.contains("17, 18, 19, 20")), "{:?}", sh.assumptions);
}

#[test]
fn a_flat_tariff_has_no_peak_hours_to_shift_from() {
    let curve = hourly("2025-01-14T00:00:00Z", &[5.0, 12.0, 5.0]);
    let mut cfg = OptimizeConfig::default();
    cfg.tariff.periods.clear();
    let r = optimize_curve("s1", &curve, &cfg, &[Target::CapMw(10.0)]);
    assert_eq!(r.targets[0].shifting.shifted_mwh, 0.0);
    assert!(r.targets[0].shifting.assumptions[0].contains("one price all day"));
}

// ---------------------------------------------------------------- cost

#[test]
fn the_demand_charge_is_per_month_and_prorated() {
    let tariff = Tariff {
        energy_price_per_mwh: 100.0,
        periods: vec![TariffPeriod { name: "cheap".into(), start_hour: 0, end_hour: 1, price_per_mwh: 10.0 }],
        demand_charge_per_mw_month: 744.0,
        ..Tariff::default()
    };
    let ts = [at("2025-01-31T22:00:00Z"), at("2025-01-31T23:00:00Z"), at("2025-02-01T00:00:00Z")];
    let c = cost::cost(&ts, &[4.0, 10.0, 20.0], 1.0, &tariff);
    // energy 400 + 1000 + 200; January 10 MW × 744 × 2/744, February 20 MW × 744 × 1/672
    assert!(close(c.energy, 1600.0), "{c:?}");
    assert!(close(c.demand, 20.0 + 20.0 * 744.0 / 672.0), "{c:?}");
    assert!(close(c.total, c.energy + c.demand));
}

// ---------------------------------------------------------------- renewables

#[test]
fn reverse_flow_counts_hours_and_energy_above_the_load() {
    let rf = reverse_flow(&[3.0, 1.0, 5.0], &[5.0, 0.0, 1.0], &[0.0, 2.0, 1.0], 1.0);
    assert_eq!((rf.steps, rf.energy_mwh), (2, 3.0));
}

#[test]
fn hosting_scale_is_exact_on_the_convex_reverse_flow() {
    let load = [10.0; 4];
    let solar = [0.0, 4.0, 8.0, 0.0];
    let wind = [2.0; 4];
    // No reverse flow allowed: solar reaches the load at 12:00-ish (k = 1) already.
    assert_eq!(max_scale(&load, &solar, &wind, 0.0), ScaleLimit::Max(1.0));
    // 10 %: at k the excess 8k + 2 - 10 equals 0.1·(12k + 8) -> k = 1 + 2/6.8.
    let ScaleLimit::Max(k) = max_scale(&load, &solar, &wind, 0.1) else { panic!() };
    assert!(close(k, 1.0 + 2.0 / 6.8), "{k}");
    // Wind scaled, solar kept: 2k + 8 - 10 = 0.1·(8k + 12) -> k = 8/3.
    let ScaleLimit::Max(k) = max_scale(&load, &wind, &solar, 0.1) else { panic!() };
    assert!(close(k, 8.0 / 3.0), "{k}");
    assert_eq!(max_scale(&load, &[0.0; 4], &wind, 0.1), ScaleLimit::NoProfile);
    assert_eq!(max_scale(&[1.0], &[1.0], &[3.0], 0.1), ScaleLimit::ExceededWithout);
}

#[test]
fn renewable_figures_of_a_substation() {
    let t0 = at("2025-06-01T10:00:00Z");
    let ts: Vec<_> = (0..4).map(|i| t0 + Duration::hours(i)).collect();
    let curve = Curve::new(ts, vec![10.0; 4], vec![0.0, 4.0, 8.0, 0.0], vec![2.0; 4], 1.0).unwrap();
    let cfg = OptimizeConfig { reverse_flow_limit_share: 0.1, ..OptimizeConfig::default() };
    let r = optimize_curve("s1", &curve, &cfg, &[]).renewables;
    assert!(close(r.renewable_mwh, 20.0) && close(r.penetration, 0.5));
    assert_eq!((r.reverse_flow_hours, r.reverse_flow_mwh), (0.0, 0.0));
    assert_eq!((r.hosting_margin_mw, r.hosting_margin_at), (0.0, at("2025-06-01T12:00:00Z")));
    assert_eq!(r.solar.observed_max_mw, 8.0);
    assert!(close(r.solar.added_mw.unwrap(), 2.0 / 6.8 * 8.0));
    assert!(close(r.wind.added_mw.unwrap(), (8.0 / 3.0 - 1.0) * 2.0));
    assert!(close(r.wind.penetration_after.unwrap(), (12.0 + 8.0 * 8.0 / 3.0) / 40.0));
    assert!(r.assumptions.iter().any(|a| a.contains("10 % of the renewable energy")), "{:?}", r.assumptions);
}

// ---------------------------------------------------------------- input

#[test]
fn bad_curves_are_named_errors() {
    assert_eq!(Curve::from_load(&[], 1.0), Err(OptimizeError::Empty));
    let t = at("2025-01-14T00:00:00Z");
    assert!(matches!(Curve::from_load(&[(t, 1.0), (t, 2.0)], 1.0), Err(OptimizeError::NotIncreasing { .. })));
    let e = Curve::from_load(&[(t, f64::NAN)], 1.0).unwrap_err();
    assert!(e.to_string().contains("load at 2025-01-14"), "{e}");
    assert!(matches!(Curve::from_load(&[(t, -1.0)], 1.0), Err(OptimizeError::BadValue { what: "load", .. })));
    assert_eq!(Curve::from_load(&[(t, 1.0)], 0.0), Err(OptimizeError::BadStep(0.0)));
    assert!(matches!(Curve::new(vec![t], vec![1.0], vec![], vec![0.0], 1.0), Err(OptimizeError::LengthMismatch { solar: 0, .. })));
    let gaps = Curve::from_load(&[(t, 1.0), (t + Duration::hours(1), 1.0), (t + Duration::hours(4), 1.0)], 1.0).unwrap();
    assert_eq!(gaps.missing_steps(), 2);
}

// ---------------------------------------------------------------- the LP

/// The sizing model as a linear program: SoC `s_0..s_n` in `[0, E]` with the initial
/// charge free, `s_{t+1} = s_t + η·c_t·Δ - d_t·Δ`, `L_t - d_t + c_t <= cap`,
/// `0 <= c_t <= max(cap - L_t, 0)`, `c_t <= ratio·P`, `d_t <= P`.
/// `fixed_power`: `None` minimises P; `Some(p)` fixes P and minimises E.
fn solve_lp(loads: &[f64], p: &StorageParams, fixed_power: Option<f64>) -> f64 {
    use microlp::{ComparisonOp::*, OptimizationDirection, Problem};
    let mut lp = Problem::new(OptimizationDirection::Minimize);
    let (pow_obj, e_obj) = if fixed_power.is_some() { (0.0, 1.0) } else { (1.0, 0.0) };
    let power = lp.add_var(pow_obj, fixed_power.map_or((0.0, f64::INFINITY), |v| (v, v)));
    let energy = lp.add_var(e_obj, (0.0, f64::INFINITY));
    let soc: Vec<_> = (0..=loads.len()).map(|_| lp.add_var(0.0, (0.0, f64::INFINITY))).collect();
    for &s in &soc {
        lp.add_constraint([(s, 1.0), (energy, -1.0)], Le, 0.0);
    }
    for (t, &l) in loads.iter().enumerate() {
        let c = lp.add_var(0.0, (0.0, (p.cap_mw - l).max(0.0)));
        let d = lp.add_var(0.0, (0.0, f64::INFINITY));
        let eta_dt = p.round_trip_efficiency * p.step_hours;
        lp.add_constraint([(soc[t + 1], 1.0), (soc[t], -1.0), (c, -eta_dt), (d, p.step_hours)], Eq, 0.0);
        lp.add_constraint([(d, -1.0), (c, 1.0)], Le, p.cap_mw - l);
        lp.add_constraint([(d, 1.0), (power, -1.0)], Le, 0.0);
        lp.add_constraint([(c, 1.0), (power, -p.charge_power_ratio)], Le, 0.0);
    }
    let solution = lp.solve().expect("the LP solves").into_solution().expect("a solution");
    if fixed_power.is_some() { solution.var_value(energy) } else { solution.var_value(power) }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    #[test]
    fn sizing_matches_the_linear_program(
        loads in prop::collection::vec(0.0f64..10.0, 1..24),
        cap_share in 0.4f64..1.05,
        eta in 0.5f64..=1.0,
        ratio in 0.1f64..3.0,
        quarter_hours in any::<bool>(),
    ) {
        let peak = loads.iter().copied().fold(0.0, f64::max);
        let p = StorageParams {
            cap_mw: (peak * cap_share).max(0.1),
            round_trip_efficiency: eta,
            charge_power_ratio: ratio,
            step_hours: if quarter_hours { 0.25 } else { 1.0 },
        };
        let s = size_storage(&loads, &p);
        let lp_power = solve_lp(&loads, &p, None);
        prop_assert!((s.power_mw - lp_power).abs() <= 1e-6, "power {} vs LP {}", s.power_mw, lp_power);
        let lp_energy = solve_lp(&loads, &p, Some(s.power_mw));
        prop_assert!((s.energy_mwh - lp_energy).abs() <= 1e-6, "energy {} vs LP {}", s.energy_mwh, lp_energy);
        // The battery found really holds the cap when operated as sized.
        let net = shaved_load(&loads, &p, &s);
        prop_assert!(net.iter().all(|&x| x <= p.cap_mw + 1e-9));
    }
}

// ---------------------------------------------------------------- the command

mod command {
    use std::path::Path;
    use std::process::{Command, Output};

    fn gridwatch(data: &Path, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_gridwatch"))
            .arg("--data-dir")
            .arg(data)
            .args(args)
            .env_remove("GRIDWATCH_DATA_DIR")
            .env_remove("GRIDWATCH_BACKEND")
            .env("XDG_CONFIG_HOME", data.join("no-config"))
            .output()
            .expect("runs")
    }

    fn ok(out: &Output) -> String {
        assert!(out.status.success(), "failed: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout.clone()).unwrap()
    }

    #[test]
    fn optimize_on_the_sample_data() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/sample_data");
        ok(&gridwatch(&data, &["analyze", samples.to_str().unwrap()]));

        let json: serde_json::Value = serde_json::from_str(&ok(&gridwatch(
            &data,
            &["optimize", "--location", "substation_002", "--target", "90%", "--cap-mw", "150", "--format", "json"],
        )))
        .unwrap();
        let subs = json["substations"].as_array().unwrap();
        assert_eq!(subs.len(), 1);
        let s = &subs[0];
        assert_eq!((s["location"].as_str(), s["hours"].as_f64()), (Some("substation_002"), Some(48.0)));
        let targets = s["targets"].as_array().unwrap();
        assert_eq!(targets.len(), 2);
        let peak = s["peak_mw"].as_f64().unwrap();
        assert!((targets[0]["cap_mw"].as_f64().unwrap() - 0.9 * peak).abs() < 1e-9);
        assert_eq!(targets[1]["cap_mw"].as_f64(), Some(150.0));
        assert!(targets[0]["storage"]["power_mw"].as_f64().unwrap() > 0.0);
        assert!(json["config"]["battery"]["round_trip_efficiency"].as_f64().is_some());

        let csv = ok(&gridwatch(&data, &["optimize", "--format", "csv"]));
        let mut lines = csv.lines();
        assert!(lines.next().unwrap().starts_with("location,from,to,hours"));
        assert_eq!(lines.count(), 4 * 3, "4 substations x the 3 configured targets");

        let table = ok(&gridwatch(&data, &["optimize", "--location", "substation_001", "--from", "2025-01-15"]));
        assert!(table.contains("substation_001  2025-01-15T00:00:00Z .. 2025-01-16T00:00:00Z  (24 h, 0 missing)"), "{table}");
        assert!(table.contains("peak shaving: ") && table.contains("assumptions:"), "{table}");

        let unknown = gridwatch(&data, &["optimize", "--location", "nowhere"]);
        assert!(!unknown.status.success());
        assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown substation \"nowhere\""));
        let empty = gridwatch(&data, &["optimize", "--from", "2030-01-01"]);
        assert!(String::from_utf8_lossy(&empty.stderr).contains("no stored hours in the range"));
        let bad = gridwatch(&data, &["optimize", "--target", "0%"]);
        assert!(String::from_utf8_lossy(&bad.stderr).contains("within (0, 100]"));
    }

    #[test]
    fn the_optimize_section_of_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/sample_data");
        ok(&gridwatch(&data, &["analyze", samples.to_str().unwrap()]));
        let cfg = dir.path().join("config.toml");
        std::fs::write(
            &cfg,
            "[optimize]\ntargets_percent = [80]\n[optimize.battery]\nround_trip_efficiency = 0.75\n[optimize.tariff]\ncurrency = \"USD\"\n",
        )
        .unwrap();
        let table = ok(&gridwatch(&data, &["--config", cfg.to_str().unwrap(), "optimize", "--location", "substation_003"]));
        assert!(table.contains("USD/year") && table.contains("efficiency 0.75") && table.contains("\n  80 %"), "{table}");

        std::fs::write(&cfg, "[optimize]\nflexible_share = 2\n").unwrap();
        let out = gridwatch(&data, &["--config", cfg.to_str().unwrap(), "optimize"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains("[optimize] flexible_share"), "{err}");
    }
}
