//! End to end on the emulator: the bundled sample data goes through the Lambda's handler
//! into DynamoDB and S3 on moto (127.0.0.1, started by `scripts/test.sh`), then the real
//! binary runs `gridwatch dashboard --backend aws` in a tmux pane. Like the local
//! sample-data test (tests/tui_e2e.rs), the window must anchor at the newest stored
//! reading and draw sparklines and detail charts from what DynamoDB holds.
//!
//! Skipped (with a note) without the moto endpoint or without tmux.

mod aws_common;
mod tmux;

use aws_common::{endpoint, s3_event, Env, AWS_ENDPOINT_VAR};
use gridwatch::aws::event::RecordStatus;
use std::path::Path;
use std::time::Duration;
use tmux::{wait_exit, Tmux};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_data_through_dynamodb_is_visible_in_the_dashboard() {
    let Some(ep) = endpoint(AWS_ENDPOINT_VAR) else { return };
    if !Tmux::available() {
        eprintln!("note: tmux not installed, skipping the AWS dashboard test (apt-get install tmux)");
        return;
    }
    let env = Env::create(&ep).await;
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/sample_data");
    let lambda = env.pipeline();
    let mut names: Vec<_> = std::fs::read_dir(&samples)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".csv"))
        .collect();
    names.sort();
    for name in &names {
        let key = format!("raw/{name}");
        env.put(&key, std::fs::read(samples.join(name)).unwrap()).await;
        let r = lambda.handle(&s3_event(&env.bucket, &[&key])).await;
        assert_eq!(r.records[0].status, Some(RecordStatus::Processed), "{name}: {r:?}");
    }

    // The log group the dashboard tails (the Lambda's, in a deployment).
    let log_group = format!("/gridwatch/e2e-{}", env.bucket);
    env.logs.create_log_group().log_group_name(&log_group).send().await.expect("create log group");
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let exit_file = home.join("exit");
    let bin = env!("CARGO_BIN_EXE_gridwatch");
    // moto's test keys only: no user config, profile or real credentials.
    let cmd = format!(
        "env -u AWS_PROFILE -u GRIDWATCH_BACKEND HOME='{home}' XDG_CONFIG_HOME='{home}/no-config' \
         AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true \
         LANG=C.UTF-8 LC_ALL= TERM=xterm-256color '{bin}' dashboard --read-only --backend aws --endpoint-url '{ep}' \
         --table '{table}' --bucket '{bucket}' --log-group '{log_group}' ; echo EXIT=$? > '{exit}'",
        home = home.display(),
        table = env.table.name(),
        bucket = env.bucket,
        exit = exit_file.display(),
    );
    // The pane is driven from a blocking thread: this runtime's workers stay free.
    let screens = tokio::task::spawn_blocking(move || {
        let tmux = Tmux::start("aws", 200, 36, &cmd);
        let overview = tmux.wait_for("the anchored overview from DynamoDB", Duration::from_secs(90), |s| {
            // (Rows arrive as their Queries answer: wait for every sparkline.)
            let rows: Vec<&str> = s.lines().filter(|l| l.contains("substation_0")).collect();
            s.contains("history · newest 2025-01-15 23:45")
                && !rows.is_empty()
                && rows.iter().all(|r| r.chars().filter(|c| ('▁'..='█').contains(c)).count() >= 10)
        });
        tmux.keys(&["Enter"]);
        let detail = tmux.wait_for("detail charts from DynamoDB", Duration::from_secs(30), |s| {
            s.contains("[Detail]") && s.contains("Load MW") && s.contains("Voltage kV") && s.matches('•').count() > 40
        });
        tmux.keys(&["q"]);
        (overview, detail, wait_exit(&exit_file, Duration::from_secs(20)))
    })
    .await
    .unwrap();
    let (overview, detail, exit) = screens;

    // The title names the non-default endpoint.
    assert!(overview.lines().next().unwrap_or("").contains("127.0.0.1"), "title: {overview}");
    let rows: Vec<&str> = overview.lines().filter(|l| l.contains("substation_0")).collect();
    let locations: std::collections::BTreeSet<String> = names
        .iter()
        .flat_map(|n| std::fs::read_to_string(samples.join(n)).unwrap().lines().skip(1).filter_map(|l| l.split(',').nth(1).map(str::to_string)).collect::<Vec<_>>())
        .collect();
    assert_eq!(rows.len(), locations.len(), "every sample substation listed: {overview}");
    for r in &rows {
        let blocks = r.chars().filter(|c| ('▁'..='█').contains(c)).count();
        assert!(blocks >= 10, "empty sparkline in {r:?}\n{overview}");
        assert!(!r.contains("STALE"), "stored history is not stale at its own end: {r:?}");
    }
    assert!(!overview.contains("log error"), "the log tail reaches its group: {overview}");
    assert!(detail.contains("Frequency"), "{detail}");
    assert_eq!(exit, "EXIT=0");
}
