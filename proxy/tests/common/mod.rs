//! The whole stack for end-to-end tests: a real `mcp-sandbox` serving real wasm tools, a real
//! `mcp-gateway` in front of it with its own config, key directory, policy and audit log, and a
//! blocking HTTP client. API keys are made with the gateway's own `keys` command.
#![allow(dead_code, reason = "each test crate uses only part of this module")]
#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::path::{Path, PathBuf};
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

#[derive(Clone)]
pub struct Options {
    pub policy: String,
    /// Extra top-level YAML for the gateway config (e.g. an `oidc:` block).
    pub config: String,
    /// Tool sets from policies/toolsets served besides the hostile guest.
    pub toolsets: &'static [&'static str],
    /// YAML flow mapping of the hostile guest's limits.
    pub hostile_limits: &'static str,
    /// Sandbox processes serving the same tool sets (replicas), all listed in the gateway config.
    pub sandboxes: usize,
    /// Extra environment of every gateway and sandbox process (e.g. `OTEL_*`).
    pub env: Vec<(String, String)>,
    /// Environment the hostile guest is granted (`capabilities.env`), as a YAML flow mapping.
    pub hostile_env: String,
    /// Extra entries of the gateway's `catalog:` mapping, e.g. `block_changed_definitions: true`.
    pub catalog: &'static str,
    /// Name the sandboxes `localhost:PORT` in the gateway config instead of `127.0.0.1:PORT`.
    pub sandbox_host_names: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            policy: DEFAULT_POLICY.into(),
            config: String::new(),
            toolsets: &["examples"],
            hostile_limits: "{ fuel: 100000000, timeout: 2s, memory: 32MiB }",
            sandboxes: 1,
            env: Vec::new(),
            hostile_env: "{}".into(),
            catalog: "",
            sandbox_host_names: false,
        }
    }
}

pub struct Stack {
    /// Sandbox processes, by index (`None` once stopped).
    pub sandboxes: Vec<Option<Proc>>,
    pub sandbox_addrs: Vec<String>,
    pub gateway: Proc,
    pub dir: TempDir,
    pub keys_dir: PathBuf,
    pub policy_path: PathBuf,
    opts: Options,
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
        let addrs: Vec<String> = (0..opts.sandboxes.max(1))
            .map(|_| format!("127.0.0.1:{}", mcp_testkit::free_port()))
            .collect();
        let sandboxes = addrs
            .iter()
            .enumerate()
            .map(|(i, a)| Some(start_sandbox(&dir, &opts, a, i)))
            .collect();
        Self::start_gateway(dir, opts, sandboxes, addrs)
    }

    /// A gateway whose sandbox address has nothing listening yet.
    pub fn start_without_sandbox(opts: Options) -> Self {
        let dir = TempDir::new().unwrap();
        let addrs = vec![format!("127.0.0.1:{}", mcp_testkit::free_port())];
        Self::start_gateway(dir, opts, vec![None], addrs)
    }

    fn start_gateway(
        dir: TempDir,
        opts: Options,
        sandboxes: Vec<Option<Proc>>,
        sandbox_addrs: Vec<String>,
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
        let gateway = spawn_gateway(
            dir.path(),
            "gateway",
            &sandbox_addrs,
            &gateway_extra(&opts),
            &opts.env,
            false,
            |_| {},
        );
        // The fixture's own client accepts the self-signed certificates TLS tests use; the TLS
        // test checks the certificate separately with a client that trusts only it.
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .danger_accept_invalid_certs(true)
            .build()
            .unwrap();
        let stack = Self {
            sandboxes,
            sandbox_addrs,
            gateway,
            dir,
            keys_dir,
            policy_path,
            opts,
            http,
        };
        stack.wait_healthy(&stack.gateway);
        if stack.sandboxes.iter().any(Option::is_some) {
            stack.wait_ready();
        }
        stack
    }

    /// Stops sandbox `i` with SIGKILL (a crash), returning once it is gone.
    pub fn kill_sandbox(&mut self, i: usize) {
        if let Some(mut p) = self.sandboxes[i].take() {
            p.signal(libc_sigkill());
            p.stop(Duration::from_secs(5));
        }
    }

    /// Starts sandbox `i` again on its address.
    pub fn restart_sandbox(&mut self, i: usize) {
        let p = start_sandbox(&self.dir, &self.opts, &self.sandbox_addrs[i], i);
        self.sandboxes[i] = Some(p);
    }

    /// Stops sandbox `i` and starts it again with the hostile guest granted `env` instead.
    pub fn restart_sandbox_with_hostile_env(&mut self, i: usize, env: &str) {
        self.kill_sandbox(i);
        self.opts.hostile_env = env.to_owned();
        self.restart_sandbox(i);
    }

    /// Replaces the gateway with a new process that takes over its listening socket (the
    /// zero-downtime upgrade: new process with `--upgrade`, then SIGQUIT to the old one).
    /// Returns the old process, which drains and exits on its own.
    pub fn upgrade_gateway(&mut self) -> Proc {
        let sock = self.dir.path().join("gateway.upgrade.sock");
        let old_pid = self.gateway.pid();
        let new = spawn_gateway(
            self.dir.path(),
            "gateway",
            &self.sandbox_addrs,
            &gateway_extra(&self.opts),
            &self.opts.env,
            true,
            |_| {
                mcp_testkit::wait_for(
                    "the new gateway to wait for the sockets",
                    Duration::from_secs(20),
                    || sock.exists().then_some(()),
                );
                // SAFETY: signalling a child process of this test.
                unsafe { libc::kill(old_pid as i32, libc::SIGQUIT) };
            },
        );
        std::mem::replace(&mut self.gateway, new)
    }

    /// Another gateway process on the same sandbox, keys, policy and session key (a replica),
    /// with `config` appended to its configuration.
    pub fn start_replica(&self, name: &str, config: &str) -> Proc {
        let extra = GatewayExtra {
            catalog: String::new(),
            config: config.to_owned(),
            host_names: self.opts.sandbox_host_names,
        };
        let proc = spawn_gateway(
            self.dir.path(),
            name,
            &self.sandbox_addrs,
            &extra,
            &self.opts.env,
            false,
            |_| {},
        );
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
                // With an admin listener the public /ready carries no details (no tool count).
                let tools = r.json()["tools"].as_u64();
                (r.status == 200 && tools.is_none_or(|n| n > 0)).then_some(())
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

    /// The audit lines written so far: complete lines only, since the gateway may be writing
    /// the next one while the file is read.
    pub fn audit(&self) -> Vec<Value> {
        let text = self.audit_text();
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        complete
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
/// directory's policy, keys and session key. With `upgrade`, it takes over the sockets of the
/// running gateway of that name; `after_spawn` runs before waiting for it to announce itself.
/// What a test adds to a gateway's generated configuration.
struct GatewayExtra {
    /// Entries appended inside `catalog: {...}` (each starting with ", ").
    catalog: String,
    host_names: bool,
    /// Top-level YAML appended at the end.
    config: String,
}

fn gateway_extra(opts: &Options) -> GatewayExtra {
    GatewayExtra {
        catalog: if opts.catalog.is_empty() {
            String::new()
        } else {
            format!(", {}", opts.catalog)
        },
        config: opts.config.clone(),
        host_names: opts.sandbox_host_names,
    }
}

fn spawn_gateway(
    dir: &std::path::Path,
    name: &str,
    sandbox_addrs: &[String],
    extra: &GatewayExtra,
    env: &[(String, String)],
    upgrade: bool,
    after_spawn: impl FnOnce(u32),
) -> Proc {
    let config_path = dir.join(format!("{name}.yaml"));
    sandbox_token(dir);
    if !upgrade {
        let port = mcp_testkit::free_port();
        let sandboxes: Vec<String> = sandbox_addrs
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let a = if extra.host_names {
                    a.replace("127.0.0.1", "localhost")
                } else {
                    a.clone()
                };
                format!("{{name: sb{i}, url: 'http://{a}', token_file: sandbox.token}}")
            })
            .collect();
        let config = format!(
            "listen: 127.0.0.1:{port}\n\
             sandboxes: [{}]\n\
             policy: access.yaml\n\
             keys: {{dir: keys}}\n\
             session: {{secret_file: session.key}}\n\
             audit: {{output: {name}-audit.log, arguments: hash}}\n\
             catalog: {{refresh: 1s, page_size: 3{}}}\n\
             server: {{threads: 2, grace_period: 3s, shutdown_timeout: 5s, upgrade_sock: {name}.upgrade.sock}}\n\
             {}\n",
            sandboxes.join(", "),
            extra.catalog,
            extra.config,
        );
        std::fs::write(&config_path, config).unwrap();
    }
    let logs = dir.join("logs").join(if upgrade {
        format!("{name}-upgraded")
    } else {
        name.to_owned()
    });
    let mut b = ProcBuilder::new(&mcp_testkit::bin("mcp-gateway"), &logs)
        .arg("serve")
        .arg("--config")
        .arg(&config_path);
    if upgrade {
        b = b.arg("--upgrade");
    }
    for (k, v) in env {
        b = b.env(k, v);
    }
    b.start_then(Duration::from_secs(30), after_spawn)
}

