//! A real `mcp-sandbox` process serving the example tools and the hostile test guest, with a
//! policy granting both to the role `tester`.
#![allow(dead_code, reason = "each test crate uses only part of this module")]
#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::path::Path;
use std::time::{Duration, Instant};

use mcp_testkit::{Proc, ProcBuilder, TempDir};
use serde_json::{Value, json};

pub struct Sandbox {
    pub proc: Proc,
    pub dir: TempDir,
    http: reqwest::blocking::Client,
}

/// How the sandbox under test is set up.
pub struct Setup {
    /// YAML flow mapping of the hostile component's limits.
    pub hostile_limits: &'static str,
    pub max_concurrent: usize,
    pub max_queue: usize,
    /// Tool sets from `policies/toolsets/` to serve besides `hostile` (linked, so their
    /// relative paths still resolve against `policies/toolsets/`).
    pub toolsets: &'static [&'static str],
    /// YAML appended to the generated policy (which grants every tool set to `tester`), e.g.
    /// per-tool rules for callers with other roles.
    pub extra_policy: &'static str,
    /// Environment variables for the sandbox process besides the test's own (e.g. the host
    /// directories a manifest mounts through `${VAR:-default}`).
    pub env: Vec<(&'static str, std::path::PathBuf)>,
    /// More `serve` flags.
    pub extra_args: Vec<&'static str>,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            hostile_limits: "{ fuel: 100000000, timeout: 2s, memory: 32MiB, output: 1MiB, max_nested_calls: 4, max_nesting_depth: 2 }",
            max_concurrent: 4,
            max_queue: 8,
            toolsets: &["examples"],
            extra_policy: "",
            env: Vec::new(),
            extra_args: Vec::new(),
        }
    }
}

/// The answer to a call: HTTP status and the JSON body.
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub elapsed: Duration,
}

impl Answer {
    pub fn kind(&self) -> &str {
        self.body["error"]["kind"].as_str().unwrap_or("")
    }
    pub fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }
    pub fn result(&self) -> &Value {
        assert!(
            self.body["ok"].as_bool().unwrap_or(false),
            "expected success, got {}",
            self.body
        );
        &self.body["result"]
    }
}

impl Sandbox {
    pub fn start(setup: Setup) -> Self {
        let tools = mcp_testkit::tools_dir();
        let dir = TempDir::new().unwrap();
        let toolsets = dir.path().join("toolsets");
        std::fs::create_dir_all(&toolsets).unwrap();
        let mut grants = String::from("toolsets:\n  hostile: { roles: [tester] }\n");
        for name in setup.toolsets {
            let manifest = mcp_testkit::repo_root().join(format!("policies/toolsets/{name}.yaml"));
            std::os::unix::fs::symlink(&manifest, toolsets.join(format!("{name}.yaml"))).unwrap();
            grants.push_str(&format!("  {name}: {{ roles: [tester] }}\n"));
        }
        write(
            &toolsets.join("hostile.yaml"),
            &format!(
                "name: hostile\ndefaults:\n  limits: {}\ncomponents:\n  - file: hostile.wasm\n    capabilities: {{ workspace: read-write }}\n",
                setup.hostile_limits
            ),
        );
        grants.push_str(setup.extra_policy);
        let policy = dir.path().join("access.yaml");
        write(&policy, &grants);
        let mut builder =
            ProcBuilder::new(&mcp_testkit::bin("mcp-sandbox"), &dir.path().join("logs"));
        for (name, value) in &setup.env {
            builder = builder.env(name, value);
        }
        let proc = builder
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .arg("--toolsets")
            .arg(&toolsets)
            .arg("--modules")
            .arg(&tools)
            .arg("--policy")
            .arg(&policy)
            .arg("--workspaces")
            .arg(dir.path().join("workspaces"))
            .arg("--cache")
            .arg(mcp_testkit::repo_root().join("target/wasm-cache"))
            .args(["--max-concurrent", &setup.max_concurrent.to_string()])
            .args(["--max-queue", &setup.max_queue.to_string()])
            .args(["--queue-timeout", "2s"])
            .args(&setup.extra_args)
            .start(Duration::from_secs(300));
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        Self { proc, dir, http }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.proc.url())
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        let r = self.http.get(self.url(path)).send().unwrap();
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
    }

    /// Calls `tool` as `user` with the role `tester`.
    pub fn call(&self, tool: &str, arguments: Value) -> Answer {
        self.call_as(tool, arguments, "alice", &["tester"])
    }

    pub fn call_as(&self, tool: &str, arguments: Value, user: &str, roles: &[&str]) -> Answer {
        let body = json!({"tool": tool, "arguments": arguments, "user": user, "roles": roles,
                          "request_id": "test"});
        self.post_raw(&serde_json::to_vec(&body).unwrap())
    }

    pub fn post_raw(&self, body: &[u8]) -> Answer {
        let started = Instant::now();
        let r = self
            .http
            .post(self.url("/v1/call"))
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer {
            status,
            body,
            elapsed: started.elapsed(),
        }
    }

    /// Asserts that an ordinary call still works (the host kept serving).
    pub fn assert_still_serving(&self) {
        let a = self.call("echo", json!({"text": "still here"}));
        assert_eq!(a.result()["text"], "still here", "{}", a.body);
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}
