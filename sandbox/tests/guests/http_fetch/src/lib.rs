//! A tool component that makes outbound HTTP requests through `wasi:http`, for the sandbox's
//! outbound HTTP tests (sandbox/tests/all/outbound_http.rs). It reports what it could see:
//! the status, the body, the headers it set itself, and every environment variable, so a test
//! can check that the credential the host injects never reaches the guest.
//!
//! Build: `scripts/build-tools.sh` (gives `target/tools/http_fetch.wasm`).

use std::collections::BTreeMap;

use mcp_tool_sdk::prelude::*;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{ErrorCode, Fields, IncomingResponse, Method, OutgoingRequest, Scheme};
use wasip2::io::streams::StreamError;

/// What to fetch.
#[derive(Deserialize, JsonSchema)]
pub struct FetchArgs {
    /// `http` or `https`.
    scheme: String,
    /// `host[:port]`.
    authority: String,
    /// Path and query, e.g. `/data?x=1`.
    #[serde(default = "root")]
    path: String,
    /// Headers to set on the request (name, value).
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// How many times to send the request (to probe the per-call request limit).
    #[serde(default = "one")]
    repeat: u32,
}

fn root() -> String {
    "/".to_owned()
}

fn one() -> u32 {
    1
}

/// What the guest saw.
#[derive(Serialize, JsonSchema)]
pub struct Fetched {
    status: u16,
    /// The response body, as text (lossy).
    body: String,
    /// Bytes of body read.
    bytes: u64,
    /// The request headers as the guest can read them back from its own request object,
    /// just before sending it.
    sent_headers: BTreeMap<String, String>,
    /// Every environment variable the component can see.
    env: BTreeMap<String, String>,
}

fn fetch(args: FetchArgs, _cx: &Context) -> Result<Fetched, ToolError> {
    let mut last = None;
    for _ in 0..args.repeat.max(1) {
        last = Some(fetch_once(&args)?);
    }
    last.ok_or_else(|| ToolError::failed("no request was made"))
}

fn fetch_once(args: &FetchArgs) -> Result<Fetched, ToolError> {
    let fail = |what: &str, code: ErrorCode| ToolError::failed(format!("{what}: {code:?}"));
    let headers = Fields::new();
    for (name, value) in &args.headers {
        headers
            .append(name, value.as_bytes())
            .map_err(|e| ToolError::failed(format!("header {name}: {e:?}")))?;
    }
    let request = OutgoingRequest::new(headers);
    let scheme = match args.scheme.as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => Scheme::Other(other.to_owned()),
    };
    let bad = |what: &str| ToolError::failed(format!("invalid {what}"));
    request
        .set_method(&Method::Get)
        .map_err(|()| bad("method"))?;
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| bad("scheme"))?;
    request
        .set_authority(Some(&args.authority))
        .map_err(|()| bad("authority"))?;
    request
        .set_path_with_query(Some(&args.path))
        .map_err(|()| bad("path"))?;
    let sent_headers = request
        .headers()
        .entries()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
        .collect();
    let pending = outgoing_handler::handle(request, None).map_err(|c| fail("refused", c))?;
    pending.subscribe().block();
    let response = match pending.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return Err(fail("request failed", code)),
        Some(Err(())) | None => return Err(ToolError::failed("response lost")),
    };
    let (body, bytes) = read_body(&response)?;
    Ok(Fetched {
        status: response.status(),
        body: String::from_utf8_lossy(&body).into_owned(),
        bytes,
        sent_headers,
        env: std::env::vars().collect(),
    })
}

fn read_body(response: &IncomingResponse) -> Result<(Vec<u8>, u64), ToolError> {
    let incoming = response
        .consume()
        .map_err(|()| ToolError::failed("body already taken"))?;
    let stream = incoming
        .stream()
        .map_err(|()| ToolError::failed("body stream already taken"))?;
    let mut body = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => body.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                // The host's message comes first; what follows may be a backtrace.
                let debug = e.to_debug_string();
                let reason = match wasip2::http::types::http_error_code(&e) {
                    Some(code) => format!("{code:?}"),
                    None => debug.lines().next().unwrap_or_default().to_owned(),
                };
                return Err(ToolError::failed(format!(
                    "reading the body after {} bytes: {reason}",
                    body.len()
                )));
            }
        }
    }
    let bytes = body.len() as u64;
    Ok((body, bytes))
}

/// The tool's name: `HTTP_FETCH_TOOL` when the tool set sets it (through `capabilities.env`), so
/// one test tool set can serve this component twice, with and without the HTTP grant.
fn tool_name() -> String {
    std::env::var("HTTP_FETCH_TOOL").unwrap_or_else(|_| "http_fetch".to_owned())
}

fn tools() -> Toolbox {
    Toolbox::new().tool(Tool::new(
        tool_name(),
        "GET a URL through wasi:http; returns status, body, the headers the guest set and its environment",
        fetch,
    ))
}

mcp_tool_sdk::export_tools!(tools);
