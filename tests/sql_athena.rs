//! `gridwatch sql --backend aws` against moto's Athena (started by `scripts/test.sh`):
//! StartQueryExecution, polling GetQueryExecution (moto walks QUEUED → RUNNING →
//! SUCCEEDED), GetQueryResults, the header row dropped, values typed by column type, and
//! the same table output as the local backend. moto does not run SQL: the rows are queued
//! through its `/moto-api/static/athena/query-results` endpoint first.

mod aws_common;

use aws_common::{endpoint, moto_post, sdk, unique, AWS_ENDPOINT_VAR};
use gridwatch::cli::sql::{athena::run_query, AthenaArgs, Cell};

fn row(values: &[Option<&str>]) -> serde_json::Value {
    let data: Vec<serde_json::Value> = values
        .iter()
        .map(|v| match v {
            Some(v) => serde_json::json!({ "VarCharValue": v }),
            None => serde_json::json!({}),
        })
        .collect();
    serde_json::json!({ "Data": data })
}

/// Queues one result the way Athena returns a SELECT: a header row, then the data.
fn queue_result(endpoint: &str, columns: &[(&str, &str)], rows: &[Vec<Option<&str>>]) {
    let header: Vec<Option<&str>> = columns.iter().map(|(n, _)| Some(*n)).collect();
    let mut all = vec![row(&header)];
    all.extend(rows.iter().map(|r| row(r)));
    let info: Vec<serde_json::Value> = columns
        .iter()
        .map(|(n, t)| serde_json::json!({ "Name": n, "Label": n, "Type": t, "Nullable": "UNKNOWN", "CaseSensitive": false }))
        .collect();
    moto_post(
        endpoint,
        "/moto-api/static/athena/query-results",
        &serde_json::json!({ "region": "us-east-1", "results": [{ "rows": all, "column_info": info }] }),
    );
}

const COLUMNS: [(&str, &str); 3] = [("location", "varchar"), ("peak_mw", "double"), ("hours", "bigint")];

// One test function: moto's result queue is shared, so the queries run one after another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_on_athena_polls_pages_and_types_the_results() {
    let Some(ep) = endpoint(AWS_ENDPOINT_VAR) else { return };
    let conf = sdk(&ep).await;
    let client = aws_sdk_athena::Client::new(&conf);
    let workgroup = unique("gw-sql");
    client
        .create_work_group()
        .name(&workgroup)
        .configuration(
            aws_sdk_athena::types::WorkGroupConfiguration::builder()
                .result_configuration(
                    aws_sdk_athena::types::ResultConfiguration::builder().output_location("s3://gw-sql-results/athena-results/").build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let args = AthenaArgs { workgroup: workgroup.clone(), timeout: 30, ..AthenaArgs::default() };

    // The library call: typed values, header row dropped, NULL kept.
    queue_result(
        &ep,
        &COLUMNS,
        &[vec![Some("substation_001"), Some("105.15"), Some("48")], vec![Some("substation_002"), None, Some("47")]],
    );
    let got = run_query(&client, &args, "SELECT location, max(load_peak_mw) AS peak_mw, count(*) AS hours FROM hourly GROUP BY location")
        .await
        .unwrap();
    assert_eq!(got.rows.columns, ["location", "peak_mw", "hours"]);
    assert_eq!(
        got.rows.rows,
        vec![
            vec![Cell::Text("substation_001".into()), Cell::Real(105.15), Cell::Int(48)],
            vec![Cell::Text("substation_002".into()), Cell::Null, Cell::Int(47)],
        ]
    );
    let exec = client.get_query_execution().query_execution_id(&got.query_execution_id).send().await.unwrap();
    let exec = exec.query_execution().unwrap();
    assert_eq!(exec.work_group(), Some(workgroup.as_str()));
    assert_eq!(exec.query_execution_context().and_then(|c| c.database()), Some("gridwatch"));

    // The command line prints the same aligned table as on the local backend.
    queue_result(&ep, &COLUMNS, &[vec![Some("substation_001"), Some("105.15"), Some("48")]]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gridwatch"))
        .args(["sql", "--backend", "aws", "--endpoint-url", &ep, "--region", "us-east-1", "--workgroup", &workgroup])
        .arg("SELECT location, max(load_peak_mw) AS peak_mw, count(*) AS hours FROM hourly GROUP BY location")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}\n{}", text, String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "location        peak_mw  hours",
            "--------------  -------  -----",
            "substation_001   105.15     48",
            "(1 row)",
            "(Athena: 0 B scanned, 0 ms)",
        ]
    );

    // A workgroup that does not exist: a clear error, no panic.
    let missing = AthenaArgs { workgroup: unique("gw-missing"), timeout: 5, ..AthenaArgs::default() };
    let err = run_query(&client, &missing, "SELECT 1").await.unwrap_err().to_string();
    assert!(err.contains("cannot start the query") && err.to_lowercase().contains("workgroup"), "{err}");
}
