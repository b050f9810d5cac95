//! A response ready to write: status, a few headers, a body. Built by the MCP layer and the
//! probes, written by the HTTP layer.

use bytes::Bytes;

pub struct Reply {
    pub status: u16,
    pub content_type: Option<&'static str>,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
}

impl Reply {
    pub fn new(status: u16, content_type: Option<&'static str>, body: impl Into<Bytes>) -> Self {
        Self {
            status,
            content_type,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn json(status: u16, body: impl Into<Bytes>) -> Self {
        Self::new(status, Some("application/json"), body)
    }

    /// A body-less reply (e.g. 202 for notifications).
    pub fn empty(status: u16) -> Self {
        Self::new(status, None, Bytes::new())
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// A plain JSON error for non-MCP endpoints: `{"error": "..."}`.
    pub fn error(status: u16, message: &str) -> Self {
        Self::json(
            status,
            serde_json::to_vec(&serde_json::json!({"error": message})).unwrap_or_default(),
        )
    }

    /// Wraps a JSON-RPC message as a one-event Server-Sent Events stream.
    pub fn into_sse(mut self) -> Self {
        let mut body = Vec::with_capacity(self.body.len() + 24);
        body.extend_from_slice(b"event: message\ndata: ");
        body.extend_from_slice(&self.body);
        body.extend_from_slice(b"\n\n");
        self.body = body.into();
        self.content_type = Some("text/event-stream");
        self
    }
}
