//! Protocol translation of an upstream's `tools/call` result for a client of an older revision.
//!
//! The gateway asks upstreams for the newest revision it speaks and passes their results on
//! as the raw JSON they wrote. A client of revision 2025-03-26 (or one that sends no
//! `MCP-Protocol-Version`, which the spec reads as 2025-03-26) knows neither `resource_link`
//! content (a content type its schema's union lacks, so a strict client rejects the whole
//! result) nor `structuredContent` (an extra field it ignores, so a result whose data is only
//! there reads as empty). For such a client, and only when the result needs it:
//!
//! - each `resource_link` item becomes a `text` item naming the link (its name, title, URI,
//!   MIME type and description), keeping its `annotations`;
//! - a result with `structuredContent` and no `text` item gains one holding the structured
//!   content's JSON as the upstream wrote it, as the 2025-06-18 specification recommends for
//!   backwards compatibility (`structuredContent` itself stays, as in wasm tools' results:
//!   extra fields of a result are allowed in every revision).
//!
//! Everything else is left as it is: the other content types (`text`, `image`, `audio`,
//! `resource`) exist in 2025-03-26, and newer fields of those items are extra fields. Listings
//! are not translated (`title`, `outputSchema`, `icons` of a tool are extra fields to an
//! older client, and the wasm tools' listing is the same for every revision too).
//!
//! Cost: the raw pass-through stays the fast path. A result is parsed only for an older
//! client and only when its bytes contain `"resource_link"` or `"structuredContent"`; then
//! only the `content` items and `structuredContent` are read as borrowed views, and a new
//! result is written only when something must change (a tree of the result is never built).
//! The upstream's answer is already bounded by the server's `max_response`.

use serde::Deserialize;
use serde_json::value::RawValue;

/// The fields of a result translation reads; the others are copied as they came.
#[derive(Deserialize)]
struct View<'a> {
    #[serde(borrow, default)]
    content: Option<Vec<&'a RawValue>>,
    #[serde(borrow, default, rename = "structuredContent")]
    structured: Option<&'a RawValue>,
}

/// A content item's type.
#[derive(Deserialize)]
struct Item<'a> {
    #[serde(borrow, rename = "type", default)]
    kind: Option<std::borrow::Cow<'a, str>>,
}

/// A `resource_link` item's fields that name it.
#[derive(Deserialize, Default)]
struct Link {
    #[serde(default)]
    uri: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default, rename = "mimeType")]
    mime_type: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    annotations: Option<Box<RawValue>>,
}

