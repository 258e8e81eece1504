//! `gridwatch report --backend aws` and `gridwatch optimize --backend aws` as a user runs
//! them, against moto on 127.0.0.1 (started by `scripts/test.sh`): the bundled sample data
//! goes through the Lambda's handler into DynamoDB and S3, and through `gridwatch analyze`
//! into a local data folder; both commands must give the same tables from both backends.

mod aws_common;

use aws_common::{endpoint, moto_post, s3_event, Env, AWS_ENDPOINT_VAR};
use gridwatch::aws::event::RecordStatus;
use std::path::Path;
use std::process::{Command, Output};

const SAMPLES: [&str; 2] = ["grid_data_2025-01-14.csv", "grid_data_2025-01-15.csv"];

fn gridwatch(home: &Path, args: &[&str], aws: Option<(&str, &Env)>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gridwatch"));
    cmd.arg("--data-dir").arg(home.join("data"));
    cmd.args(args);
    // No user config, no real credentials or profile: moto's test keys only.
    cmd.env_remove("GRIDWATCH_DATA_DIR")
        .env_remove("GRIDWATCH_BACKEND")
        .env_remove("AWS_PROFILE")
        .env("XDG_CONFIG_HOME", home.join("no-config"))
        .env("HOME", home)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    if let Some((ep, env)) = aws {
        cmd.args(["--backend", "aws", "--endpoint-url", ep, "--table", env.table.name(), "--bucket", &env.bucket]);
    }
    cmd.output().expect("runs")
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "failed: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(name).display()))
}

