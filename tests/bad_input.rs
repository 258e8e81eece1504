//! The bad-input corpus: every file under tests/bad_input/ has a stated expectation in
//! expected.json (rows accepted and rejected, the file error if any, and the line and
//! field of each rejected row). Nothing may panic and no row may go unaccounted for.

use gridwatch::config::AnalysisConfig;
use gridwatch::analysis::engine::{analyze_stream, CollectSink};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Deserialize, Debug)]
struct Expected {
    /// `None`: at least one row (a truncated stream).
    accepted: Option<u64>,
    rejected: u64,
    /// `None`: no file error; `Some(s)`: an error containing `s`.
    file_error: Option<String>,
    rejected_fields: Vec<(u64, String)>,
}

fn corpus() -> (std::path::PathBuf, BTreeMap<String, Expected>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_input");
    let expected: BTreeMap<String, Expected> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    (dir, expected)
}

#[test]
fn every_corpus_file_behaves_as_stated() {
    let (dir, expected) = corpus();
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "expected.json")
        .collect();
    files.sort();
    assert!(files.len() >= 45, "the corpus has {} files", files.len());
    let mut failures = Vec::new();
    for name in &files {
        let Some(exp) = expected.get(name) else {
            failures.push(format!("{name}: no expectation in expected.json"));
            continue;
        };
        let input = std::fs::File::open(dir.join(name)).unwrap();
        let mut sink = CollectSink::default();
        let outcome = analyze_stream(input, name, &AnalysisConfig::default(), &mut sink).unwrap();
        let r = &outcome.report;
        let mut problems = Vec::new();
        match exp.accepted {
            Some(n) if r.rows_accepted != n => problems.push(format!("accepted {} != {n}", r.rows_accepted)),
            None if r.rows_accepted == 0 => problems.push("expected some accepted rows".to_string()),
            _ => {}
        }
        if r.rows_rejected != exp.rejected {
            problems.push(format!("rejected {} != {}", r.rows_rejected, exp.rejected));
        }
        if r.rows_read != r.rows_accepted + r.rows_rejected {
            problems.push(format!("rows lost: read {} != accepted {} + rejected {}", r.rows_read, r.rows_accepted, r.rows_rejected));
        }
        match (&exp.file_error, &r.file_error) {
            (None, Some(e)) => problems.push(format!("unexpected file error: {e}")),
            (Some(want), None) => problems.push(format!("expected a file error containing {want:?}")),
            (Some(want), Some(got)) if !got.contains(want.as_str()) || !got.contains(name.as_str()) => {
                problems.push(format!("file error {got:?} should contain {want:?} and the file name"))
            }
            _ => {}
        }
        let got_fields: Vec<(u64, String)> = sink.rejected.iter().map(|r| (r.line, r.field.clone())).collect();
        if got_fields != exp.rejected_fields {
            problems.push(format!("rejected (line, field) {got_fields:?} != {:?}", exp.rejected_fields));
        }
        if let Some(empty) = sink.rejected.iter().find(|r| r.reason.trim().is_empty()) {
            problems.push(format!("rejected row without a reason: {empty:?}"));
        }
        // Everything stored must read back: JSON has no NaN or infinity (they become null).
        if let Some(bad) = sink.rollups.iter().find(|r| {
            serde_json::from_str::<gridwatch::model::HourlyRollup>(&serde_json::to_string(r).unwrap()).is_err()
        }) {
            problems.push(format!("a rollup that cannot be read back: {bad:?}"));
        }
        if r.rows_accepted > 0 && sink.rollups.is_empty() {
            problems.push("accepted rows produced no rollups".to_string());
        }
        if !problems.is_empty() {
            failures.push(format!("{name}: {}", problems.join("; ")));
        }
    }
    assert!(failures.is_empty(), "corpus failures:\n{}", failures.join("\n"));
}

#[test]
fn quoted_and_bom_files_keep_their_values() {
    let (dir, _) = corpus();
    let mut sink = CollectSink::default();
    let input = std::fs::File::open(dir.join("16_quoted_fields.csv")).unwrap();
    let outcome = analyze_stream(input, "16", &AnalysisConfig::default(), &mut sink).unwrap();
    assert_eq!(outcome.report.locations[0].location, "North, Sub \"A\"");
    let mut sink = CollectSink::default();
    let input = std::fs::File::open(dir.join("25_mixed_offsets.csv")).unwrap();
    let outcome = analyze_stream(input, "25", &AnalysisConfig::default(), &mut sink).unwrap();
    let s = &outcome.report.locations[0];
    assert_eq!(gridwatch::model::format_ts(s.first_timestamp), "2025-01-14T00:00:00Z");
    assert_eq!(gridwatch::model::format_ts(s.last_timestamp), "2025-01-14T00:30:00Z");
    assert!(sink.rejected[0].reason.contains("duplicate"), "{:?}", sink.rejected[0]);
}
