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
}
