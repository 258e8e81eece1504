//! Runs the engine alone over a file (rollups counted and dropped): for profilers.
//! `cargo run --release --example engine_only -- FILE [SHARDS | pipelined]`, or `FILE INDEX/COUNT` for one
//! shard of the Lambda's fan-out alone (reads every row, analyses that shard's substations).
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
    let arg = std::env::args().nth(2).unwrap_or_else(|| "1".into());
    let file = std::fs::File::open(&path)?;
    let mut sink = Counting::default();
    let t = std::time::Instant::now();
    let cfg = AnalysisConfig::default();
    let out = match arg.split_once('/') {
        Some((index, count)) => {
            let shard = gridwatch::analysis::ingest::ShardFilter::new(index.parse().expect("INDEX"), count.parse().expect("COUNT"));
            gridwatch::analysis::engine::analyze_shard_stream(file, &path, &cfg, &mut sink, shard)?.0
        }
        None if arg == "pipelined" => gridwatch::analysis::pipelined::analyze_pipelined(file, &path, &cfg, &mut sink)?,
        None => gridwatch::analysis::sharded::analyze_sharded(file, &path, &cfg, arg.parse().expect("SHARDS"), &mut sink)?,
    };
    let secs = t.elapsed().as_secs_f64();
    let mb = std::fs::metadata(&path)?.len() as f64 / 1e6;
    eprintln!("{} rows, {} rollups, {} rejected, {:.2} s, {:.1} MB/s", out.report.rows_accepted, sink.0, sink.1, secs, mb / secs);
    Ok(())
}
