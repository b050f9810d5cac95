//! Resources, resource templates and prompts of upstream MCP servers: their lists, read with
//! the tool lists on each catalog refresh (only from servers whose `initialize` answer
//! advertised `resources` or `prompts`), and the requests that read a resource or get a prompt
//! for a caller.
//!
//! Each listed item is kept as the raw JSON the upstream wrote, with the one field the gateway
//! routes on read from it: a resource's `uri`, a template's `uriTemplate`, a prompt's `name`.
//! A prompt is exposed as `<server>__<name>` ([`ToolName::federated`], the tools' rule), so its
//! listing is rewritten with that name; resources and templates are kept byte for byte.
//! Which server a caller's URI goes to is decided in [`crate::mcp`]'s resources path from
//! these lists; this module knows nothing of callers' roles.

use mcp_contract::names::{BackendToolName, ToolName};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::error::FederationError;
use super::server::{CallContext, GATEWAY_KEY, Server};

/// Pages of one list read from one server at most.
const MAX_LIST_PAGES: usize = 50;

/// One item an upstream listed.
pub struct Listed {
    /// What the gateway routes on: the resource's `uri`, the template's `uriTemplate`, or the
    /// prompt's exposed name.
    pub key: String,
    /// The prompt's name on its server (for resources and templates, the same as `key`).
    pub backend: String,
    /// The item as the upstream wrote it (a prompt's with the exposed name).
    pub raw: Box<RawValue>,
}

/// A server's resources, templates and prompts as last read.
#[derive(Default)]
pub struct Extras {
    pub resources: Vec<Listed>,
    pub templates: Vec<Listed>,
    pub prompts: Vec<Listed>,
}

/// One of the three lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Resources,
    Templates,
    Prompts,
}

