//! Replacing the list of upstream servers without a restart, when the `mcp_servers:` section
//! of the gateway's config file changes.
//!
//! An entry whose configuration is unchanged keeps its [`Server`](super::Server) as it is: its
//! sessions, pooled connections, circuit breaker, cached token and last lists. An added entry
//! gets a new one; a changed entry (any field: URL, credentials, limits) gets a new one in
//! place of the old; a removed entry is dropped from the list. A call already running on a
//! removed or replaced server holds its own reference to it and finishes there; new calls use
//! the new list once the catalog has been refreshed (the gateway refreshes it right after a
//! reload). Every new server is built before anything is swapped, so a bad entry (a secret
//! file that cannot be read) leaves the previous list in force.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Entry, Federation, SetupError};
use crate::config::McpServerConfig;

/// What a reload changed, by server name.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReloadSummary {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
    pub kept: Vec<String>,
}

impl ReloadSummary {
    /// Whether the list is the same as before.
    pub fn is_unchanged(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}

impl Federation {
    /// Makes `configs` (already validated) the list of servers; see the module docs.
    pub fn reload(&self, configs: &[McpServerConfig]) -> Result<ReloadSummary, SetupError> {
        let current = self.entries.load_full();
        let mut summary = ReloadSummary::default();
        let mut next = Vec::with_capacity(configs.len());
        for config in configs {
            match current.iter().find(|e| e.config.name == config.name) {
                Some(e) if e.config == *config => {
                    summary.kept.push(config.name.clone());
                    next.push(e.clone());
                }
                Some(_) => {
                    summary.changed.push(config.name.clone());
                    next.push(Arc::new(Entry::new(config)?));
                }
                None => {
                    summary.added.push(config.name.clone());
                    next.push(Arc::new(Entry::new(config)?));
                }
            }
        }
        summary.removed = current
            .iter()
            .filter(|e| !configs.iter().any(|c| c.name == e.config.name))
            .map(|e| e.config.name.clone())
            .collect();
        if !summary.is_unchanged() {
            self.entries.store(Arc::new(next));
            // Lists read from the previous servers are not served from the cache again.
            self.generation.fetch_add(1, Ordering::AcqRel);
            for name in summary.removed.iter().chain(&summary.changed) {
                metrics::gauge!("mcp_upstream_server_up", "server" => name.clone()).set(0.0);
            }
        }
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configs(yaml: &str) -> Vec<McpServerConfig> {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn unchanged_servers_are_kept_changed_ones_replaced() {
        let fed = Federation::new(&configs(
            "[{name: a, url: 'http://127.0.0.1:9/mcp'}, {name: b, url: 'http://127.0.0.1:9/b'}]",
        ))
        .unwrap();
        let before = fed.servers();
        let s = fed
            .reload(&configs(
                "[{name: a, url: 'http://127.0.0.1:9/mcp'}, {name: b, url: 'http://127.0.0.1:9/b2'}, \
                 {name: c, url: 'http://127.0.0.1:9/c'}]",
            ))
            .unwrap();
        assert_eq!(s.kept, ["a"]);
        assert_eq!(s.changed, ["b"]);
        assert_eq!(s.added, ["c"]);
        assert!(s.removed.is_empty());
        let after = fed.servers();
        assert!(Arc::ptr_eq(&before[0], &after[0]), "a keeps its sessions");
        assert!(!Arc::ptr_eq(&before[1], &after[1]));
        assert_eq!(after[1].url.as_str(), "http://127.0.0.1:9/b2");
        let s = fed
            .reload(&configs("[{name: c, url: 'http://127.0.0.1:9/c'}]"))
            .unwrap();
        assert_eq!(s.removed, ["a", "b"]);
        assert_eq!(fed.servers().len(), 1);
        assert!(
            fed.reload(&configs("[{name: c, url: 'http://127.0.0.1:9/c'}]"))
                .unwrap()
                .is_unchanged()
        );
    }

    #[test]
    fn a_bad_entry_leaves_the_previous_list() {
        let fed = Federation::new(&configs("[{name: a, url: 'http://127.0.0.1:9/mcp'}]")).unwrap();
        let bad = configs(
            "[{name: b, url: 'http://127.0.0.1:9/mcp', auth: {type: bearer_file, path: /nonexistent/token}}]",
        );
        assert!(fed.reload(&bad).is_err());
        assert_eq!(fed.servers()[0].name, "a");
    }
}