/// The sample data in both backends: S3 + the handler on moto, `gridwatch analyze` locally.
async fn both_backends(home: &Path, env: &Env) {
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/sample_data");
    let lambda = env.pipeline();
    for name in SAMPLES {
        let key = format!("raw/{name}");
        env.put(&key, std::fs::read(samples.join(name)).unwrap()).await;
        let r = lambda.handle(&s3_event(&env.bucket, &[&key])).await;
        assert_eq!(r.records[0].status, Some(RecordStatus::Processed), "{r:?}");
    }
    ok(&gridwatch(home, &["analyze", samples.to_str().unwrap()], None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_and_optimize_on_dynamodb_match_the_local_backend() {
    let Some(ep) = endpoint(AWS_ENDPOINT_VAR) else { return };
    let env = Env::create(&ep).await;
    let home = tempfile::tempdir().unwrap();
    both_backends(home.path(), &env).await;
    let out_local = home.path().join("report-local");
    let out_aws = home.path().join("report-aws");

    // The commands run their own runtimes in child processes; waiting for them blocks one
    // of this test's two workers, which has nothing else to do.
    let report = |out: &Path, aws: bool| {
        let out = out.display().to_string();
        gridwatch(home.path(), &["report", "--output", &out, "--format", "html,svg"], aws.then_some((ep.as_str(), &env)))
    };
    let (local, aws) = (report(&out_local, false), report(&out_aws, true));
    let opt_local = gridwatch(home.path(), &["optimize"], None);
    let opt_aws = gridwatch(home.path(), &["optimize"], Some((ep.as_str(), &env)));

    let said_local = ok(&local);
    let said_aws = ok(&aws);
    assert!(said_aws.starts_with("report of "), "{said_aws}");
    // The same hours, summary and forecast accuracy from DynamoDB as from SQLite.
    let hourly = read(&out_aws, "hourly.csv");
    let hours = hourly.lines().count() - 1;
    assert!(hours >= 2 * 24, "two days of hourly rollups per substation, got {hours} rows");
    same_table("hourly.csv", &hourly, &read(&out_local, "hourly.csv"), ',');
    for name in ["summary.csv", "forecast_accuracy.csv"] {
        same_table(name, &read(&out_aws, name), &read(&out_local, name), ',');
    }
    // The figures were drawn from it: the page is there, each SVG parses.
    let html = read(&out_aws, "report.html");
    assert!(html.contains("<svg"), "the page holds the figures inline");
    let mut svgs = 0;
    for entry in walk(&out_aws.join("figures")) {
        if entry.extension().is_some_and(|x| x == "svg") {
            usvg::Tree::from_data(&std::fs::read(&entry).unwrap(), &usvg::Options::default())
                .unwrap_or_else(|e| panic!("{}: {e}", entry.display()));
            svgs += 1;
        }
    }
    assert!(svgs >= 5, "figures written: {svgs}");
    assert_eq!(said_local.lines().count(), said_aws.lines().count(), "{said_local}\n{said_aws}");

    // `optimize` reads the same rollups through the same GridStore: same results.
    let (ol, oa) = (ok(&opt_local), ok(&opt_aws));
    assert!(!oa.trim().is_empty());
    same_table("optimize output", &oa, &ol, ' ');
}

/// The same table up to the last printed digit: DynamoDB's numbers come back as decimal
/// text, so a mean that lands on a rounding boundary may print one unit apart.
fn same_table(what: &str, aws: &str, local: &str, sep: char) {
    let (a, b): (Vec<&str>, Vec<&str>) = (aws.lines().collect(), local.lines().collect());
    assert_eq!(a.len(), b.len(), "{what}: {} lines from DynamoDB, {} locally", a.len(), b.len());
    for (n, (la, lb)) in a.iter().zip(&b).enumerate() {
        let (ca, cb): (Vec<&str>, Vec<&str>) = (la.split(sep).collect(), lb.split(sep).collect());
        assert_eq!(ca.len(), cb.len(), "{what} line {}: {la:?} vs {lb:?}", n + 1);
        for (x, y) in ca.iter().zip(&cb) {
            let close = match (x.trim_end_matches('%').parse::<f64>(), y.trim_end_matches('%').parse::<f64>()) {
                (Ok(p), Ok(q)) => {
                    let decimals = x.split_once('.').map_or(0, |(_, d)| d.trim_end_matches('%').len()) as i32;
                    // And summing in another order moves the 16th digit.
                    (p - q).abs() <= (10f64.powi(-decimals) * 1.000_001).max(1e-9 * p.abs().max(q.abs()))
                }
                _ => x == y,
            };
            assert!(close, "{what} line {}: {x:?} from DynamoDB, {y:?} locally\n{}\n{la}\n{lb}", n + 1, a[0]);
        }
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.unwrap().path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

/// Queues, as Athena's answer to the next query, these rollups the way Athena returns
/// the `hourly` table: every value as text, a header row first, the array as JSON text
/// (moto does not run SQL).
fn queue_athena_rollups(endpoint: &str, rollups: &[gridwatch::model::HourlyRollup]) {
    use gridwatch::store::athena_layout::COLUMNS;
    let cell = |v: Option<String>| match v {
        Some(v) => serde_json::json!({ "VarCharValue": v }),
        None => serde_json::json!({}),
    };
    let mut rows = vec![serde_json::json!({ "Data": COLUMNS.iter().map(|(n, _)| cell(Some(n.to_string()))).collect::<Vec<_>>() })];
    for r in rollups {
        let json = serde_json::to_value(r).unwrap();
        let data: Vec<serde_json::Value> = COLUMNS
            .iter()
            .map(|(n, _)| match &json[*n] {
                serde_json::Value::String(s) => cell(Some(s.clone())),
                serde_json::Value::Null => cell(None),
                other => cell(Some(other.to_string())),
            })
            .collect();
        rows.push(serde_json::json!({ "Data": data }));
    }
    let info: Vec<serde_json::Value> = COLUMNS
        .iter()
        .map(|(n, t)| {
            let t = if t.starts_with("array") || *t == "string" { "varchar" } else { t };
            serde_json::json!({ "Name": n, "Label": n, "Type": t, "Nullable": "UNKNOWN", "CaseSensitive": false })
        })
        .collect();
    moto_post(
        endpoint,
        "/moto-api/static/athena/query-results",
        &serde_json::json!({ "region": "us-east-1", "results": [{ "rows": rows, "column_info": info }] }),
    );
}

/// DynamoDB lost the older hours (as after a TTL): with `--table-days` the report reads
/// them from Athena in one query and is the same as the local report of all hours;
/// without it those hours are missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_reads_hours_the_table_no_longer_keeps_from_athena() {
    use chrono::{DurationRound, TimeZone, Utc};
    use gridwatch::backend::GridStore;
    let Some(ep) = endpoint(AWS_ENDPOINT_VAR) else { return };
    let env = Env::create(&ep).await;
    let home = tempfile::tempdir().unwrap();
    both_backends(home.path(), &env).await;

    // A retention that ends during 2025-01-15; the command's cutoff is a moment later.
    let now = Utc::now();
    let days = (now - Utc.with_ymd_and_hms(2025, 1, 15, 0, 0, 0).unwrap()).num_days();
    let cutoff = (now - chrono::Duration::days(days)).duration_trunc(chrono::Duration::hours(1)).unwrap();
    assert!(cutoff.date_naive() == chrono::NaiveDate::from_ymd_opt(2025, 1, 15).unwrap(), "{cutoff}");
    let mut deleted = 0;
    let locations = ["substation_001", "substation_002", "substation_003", "substation_004"];
    for ((loc, sk), _) in env.dump(&locations).await {
        let Ok(hour) = chrono::DateTime::parse_from_rfc3339(&sk) else { continue };
        if hour < cutoff {
            env.dynamodb
                .delete_item()
                .table_name(env.table.name())
                .key(gridwatch::aws::attrs::PK, aws_sdk_dynamodb::types::AttributeValue::S(loc))
                .key(gridwatch::aws::attrs::SK, aws_sdk_dynamodb::types::AttributeValue::S(sk))
                .send()
                .await
                .unwrap();
            deleted += 1;
        }
    }
    assert!(deleted >= 4 * 24, "Jan 14 is gone from the table ({deleted} items)");

    // Athena's copy holds every hour (the report keeps those before its cutoff).
    let local = gridwatch::local::LocalBackend::open(
        gridwatch::local::DataDir::new(home.path().join("data")),
        gridwatch::config::AnalysisConfig::default(),
    )
    .unwrap();
    let (from, to) = (Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap(), Utc.with_ymd_and_hms(2025, 2, 1, 0, 0, 0).unwrap());
    let mut archived = Vec::new();
    for l in locations {
        archived.extend(local.rollups(l, from, to).await.unwrap());
    }
    queue_athena_rollups(&ep, &archived);
    let athena = aws_sdk_athena::Client::new(&env.sdk);
    let workgroup = aws_common::unique("gw-report");
    athena
        .create_work_group()
        .name(&workgroup)
        .configuration(
            aws_sdk_athena::types::WorkGroupConfiguration::builder()
                .result_configuration(aws_sdk_athena::types::ResultConfiguration::builder().output_location("s3://gw-report-results/").build())
                .build(),
        )
        .send()
        .await
        .unwrap();

    let range = ["--from", "2025-01-14", "--to", "2025-01-16", "--format", "svg"];
    let run = |out: &str, extra: &[&str], aws: bool| {
        let out = home.path().join(out).display().to_string();
        let mut args = vec!["report", "--output", &out];
        args.extend(range);
        args.extend(extra);
        gridwatch(home.path(), &args, aws.then_some((ep.as_str(), &env)))
    };
    let days = days.to_string();
    ok(&run("local", &[], false));
    ok(&run("lossy", &[], true));
    let said = ok(&run("athena", &["--table-days", &days, "--workgroup", &workgroup], true));
    assert!(said.starts_with("report of 4 substation(s)"), "{said}");
    let dir = |d: &str| home.path().join(d);
    let full = read(&dir("local"), "hourly.csv");
    assert_eq!(full.lines().count() - 1, 4 * 48);
    assert!(read(&dir("lossy"), "hourly.csv").lines().count() - 1 < 4 * 48 - 4 * 23, "without Athena the old hours are missing");
    same_table("hourly.csv via Athena", &read(&dir("athena"), "hourly.csv"), &full, ',');
    same_table("summary.csv via Athena", &read(&dir("athena"), "summary.csv"), &read(&dir("local"), "summary.csv"), ',');

    // One Athena query, for every substation, pruned to the days needed.
    let ids = athena.list_query_executions().work_group(&workgroup).send().await.unwrap().query_execution_ids().to_vec();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let q = athena.get_query_execution().query_execution_id(&ids[0]).send().await.unwrap();
    let sql = q.query_execution().and_then(|e| e.query()).unwrap_or_default().to_string();
    assert!(sql.contains("IN ('substation_001', 'substation_002', 'substation_003', 'substation_004')"), "{sql}");
    assert!(sql.contains("\"day\" BETWEEN '2024-11-19' AND '2025-01-15'"), "the 56 days of forecast history and the range up to the cutoff: {sql}");
}
