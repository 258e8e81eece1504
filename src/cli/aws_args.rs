//! `--backend local|aws` and the AWS options shared by `query`, `reprocess`, `dashboard`
//! and `upload`. Each setting comes from the flag, else its environment variable, else the
//! config file's `[aws]` table, else the default:
//!
//! | setting      | flag             | environment          | `[aws]` key    | default                 |
//! |--------------|------------------|----------------------|----------------|-------------------------|
//! | backend      | `--backend`      | `GRIDWATCH_BACKEND`  | `backend`      | `local`                 |
//! | profile      | `--profile`      | `AWS_PROFILE`        | `profile`      | SDK default chain       |
//! | region       | `--region`       | `AWS_REGION`         | `region`       | SDK default chain       |
//! | endpoint     | `--endpoint-url` | `AWS_ENDPOINT_URL`   | `endpoint_url` | AWS                     |
//! | table        | `--table`        | `GRIDWATCH_TABLE`    | `table`        | `GridAnalysis`          |
//! | bucket       | `--bucket`       | `GRIDWATCH_BUCKET`   | `bucket`       | (from the index items)  |
//! | function     | `--function`     | `GRIDWATCH_FUNCTION` | `function`     | `gridwatch-analyze`     |
//! | log group    | `--log-group`    | `GRIDWATCH_LOG_GROUP`| `log_group`    | `/aws/lambda/<function>`|

use clap::{Args, ValueEnum};
use serde::Deserialize;

pub const DEFAULT_TABLE: &str = "GridAnalysis";
pub const DEFAULT_FUNCTION: &str = "gridwatch-analyze";

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// The embedded backend in the data folder (no AWS account needed).
    #[default]
    Local,
    /// DynamoDB, S3, the Lambda and CloudWatch Logs.
    Aws,
}

/// The `[aws]` table of the config file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AwsSettings {
    pub backend: Option<BackendKind>,
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    pub table: Option<String>,
    pub bucket: Option<String>,
    pub function: Option<String>,
    pub log_group: Option<String>,
}

#[derive(Args, Debug, Clone, Default)]
pub struct AwsArgs {
    /// AWS profile (shared config/credentials files); default: the standard credential chain.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// AWS region (default: AWS_REGION or the profile's region).
    #[arg(long)]
    pub region: Option<String>,
    /// Custom endpoint for every AWS service (e.g. http://127.0.0.1:5000 for a local emulator).
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// DynamoDB table [default: GridAnalysis].
    #[arg(long, env = "GRIDWATCH_TABLE")]
    pub table: Option<String>,
    /// S3 bucket of the raw/, results/ and rejected/ objects.
    #[arg(long, env = "GRIDWATCH_BUCKET")]
    pub bucket: Option<String>,
    /// The analysis Lambda (invoked to reprocess) [default: gridwatch-analyze].
    #[arg(long, env = "GRIDWATCH_FUNCTION")]
    pub function: Option<String>,
    /// CloudWatch log group the dashboard follows [default: /aws/lambda/<function>].
    #[arg(long, env = "GRIDWATCH_LOG_GROUP", value_name = "NAME")]
    pub log_group: Option<String>,
}

#[derive(Args, Debug, Clone, Default)]
pub struct BackendArgs {
    /// Where the results are: the embedded local backend or AWS [default: local].
    #[arg(long, value_enum, env = "GRIDWATCH_BACKEND")]
    pub backend: Option<BackendKind>,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// The AWS settings after flags, environment, config file and defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedAws {
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    pub table: String,
    pub bucket: Option<String>,
    pub function: String,
    pub log_group: String,
}

impl BackendArgs {
    pub fn kind(&self, settings: &AwsSettings) -> BackendKind {
        self.backend.or(settings.backend).unwrap_or_default()
    }
}

