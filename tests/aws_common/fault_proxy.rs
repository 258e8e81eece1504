//! A fault-injecting HTTP proxy on 127.0.0.1 in front of moto, for the AWS tests.
//!
//! Point an SDK client at [`FaultProxy::url`] instead of moto. A share of the requests
//! (`rate`) gets one fault, drawn from the plan's list:
//! - before moto sees the request (nothing applied): HTTP 500, HTTP 503, the service's own
//!   throttling error (DynamoDB `ProvisionedThroughputExceededException` or
//!   `ThrottlingException` as JSON 400, S3 `SlowDown` XML 503, SNS `Throttling` XML 400),
//!   a connection reset, or no answer at all (held past the client's timeout, then closed);
//! - after moto applied it (the answer is lost): HTTP 500, HTTP 503, a reset, no answer.
//!   These are the ones that make duplicates when the client retries.
//!
//! Reproducible: whether a request gets a fault, and which, is a hash of the seed, the
//! request (method, path, target, body) and how many times that same request was seen,
//! so a run with the same seed injects the same faults into the same requests whatever
//! order concurrent requests arrive in (requests carrying a clock or a random id differ
//! between runs, and so do their draws).
//!
//! With rate 0 it is a plain request counter per service and operation
//! ([`FaultProxy::requests`]), e.g. for a cost model.
//!
//! The server side is a small HTTP/1.1 reader (httparse) because faults need the raw
//! socket (resets, silence); forwarding uses hyper's client.
#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What goes wrong with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Http500,
    Http503,
    /// The service's own throttling error (only before: a throttled request is not applied).
    Throttle,
    /// The TCP connection is reset (RST), no HTTP answer.
    Reset,
    /// No answer until the plan's `hold` has passed, then the connection closes.
    Timeout,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// The proxy answers; moto never sees the request.
    Before(Kind),
    /// moto applies the request; its answer is replaced (lost).
    After(Kind),
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (when, kind) = match self {
            Fault::Before(k) => ("before", k),
            Fault::After(k) => ("after", k),
        };
        let name = match kind {
            Kind::Http500 => "HTTP 500",
            Kind::Http503 => "HTTP 503",
            Kind::Throttle => "throttling",
            Kind::Reset => "connection reset",
            Kind::Timeout => "timeout",
        };
        write!(f, "{name} {when} moto")
    }
}

/// Every fault the proxy can inject.
pub const ALL_FAULTS: [Fault; 9] = [
    Fault::Before(Kind::Http500),
    Fault::Before(Kind::Http503),
    Fault::Before(Kind::Throttle),
    Fault::Before(Kind::Reset),
    Fault::Before(Kind::Timeout),
    Fault::After(Kind::Http500),
    Fault::After(Kind::Http503),
    Fault::After(Kind::Reset),
    Fault::After(Kind::Timeout),
];

/// Which faults, how often, and how long a "timeout" holds the answer.
#[derive(Debug, Clone)]
pub struct FaultPlan {
    pub seed: u64,
    /// Share of requests that get a fault, 0..=1 (can be changed while running).
    pub rate: f64,
    pub faults: Vec<Fault>,
    /// Longer than the client's attempt timeout.
    pub hold: Duration,
    /// Services (SigV4 names: `dynamodb`, `s3`, `sns` ...) that only get faults before moto.
    pub before_only: Vec<String>,
    /// Only requests of these operations get faults (empty: every operation).
    pub only_operations: Vec<String>,
    /// Faults drawn for the same request at most this often (1 with rate 1: every first
    /// attempt fails, every retry passes).
    pub per_request: u64,
    /// Only requests whose body contains this text get faults (e.g. one alarm's id).
    pub body_contains: Option<String>,
}

impl FaultPlan {
    pub fn new(seed: u64, rate: f64, hold: Duration) -> Self {
        Self {
            seed,
            rate,
            faults: ALL_FAULTS.to_vec(),
            hold,
            before_only: Vec::new(),
            only_operations: Vec::new(),
            per_request: u64::MAX,
            body_contains: None,
        }
    }
}

/// One AWS call as the proxy sees it: the SigV4 service name and the operation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Call {
    pub service: String,
    pub operation: String,
}

