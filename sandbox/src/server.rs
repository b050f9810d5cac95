//! The sandbox's HTTP API (see [`mcp_contract::sandbox_api`]) on loopback TCP or a Unix socket.
//!
//! Thin: it parses the request, hands it to [`Sandbox::call`], and writes the answer. Probes
//! (`/health`, `/ready`) and `/metrics` live here too.
//!
//! The tool API serves programs, never browsers: a request with an `Origin` header is refused
//! (403), and a call must be `Content-Type: application/json` (415), so a web page cannot
//! reach it with a "simple" cross-site request.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mcp_contract::sandbox_api::{
    CALL_PATH, CallError, CallRequest, CallResponse, CallStats, ErrorKind, TOOLS_PATH,
};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::service::Sandbox;
use crate::telemetry;
use crate::token::AccessToken;

/// Where the server listens: `127.0.0.1:7070` or `unix:/run/mcp/sandbox.sock`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl std::str::FromStr for Listen {
    type Err = ListenError;
    fn from_str(s: &str) -> Result<Self, ListenError> {
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(ListenError::NoSocketPath);
            }
            return Ok(Listen::Unix(path.into()));
        }
        s.parse()
            .map(Listen::Tcp)
            .map_err(|source| ListenError::NotAnAddress {
                text: s.to_owned(),
                source,
            })
    }
}

/// Text that is not a listen address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListenError {
    #[error("unix: needs a socket path, e.g. unix:/run/mcp/sandbox.sock")]
    NoSocketPath,
    #[error(
        "{text:?} is not a listen address: use HOST:PORT (e.g. 127.0.0.1:7070) or unix:/path/to.sock"
    )]
    NotAnAddress {
        text: String,
        #[source]
        source: std::net::AddrParseError,
    },
}

#[derive(Clone)]
struct AppState {
    sandbox: Arc<Sandbox>,
    metrics: Option<PrometheusHandle>,
    max_body: usize,
}

/// The API routes (and only those: probes and metrics stay open) require `token` when set.
pub fn router(
    sandbox: Arc<Sandbox>,
    metrics: Option<PrometheusHandle>,
    max_body: usize,
    token: Option<AccessToken>,
) -> Router {
    let mut api = Router::new()
        .route(TOOLS_PATH, get(list_tools))
        .route(CALL_PATH, post(call_tool))
        .layer(axum::middleware::from_fn(programs_only));
    if let Some(token) = token {
        api = api.layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let admitted = token.admits(
                    req.headers()
                        .get(header::AUTHORIZATION)
                        .map(|v| v.as_bytes()),
                );
                async move {
                    if admitted {
                        next.run(req).await
                    } else {
                        unauthorized()
                    }
                }
            },
        ));
    }
    api.route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(render_metrics))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(AppState {
            sandbox,
            metrics,
            max_body,
        })
}

/// A TCP socket for `addr` that other processes may bind too (`SO_REUSEPORT`: the kernel
/// spreads new connections over the listening ones), for `serve --processes`.
pub fn shared_port_socket(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpSocket> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    Ok(socket)
}

/// Serves until `shutdown` resolves, then finishes in-flight requests; over HTTPS when `tls`
/// is given (TCP only: `main` refuses TLS on a unix socket). With `shared_port`, a TCP
/// listener shares its port with other processes ([`shared_port_socket`]).
pub async fn serve(
    router: Router,
    listen: &Listen,
    shared_port: bool,
    tls: Option<Arc<crate::tls::Reloading>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    match listen {
        Listen::Tcp(addr) => {
            let listener = if shared_port {
                let socket = shared_port_socket(*addr)?;
                socket.bind(*addr)?;
                socket.listen(1024)?
            } else {
                tokio::net::TcpListener::bind(addr).await?
            };
            let bound = listener.local_addr()?;
            if let Some(tls) = tls {
                tracing::info!(addr = %bound, "sandbox listening (TLS)");
                announce(&format!("https://{bound}"));
                let listener = crate::tls::TlsListener::new(listener, tls)?;
                return axum::serve(listener, router)
                    .with_graceful_shutdown(shutdown)
                    .await;
            }
            tracing::info!(addr = %bound, "sandbox listening");
            announce(&format!("http://{bound}"));
            axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
        }
        Listen::Unix(path) => {
            let _ = std::fs::remove_file(path);
            let listener = tokio::net::UnixListener::bind(path)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                // Only this user (and so only the gateway beside it) may connect.
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
            }
            tracing::info!(socket = %path.display(), "sandbox listening");
            announce(&format!("unix:{}", path.display()));
            axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
        }
    }
}

/// Prints where the server listens on stdout, once bound (useful with port 0).
fn announce(url: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "mcp-sandbox listening on {url}");
    let _ = out.flush();
}