impl AwsArgs {
    pub fn resolve(&self, settings: &AwsSettings) -> ResolvedAws {
        let pick = |flag: &Option<String>, file: &Option<String>| {
            flag.clone().or_else(|| file.clone()).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
        };
        let function = pick(&self.function, &settings.function).unwrap_or_else(|| DEFAULT_FUNCTION.to_string());
        ResolvedAws {
            profile: pick(&self.profile, &settings.profile),
            region: pick(&self.region, &settings.region),
            endpoint_url: pick(&self.endpoint_url, &settings.endpoint_url),
            table: pick(&self.table, &settings.table).unwrap_or_else(|| DEFAULT_TABLE.to_string()),
            bucket: pick(&self.bucket, &settings.bucket),
            log_group: pick(&self.log_group, &settings.log_group).unwrap_or_else(|| format!("/aws/lambda/{function}")),
            function,
        }
    }
}

/// The error of a build without the `aws` feature.
pub fn not_built() -> anyhow::Error {
    anyhow::anyhow!("this gridwatch was built without AWS support; rebuild with `cargo build --release --features aws`")
}

#[cfg(feature = "aws")]
pub use with_aws::*;

/// `gridwatch query --backend aws`.
pub fn aws_query(
    aws: &ResolvedAws,
    location: Option<&str>,
    from: Option<chrono::DateTime<chrono::Utc>>,
    to: Option<chrono::DateTime<chrono::Utc>>,
    status: Option<crate::model::AlertStatus>,
) -> anyhow::Result<Vec<crate::model::HourlyRollup>> {
    #[cfg(feature = "aws")]
    {
        runtime()?.block_on(query_rollups(aws, location, from, to, status))
    }
    #[cfg(not(feature = "aws"))]
    {
        let _ = (aws, location, from, to, status);
        Err(not_built())
    }
}

/// Runs `f` with the dashboard's AWS store (the same calls the dashboard makes).
pub fn with_store<T, F, Fut>(aws: &ResolvedAws, read_only: bool, f: F) -> anyhow::Result<T>
where
    F: FnOnce(std::sync::Arc<dyn crate::backend::GridStore>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    #[cfg(feature = "aws")]
    {
        runtime()?.block_on(async move {
            let (store, _) = aws.store(read_only).await;
            f(std::sync::Arc::new(store)).await
        })
    }
    #[cfg(not(feature = "aws"))]
    {
        let _ = (aws, read_only, f);
        Err(not_built())
    }
}

/// `gridwatch reprocess --backend aws`: prints what the Lambda did per record.
pub fn aws_reprocess(aws: &ResolvedAws, location: Option<&str>, key: Option<&str>, json: bool) -> anyhow::Result<()> {
    #[cfg(feature = "aws")]
    {
        use std::io::Write;
        let response = runtime()?.block_on(reprocess(aws, location, key))?;
        if json {
            writeln!(std::io::stdout(), "{}", serde_json::to_string_pretty(&response)?)?;
        } else {
            for r in &response.records {
                let status = r.status.map(|s| format!("{s:?}").to_lowercase()).unwrap_or_default();
                writeln!(std::io::stdout(), "{status}: {}", crate::sanitize::sanitize_for_terminal(&r.message))?;
                if let Some(k) = &r.results_key {
                    writeln!(std::io::stdout(), "  results: s3://{}/{}", r.bucket, k)?;
                }
                if let Some(k) = &r.rejected_key {
                    writeln!(std::io::stdout(), "  rejected rows: s3://{}/{}", r.bucket, k)?;
                }
            }
        }
        let bad = response.count(crate::aws::event::RecordStatus::FileError) + response.count(crate::aws::event::RecordStatus::Failed);
        anyhow::ensure!(bad == 0, "{}", response.summary());
        Ok(())
    }
    #[cfg(not(feature = "aws"))]
    {
        let _ = (aws, location, key, json);
        Err(not_built())
    }
}

#[cfg(feature = "aws")]
mod with_aws {
    use super::ResolvedAws;
    use crate::aws::event::EventResponse;
    use crate::aws::sdk::SdkOptions;
    use crate::aws::dashboard_store::{AwsStore, AwsStoreOptions};
    use crate::model::{AlertStatus, HourlyRollup};
    use chrono::{DateTime, Utc};

    impl ResolvedAws {
        pub fn sdk_options(&self) -> SdkOptions {
            SdkOptions { profile: self.profile.clone(), region: self.region.clone(), endpoint_url: self.endpoint_url.clone(), ..Default::default() }
        }

