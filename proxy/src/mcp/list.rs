//! `tools/list`: the tools the caller may call and that are listed, in name order, paginated
//! with an opaque cursor (the last name served), which stays valid across catalog changes.
//!
//! Every page is prepared once and then served as bytes: the first request of a role set
//! against a catalog snapshot and a policy snapshot, in one protocol era, renders all of that
//! caller's pages (each tool's listing was rendered once, when the catalog was built) with
//! their era's envelope; later requests copy their page behind their own JSON-RPC id. The
//! [`ListCache`] is keyed by snapshot identity, so a catalog refresh or a policy reload (each
//! swaps in a new snapshot) makes new keys and the old entries are never served again. It is
//! keyed by role set, never by caller, and bounded in entries and bytes: callers cannot grow it.
//!
//! A cursor that does not fall on a page boundary of the prepared pages (one handed out
//! before the catalog changed) is served by building that page from scratch, as is an answer
//! too large to keep.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock, Weak};

use bytes::Bytes;
use mcp_gateway_auth::Principal;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::envelope::{self, Answer, Cache};
use super::version::Era;
use crate::catalog::{Catalog, ToolRoute};
use crate::error::GatewayError;
use mcp_contract::policy::AccessPolicy as Policy;

/// `tools/list` results are private to the caller's roles and carry no TTL (2026-07-28).
pub const CACHE_HINT: Cache = Cache::PRIVATE_NO_TTL;

/// Most prepared listings kept (one per catalog snapshot, policy snapshot, role set, era).
pub const MAX_ENTRIES: usize = 64;
/// Most bytes of prepared pages kept in all; a listing larger than this is never kept.
pub const MAX_BYTES: usize = 32 << 20;

#[derive(Deserialize, Default)]
struct ListParams {
    #[serde(default)]
    cursor: Option<String>,
}

/// What a `tools/list` request asks for, read once from its params.
pub struct ListRequest<'a> {
    pub catalog: &'a Arc<Catalog>,
    pub policy: &'a Arc<Policy>,
    pub principal: &'a Principal,
    pub page_size: usize,
    pub era: Era,
}

/// The page of tools after the request's cursor: the finished result bytes for `req.era`,
/// from `cache` when it holds them.
pub fn list_tools(
    cache: &ListCache,
    req: &ListRequest<'_>,
    params: Option<&RawValue>,
) -> Result<Bytes, GatewayError> {
    let after = cursor_of(params)?;
    let listing = match cache.get(req) {
        Some(l) => l,
        None => {
            let prepared = Arc::new(prepare(req));
            cache.insert(req, prepared.clone());
            prepared
        }
    };
    match listing.page_after(after.as_deref()) {
        Some(page) => Ok(page.clone()),
        None => Ok(build_page(req, after.as_deref())),
    }
}

/// The same answer, built from scratch: what the prepared pages must equal byte for byte.
#[cfg(test)]
pub fn list_tools_uncached(
    req: &ListRequest<'_>,
    params: Option<&RawValue>,
) -> Result<Bytes, GatewayError> {
    let after = cursor_of(params)?;
    Ok(build_page(req, after.as_deref()))
}

fn cursor_of(params: Option<&RawValue>) -> Result<Option<String>, GatewayError> {
    let params: ListParams = match params {
        Some(p) => serde_json::from_str(p.get()).map_err(|e| GatewayError::InvalidParams {
            detail: format!("invalid tools/list params: {e}"),
        })?,
        None => ListParams::default(),
    };
    params.cursor.as_deref().map(decode_cursor).transpose()
}

/// Whether the caller sees `route` in `tools/list`: listed, and granted to one of its roles.
fn visible(policy: &Policy, roles: &[String], route: &ToolRoute) -> bool {
    policy.is_listed(&route.name, &route.toolset)
        && policy
            .check(roles, &route.name, &route.toolset)
            .is_allowed()
}

/// One page from scratch: the visible tools after `after`, at most a page of them.
fn build_page(req: &ListRequest<'_>, after: Option<&str>) -> Bytes {
    let mut tools = req
        .catalog
        .iter()
        .filter(|r| after.is_none_or(|a| r.name.as_str() > a))
        .filter(|r| visible(req.policy, &req.principal.roles, r));
    let page: Vec<&Arc<ToolRoute>> = tools.by_ref().take(req.page_size).collect();
    let more = tools.next().is_some();
    render(&page, more, req.era)
}

/// Every page of the caller's listing, in one pass over the catalog.
fn prepare(req: &ListRequest<'_>) -> Listing {
    let visible: Vec<&Arc<ToolRoute>> = req
        .catalog
        .iter()
        .filter(|r| visible(req.policy, &req.principal.roles, r))
        .collect();
    let chunks: Vec<&[&Arc<ToolRoute>]> = visible.chunks(req.page_size.max(1)).collect();
    let mut pages = Vec::with_capacity(chunks.len().max(1));
    let mut after: Option<Box<str>> = None;
    for (i, chunk) in chunks.iter().enumerate() {
        let more = i + 1 < chunks.len();
        pages.push(Page {
            after: after.take(),
            result: render(chunk, more, req.era),
        });
        after = chunk.last().map(|r| r.name.as_str().into());
    }
    if pages.is_empty() {
        pages.push(Page {
            after: None,
            result: render(&[], false, req.era),
        });
    }
    let bytes = pages
        .iter()
        .map(|p| p.result.len() + p.after.as_ref().map_or(0, |a| a.len()))
        .sum();
    Listing { pages, bytes }
}