async fn list_tools(State(s): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        s.sandbox.listing(),
    )
        .into_response()
}

async fn call_tool(State(s): State<AppState>, req: axum::extract::Request) -> Response {
    let (parts, body) = req.into_parts();
    let headers = parts.headers;
    let too_large = |read: &str| {
        refusal(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::BadRequest,
            &format!(
                "the call request is too large ({read}); a call may be at most {} bytes",
                s.max_body
            ),
        )
    };
    // Refused from its declared length, before a byte of it is read.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(len) = declared.filter(|&n| n > s.max_body as u64) {
        return too_large(&format!("{len} bytes"));
    }
    let body = match axum::body::to_bytes(body, s.max_body).await {
        Ok(b) => b,
        Err(_) => return too_large("more than that was sent"),
    };
    let req: CallRequest<'_> = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            let error = CallError::new(
                ErrorKind::BadRequest,
                format!("the call request is not valid: {e}"),
            );
            return respond(CallResponse::failure("", error, CallStats::default()));
        }
    };
    let span = telemetry::call_span(&headers, &req);
    let resp = s.sandbox.call(&req, span.clone()).await;
    telemetry::record_call(&span, &resp);
    respond(resp)
}

/// Refuses browser-origin requests and calls that are not JSON, before anything else is read.
async fn programs_only(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if req.headers().contains_key(header::ORIGIN) {
        return refusal(
            StatusCode::FORBIDDEN,
            ErrorKind::Forbidden,
            "this is the sandbox's tool API for its gateway, not for browsers: requests with an \
             Origin header are refused",
        );
    }
    if req.method() == axum::http::Method::POST && !is_json(req.headers()) {
        return refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorKind::BadRequest,
            "a call must be sent with Content-Type: application/json",
        );
    }
    next.run(req).await
}

/// `application/json`, with or without parameters (e.g. `; charset=utf-8`).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

fn refusal(status: StatusCode, kind: ErrorKind, message: &str) -> Response {
    let body = CallResponse::failure("", CallError::new(kind, message), CallStats::default());
    let mut r = respond(body);
    *r.status_mut() = status;
    r
}

/// A request without the gateway's token: counted, and answered without detail.
fn unauthorized() -> Response {
    metrics::counter!("mcp_sandbox_unauthorized_requests_total").increment(1);
    tracing::warn!("refused a request without the sandbox token");
    let body = CallResponse::failure(
        "",
        CallError::new(
            ErrorKind::Forbidden,
            "this sandbox only serves its gateway: missing or wrong sandbox token".to_owned(),
        ),
        CallStats::default(),
    );
    let mut r = respond(body);
    *r.status_mut() = StatusCode::UNAUTHORIZED;
    r
}

fn respond(resp: CallResponse) -> Response {
    let status = resp.error.as_ref().map_or(200, |e| e.kind.http_status());
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match serde_json::to_vec(&resp) {
        Ok(body) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode the response: {e}"),
        )
            .into_response(),
    }
}

async fn health() -> Response {
    let body = serde_json::json!({"status": "healthy", "version": env!("CARGO_PKG_VERSION")});
    axum::Json(body).into_response()
}

async fn ready(State(s): State<AppState>) -> Response {
    let tools = s.sandbox.tool_count();
    if s.sandbox.is_ready() {
        axum::Json(serde_json::json!({"status": "ready", "tools": tools})).into_response()
    } else {
        let reason = if s.sandbox.is_draining() {
            "shutting down"
        } else {
            "tool sets are not loaded yet"
        };
        let body = serde_json::json!({"status": "not_ready", "reason": reason});
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
    }
}

async fn render_metrics(State(s): State<AppState>) -> Response {
    match &s.metrics {
        Some(h) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            h.render(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "metrics are not enabled").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_json_content_types_are_calls() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, v.parse().unwrap());
            is_json(&h)
        };
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=utf-8"));
        assert!(!with("text/plain"));
        assert!(!with("application/x-www-form-urlencoded"));
        assert!(!with("application/jsonx"));
        assert!(!is_json(&HeaderMap::new()));
    }

    #[test]
    fn listen_addresses_parse() {
        assert_eq!(
            "127.0.0.1:7070".parse::<Listen>().unwrap(),
            Listen::Tcp("127.0.0.1:7070".parse().unwrap())
        );
        assert_eq!(
            "unix:/tmp/s.sock".parse::<Listen>().unwrap(),
            Listen::Unix("/tmp/s.sock".into())
        );
        assert!("unix:".parse::<Listen>().is_err());
        assert!(
            "localhost"
                .parse::<Listen>()
                .unwrap_err()
                .to_string()
                .contains("HOST:PORT")
        );
    }
}
