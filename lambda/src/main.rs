//! The AWS Lambda that analyses `raw/` uploads. The handler lands with the AWS issue;
//! for now it proves the Lambda links the shared engine without any terminal UI code.
fn main() {
    let cfg = gridwatch::config::AnalysisConfig::default();
    println!("gridwatch-lambda: nominal {} kV / {} Hz", cfg.nominal_voltage_kv, cfg.nominal_frequency_hz);
}