#[derive(Debug, Default)]
struct Stats {
    requests: BTreeMap<Call, u64>,
    faults: BTreeMap<(Call, Fault), u64>,
    /// How often each request (by content hash) was seen: the draw of a retry differs.
    seen: HashMap<u64, u64>,
}

struct Shared {
    upstream: String,
    plan: FaultPlan,
    rate_ppm: AtomicU64,
    stats: Mutex<Stats>,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// The running proxy; stops when dropped.
pub struct FaultProxy {
    url: String,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts the proxy on a free port of 127.0.0.1, in front of `upstream` (moto's URL),
    /// on its own thread and runtime (independent of the test's runtime).
    pub fn start(upstream: &str, plan: FaultPlan) -> FaultProxy {
        let std_listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("bind the fault proxy on 127.0.0.1");
        std_listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let url = format!(
            "http://{}",
            std_listener.local_addr().expect("proxy address")
        );
        let rate_ppm = AtomicU64::new(ppm(plan.rate));
        let client = Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            plan,
            rate_ppm,
            stats: Mutex::default(),
            client,
        });
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = shared.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("proxy runtime");
            rt.block_on(async move {
                let listener = TcpListener::from_std(std_listener).expect("tokio listener");
                loop {
                    tokio::select! {
                        _ = &mut stopped => break,
                        accepted = listener.accept() => {
                            if let Ok((stream, _)) = accepted {
                                tokio::spawn(serve(stream, serving.clone()));
                            }
                        }
                    }
                }
            });
            // Held connections ("timeouts") must not keep the test waiting.
            rt.shutdown_background();
        });
        FaultProxy {
            url,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The endpoint URL to give the SDK.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Changes the fault rate (0 = a transparent, counting proxy).
    pub fn set_rate(&self, rate: f64) {
        self.shared.rate_ppm.store(ppm(rate), Ordering::SeqCst);
    }

    /// Requests seen per service and operation (every attempt counts).
    pub fn requests(&self) -> BTreeMap<Call, u64> {
        self.shared.stats.lock().unwrap().requests.clone()
    }

    /// Faults injected, per call and fault.
    pub fn faults(&self) -> BTreeMap<(Call, Fault), u64> {
        self.shared.stats.lock().unwrap().faults.clone()
    }

    /// Faults injected per fault, over every call.
    pub fn fault_totals(&self) -> BTreeMap<Fault, u64> {
        let mut out = BTreeMap::new();
        for ((_, fault), n) in self.faults() {
            *out.entry(fault).or_default() += n;
        }
        out
    }

    pub fn total_requests(&self) -> u64 {
        self.requests().values().sum()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn ppm(rate: f64) -> u64 {
    (rate.clamp(0.0, 1.0) * 1e6).round() as u64
}

/// One request read off the socket.
struct Request {
    method: String,
    /// Path and query, as sent.
    target: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    fn wants_close(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }

    fn call(&self) -> Call {
        // SigV4: `Credential=KEY/DATE/REGION/SERVICE/aws4_request`.
        let service = self
            .header("authorization")
            .and_then(|a| a.split("Credential=").nth(1))
            .and_then(|c| c.split('/').nth(3))
            .unwrap_or("unknown")
            .to_string();
        let operation = if let Some(target) = self.header("x-amz-target") {
            target.rsplit('.').next().unwrap_or(target).to_string()
        } else if let Some(action) = form_value(&self.body, "Action") {
            action
        } else if service == "s3" {
            s3_operation(
                &self.method,
                &self.target,
                self.header("x-amz-copy-source").is_some(),
            )
            .to_string()
        } else {
            format!(
                "{} {}",
                self.method,
                self.target.split('?').next().unwrap_or("")
            )
        };
        Call { service, operation }
    }

    /// The request's identity for the fault draw: what a retry sends again unchanged
    /// (not the signature or date headers).
    fn content_hash(&self) -> u64 {
        let mut h = DefaultHasher::new();
        (
            &self.method,
            &self.target,
            self.header("x-amz-target"),
            &self.body,
        )
            .hash(&mut h);
        h.finish()
    }
}

fn form_value(body: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&').find_map(|pair| {
        pair.strip_prefix(name)?
            .strip_prefix('=')
            .map(str::to_string)
    })
}

