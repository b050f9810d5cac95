//! `server.connections`: caps on client connections and the deadline for request headers,
//! validated when the config is read (enforced by `http::connections`).

use mcp_contract::units::Span;
use serde::Deserialize;

/// `server.connections`: validated when the config is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawLimits")]
pub struct ConnectionLimits {
    /// Client connections open at once (the guide's `MAX_CONNECTIONS`). At ~41 KiB per
    /// connection waiting for its headers, 2,048 hold ~82 MiB; with `limits.max_buffered`
    /// (96 MiB) that stays under half the chart's 512Mi.
    pub max: usize,
    /// Client connections open at once from one IP address (behind a load balancer that does
    /// not keep the client's address, raise it to `max`).
    pub max_per_ip: usize,
    /// Longest a client may take to send a request's headers, from the connection's start or
    /// the end of its idle keep-alive wait (the guide's `CONNECTION_TIMEOUT` for clients).
    pub header_timeout: Span,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max: 2048,
            max_per_ip: 512,
            header_timeout: Span::from_secs(10),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLimits {
    max: usize,
    max_per_ip: usize,
    header_timeout: Span,
}

impl Default for RawLimits {
    fn default() -> Self {
        let d = ConnectionLimits::default();
        Self {
            max: d.max,
            max_per_ip: d.max_per_ip,
            header_timeout: d.header_timeout,
        }
    }
}

/// Why `server.connections` was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConnectionLimitsError {
    #[error("max must be at least 1")]
    NoConnections,
    #[error("max_per_ip ({per_ip}) must be at least 1 and at most max ({max})")]
    PerIp { per_ip: usize, max: usize },
    #[error("header_timeout must be longer than 0s")]
    NoHeaderTime,
}

impl TryFrom<RawLimits> for ConnectionLimits {
    type Error = ConnectionLimitsError;

    fn try_from(r: RawLimits) -> Result<Self, Self::Error> {
        if r.max == 0 {
            return Err(ConnectionLimitsError::NoConnections);
        }
        if r.max_per_ip == 0 || r.max_per_ip > r.max {
            return Err(ConnectionLimitsError::PerIp {
                per_ip: r.max_per_ip,
                max: r.max,
            });
        }
        if r.header_timeout.get().is_zero() {
            return Err(ConnectionLimitsError::NoHeaderTime);
        }
        Ok(Self {
            max: r.max,
            max_per_ip: r.max_per_ip,
            header_timeout: r.header_timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_validated() {
        let parse =
            |y: &str| serde_yaml::from_str::<ConnectionLimits>(y).map_err(|e| e.to_string());
        assert_eq!(parse("{}").unwrap(), ConnectionLimits::default());
        assert_eq!(
            parse("{max: 10, max_per_ip: 4, header_timeout: 2s}").unwrap(),
            ConnectionLimits {
                max: 10,
                max_per_ip: 4,
                header_timeout: Span::from_secs(2)
            }
        );
        assert!(
            parse("{max: 0}")
                .unwrap_err()
                .contains("max must be at least 1")
        );
        assert!(
            parse("{max: 10, max_per_ip: 11}")
                .unwrap_err()
                .contains("at most max (10)")
        );
        assert!(
            parse("{header_timeout: 0s}")
                .unwrap_err()
                .contains("longer than 0s")
        );
        assert!(parse("{maximum: 1}").is_err(), "unknown fields are refused");
    }
}
