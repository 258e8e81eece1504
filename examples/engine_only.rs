//! Runs the engine alone over a file (rollups counted and dropped): for profilers.
//! `cargo run --release --example engine_only -- FILE [SHARDS]`
use gridwatch::analysis::engine::AnalysisSink;
use gridwatch::config::AnalysisConfig;
use gridwatch::model::{HourlyRollup, RejectedRow};

#[derive(Default)]
struct Counting(u64, u64);
impl AnalysisSink for Counting {
    fn rollups(&mut self, batch: Vec<HourlyRollup>) -> anyhow::Result<()> {
        self.0 += batch.len() as u64;
        Ok(())
    }
    fn rejected(&mut self, _: &RejectedRow) -> anyhow::Result<()> {
        self.1 += 1;
        Ok(())
    }
}

fn main() -> anyhow::Result<()> {
    let path = std::env::args().nth(1).expect("FILE");
    let shards: usize = std::env::args().nth(2).map_or(1, |s| s.parse().expect("SHARDS"));
    let file = std::fs::File::open(&path)?;
    let mut sink = Counting::default();
    let t = std::time::Instant::now();
    let out = gridwatch::analysis::sharded::analyze_sharded(file, &path, &AnalysisConfig::default(), shards, &mut sink)?;
    let secs = t.elapsed().as_secs_f64();
    let mb = std::fs::metadata(&path)?.len() as f64 / 1e6;
    eprintln!("{} rows, {} rollups, {} rejected, {:.2} s, {:.1} MB/s", out.report.rows_accepted, sink.0, sink.1, secs, mb / secs);
    Ok(())
}
