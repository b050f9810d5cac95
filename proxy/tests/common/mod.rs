//! The whole stack for end-to-end tests: a real `mcp-sandbox` serving real wasm tools, a real
//! `mcp-gateway` in front of it with its own config, key directory, policy and audit log, and a
//! blocking HTTP client. API keys are made with the gateway's own `keys` command.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use mcp_testkit::{Proc, ProcBuilder, TempDir};
use serde_json::{Value, json};

/// Policy used unless a test gives its own: `mcp-user` may use the examples, `mcp-admin`
/// everything, and a tight per-user rate limit is left out (tests that need one set it).
pub const DEFAULT_POLICY: &str = "\
toolsets:
  examples: { roles: [mcp-user, mcp-admin] }
  hostile: { roles: [mcp-admin] }
tools:
  text_stats: { roles: [mcp-admin] }
";

pub struct Options {
    pub policy: String,
    /// Extra top-level YAML for the gateway config (e.g. an `oidc:` block).
    pub config: String,
    /// Tool sets from policies/toolsets served besides the hostile guest.
    pub toolsets: &'static [&'static str],
    /// YAML flow mapping of the hostile guest's limits.
    pub hostile_limits: &'static str,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            policy: DEFAULT_POLICY.into(),
            config: String::new(),
            toolsets: &["examples"],
            hostile_limits: "{ fuel: 100000000, timeout: 2s, memory: 32MiB }",
        }
    }
}

pub struct Stack {
    pub sandbox: Option<Proc>,
    pub gateway: Proc,
    pub dir: TempDir,
    pub keys_dir: PathBuf,
    pub policy_path: PathBuf,
    pub sandbox_addr: String,
    http: reqwest::blocking::Client,
}

/// An HTTP answer.
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// The JSON-RPC error code, if any.
    pub fn rpc_code(&self) -> Option<i64> {
        self.json()["error"]["code"].as_i64()
    }
    pub fn result(&self) -> Value {
        let v = self.json();
        assert!(
            v.get("result").is_some(),
            "expected a result, got {} {}",
            self.status,
            self.text
        );
        v["result"].clone()
    }
}

impl Stack {
    pub fn start(opts: Options) -> Self {
        let dir = TempDir::new().unwrap();
        let sandbox_addr = format!("127.0.0.1:{}", mcp_testkit::free_port());
        let sandbox = Some(start_sandbox(&dir, &opts, &sandbox_addr));
        Self::start_gateway(dir, opts, sandbox, sandbox_addr)
    }

    /// A gateway whose sandbox address has nothing listening yet.
    pub fn start_without_sandbox(opts: Options) -> Self {
        let dir = TempDir::new().unwrap();
        let sandbox_addr = format!("127.0.0.1:{}", mcp_testkit::free_port());
        Self::start_gateway(dir, opts, None, sandbox_addr)
    }

    fn start_gateway(
        dir: TempDir,
        opts: Options,
        sandbox: Option<Proc>,
        sandbox_addr: String,
    ) -> Self {
        let keys_dir = dir.path().join("keys");
        std::fs::create_dir_all(&keys_dir).unwrap();
        let policy_path = dir.path().join("access.yaml");
        std::fs::write(&policy_path, &opts.policy).unwrap();
        std::fs::write(
            dir.path().join("session.key"),
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n",
        )
        .unwrap();
        let gateway = spawn_gateway(dir.path(), "gateway", &sandbox_addr, &opts.config);
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let stack = Self {
            sandbox,
            gateway,
            dir,
            keys_dir,
            policy_path,
            sandbox_addr,
            http,
        };
        stack.wait_healthy(&stack.gateway);
        if stack.sandbox.is_some() {
            stack.wait_ready();
        }
        stack
    }

    /// Another gateway process on the same sandbox, keys, policy and session key (a replica),
    /// with `config` appended to its configuration.
    pub fn start_replica(&self, name: &str, config: &str) -> Proc {
        let proc = spawn_gateway(self.dir.path(), name, &self.sandbox_addr, config);
        self.wait_healthy(&proc);
        proc
    }

    fn wait_healthy(&self, proc: &Proc) {
        mcp_testkit::wait_for(
            "the gateway to answer /health",
            Duration::from_secs(20),
            || {
                let r = self
                    .http
                    .get(format!("{}/health", proc.url()))
                    .send()
                    .ok()?;
                (r.status() == 200).then_some(())
            },
        );
    }

    /// A JSON-RPC request (id 1) to one particular gateway process of this stack.
    pub fn rpc_at(&self, gateway: &Proc, token: &str, method: &str, params: Value) -> Resp {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let r = self
            .http
            .post(format!("{}/mcp", gateway.url()))
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {token}"))
            .body(body.to_string())
            .send()
            .unwrap();
        into_resp(r)
    }

    pub fn wait_ready(&self) {
        mcp_testkit::wait_for(
            "the gateway to be ready with tools",
            Duration::from_secs(30),
            || {
                let r = self.get("/ready");
                (r.status == 200 && r.json()["tools"].as_u64().unwrap_or(0) > 0).then_some(())
            },
        );
    }

    pub fn url(&self) -> String {
        self.gateway.url().to_owned()
    }

    pub fn mcp_url(&self) -> String {
        format!("{}/mcp", self.gateway.url())
    }

