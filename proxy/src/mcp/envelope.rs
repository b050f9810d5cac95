//! What a successful answer looks like on the wire for each protocol era.
//!
//! Handshake-era results (2025-03-26 .. 2025-11-25) go out exactly as those revisions define
//! them. 2026-07-28 results carry that revision's envelope: `resultType: "complete"`, the
//! server's identity in `_meta["io.modelcontextprotocol/serverInfo"]`, and on cacheable
//! results (`tools/list`, `server/discover`) the cache hints `ttlMs` and `cacheScope`.
//!
//! An upstream MCP server's `tools/call` result ([`Answer::Upstream`]) is written as the
//! upstream wrote it, except for a client of a revision that lacks what the result uses: then
//! [`crate::federation::translate`] rewrites it (only when needed; see there).

use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::version::{Era, Revision};

/// `_meta` key of the server's identity on 2026-07-28 results.
pub const SERVER_INFO_META: &str = "io.modelcontextprotocol/serverInfo";

/// Client-side caching hints of a cacheable result (2026-07-28).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cache {
    pub ttl_ms: u64,
    /// Whether the answer depends on who asked (`"private"`) or not (`"public"`).
    pub private: bool,
}

impl Cache {
    /// An answer that depends on the caller's roles and may be reused only by them.
    pub const PRIVATE_NO_TTL: Cache = Cache {
        ttl_ms: 0,
        private: true,
    };
}

/// A successful answer before it is framed as a JSON-RPC response.
pub enum Answer {
    /// A result object.
    Value(Value),
    /// A result object already written as bytes, without its closing `}` (so the envelope can
    /// be appended without parsing it again). It has no `_meta`.
    Open(Vec<u8>),
    /// A result already finished for the request's era (a prepared `tools/list` page).
    Finished(bytes::Bytes),
    /// A `tools/call` result object as an upstream MCP server wrote it (a JSON object).
    Upstream(Box<RawValue>),
}

/// The result bytes for `era`, with the envelope that era asks for.
pub fn finish(answer: Answer, era: Era, cache: Option<Cache>) -> bytes::Bytes {
    let newest = match era {
        Era::Handshake => Revision::V2025_11_25,
        Era::Stateless => Revision::V2026_07_28,
    };
    finish_for(answer, era, newest, cache)
}

/// [`finish`] for a client of `revision`: an upstream's result is translated for it first
/// when it needs to be.
pub fn finish_for(
    answer: Answer,
    era: Era,
    revision: Revision,
    cache: Option<Cache>,
) -> bytes::Bytes {
    match answer {
        Answer::Upstream(raw) => upstream(&raw, era, revision, cache),
        other => finish_local(other, era, cache),
    }
}

/// An upstream's result: translated for an older client if needed; in the handshake era
/// then written as it is (byte for byte); in the stateless era with the envelope appended,
/// merged into its own `_meta` in a tree only when it has one (the result is bounded by the
/// server's `max_response`).
fn upstream(raw: &RawValue, era: Era, revision: Revision, cache: Option<Cache>) -> bytes::Bytes {
    let translated = revision
        .before_structured_results()
        .then(|| crate::federation::translate::for_2025_03_26(raw.get()))
        .flatten();
    let text: &str = translated.as_deref().unwrap_or(raw.get());
    if era == Era::Handshake {
        return bytes::Bytes::copy_from_slice(text.trim().as_bytes());
    }
    if crate::federation::wire::ResultFlags::of_str(text)
        .has_meta
        .is_some()
    {
        let value: Value = serde_json::from_str(text).unwrap_or_else(|_| json!({}));
        return finish_local(Answer::Value(value), era, cache);
    }
    let mut open = text.trim_end().as_bytes().to_vec();
    open.pop();
    while open.last().is_some_and(u8::is_ascii_whitespace) {
        open.pop();
    }
    finish_local(Answer::Open(open), era, cache)
}

