//! The report's optimisation section: for each substation, the insights of
//! [`crate::optimize`] (battery sizing for peak shaving, load shifting, renewable hosting,
//! tariff costs) over the report's range, with the assumptions they rest on. The table
//! and the notes appear in the HTML under "Optimisation" and in `summary.json`.

use super::data::ReportData;
use super::figure::Figure;
use crate::optimize::{OptimizeConfig, Target};
use serde::Serialize;

/// What an optimisation run contributes to a report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OptimizationSection {
    /// One paragraph per note (plain text; escaped when written).
    pub notes: Vec<String>,
    /// A table: header and rows of cells (plain text).
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Figures, drawn by the report's renderer.
    #[serde(skip)]
    pub figures: Vec<Figure>,
}

/// Optimisation results for the report's substations and range (the `[optimize]` targets),
/// or `None` when no substation has rollups in the range.
pub fn optimization_section(data: &ReportData, cfg: &OptimizeConfig) -> Option<OptimizationSection> {
    let targets: Vec<Target> = cfg.targets_percent.iter().map(|p| Target::PercentOfPeak(*p)).collect();
    let mut section = OptimizationSection {
        columns: [
            "substation", "target", "cap MW", "battery MW", "battery MWh", "shifted MWh", "peak after shift MW",
            "reverse flow h", "hosting margin MW", "payback y",
        ]
        .map(String::from)
        .to_vec(),
        ..Default::default()
    };
    let mut assumptions: Vec<String> = Vec::new();
    for s in &data.substations {
        let result = match crate::optimize::optimize_rollups(&s.location, &s.rollups, cfg, &targets) {
            Ok(r) => r,
            Err(e) => {
                section.notes.push(format!("{}: not optimised: {e}", s.location));
                continue;
            }
        };
        for t in &result.targets {
            section.rows.push(vec![
                s.location.clone(),
                match t.target {
                    Target::PercentOfPeak(p) => format!("{p} %"),
                    Target::CapMw(mw) => format!("{mw} MW"),
                },
                format!("{:.2}", t.cap_mw),
                format!("{:.2}", t.storage.power_mw),
                format!("{:.2}", t.storage.energy_mwh),
                format!("{:.2}", t.shifting.shifted_mwh),
                format!("{:.2}", t.shifting.peak_after_mw),
                format!("{:.0}", result.renewables.reverse_flow_hours),
                format!("{:.2}", result.renewables.hosting_margin_mw),
                t.cost.payback_years.map_or("–".into(), |y| format!("{y:.1}")),
            ]);
        }
        if let Some(first) = result.targets.first() {
            section.notes.push(format!("{}: {}", s.location, crate::optimize::summary_line(first)));
        }
        if assumptions.is_empty() {
            assumptions = result.assumptions.clone();
            if let Some(t) = result.targets.first() {
                assumptions.extend(t.storage.assumptions.iter().chain(&t.shifting.assumptions).chain(&t.cost.assumptions).cloned());
            }
            assumptions.extend(result.renewables.assumptions.iter().cloned());
        }
    }
    if section.rows.is_empty() {
        return None;
    }
    section.notes.extend(assumptions.into_iter().map(|a| format!("assumption: {a}")));
    Some(section)
}