/// The result object of one page, with `era`'s envelope.
fn render(page: &[&Arc<ToolRoute>], more: bool, era: Era) -> Bytes {
    let size: usize = page.iter().map(|r| r.listing.get().len() + 1).sum();
    let mut out = Vec::with_capacity(size + 512);
    out.extend_from_slice(br#"{"tools":["#);
    for (i, route) in page.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(route.listing.get().as_bytes());
    }
    out.push(b']');
    if let (true, Some(last)) = (more, page.last()) {
        out.extend_from_slice(br#","nextCursor":"#);
        out.extend_from_slice(
            serde_json::to_string(&encode_cursor(&last.name))
                .unwrap_or_default()
                .as_bytes(),
        );
    }
    envelope::finish(Answer::Open(out), era, Some(CACHE_HINT))
}

/// All pages of one caller's listing.
pub struct Listing {
    pages: Vec<Page>,
    bytes: usize,
}

struct Page {
    /// The name the page follows (the previous page's last); `None` for the first page.
    after: Option<Box<str>>,
    result: Bytes,
}

impl Listing {
    /// The prepared page following `after`, when `after` is a page boundary.
    fn page_after(&self, after: Option<&str>) -> Option<&Bytes> {
        let Some(after) = after else {
            return self.pages.first().map(|p| &p.result);
        };
        let rest = self.pages.get(1..)?;
        rest.binary_search_by(|p| p.after.as_deref().unwrap_or_default().cmp(after))
            .ok()
            .map(|i| &rest[i].result)
    }
}

/// Prepared listings, bounded in entries ([`MAX_ENTRIES`]) and bytes ([`MAX_BYTES`]); the
/// least recently used go first.
pub struct ListCache {
    entries: RwLock<Vec<Entry>>,
    clock: AtomicU64,
    max_entries: usize,
    max_bytes: usize,
}

struct Entry {
    /// The snapshots the listing was built from. A `Weak` keeps the allocation (not the
    /// contents) alive, so no later snapshot can take the same address while this entry lives.
    catalog: Weak<Catalog>,
    policy: Weak<Policy>,
    page_size: usize,
    era: Era,
    /// Sorted, without duplicates.
    roles: Box<[String]>,
    listing: Arc<Listing>,
    used: AtomicU64,
}

impl Entry {
    fn matches(&self, req: &ListRequest<'_>) -> bool {
        std::ptr::eq(self.catalog.as_ptr(), Arc::as_ptr(req.catalog))
            && std::ptr::eq(self.policy.as_ptr(), Arc::as_ptr(req.policy))
            && self.page_size == req.page_size
            && self.era == req.era
            && same_roles(&self.roles, &req.principal.roles)
    }

    fn is_stale(&self) -> bool {
        self.catalog.strong_count() == 0 || self.policy.strong_count() == 0
    }
}

/// Whether the caller's roles (without duplicates, as [`Principal`] keeps them) are the set
/// `sorted`.
fn same_roles(sorted: &[String], roles: &[String]) -> bool {
    sorted.len() == roles.len() && roles.iter().all(|r| sorted.binary_search(r).is_ok())
}

impl Default for ListCache {
    fn default() -> Self {
        Self::new(MAX_ENTRIES, MAX_BYTES)
    }
}

impl ListCache {
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            entries: RwLock::new(Vec::new()),
            clock: AtomicU64::new(0),
            max_entries,
            max_bytes,
        }
    }

    /// The process's cache (keys name snapshots, so gateways in one process never share an
    /// entry).
    pub fn shared() -> &'static ListCache {
        static CACHE: OnceLock<ListCache> = OnceLock::new();
        CACHE.get_or_init(ListCache::default)
    }

    fn get(&self, req: &ListRequest<'_>) -> Option<Arc<Listing>> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let e = entries.iter().find(|e| e.matches(req))?;
        e.used.store(self.tick(), Ordering::Relaxed);
        Some(e.listing.clone())
    }

    fn insert(&self, req: &ListRequest<'_>, listing: Arc<Listing>) {
        if listing.bytes > self.max_bytes || self.max_entries == 0 {
            return;
        }
        let mut roles: Vec<String> = req.principal.roles.to_vec();
        roles.sort_unstable();
        roles.dedup();
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.retain(|e| !e.is_stale());
        if entries.iter().any(|e| e.matches(req)) {
            return;
        }
        let mut bytes: usize = entries.iter().map(|e| e.listing.bytes).sum();
        while entries.len() >= self.max_entries || bytes + listing.bytes > self.max_bytes {
            let Some(oldest) = entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.used.load(Ordering::Relaxed))
                .map(|(i, _)| i)
            else {
                break;
            };
            bytes -= entries.swap_remove(oldest).listing.bytes;
        }
        entries.push(Entry {
            catalog: Arc::downgrade(req.catalog),
            policy: Arc::downgrade(req.policy),
            page_size: req.page_size,
            era: req.era,
            roles: roles.into(),
            listing,
            used: AtomicU64::new(self.tick()),
        });
    }

    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::Relaxed)
    }

    /// Listings kept, and their bytes.
    #[cfg(test)]
    pub fn usage(&self) -> (usize, usize) {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        (entries.len(), entries.iter().map(|e| e.listing.bytes).sum())
    }
}

fn encode_cursor(after: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("after:{after}"))
}

fn decode_cursor(cursor: &str) -> Result<String, GatewayError> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("after:").map(str::to_owned))
        .ok_or_else(|| GatewayError::InvalidParams {
            detail: "invalid cursor: pass back the nextCursor of a previous tools/list".into(),
        })
}

#[cfg(test)]
#[path = "list_tests.rs"]
mod tests;