        pub fn label(&self, sdk: &aws_config::SdkConfig) -> String {
            let region = sdk.region().map(|r| r.to_string()).unwrap_or_else(|| "no region".into());
            // An endpoint from AWS_ENDPOINT_URL or a profile counts too (moto, LocalStack).
            match self.endpoint_url.as_deref().or(sdk.endpoint_url()) {
                Some(url) => format!("({region}, {url})"),
                None => format!("({region})"),
            }
        }

        pub async fn store(&self, read_only: bool) -> (AwsStore, aws_config::SdkConfig) {
            let sdk = crate::aws::sdk::load(&self.sdk_options()).await;
            let store = AwsStore::new(
                &sdk,
                AwsStoreOptions {
                    table: self.table.clone(),
                    function: Some(self.function.clone()),
                    bucket: self.bucket.clone(),
                    read_only,
                    label: self.label(&sdk),
                    ..Default::default()
                },
            );
            (store, sdk)
        }
    }

    pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
        Ok(tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?)
    }

    fn far_past() -> DateTime<Utc> {
        "1900-01-01T00:00:00Z".parse().expect("valid time")
    }
    fn far_future() -> DateTime<Utc> {
        "9000-01-01T00:00:00Z".parse().expect("valid time")
    }

    /// `gridwatch query --backend aws`: Query only. One substation: a key-range Query;
    /// a non-normal status across substations: the sparse status index; otherwise the
    /// index partition, then one key-range Query per substation.
    pub async fn query_rollups(
        aws: &ResolvedAws,
        location: Option<&str>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        status: Option<AlertStatus>,
    ) -> anyhow::Result<Vec<HourlyRollup>> {
        let (store, _) = aws.store(true).await;
        let table = store.table();
        let (lo, hi) = (from.unwrap_or_else(far_past), to.unwrap_or_else(far_future));
        let keep = |r: &HourlyRollup| status.is_none_or(|s| r.alert_status == s);
        if let Some(loc) = location {
            return Ok(table.rollups(loc, lo, hi).await?.into_iter().filter(keep).collect());
        }
        if let Some(s) = status.filter(|s| *s != AlertStatus::Normal) {
            return table.rollups_with_status(s, from, to).await;
        }
        let mut rows = Vec::new();
        for (state, _) in table.substations().await? {
            rows.extend(table.rollups(&state.location, lo, hi).await?.into_iter().filter(keep));
        }
        Ok(rows)
    }

    /// `gridwatch reprocess --backend aws`: invokes the Lambda with an S3 event.
    pub async fn reprocess(aws: &ResolvedAws, location: Option<&str>, key: Option<&str>) -> anyhow::Result<EventResponse> {
        let (store, _) = aws.store(false).await;
        let (bucket, key) = match (key, location) {
            (Some(key), _) => {
                let bucket = aws
                    .bucket
                    .clone()
                    .ok_or_else(|| anyhow::anyhow!("--key needs the bucket: --bucket, GRIDWATCH_BUCKET or [aws] bucket"))?;
                (bucket, key.to_string())
            }
            (None, Some(location)) => store.latest_source(location).await?,
            (None, None) => anyhow::bail!("name a substation or pass --key"),
        };
        crate::store::object_keys::validate_key(&key)?;
        store.invoke(&bucket, &[&key]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_config_file_and_defaults_fill_the_rest() {
        let file = AwsSettings { table: Some("FromFile".into()), function: Some("fn-file".into()), ..Default::default() };
        let args = AwsArgs { table: Some("FromFlag".into()), ..Default::default() };
        let r = args.resolve(&file);
        assert_eq!((r.table.as_str(), r.function.as_str(), r.log_group.as_str()), ("FromFlag", "fn-file", "/aws/lambda/fn-file"));
        let r = AwsArgs::default().resolve(&AwsSettings::default());
        assert_eq!((r.table.as_str(), r.function.as_str()), (DEFAULT_TABLE, DEFAULT_FUNCTION));
        let b = BackendArgs::default();
        assert_eq!(b.kind(&AwsSettings { backend: Some(BackendKind::Aws), ..Default::default() }), BackendKind::Aws);
        assert_eq!(b.kind(&AwsSettings::default()), BackendKind::Local);
    }
}