/// S3's REST operations by method, path depth and query.
fn s3_operation(method: &str, target: &str, copy: bool) -> &'static str {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let has = |q: &str| {
        query
            .split('&')
            .any(|p| p == q || p.starts_with(&format!("{q}=")))
    };
    let object = path.trim_start_matches('/').contains('/');
    match (method, object) {
        ("PUT", true) if has("uploadId") => "UploadPart",
        ("PUT", true) if copy => "CopyObject",
        ("PUT", true) => "PutObject",
        ("PUT", false) => "CreateBucket",
        ("GET", true) => "GetObject",
        ("GET", false) if has("list-type") => "ListObjectsV2",
        ("GET", false) => "ListObjects",
        ("HEAD", true) => "HeadObject",
        ("HEAD", false) => "HeadBucket",
        ("POST", true) if has("uploads") => "CreateMultipartUpload",
        ("POST", true) if has("uploadId") => "CompleteMultipartUpload",
        ("POST", false) if has("delete") => "DeleteObjects",
        ("DELETE", true) if has("uploadId") => "AbortMultipartUpload",
        ("DELETE", true) => "DeleteObject",
        ("DELETE", false) => "DeleteBucket",
        _ => "other",
    }
}

impl Shared {
    /// Draws the fault (if any) of this request and counts it.
    fn draw(&self, request: &Request, call: &Call) -> Option<Fault> {
        let mut stats = self.stats.lock().unwrap();
        *stats.requests.entry(call.clone()).or_default() += 1;
        let content = request.content_hash();
        let seen = stats.seen.entry(content).or_default();
        let nth = *seen;
        *seen += 1;
        let plan = &self.plan;
        let body_matches = plan.body_contains.as_ref().is_none_or(|text| {
            request
                .body
                .windows(text.len())
                .any(|w| w == text.as_bytes())
        });
        if nth >= plan.per_request
            || !body_matches
            || (!plan.only_operations.is_empty() && !plan.only_operations.contains(&call.operation))
        {
            return None;
        }
        let candidates: Vec<Fault> = plan
            .faults
            .iter()
            .copied()
            .filter(|f| matches!(f, Fault::Before(_)) || !plan.before_only.contains(&call.service))
            .collect();
        let mut h = DefaultHasher::new();
        (plan.seed, content, nth).hash(&mut h);
        let draw = h.finish();
        let threshold = self.rate_ppm.load(Ordering::SeqCst);
        if candidates.is_empty() || (draw >> 32) % 1_000_000 >= threshold {
            return None;
        }
        let fault = candidates[(draw & 0xffff_ffff) as usize % candidates.len()];
        *stats.faults.entry((call.clone(), fault)).or_default() += 1;
        Some(fault)
    }

    async fn forward(&self, request: &Request) -> Result<hyper::Response<Bytes>, String> {
        let mut builder = hyper::Request::builder()
            .method(request.method.as_str())
            .uri(format!("{}{}", self.upstream, request.target));
        for (name, value) in &request.headers {
            // Hop-by-hop headers, and `Expect` (the proxy already said 100 Continue).
            if [
                "connection",
                "keep-alive",
                "transfer-encoding",
                "expect",
                "content-length",
            ]
            .iter()
            .any(|h| name.eq_ignore_ascii_case(h))
            {
                continue;
            }
            builder = builder.header(name.as_str(), value.as_slice());
        }
        let outgoing = builder
            .body(Full::new(Bytes::from(request.body.clone())))
            .map_err(|e| e.to_string())?;
        let response = self
            .client
            .request(outgoing)
            .await
            .map_err(|e| format!("{e:?}"))?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok(hyper::Response::from_parts(parts, body))
    }
}

