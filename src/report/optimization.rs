//! The report's place for optimisation results.
//!
//! `src/optimize/` (dispatch / set-point optimisation) is being built in parallel and
//! this module does not depend on it. When it lands, implement [`optimization_section`]
//! (or pass a section to [`super::Report::with_optimization`]): its figures are
//! rendered and written like the others (files under `figures/optimization/`), its
//! table and notes appear in the HTML under "Optimisation" and in `summary.json`.
//! Until then the section says that no optimisation results are available.

use super::data::ReportData;
use super::figure::Figure;
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

/// The hook: optimisation results for the report's substations and range, if any.
pub fn optimization_section(_data: &ReportData) -> Option<OptimizationSection> {
    None
}
