//! The log-analysis tool set (policies/toolsets/log-analysis.yaml; components under tools/),
//! built from source and served by the real sandbox: log search and summary checked against
//! an independent reading of freshly generated sample logs, PII scrubbing, the per-user
//! workspace (quotas, path escapes, atomic writes, checkpoints, isolation), skills (personal,
//! shared, run through execute_code) and progressive tool discovery.
//!
//! The sample logs are generated per test into a temporary directory by
//! samples/generate_logs.py and mounted through the manifest's `${MCP_LOG_DIR:-...}`; the
//! shared skill catalog likewise through `${MCP_SHARED_SKILLS_DIR:-...}`.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

mod common;

#[path = "log_analysis/discovery.rs"]
mod discovery;
#[path = "log_analysis/logs.rs"]
mod logs;
#[path = "log_analysis/privacy.rs"]
mod privacy;
#[path = "log_analysis/samples.rs"]
mod samples;
#[path = "log_analysis/skills.rs"]
mod skills;
#[path = "log_analysis/workspace.rs"]
mod workspace;

use std::path::PathBuf;

use common::{Answer, Sandbox, Setup};
use mcp_sandbox::service::{Owner, Workspaces};
use mcp_testkit::TempDir;

/// A sandbox serving the `examples` and `log-analysis` tool sets (and more if asked) to role
/// `tester`, with its own generated logs and shared skill catalog.
pub struct Fixture {
    pub sb: Sandbox,
    pub logs: TempDir,
    pub shared_skills: TempDir,
}

impl Fixture {
    pub fn start() -> Self {
        Self::start_with(&["examples", "log-analysis"], "")
    }

    pub fn start_with(toolsets: &'static [&'static str], extra_policy: &'static str) -> Self {
        let logs = TempDir::new().unwrap();
        samples::generate(logs.path());
        let shared_skills = TempDir::new().unwrap();
        let sb = Sandbox::start(Setup {
            toolsets,
            extra_policy,
            env: vec![
                ("MCP_LOG_DIR", logs.path().to_owned()),
                ("MCP_SHARED_SKILLS_DIR", shared_skills.path().to_owned()),
            ],
            ..Setup::default()
        });
        Self {
            sb,
            logs,
            shared_skills,
        }
    }

    /// The host directory of `user`'s workspace (calls without a principal are keyed by user
    /// name), created if needed.
    pub fn workspace_of(&self, user: &str) -> PathBuf {
        let root = self.sb.dir.path().join("workspaces");
        Workspaces::new(root)
            .unwrap()
            .dir_for(Owner::User(user))
            .unwrap()
    }
}

/// Asserts a tool-reported failure of `kind` whose message contains `needle`.
pub fn assert_fails(a: &Answer, kind: &str, needle: &str) {
    assert_eq!(a.kind(), kind, "{}", a.body);
    assert!(
        a.message().contains(needle),
        "expected {needle:?} in: {}",
        a.message()
    );
}