async fn serve(mut stream: TcpStream, shared: Arc<Shared>) {
    let mut buf = Vec::new();
    loop {
        let request = match read_request(&mut stream, &mut buf).await {
            Ok(Some(r)) => r,
            Ok(None) | Err(_) => return,
        };
        let call = request.call();
        let fault = shared.draw(&request, &call);
        let head_only = request.method == "HEAD";
        match fault {
            Some(Fault::Before(Kind::Reset)) => return reset(stream),
            Some(Fault::Before(Kind::Timeout)) => return hold(stream, shared.plan.hold).await,
            Some(Fault::Before(kind)) => {
                if write_raw(
                    &mut stream,
                    error_response(kind, &call, head_only, request.content_hash() % 2 == 0),
                )
                .await
                .is_err()
                {
                    return;
                }
                continue;
            }
            _ => {}
        }
        let answer = match shared.forward(&request).await {
            Ok(response) => encode_response(&response, head_only),
            Err(e) => encode(
                502,
                "Bad Gateway",
                &[("content-type", "text/plain")],
                e.as_bytes(),
                false,
            ),
        };
        let answer = match fault {
            Some(Fault::After(Kind::Reset)) => return reset(stream),
            Some(Fault::After(Kind::Timeout)) => return hold(stream, shared.plan.hold).await,
            Some(Fault::After(kind)) => {
                error_response(kind, &call, head_only, request.content_hash() % 2 == 0)
            }
            _ => answer,
        };
        if write_raw(&mut stream, answer).await.is_err() || request.wants_close() {
            return;
        }
    }
}

/// RST instead of FIN: SO_LINGER 0, then close.
fn reset(stream: TcpStream) {
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
}

/// Says nothing until `hold` has passed (the client gives up first), then closes.
async fn hold(stream: TcpStream, hold: Duration) {
    tokio::time::sleep(hold).await;
    drop(stream);
}

async fn write_raw(stream: &mut TcpStream, bytes: Vec<u8>) -> std::io::Result<()> {
    stream.write_all(&bytes).await?;
    stream.flush().await
}

/// Reads one request (head + body, `Content-Length` or chunked). `None` at a clean end of
/// the connection.
async fn read_request(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<Request>> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if buf.len() > 256 * 1024 {
            return Err(bad("request head too long"));
        }
        if read_more(stream, buf).await? == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(bad("connection closed in a request head"))
            };
        }
    };
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut parsed = httparse::Request::new(&mut headers);
    parsed
        .parse(&buf[..head_end])
        .map_err(|e| bad(&e.to_string()))?;
    let method = parsed.method.unwrap_or("GET").to_string();
    let target = parsed.path.unwrap_or("/").to_string();
    let headers: Vec<(String, Vec<u8>)> = parsed
        .headers
        .iter()
        .map(|h| (h.name.to_string(), h.value.to_vec()))
        .collect();
    buf.drain(..head_end);
    let mut request = Request {
        method,
        target,
        headers,
        body: Vec::new(),
    };
    if request
        .header("expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    {
        stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
    }
    if request
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        request.body = read_chunked(stream, buf).await?;
    } else {
        let len: usize = request
            .header("content-length")
            .map(|v| v.trim().parse().map_err(|_| bad("bad content-length")))
            .transpose()?
            .unwrap_or(0);
        while buf.len() < len {
            if read_more(stream, buf).await? == 0 {
                return Err(bad("connection closed in a request body"));
            }
        }
        request.body = buf.drain(..len).collect();
    }
    Ok(Some(request))
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut chunk = [0u8; 64 * 1024];
    let n = stream.read(&mut chunk).await?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}

async fn read_chunked(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<Vec<u8>> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let mut body = Vec::new();
    loop {
        let line_end = loop {
            if let Some(at) = buf.windows(2).position(|w| w == b"\r\n") {
                break at;
            }
            if read_more(stream, buf).await? == 0 {
                return Err(bad("connection closed in a chunk size"));
            }
        };
        let size_text = String::from_utf8_lossy(&buf[..line_end]).to_string();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| bad("bad chunk size"))?;
        buf.drain(..line_end + 2);
        if size == 0 {
            // Trailers up to the empty line.
            loop {
                if let Some(at) = buf.windows(2).position(|w| w == b"\r\n") {
                    buf.drain(..at + 2);
                    if at == 0 {
                        return Ok(body);
                    }
                    continue;
                }
                if read_more(stream, buf).await? == 0 {
                    return Err(bad("connection closed in chunk trailers"));
                }
            }
        }
        while buf.len() < size + 2 {
            if read_more(stream, buf).await? == 0 {
                return Err(bad("connection closed in a chunk"));
            }
        }
        body.extend(buf.drain(..size));
        buf.drain(..2);
    }
}