/// The result for a client of revision 2025-03-26: `None` when `raw` needs no change (pass it
/// on as it is), else the translated result object.
pub fn for_2025_03_26(raw: &str) -> Option<String> {
    if !raw.contains("\"resource_link\"") && !raw.contains("\"structuredContent\"") {
        return None;
    }
    let view: View<'_> = serde_json::from_str(raw).ok()?;
    let content = view.content.unwrap_or_default();
    let kinds: Vec<Option<std::borrow::Cow<'_, str>>> = content
        .iter()
        .map(|c| {
            serde_json::from_str::<Item<'_>>(c.get())
                .ok()
                .and_then(|i| i.kind)
        })
        .collect();
    let has_link = kinds.iter().any(|k| k.as_deref() == Some("resource_link"));
    let structured = view.structured.filter(|s| s.get().trim() != "null");
    let needs_text = structured.is_some() && !kinds.iter().any(|k| k.as_deref() == Some("text"));
    if !has_link && !needs_text {
        return None;
    }
    let mut items: Vec<String> = Vec::with_capacity(content.len() + 1);
    for (item, kind) in content.iter().zip(&kinds) {
        if kind.as_deref() == Some("resource_link") {
            let link: Link = serde_json::from_str(item.get()).unwrap_or_default();
            items.push(link_as_text(&link));
        } else {
            items.push(item.get().to_owned());
        }
    }
    if let Some(s) = structured.filter(|_| needs_text) {
        let text = serde_json::to_string(s.get()).ok()?;
        items.push(format!(r#"{{"type":"text","text":{text}}}"#));
    }
    replace_content(raw, &items)
}

/// A text item naming a resource link, so an older client (and its model) still learns of it.
fn link_as_text(link: &Link) -> String {
    let mut text = format!("Resource link: {}", link.name);
    if let Some(title) = link.title.as_deref().filter(|t| !t.is_empty()) {
        text.push_str(&format!(" ({title})"));
    }
    text.push_str(&format!(" <{}>", link.uri));
    if let Some(mime) = &link.mime_type {
        text.push_str(&format!(" [{mime}]"));
    }
    if let Some(d) = link.description.as_deref().filter(|d| !d.is_empty()) {
        text.push_str(&format!(": {d}"));
    }
    let text = serde_json::to_string(&text).unwrap_or_else(|_| "\"\"".into());
    match &link.annotations {
        Some(a) => format!(
            r#"{{"type":"text","text":{text},"annotations":{}}}"#,
            a.get()
        ),
        None => format!(r#"{{"type":"text","text":{text}}}"#),
    }
}

/// `raw` with its `content` replaced by `items` (raw JSON each); every other member is copied
/// as the upstream wrote it, in its order (members are read as raw values, not as trees).
fn replace_content(raw: &str, items: &[String]) -> Option<String> {
    let Members(members) = serde_json::from_str(raw).ok()?;
    let content = format!("[{}]", items.join(","));
    let mut out = String::with_capacity(raw.len() + content.len());
    out.push('{');
    let mut wrote_content = false;
    for (key, value) in &members {
        if key == "content" && wrote_content {
            // A repeated member: the first one is the one replaced, the others dropped.
            continue;
        }
        if out.len() > 1 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(key).ok()?);
        out.push(':');
        if key == "content" {
            out.push_str(&content);
            wrote_content = true;
        } else {
            out.push_str(value.get());
        }
    }
    if !wrote_content {
        if out.len() > 1 {
            out.push(',');
        }
        out.push_str(r#""content":"#);
        out.push_str(&content);
    }
    out.push('}');
    Some(out)
}

/// An object's members in the order written, each value as raw JSON.
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut members = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, &'de RawValue>()? {
                    members.push((k, v));
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(Visit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(s: &str) -> serde_json::Value {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn results_without_new_features_pass_unchanged() {
        for raw in [
            r#"{"content":[{"type":"text","text":"hi"}],"isError":false}"#,
            r#"{"content":[{"type":"image","data":"AA==","mimeType":"image/png"}]}"#,
            // Structured content beside its text (FastMCP's, the wasm tools'): nothing to add.
            r#"{"content":[{"type":"text","text":"{\"a\":1}"}],"structuredContent":{"a":1}}"#,
            // The words inside a string only: parsed, found unneeded.
            r#"{"content":[{"type":"text","text":"\"resource_link\""}]}"#,
        ] {
            assert_eq!(for_2025_03_26(raw), None, "{raw}");
        }
    }

    #[test]
    fn resource_links_become_text_naming_them_and_other_members_keep_their_bytes() {
        let raw = r#"{"content":[{"type":"text","text":"see"},{"type":"resource_link","uri":"file:///r.txt","name":"r.txt","title":"Report","mimeType":"text/plain","description":"The report.","annotations":{"priority":1},"_meta":{"x":1}}],"structuredContent":{"n": 1},"isError":false,"_meta":{"k": [1, 2]}}"#;
        let out = for_2025_03_26(raw).unwrap();
        assert_eq!(
            out,
            r#"{"content":[{"type":"text","text":"see"},{"type":"text","text":"Resource link: r.txt (Report) <file:///r.txt> [text/plain]: The report.","annotations":{"priority":1}}],"structuredContent":{"n": 1},"isError":false,"_meta":{"k": [1, 2]}}"#
        );
    }

    #[test]
    fn structured_content_alone_gains_its_json_as_text() {
        let raw = r#"{"content":[],"structuredContent":{"city":"Oslo","celsius":21.5}}"#;
        let out = parse(&for_2025_03_26(raw).unwrap());
        assert_eq!(
            out["content"],
            json!([{"type": "text", "text": r#"{"city":"Oslo","celsius":21.5}"#}])
        );
        assert_eq!(out["structuredContent"]["city"], "Oslo");
        // No content member at all: one is written.
        let out = parse(&for_2025_03_26(r#"{"structuredContent":[1,2]}"#).unwrap());
        assert_eq!(out["content"], json!([{"type": "text", "text": "[1,2]"}]));
        // An image beside structured content still gains the text.
        let raw = r#"{"content":[{"type":"image","data":"AA==","mimeType":"image/png"}],"structuredContent":{"a":1}}"#;
        let out = parse(&for_2025_03_26(raw).unwrap());
        assert_eq!(
            out["content"][1],
            json!({"type": "text", "text": r#"{"a":1}"#})
        );
        assert_eq!(out["content"][0]["type"], "image");
    }

    #[test]
    fn not_an_object_or_broken_json_is_left_alone() {
        assert_eq!(for_2025_03_26(r#"["resource_link"]"#), None);
        assert_eq!(
            for_2025_03_26(r#"{"content":[{"type":"resource_link""#),
            None
        );
    }

    /// Run alone (`--ignored --nocapture`): what the check costs a 2025-03-26 client on a
    /// result that needs nothing (FastMCP's echo: text beside structured content), and on one
    /// that is translated.
    #[test]
    #[ignore = "measurement: prints the time per result"]
    fn measure_the_check_and_a_translation() {
        let echo = r#"{"content":[{"type":"text","text":"hello"}],"structuredContent":{"result":"hello"},"isError":false}"#;
        let link = r#"{"content":[{"type":"resource_link","uri":"file:///r.txt","name":"r.txt"}],"structuredContent":{"rows":3},"isError":false}"#;
        for (what, raw) in [("unchanged echo", echo), ("translated link", link)] {
            let n = 200_000u32;
            let started = std::time::Instant::now();
            for _ in 0..n {
                std::hint::black_box(for_2025_03_26(std::hint::black_box(raw)));
            }
            println!("{what}: {:?} per result", started.elapsed() / n);
        }
    }
}
