//! Builds the OTLP span exporter from [`TraceSettings`]: OTLP/HTTP (protobuf) over the
//! workspace's `reqwest` client, or OTLP/gRPC over tonic. Called on the export worker's
//! thread, inside its runtime.

use std::collections::HashMap;

use bytes::Bytes;
use opentelemetry_http::{HttpClient, HttpError};
use opentelemetry_otlp::tonic_types::metadata::MetadataMap;
use opentelemetry_otlp::{
    SpanExporter, WithExportConfig as _, WithHttpConfig as _, WithTonicConfig as _,
};

use crate::config::{Protocol, TraceSettings};

/// Why the OTLP exporter could not be built; the message names the protocol and endpoint.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the OTLP {protocol} exporter for {endpoint}: {cause}")]
pub struct BuildError {
    /// `http/protobuf` or `grpc`.
    pub protocol: &'static str,
    /// The collector's endpoint.
    pub endpoint: String,
    /// What failed.
    #[source]
    pub cause: BuildCause,
}

/// What failed while building the OTLP exporter.
#[derive(Debug, thiserror::Error)]
pub enum BuildCause {
    /// The HTTP client for OTLP/HTTP.
    #[error("{0}")]
    Client(#[source] reqwest::Error),
    /// A configured header.
    #[error("{0}")]
    Header(#[source] HeaderError),
    /// The exporter itself.
    #[error("{0}")]
    Exporter(#[source] opentelemetry_otlp::ExporterBuildError),
}

/// A configured header that is not valid HTTP. Names the header, never its value (which may be a
/// credential).
#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    #[error("header name {name:?} is not a valid HTTP header name")]
    Name {
        name: String,
        #[source]
        source: http::header::InvalidHeaderName,
    },
    #[error("the value of header {name:?} is not a valid HTTP header value")]
    Value {
        name: String,
        #[source]
        source: http::header::InvalidHeaderValue,
    },
}

pub fn build(settings: &TraceSettings) -> Result<SpanExporter, BuildError> {
    let fail = |cause: BuildCause| BuildError {
        protocol: settings.protocol.as_str(),
        endpoint: settings.endpoint.clone(),
        cause,
    };
    match settings.protocol {
        Protocol::HttpProtobuf => {
            let client = reqwest::Client::builder()
                .timeout(settings.timeout)
                .build()
                .map_err(|e| fail(BuildCause::Client(e)))?;
            // Checked here: the HTTP builder would skip a malformed header silently.
            header_map(settings).map_err(|e| fail(BuildCause::Header(e)))?;
            let headers: HashMap<String, String> = settings.headers.iter().cloned().collect();
            SpanExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_endpoint(settings.endpoint.clone())
                .with_timeout(settings.timeout)
                .with_headers(headers)
                .with_http_client(ReqwestClient(client))
                .build()
                .map_err(|e| fail(BuildCause::Exporter(e)))
        }
        Protocol::Grpc => {
            let metadata = MetadataMap::from_headers(
                header_map(settings).map_err(|e| fail(BuildCause::Header(e)))?,
            );
            SpanExporter::builder()
                .with_tonic()
                .with_endpoint(settings.endpoint.clone())
                .with_timeout(settings.timeout)
                .with_metadata(metadata)
                .build()
                .map_err(|e| fail(BuildCause::Exporter(e)))
        }
    }
}

/// The configured headers as HTTP headers; an invalid name or value is an error that names
/// the header but not its value (which may be a credential).
fn header_map(settings: &TraceSettings) -> Result<http::HeaderMap, HeaderError> {
    let mut headers = http::HeaderMap::new();
    for (k, v) in &settings.headers {
        let name =
            http::HeaderName::from_bytes(k.as_bytes()).map_err(|source| HeaderError::Name {
                name: k.clone(),
                source,
            })?;
        let value = http::HeaderValue::from_str(v).map_err(|source| HeaderError::Value {
            name: k.clone(),
            source,
        })?;
        headers.insert(name, value);
    }
    Ok(headers)
}

/// OTLP/HTTP requests through the `reqwest` client the rest of the workspace uses.
#[derive(Debug)]
struct ReqwestClient(reqwest::Client);

/// Largest response body read from the collector (it is normally empty).
const MAX_RESPONSE: usize = 1024 * 1024;

#[async_trait::async_trait]
impl HttpClient for ReqwestClient {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let mut response = self
            .0
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body)
            .send()
            .await?;
        let mut out = http::Response::builder().status(response.status().as_u16());
        if let Some(h) = out.headers_mut() {
            *h = std::mem::take(response.headers_mut());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > MAX_RESPONSE {
                return Err(format!(
                    "the collector's response is larger than {MAX_RESPONSE} bytes"
                )
                .into());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(out.body(Bytes::from(body))?)
    }
}