impl Kind {
    /// The MCP method that lists it.
    pub fn method(self) -> &'static str {
        match self {
            Kind::Resources => "resources/list",
            Kind::Templates => "resources/templates/list",
            Kind::Prompts => "prompts/list",
        }
    }

    /// The result's field holding the items.
    pub fn field(self) -> &'static str {
        match self {
            Kind::Resources => "resources",
            Kind::Templates => "resourceTemplates",
            Kind::Prompts => "prompts",
        }
    }

    /// The items of this kind in `extras`.
    pub fn of(self, extras: &Extras) -> &[Listed] {
        match self {
            Kind::Resources => &extras.resources,
            Kind::Templates => &extras.templates,
            Kind::Prompts => &extras.prompts,
        }
    }
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    resources: Vec<Box<RawValue>>,
    #[serde(rename = "resourceTemplates", default)]
    templates: Vec<Box<RawValue>>,
    #[serde(default)]
    prompts: Vec<Box<RawValue>>,
    #[serde(rename = "nextCursor", default)]
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct ItemKey {
    #[serde(default)]
    uri: Option<String>,
    #[serde(rename = "uriTemplate", default)]
    uri_template: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

/// Why an upstream's listed item is skipped.
#[derive(Debug, thiserror::Error)]
pub enum ItemError {
    #[error("a {0} entry is not an object with its key field")]
    Shape(&'static str),
    #[error("prompt name {name:?}: {detail}")]
    PromptName { name: String, detail: String },
}

impl Server {
    /// Reads the server's resources, templates and prompts, as far as its `initialize` answer
    /// offered them; a list that cannot be read keeps its `previous` version.
    pub async fn list_extras(&self, previous: Option<&Extras>) -> Extras {
        let offers = self.offers();
        let mut out = Extras::default();
        for (kind, offered) in [
            (Kind::Resources, offers.resources),
            (Kind::Templates, offers.resources),
            (Kind::Prompts, offers.prompts),
        ] {
            if !offered {
                continue;
            }
            let items = match self.read_list(kind).await {
                Ok(items) => items,
                Err(e) => {
                    tracing::warn!(mcp_server = %self.name, method = kind.method(), error = %e,
                        "cannot list the upstream MCP server's items; keeping the last list");
                    match previous {
                        Some(p) => kind.of(p).iter().map(Listed::copy).collect(),
                        None => Vec::new(),
                    }
                }
            };
            match kind {
                Kind::Resources => out.resources = items,
                Kind::Templates => out.templates = items,
                Kind::Prompts => out.prompts = items,
            }
        }
        out
    }

    /// Every page of one list, in the gateway's own session.
    async fn read_list(&self, kind: Kind) -> Result<Vec<Listed>, FederationError> {
        let ctx = CallContext {
            caller: GATEWAY_KEY,
            ..CallContext::default()
        };
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_LIST_PAGES {
            let params = match &cursor {
                Some(c) => serde_json::json!({ "cursor": c }).to_string(),
                None => "{}".to_owned(),
            };
            let raw = self.guarded(kind.method(), &params, &ctx).await?;
            let page: Page = serde_json::from_str(raw.get())
                .map_err(|e| FederationError::Protocol(format!("{} result: {e}", kind.method())))?;
            let list = match kind {
                Kind::Resources => page.resources,
                Kind::Templates => page.templates,
                Kind::Prompts => page.prompts,
            };
            for item in list {
                match listed(&self.name, kind, item) {
                    Ok(l) => items.push(l),
                    Err(e) => tracing::error!(mcp_server = %self.name, error = %e,
                        "skipping an item the upstream MCP server listed"),
                }
            }
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        Ok(items)
    }

    /// Sends one of the caller's requests (`resources/read`, `prompts/get`) in their session
    /// with this server; the result as the upstream wrote it.
    pub async fn forward(
        &self,
        method: &'static str,
        params: &str,
        ctx: &CallContext<'_>,
    ) -> Result<Box<RawValue>, FederationError> {
        self.guarded(method, params, ctx).await
    }
}

impl Listed {
    fn copy(&self) -> Self {
        Self {
            key: self.key.clone(),
            backend: self.backend.clone(),
            raw: self.raw.clone(),
        }
    }
}

/// One listed item with its routing key; a prompt renamed to its exposed name.
pub fn listed(server: &str, kind: Kind, raw: Box<RawValue>) -> Result<Listed, ItemError> {
    let key: ItemKey =
        serde_json::from_str(raw.get()).map_err(|_| ItemError::Shape(kind.field()))?;
    match kind {
        Kind::Resources | Kind::Templates => {
            let uri = if kind == Kind::Resources {
                key.uri
            } else {
                key.uri_template
            };
            let uri = uri.ok_or(ItemError::Shape(kind.field()))?;
            Ok(Listed {
                backend: uri.clone(),
                key: uri,
                raw,
            })
        }
        Kind::Prompts => {
            let name = key.name.ok_or(ItemError::Shape("prompts"))?;
            let exposed = BackendToolName::parse(&name)
                .and_then(|b| ToolName::federated(server, &b))
                .map_err(|e| ItemError::PromptName {
                    name: name.chars().take(128).collect(),
                    detail: e.to_string(),
                })?;
            let mut object: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(raw.get()).map_err(|_| ItemError::Shape("prompts"))?;
            object.insert("name".into(), exposed.as_str().into());
            let raw = serde_json::value::to_raw_value(&object)
                .map_err(|_| ItemError::Shape("prompts"))?;
            Ok(Listed {
                key: exposed.into(),
                backend: name,
                raw,
            })
        }
    }
}

/// Whether `uri` is one expansion of the RFC 6570 template `template`: the literal text must
/// match, and each expression takes the shortest non-empty run of characters up to the next
/// literal text (or the rest, at the end); a simple `{name}` takes no `/`, `?` or `#`, one
/// with an operator (`{+path}`, `{?q}`, ...) takes any. Two expressions in a row never match.
/// Enough to tell which server's templates a URI belongs to, in linear time, not a full
/// matcher.
pub fn template_matches(template: &str, uri: &str) -> bool {
    let (mut t, mut u) = (template, uri);
    loop {
        let Some(open) = t.find('{') else {
            return t == u;
        };
        let Some(rest) = u.strip_prefix(&t[..open]) else {
            return false;
        };
        u = rest;
        let Some(close) = t[open..].find('}').map(|c| open + c) else {
            return false;
        };
        let operator = t[open + 1..].starts_with(['+', '#', '.', '/', ';', '?', '&']);
        t = &t[close + 1..];
        let literal = &t[..t.find('{').unwrap_or(t.len())];
        let taken = if t.is_empty() {
            u.len()
        } else if literal.is_empty() {
            return false;
        } else {
            match u.find(literal) {
                Some(n) => n,
                None => return false,
            }
        };
        if taken == 0 || (!operator && u[..taken].contains(['/', '?', '#'])) {
            return false;
        }
        u = &u[taken..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).unwrap()
    }

    #[test]
    fn prompts_get_the_tools_naming_resources_keep_their_bytes() {
        let p = listed(
            "up",
            Kind::Prompts,
            raw(r#"{"name":"greet.user","description":"Say hi","arguments":[{"name":"who"}]}"#),
        )
        .unwrap();
        assert!(p.key.starts_with("up__greet_user_"), "{}", p.key);
        assert_eq!(p.backend, "greet.user");
        let v: serde_json::Value = serde_json::from_str(p.raw.get()).unwrap();
        assert_eq!(v["name"], p.key.as_str());
        assert_eq!(v["arguments"][0]["name"], "who");
        let text = r#"{"uri":"notes://a b","name":"a","_meta":{"x":[1, 2]}}"#;
        let r = listed("up", Kind::Resources, raw(text)).unwrap();
        assert_eq!((r.key.as_str(), r.raw.get()), ("notes://a b", text));
        let t = listed(
            "up",
            Kind::Templates,
            raw(r#"{"uriTemplate":"u://{id}","name":"u"}"#),
        );
        assert_eq!(t.unwrap().key, "u://{id}");
        assert!(listed("up", Kind::Resources, raw(r#"{"name":"no uri"}"#)).is_err());
        assert!(listed("up", Kind::Prompts, raw(r#"{"name":"has space"}"#)).is_err());
    }

    #[test]
    fn templates_match_their_expansions_only() {
        assert!(template_matches(
            "users://{id}/profile",
            "users://42/profile"
        ));
        assert!(!template_matches(
            "users://{id}/profile",
            "users://42/x/profile"
        ));
        assert!(!template_matches(
            "users://{id}/profile",
            "users:///profile"
        ));
        assert!(template_matches("files://{+path}", "files://a/b/c"));
        assert!(!template_matches("files://{path}", "files://a/b"));
        assert!(template_matches("a://{x}-{y}", "a://1-2"));
        assert!(!template_matches("a://{x}{y}", "a://12"));
        assert!(template_matches("s://q{?page}", "s://q?page=2"));
        assert!(!template_matches("a://{x}", "b://1"));
        assert!(template_matches("plain://x", "plain://x"));
    }
}
