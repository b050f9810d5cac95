//! Hot reload: the sandbox notices when its tool sets, components or policy change on disk (a
//! polled [`mcp_filewatch::Fingerprint`] of names, sizes, times and inodes, which also catches a
//! Kubernetes ConfigMap's symlink swap) or when it gets SIGHUP, and reloads. A reload swaps the
//! new catalog and policy in whole; one that fails (a half-copied component, a YAML typo) is
//! logged and counted, and the last good state keeps serving.
//!
//! A change is acted on once the fingerprint has held still for one poll, so a file still
//! being copied is not loaded half-written.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mcp_filewatch::{Settle, Tracker, Trigger, Watch};

use super::Sandbox;

/// Watches `paths` (files or directories) and reloads `sandbox` when they change, every
/// `interval` (`None`: only on SIGHUP). Runs until the process ends.
pub fn spawn(sandbox: Arc<Sandbox>, paths: Vec<PathBuf>, interval: Option<Duration>) {
    Watch::on_change(Tracker::new(paths, Settle::HeldStill))
        .poll(interval)
        .hangup()
        .spawn(move |trigger| {
            let sandbox = Arc::clone(&sandbox);
            async move { reload(&sandbox, trigger).await }
        })
        .detach();
}

async fn reload(sandbox: &Arc<Sandbox>, trigger: Trigger) {
    match sandbox.reload().await {
        Ok(tools) => {
            metrics::counter!("mcp_sandbox_reloads_total", "result" => "ok").increment(1);
            metrics::gauge!("mcp_sandbox_last_reload_success_timestamp_seconds").set(unix_now());
            tracing::info!(?trigger, tools, "reloaded tool sets and policy");
        }
        Err(e) => {
            metrics::counter!("mcp_sandbox_reloads_total", "result" => "rejected").increment(1);
            tracing::error!(?trigger, error = %e, "reload failed; the previous tool sets and policy stay in force");
        }
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