    /// Creates an API key with the gateway's CLI and returns `(id, secret)`.
    pub fn create_key(&self, user: &str, roles: &[&str], expires: &str) -> (String, String) {
        let mut args = vec!["create", "--user", user, "--expires", expires, "--json"];
        for r in roles {
            args.extend(["--role", r]);
        }
        let out = self.keys_cli(&args);
        let v: Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("keys create --json: {e}: {out}"));
        let secret = v["key"]
            .as_str()
            .unwrap_or_else(|| panic!("no key in {v}"))
            .to_owned();
        // The gateway picks the new file up from its directory watch.
        mcp_testkit::wait_for(
            "the gateway to accept the new key",
            Duration::from_secs(10),
            || (self.rpc(&secret, "ping", json!({})).status == 200).then_some(()),
        );
        (v["id"].as_str().unwrap().to_owned(), secret)
    }

    /// Runs `mcp-gateway keys --dir <keys> ARGS`, asserting success; returns stdout.
    pub fn keys_cli(&self, args: &[&str]) -> String {
        let out = Command::new(mcp_testkit::bin("mcp-gateway"))
            .arg("keys")
            .arg("--dir")
            .arg(&self.keys_dir)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "keys {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn get(&self, path: &str) -> Resp {
        let r = self
            .http
            .get(format!("{}{path}", self.gateway.url()))
            .send()
            .unwrap();
        into_resp(r)
    }

    /// POSTs a raw body to /mcp with optional bearer token and extra headers.
    pub fn post_raw(&self, token: Option<&str>, body: &str, headers: &[(&str, &str)]) -> Resp {
        let mut req = self.http.post(self.mcp_url()).body(body.to_owned());
        for (name, default) in [
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
        ] {
            if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name)) {
                req = req.header(name, default);
            }
        }
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        into_resp(req.send().unwrap())
    }

    /// A JSON-RPC request with id 1.
    pub fn rpc(&self, token: &str, method: &str, params: Value) -> Resp {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        self.post_raw(Some(token), &body.to_string(), &[])
    }

    pub fn call_tool(&self, token: &str, name: &str, arguments: Value) -> Resp {
        self.rpc(
            token,
            "tools/call",
            json!({"name": name, "arguments": arguments}),
        )
    }

    /// Names of every tool `tools/list` shows the caller, following cursors.
    pub fn tool_names(&self, token: &str) -> Vec<String> {
        let mut names = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let params = match &cursor {
                Some(c) => json!({"cursor": c}),
                None => json!({}),
            };
            let r = self.rpc(token, "tools/list", params).result();
            for t in r["tools"].as_array().unwrap() {
                names.push(t["name"].as_str().unwrap().to_owned());
            }
            match r["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return names,
            }
        }
    }

    pub fn metrics(&self) -> String {
        self.get("/metrics").text
    }

    /// The audit lines written so far.
    pub fn audit(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("gateway-audit.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("audit line is not JSON ({e}): {l}"))
            })
            .collect()
    }

    pub fn audit_text(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("gateway-audit.log")).unwrap_or_default()
    }
}

/// Starts a gateway configured in `dir/<name>.yaml` (logs under `dir/logs/<name>`), sharing the
/// directory's policy, keys and session key.
fn spawn_gateway(dir: &std::path::Path, name: &str, sandbox_addr: &str, extra: &str) -> Proc {
    let port = mcp_testkit::free_port();
    let config = format!(
        "listen: 127.0.0.1:{port}\n\
         sandboxes: [{{name: sb, url: 'http://{sandbox_addr}'}}]\n\
         policy: access.yaml\n\
         keys: {{dir: keys}}\n\
         session: {{secret_file: session.key}}\n\
         audit: {{output: {name}-audit.log, arguments: hash}}\n\
         catalog: {{refresh: 1s, page_size: 3}}\n\
         server: {{threads: 2, grace_period: 0s, shutdown_timeout: 2s}}\n\
         {extra}\n"
    );
    let config_path = dir.join(format!("{name}.yaml"));
    std::fs::write(&config_path, config).unwrap();
    ProcBuilder::new(
        &mcp_testkit::bin("mcp-gateway"),
        &dir.join("logs").join(name),
    )
    .arg("serve")
    .arg("--config")
    .arg(&config_path)
    .start(Duration::from_secs(30))
}

fn into_resp(r: reqwest::blocking::Response) -> Resp {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().unwrap_or_default();
    Resp {
        status,
        headers,
        text,
    }
}

fn start_sandbox(dir: &TempDir, opts: &Options, addr: &str) -> Proc {
    let tools = mcp_testkit::tools_dir();
    let root = mcp_testkit::repo_root();
    let toolsets = dir.path().join("toolsets");
    std::fs::create_dir_all(&toolsets).unwrap();
    for name in opts.toolsets {
        std::os::unix::fs::symlink(
            root.join(format!("policies/toolsets/{name}.yaml")),
            toolsets.join(format!("{name}.yaml")),
        )
        .unwrap();
    }
    std::fs::write(
        toolsets.join("hostile.yaml"),
        format!(
            "name: hostile\ndefaults:\n  limits: {}\ncomponents:\n  - file: hostile.wasm\n",
            opts.hostile_limits
        ),
    )
    .unwrap();
    // The sandbox enforces the same policy for calls made from inside tools.
    let policy = dir.path().join("sandbox-access.yaml");
    std::fs::write(&policy, &opts.policy).unwrap();
    ProcBuilder::new(&mcp_testkit::bin("mcp-sandbox"), &dir.path().join("logs"))
        .arg("serve")
        .args(["--listen", addr])
        .arg("--toolsets")
        .arg(&toolsets)
        .arg("--modules")
        .arg(&tools)
        .arg("--policy")
        .arg(&policy)
        .arg("--workspaces")
        .arg(dir.path().join("workspaces"))
        .arg("--cache")
        .arg(root.join("target/wasm-cache"))
        .start(Duration::from_secs(180))
}

/// Restarts the sandbox of a stack on the same address.
pub fn restart_sandbox(stack: &mut Stack, opts: &Options) {
    stack.sandbox = Some(start_sandbox(&stack.dir, opts, &stack.sandbox_addr.clone()));
}
