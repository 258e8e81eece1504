//! Loading the SDK configuration: the standard credential chain (environment, profile,
//! SSO with the `aws` feature, web identity, container/instance metadata), with optional
//! `--profile`, `--region` and `--endpoint-url` overrides.
//!
//! The SDK crates are built without their default HTTPS client (that one pulls in
//! aws-lc); this module supplies a hyper + rustls client using ring instead.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use std::time::Duration;

/// Where and as whom to talk to AWS. Every field is optional: unset means "what the
/// standard chain says" (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, ~/.aws/config ...).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SdkOptions {
    pub profile: Option<String>,
    pub region: Option<String>,
    /// A custom endpoint for every service (moto, LocalStack, a VPC endpoint).
    pub endpoint_url: Option<String>,
    /// Longest wait for one attempt of a request before it is retried (default
    /// [`ATTEMPT_TIMEOUT`]; the fault tests use a short one).
    pub attempt_timeout: Option<Duration>,
}

/// Without an attempt timeout a request whose answer never comes waits until the Lambda's
/// deadline (found by tests/aws_faults.rs). Long enough for an 8 MiB multipart part.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The HTTPS client every AWS client of gridwatch uses.
pub fn http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// Loads the shared configuration. Clients built from it reuse one connection pool.
pub async fn load(opts: &SdkOptions) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(opts.attempt_timeout.unwrap_or(ATTEMPT_TIMEOUT))
                .build(),
        );
    if let Some(profile) = opts.profile.as_deref().filter(|p| !p.is_empty()) {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = opts.region.as_deref().filter(|r| !r.is_empty()) {
        loader = loader.region(Region::new(region.to_string()));
    }
    if let Some(url) = opts.endpoint_url.as_deref().filter(|u| !u.is_empty()) {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// True when requests go to a custom endpoint (set explicitly or through AWS_ENDPOINT_URL*).
fn custom_endpoint(conf: &SdkConfig) -> bool {
    conf.endpoint_url().is_some()
}

/// An S3 client. Path-style addressing with a custom endpoint: virtual-host style would
/// ask DNS for `<bucket>.127.0.0.1` / `<bucket>.localhost`.
pub fn s3_client(conf: &SdkConfig) -> aws_sdk_s3::Client {
    let path_style = custom_endpoint(conf) || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
    let s3 = aws_sdk_s3::config::Builder::from(conf).force_path_style(path_style).build();
    aws_sdk_s3::Client::from_conf(s3)
}

pub fn dynamodb_client(conf: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(conf)
}

pub fn sns_client(conf: &SdkConfig) -> aws_sdk_sns::Client {
    aws_sdk_sns::Client::new(conf)
}