fn libc_sigkill() -> i32 {
    libc::SIGKILL
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

/// The token every test sandbox requires and every test gateway presents (written once per
/// stack directory).
pub fn sandbox_token(dir: &Path) -> PathBuf {
    let path = dir.join("sandbox.token");
    if !path.exists() {
        std::fs::write(&path, format!("{}\n", SANDBOX_TOKEN)).unwrap();
    }
    path
}

/// Random enough for a test, and recognisable when it leaks somewhere it should not.
pub const SANDBOX_TOKEN: &str = "sbtok-7c0ffee5a1b2c3d4e5f60718293a4b5c6d7e8f90";

fn start_sandbox(dir: &TempDir, opts: &Options, addr: &str, index: usize) -> Proc {
    let tools = mcp_testkit::tools_dir();
    let root = mcp_testkit::repo_root();
    let toolsets = dir.path().join("toolsets");
    std::fs::create_dir_all(&toolsets).unwrap();
    let _ = std::fs::remove_dir_all(&toolsets);
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
            "name: hostile\ndefaults:\n  limits: {}\ncomponents:\n  - file: hostile.wasm\n    capabilities: {{ env: {} }}\n",
            opts.hostile_limits, opts.hostile_env
        ),
    )
    .unwrap();
    // The sandbox enforces the same policy for calls made from inside tools.
    let policy = dir.path().join("sandbox-access.yaml");
    std::fs::write(&policy, &opts.policy).unwrap();
    let mut b = ProcBuilder::new(
        &mcp_testkit::bin("mcp-sandbox"),
        &dir.path().join("logs").join(format!("sandbox{index}")),
    )
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
    .arg("--auth-token-file")
    .arg(sandbox_token(dir.path()));
    for (k, v) in &opts.env {
        b = b.env(k, v);
    }
    // On a cold compile cache (scripts/test.sh fills it first) the examples tool set's Python
    // and TypeScript components take a debug sandbox ~3 minutes to compile (98 s + 77 s at load
    // ~6); every other sandbox waits for the same artifacts.
    b.start(Duration::from_secs(300))
}
