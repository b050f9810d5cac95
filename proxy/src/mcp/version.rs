//! MCP protocol versions this gateway speaks, and version negotiation.

/// Supported versions, newest first. `initialize` answers with the client's version when it is
/// here, else with the newest.
pub const SUPPORTED: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26"];

/// The stateless revision: no `initialize`; `server/discover`; `Mcp-Method`/`Mcp-Name` headers.
pub const STATELESS: &str = "2026-07-28";

/// Versions of the `initialize` handshake era, supported or not: a request whose
/// `MCP-Protocol-Version` header names one of these (or that has none) is a handshake-era
/// request; any other value is a 2026-07-28-era request and is validated as one (so an unknown
/// future version gets that revision's structured "unsupported version" answer).
pub const HANDSHAKE_ERA: &[&str] = &["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

/// Which revision's rules a request is served by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// `initialize` handshake, optional sessions; results exactly as in 2025-03-26..2025-11-25.
    Handshake,
    /// 2026-07-28: no handshake, every request carries its version and capabilities in
    /// `params._meta`; every result carries `resultType` and `_meta` server info.
    Stateless,
}

impl Era {
    /// The era of a request with this `MCP-Protocol-Version` header.
    pub fn of(header: Option<&str>) -> Self {
        match header {
            Some(v) if !HANDSHAKE_ERA.contains(&v) => Self::Stateless,
            _ => Self::Handshake,
        }
    }
}

/// Version assumed when a request carries no `MCP-Protocol-Version` header (per the spec).
pub const DEFAULT_WITHOUT_HEADER: &str = "2025-03-26";

/// The revision a request is served by, as far as the shape of results differs between them.
/// Ordered oldest first, so `revision < Revision::V2025_06_18` reads as "before 2025-06-18".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Revision {
    /// 2025-03-26: no `structuredContent`, no `resource_link` content, no `title`/`icons`.
    V2025_03_26,
    /// 2025-06-18: structured tool output, resource links in results.
    V2025_06_18,
    /// 2025-11-25: icons, tasks.
    V2025_11_25,
    /// 2026-07-28 (and any later, stateless-era value).
    V2026_07_28,
}

impl Revision {
    /// The revision of a request with this `MCP-Protocol-Version` header: without one, the
    /// spec's default (2025-03-26); a value of the stateless era, 2026-07-28. A handshake-era
    /// value the gateway does not accept (2024-11-05) is refused before a method runs; it
    /// reads as the oldest.
    pub fn of(header: Option<&str>) -> Self {
        match header.unwrap_or(DEFAULT_WITHOUT_HEADER) {
            "2025-11-25" => Self::V2025_11_25,
            "2025-06-18" => Self::V2025_06_18,
            v if HANDSHAKE_ERA.contains(&v) => Self::V2025_03_26,
            _ => Self::V2026_07_28,
        }
    }

    /// Whether results must not carry what 2025-06-18 added (resource links; structured
    /// content without its text).
    pub fn before_structured_results(self) -> bool {
        self < Self::V2025_06_18
    }
}

/// Whether the gateway can talk to an upstream MCP server that answered `initialize` with this
/// protocol version: one of [`SUPPORTED`]. 2024-11-05 (whose transport was HTTP+SSE) and
/// unknown values are refused.
pub fn upstream_supported(v: &str) -> bool {
    SUPPORTED.contains(&v)
}

pub fn latest() -> &'static str {
    SUPPORTED[0]
}

/// The version to answer `initialize` with.
pub fn negotiate(requested: &str) -> &'static str {
    SUPPORTED
        .iter()
        .copied()
        .find(|v| *v == requested)
        .unwrap_or_else(latest)
}

/// Whether a `MCP-Protocol-Version` header value is one we accept on requests.
pub fn is_accepted(header: &str) -> bool {
    header == STATELESS || SUPPORTED.contains(&header)
}

/// Index of a supported version, for compact session ids.
pub fn index_of(v: &str) -> Option<u8> {
    SUPPORTED.iter().position(|s| *s == v).map(|i| i as u8)
}

pub fn by_index(i: u8) -> Option<&'static str> {
    SUPPORTED.get(usize::from(i)).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_echoes_known_versions_and_falls_back_to_the_latest() {
        assert_eq!(negotiate("2025-06-18"), "2025-06-18");
        assert_eq!(negotiate("2025-11-25"), "2025-11-25");
        assert_eq!(negotiate("2024-11-05"), latest());
        assert_eq!(negotiate("garbage"), latest());
        assert!(is_accepted(STATELESS));
        assert_eq!(Era::of(None), Era::Handshake);
        assert_eq!(Era::of(Some("2025-06-18")), Era::Handshake);
        assert_eq!(Era::of(Some("2024-11-05")), Era::Handshake);
        assert_eq!(Era::of(Some(STATELESS)), Era::Stateless);
        assert_eq!(Era::of(Some("2099-01-01")), Era::Stateless);
        assert!(!is_accepted("2099-01-01"));
        assert_eq!(
            by_index(index_of("2025-06-18").unwrap()),
            Some("2025-06-18")
        );
    }

    #[test]
    fn revisions_of_headers_default_to_2025_03_26_and_order_oldest_first() {
        assert_eq!(Revision::of(None), Revision::V2025_03_26);
        assert_eq!(Revision::of(Some("2025-03-26")), Revision::V2025_03_26);
        assert_eq!(Revision::of(Some("2025-06-18")), Revision::V2025_06_18);
        assert_eq!(Revision::of(Some("2025-11-25")), Revision::V2025_11_25);
        assert_eq!(Revision::of(Some(STATELESS)), Revision::V2026_07_28);
        assert!(Revision::of(None).before_structured_results());
        assert!(!Revision::of(Some("2025-06-18")).before_structured_results());
        assert!(!Revision::of(Some(STATELESS)).before_structured_results());
        assert!(upstream_supported("2025-03-26") && upstream_supported("2025-11-25"));
        assert!(!upstream_supported("2024-11-05") && !upstream_supported(STATELESS));
    }
}