fn encode_response(response: &hyper::Response<Bytes>, head_only: bool) -> Vec<u8> {
    let status = response.status();
    let mut out = format!(
        "HTTP/1.1 {} {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    )
    .into_bytes();
    for (name, value) in response.headers() {
        let name = name.as_str();
        // The body is passed on whole, with its own length (a HEAD keeps moto's).
        if ["connection", "keep-alive", "transfer-encoding"].contains(&name)
            || (name == "content-length" && !head_only)
        {
            continue;
        }
        out.extend_from_slice(format!("{name}: ").as_bytes());
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let bodiless = status.is_informational() || status.as_u16() == 204 || status.as_u16() == 304;
    if !head_only && !bodiless {
        out.extend_from_slice(format!("content-length: {}\r\n", response.body().len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    if !head_only && !bodiless {
        out.extend_from_slice(response.body());
    }
    out
}

fn encode(
    status: u16,
    reason: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    head_only: bool,
) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} {reason}\r\n").into_bytes();
    for (name, value) in headers {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "content-length: {}\r\n\r\n",
            if head_only { 0 } else { body.len() }
        )
        .as_bytes(),
    );
    if !head_only {
        out.extend_from_slice(body);
    }
    out
}

/// The error each service sends for 500, 503 and throttling, in its own protocol.
fn error_response(kind: Kind, call: &Call, head_only: bool, alternate: bool) -> Vec<u8> {
    let (status, reason) = match kind {
        Kind::Http500 => (500, "Internal Server Error"),
        Kind::Http503 => (503, "Service Unavailable"),
        // DynamoDB and SNS throttle with 400, S3 with 503 SlowDown.
        Kind::Throttle if call.service == "s3" => (503, "Service Unavailable"),
        Kind::Throttle => (400, "Bad Request"),
        Kind::Reset | Kind::Timeout => unreachable!("resets and timeouts send no answer"),
    };
    match call.service.as_str() {
        "s3" => {
            let code = match kind {
                Kind::Http500 => "InternalError",
                Kind::Throttle => "SlowDown",
                _ => "ServiceUnavailable",
            };
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>injected by the fault proxy</Message><RequestId>fault-proxy</RequestId></Error>"
            );
            encode(
                status,
                reason,
                &[
                    ("content-type", "application/xml"),
                    ("x-amz-request-id", "fault-proxy"),
                ],
                body.as_bytes(),
                head_only,
            )
        }
        "sns" | "sqs" => {
            let (kind_name, code) = match kind {
                Kind::Http500 => ("Receiver", "InternalFailure"),
                Kind::Throttle => ("Sender", "Throttling"),
                _ => ("Receiver", "ServiceUnavailable"),
            };
            let body = format!(
                "<ErrorResponse><Error><Type>{kind_name}</Type><Code>{code}</Code><Message>injected by the fault proxy</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>"
            );
            encode(
                status,
                reason,
                &[("content-type", "text/xml")],
                body.as_bytes(),
                head_only,
            )
        }
        _ => {
            // DynamoDB (JSON 1.0) and the other JSON services: `__type` names the error.
            let code = match kind {
                Kind::Http500 => "com.amazonaws.dynamodb.v20120810#InternalServerError",
                // Both throttling errors DynamoDB sends.
                Kind::Throttle if alternate => {
                    "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"
                }
                Kind::Throttle => "com.amazon.coral.availability#ThrottlingException",
                _ => "com.amazon.coral.availability#ServiceUnavailableException",
            };
            let body =
                format!("{{\"__type\":\"{code}\",\"message\":\"injected by the fault proxy\"}}");
            encode(
                status,
                reason,
                &[("content-type", "application/x-amz-json-1.0")],
                body.as_bytes(),
                head_only,
            )
        }
    }
}