fn finish_local(answer: Answer, era: Era, cache: Option<Cache>) -> bytes::Bytes {
    match answer {
        Answer::Finished(bytes) => bytes,
        Answer::Upstream(raw) => upstream(&raw, era, Revision::V2026_07_28, cache),
        Answer::Value(mut v) => {
            if era == Era::Stateless
                && let Some(obj) = v.as_object_mut()
            {
                obj.insert("resultType".into(), "complete".into());
                if let Some(c) = cache {
                    obj.insert("ttlMs".into(), c.ttl_ms.into());
                    obj.insert("cacheScope".into(), scope(c).into());
                }
                let meta = obj.entry("_meta").or_insert_with(|| json!({}));
                if let Some(meta) = meta.as_object_mut() {
                    meta.insert(SERVER_INFO_META.into(), server_identity());
                }
            }
            serde_json::to_vec(&v)
                .unwrap_or_else(|_| b"{}".to_vec())
                .into()
        }
        Answer::Open(mut bytes) => {
            if era == Era::Stateless {
                let fields = bytes.last() != Some(&b'{');
                if fields {
                    bytes.push(b',');
                }
                bytes.extend_from_slice(br#""resultType":"complete","#);
                if let Some(c) = cache {
                    bytes.extend_from_slice(
                        format!(r#""ttlMs":{},"cacheScope":"{}","#, c.ttl_ms, scope(c)).as_bytes(),
                    );
                }
                bytes.extend_from_slice(br#""_meta":{""#);
                bytes.extend_from_slice(SERVER_INFO_META.as_bytes());
                bytes.extend_from_slice(br#"":"#);
                bytes
                    .extend_from_slice(&serde_json::to_vec(&server_identity()).unwrap_or_default());
                bytes.push(b'}');
            }
            bytes.push(b'}');
            bytes.into()
        }
    }
}

fn scope(c: Cache) -> &'static str {
    if c.private { "private" } else { "public" }
}

/// The `Implementation` object naming this server.
pub fn server_identity() -> Value {
    json!({"name": "mcp-gateway", "title": "MCP code gateway", "version": env!("CARGO_PKG_VERSION")})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(b: &[u8]) -> Value {
        serde_json::from_slice(b).expect("the envelope writes valid JSON")
    }

    #[test]
    fn handshake_era_results_are_left_exactly_as_they_are() {
        let v = json!({"content": [], "isError": false});
        assert_eq!(
            parse(&finish(Answer::Value(v.clone()), Era::Handshake, None)),
            v
        );
        let open = br#"{"tools":[]"#.to_vec();
        assert_eq!(
            parse(&finish(
                Answer::Open(open),
                Era::Handshake,
                Some(Cache::PRIVATE_NO_TTL)
            )),
            json!({"tools": []})
        );
    }

    #[test]
    fn stateless_results_carry_result_type_server_info_and_cache_hints() {
        let v = json!({"content": [], "_meta": {"io.mcp-gateway/error": {"kind": "timeout"}}});
        let out = parse(&finish(Answer::Value(v), Era::Stateless, None));
        assert_eq!(out["resultType"], "complete");
        assert_eq!(out["_meta"][SERVER_INFO_META]["name"], "mcp-gateway");
        assert_eq!(out["_meta"]["io.mcp-gateway/error"]["kind"], "timeout");
        assert!(out.get("ttlMs").is_none());

        for open in [
            br#"{"tools":[{"name":"a"}],"nextCursor":"x""#.to_vec(),
            b"{".to_vec(),
        ] {
            let out = parse(&finish(
                Answer::Open(open),
                Era::Stateless,
                Some(Cache::PRIVATE_NO_TTL),
            ));
            assert_eq!(out["resultType"], "complete");
            assert_eq!(out["ttlMs"], 0);
            assert_eq!(out["cacheScope"], "private");
            assert_eq!(out["_meta"][SERVER_INFO_META]["name"], "mcp-gateway");
        }
    }

    #[test]
    fn upstream_results_are_written_as_they_came_or_translated_for_older_clients() {
        let raw = r#"{"content":[],"structuredContent":{"n": 1},"_meta":{"up":true}}"#;
        let upstream = || Answer::Upstream(RawValue::from_string(raw.to_owned()).unwrap());
        for revision in [Revision::V2025_06_18, Revision::V2025_11_25] {
            let out = finish_for(upstream(), Era::Handshake, revision, None);
            assert_eq!(&out[..], raw.as_bytes(), "{revision:?}: byte for byte");
        }
        let old = parse(&finish_for(
            upstream(),
            Era::Handshake,
            Revision::V2025_03_26,
            None,
        ));
        assert_eq!(old["content"][0]["text"], r#"{"n": 1}"#);
        assert_eq!(old["_meta"]["up"], true);
        let stateless = parse(&finish_for(
            upstream(),
            Era::Stateless,
            Revision::V2026_07_28,
            None,
        ));
        assert_eq!(stateless["content"], json!([]));
        assert_eq!(stateless["_meta"]["up"], true);
        assert_eq!(stateless["_meta"][SERVER_INFO_META]["name"], "mcp-gateway");
        let no_meta = RawValue::from_string(r#"{"content":[] }"#.to_owned()).unwrap();
        let out = parse(&finish_for(
            Answer::Upstream(no_meta),
            Era::Stateless,
            Revision::V2026_07_28,
            None,
        ));
        assert_eq!(out["resultType"], "complete");
    }
}
