//! `mcp-gateway smoke URL`: a live end-to-end check of a running gateway, for upgrades,
//! maintenance windows and disaster-recovery drills (it replaces the operations guide's
//! `test-mcp-endpoints.sh` and `test-api-keys.sh`).
//!
//! It checks, in order: `/health` (and the version it reports), `/ready`; then for every
//! credential given (an OIDC access token, an API key, or both) an MCP `initialize`,
//! `tools/list` and one `tools/call`; and that a request without credentials and one with a
//! forged key and a forged token are refused with 401. One line per check, PASS or FAIL, and
//! the command exits non-zero when any check fails. It only reads: the tool it calls should be
//! side-effect free (by default the first listed tool whose arguments are all optional).

use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// What to check and with which credentials.
#[derive(Debug, Clone)]
pub struct SmokeOptions {
    /// The gateway's base URL (`https://mcp.example.com`); a trailing `/mcp` is accepted.
    pub url: String,
    /// An OIDC access token.
    pub token: Option<String>,
    /// An API key (`mcpk_...`).
    pub api_key: Option<String>,
    /// The tool to call; default: the first listed tool with no required arguments.
    pub tool: Option<String>,
    /// Its arguments (a JSON object).
    pub arguments: Value,
    /// Accept any TLS certificate (like `curl -k`), e.g. a Route with the cluster's own CA.
    pub insecure: bool,
    /// Longest wait for each request.
    pub timeout: Duration,
}

/// One check's outcome.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
    pub millis: u64,
}

/// Every check, in the order run.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report {
    pub url: String,
    pub version: Option<String>,
    pub checks: Vec<Check>,
}

impl Report {
    pub fn passed(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.ok)
    }

    fn record(
        &mut self,
        name: impl Into<String>,
        started: Instant,
        result: Result<String, String>,
    ) {
        let (ok, detail) = match result {
            Ok(d) => (true, d),
            Err(d) => (false, d),
        };
        self.checks.push(Check {
            name: name.into(),
            ok,
            detail,
            millis: started.elapsed().as_millis() as u64,
        });
    }

    /// The short human report: one line per check and a verdict.
    pub fn render(&self, out: &mut impl Write) -> std::io::Result<()> {
        writeln!(
            out,
            "smoke test of {}{}",
            self.url,
            self.version
                .as_ref()
                .map_or(String::new(), |v| format!(" (mcp-gateway {v})"))
        )?;
        for c in &self.checks {
            let tag = if c.ok { "PASS" } else { "FAIL" };
            writeln!(out, "{tag}  {:<28} {} ({} ms)", c.name, c.detail, c.millis)?;
        }
        let failed = self.checks.iter().filter(|c| !c.ok).count();
        if failed == 0 {
            writeln!(out, "OK: {} checks passed", self.checks.len())
        } else {
            writeln!(out, "FAILED: {failed} of {} checks", self.checks.len())
        }
    }
}

/// An HTTP answer, body parsed as JSON when it is JSON (or one SSE `data:` event of JSON).
struct Answer {
    status: u16,
    session: Option<String>,
    body: Value,
    text: String,
}

struct Client {
    http: reqwest::blocking::Client,
    base: String,
}

impl Client {
    fn get(&self, path: &str) -> Result<Answer, String> {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .map_err(|e| format!("GET {path}: {}", error_chain(&e)))?;
        answer(r)
    }

    fn post(
        &self,
        credential: Option<&str>,
        session: Option<(&str, &str)>,
        body: &Value,
    ) -> Result<Answer, String> {
        let mut req = self
            .http
            .post(format!("{}/mcp", self.base))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body.to_string());
        if let Some(c) = credential {
            req = req.header("authorization", format!("Bearer {c}"));
        }
        if let Some((id, version)) = session {
            req = req
                .header("mcp-session-id", id)
                .header("mcp-protocol-version", version);
        }
        let r = req
            .send()
            .map_err(|e| format!("POST /mcp: {}", error_chain(&e)))?;
        answer(r)
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

fn answer(r: reqwest::blocking::Response) -> Result<Answer, String> {
    let status = r.status().as_u16();
    let session = r
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = r.text().map_err(|e| format!("reading the answer: {e}"))?;
    let body = serde_json::from_str(&text).unwrap_or_else(|_| {
        // A Streamable HTTP answer may be an event stream: take its last JSON data event.
        text.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str(d.trim()).ok())
            .next_back()
            .unwrap_or(Value::Null)
    });
    Ok(Answer {
        status,
        session,
        body,
        text,
    })
}

fn rpc(id: u64, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

/// The JSON-RPC result of an answer, or why there is none.
fn result_of(a: &Answer, what: &str) -> Result<Value, String> {
    if a.status != 200 {
        return Err(format!("{what}: HTTP {} {}", a.status, snippet(&a.text)));
    }
    if let Some(e) = a.body.get("error") {
        return Err(format!("{what}: JSON-RPC error {e}"));
    }
    a.body
        .get("result")
        .cloned()
        .ok_or_else(|| format!("{what}: no result in {}", snippet(&a.text)))
}

fn snippet(s: &str) -> String {
    let s = s.trim();
    if s.chars().count() > 160 {
        format!("{}...", s.chars().take(160).collect::<String>())
    } else {
        s.to_owned()
    }
}

/// Runs every check; never fails itself (a check that cannot run is a FAIL line).
pub fn run(opts: &SmokeOptions) -> Report {
    let base = opts
        .url
        .trim_end_matches('/')
        .trim_end_matches("/mcp")
        .to_owned();
    let mut report = Report {
        url: base.clone(),
        ..Report::default()
    };
    let http = match reqwest::blocking::Client::builder()
        .timeout(opts.timeout)
        .danger_accept_invalid_certs(opts.insecure)
        .build()
    {
        Ok(h) => h,
        Err(e) => {
            report.record("client", Instant::now(), Err(e.to_string()));
            return report;
        }
    };
    let client = Client { http, base };

    let t = Instant::now();
    let health = client.get("/health").and_then(|a| {
        if a.status == 200 && a.body["status"] == "healthy" {
            report.version = a.body["version"].as_str().map(str::to_owned);
            Ok(format!("healthy, version {}", a.body["version"]))
        } else {
            Err(format!("HTTP {} {}", a.status, snippet(&a.text)))
        }
    });
    report.record("health", t, health);

    let t = Instant::now();
    let ready = client.get("/ready").and_then(|a| {
        if a.status == 200 {
            Ok(format!("ready, {} tools", a.body["tools"]))
        } else {
            Err(format!("HTTP {} {}", a.status, snippet(&a.text)))
        }
    });
    report.record("ready", t, ready);

    let mut credentials = Vec::new();
    if let Some(t) = &opts.token {
        credentials.push(("token", t.as_str()));
    }
    if let Some(k) = &opts.api_key {
        credentials.push(("api key", k.as_str()));
    }
    if credentials.is_empty() {
        report.record(
            "credentials",
            Instant::now(),
            Err("give --token and/or --api-key: the MCP checks need a caller".into()),
        );
    }
    for (kind, credential) in credentials {
        session_checks(&client, opts, kind, credential, &mut report);
    }

    // Refusals: the gateway must answer 401 (not 200, not 5xx) to missing and forged credentials.
    let ping = rpc(1, "ping", json!({}));
    let forged_jwt = "eyJhbGciOiJSUzI1NiIsInR5cCI6ImF0K2p3dCIsImtpZCI6InNtb2tlIn0.\
                      eyJzdWIiOiJzbW9rZSIsImV4cCI6NDEwMjQ0NDgwMH0.c21va2U";
    for (name, credential) in [
        ("refuses no credentials", None),
        (
            "refuses a forged API key",
            Some("mcpk_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        ),
        ("refuses a forged token", Some(forged_jwt)),
    ] {
        let t = Instant::now();
        let r = client.post(credential, None, &ping).and_then(|a| {
            if a.status == 401 {
                Ok("401".to_owned())
            } else {
                Err(format!(
                    "expected 401, got HTTP {} {}",
                    a.status,
                    snippet(&a.text)
                ))
            }
        });
        report.record(name, t, r);
    }
    report
}

/// initialize, tools/list and one tools/call as one caller.
fn session_checks(
    client: &Client,
    opts: &SmokeOptions,
    kind: &str,
    credential: &str,
    report: &mut Report,
) {
    let t = Instant::now();
    let init = client.post(
        Some(credential),
        None,
        &rpc(
            1,
            "initialize",
            json!({
                "protocolVersion": crate::mcp::version::latest(),
                "capabilities": {},
                "clientInfo": {"name": "mcp-gateway-smoke", "version": env!("CARGO_PKG_VERSION")},
            }),
        ),
    );
    let session = match init.and_then(|a| {
        let result = result_of(&a, "initialize")?;
        let version = result["protocolVersion"]
            .as_str()
            .ok_or("initialize: no protocolVersion in the result")?
            .to_owned();
        Ok((a.session, version))
    }) {
        Ok((session, version)) => {
            let detail = format!(
                "protocol {version}{}",
                if session.is_some() {
                    ", session issued"
                } else {
                    ""
                }
            );
            report.record(format!("{kind}: initialize"), t, Ok(detail));
            (session, version)
        }
        Err(e) => {
            report.record(format!("{kind}: initialize"), t, Err(e));
            return;
        }
    };
    let (sid, version) = session;
    let headers = sid.as_deref().map(|s| (s, version.as_str()));
    // The client's half of the handshake; a notification has no answer worth checking.
    let _ = client.post(
        Some(credential),
        headers,
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    );

    let t = Instant::now();
    let listed = client
        .post(Some(credential), headers, &rpc(2, "tools/list", json!({})))
        .and_then(|a| result_of(&a, "tools/list"));
    let tools = match listed {
        Ok(r) => {
            let tools = r["tools"].as_array().cloned().unwrap_or_default();
            if tools.is_empty() {
                report.record(
                    format!("{kind}: tools/list"),
                    t,
                    Err("no tools listed for this caller (roles? sandboxes?)".into()),
                );
                return;
            }
            report.record(
                format!("{kind}: tools/list"),
                t,
                Ok(format!("{} tools", tools.len())),
            );
            tools
        }
        Err(e) => {
            report.record(format!("{kind}: tools/list"), t, Err(e));
            return;
        }
    };

    let t = Instant::now();
    let tool = opts.tool.clone().or_else(|| {
        tools
            .iter()
            .find(|t| {
                t["inputSchema"]["required"]
                    .as_array()
                    .is_none_or(|r| r.is_empty())
            })
            .and_then(|t| t["name"].as_str())
            .map(str::to_owned)
    });
    let Some(tool) = tool else {
        report.record(
            format!("{kind}: tools/call"),
            t,
            Err("no listed tool can be called without arguments: name one with --tool".into()),
        );
        return;
    };
    let called = client
        .post(
            Some(credential),
            headers,
            &rpc(
                3,
                "tools/call",
                json!({"name": tool, "arguments": opts.arguments}),
            ),
        )
        .and_then(|a| result_of(&a, "tools/call"))
        .and_then(|r| {
            if r["isError"] == json!(true) {
                Err(format!(
                    "{tool} answered isError: {}",
                    snippet(&r["content"].to_string())
                ))
            } else {
                Ok(format!("{tool} ran"))
            }
        });
    report.record(format!("{kind}: tools/call"), t, called);
}

/// `mcp-gateway smoke URL [--token T] [--api-key K] ...`.
#[derive(Debug, clap::Args)]
pub struct SmokeArgs {
    /// The gateway's URL, e.g. https://$(oc get route mcp-gateway -o jsonpath='{.spec.host}')
    pub url: String,
    /// An OIDC access token to check (or MCP_SMOKE_TOKEN)
    #[arg(long, env = "MCP_SMOKE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// An API key to check (or MCP_SMOKE_API_KEY)
    #[arg(long, env = "MCP_SMOKE_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// The tool to call (default: the first listed tool with no required arguments)
    #[arg(long)]
    pub tool: Option<String>,
    /// The tool's arguments, a JSON object
    #[arg(long, default_value = "{}", value_name = "JSON")]
    pub arguments: String,
    /// Accept any TLS certificate (like curl -k)
    #[arg(long, short = 'k')]
    pub insecure: bool,
    /// Longest wait for each request
    #[arg(long, default_value = "30s")]
    pub timeout: mcp_contract::units::Span,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
}

/// The command: runs the checks, prints the report, and turns it into the exit status
/// (0 all passed, 1 a check failed, 2 bad arguments).
pub fn main(args: SmokeArgs) -> std::process::ExitCode {
    let arguments: Value = match serde_json::from_str(&args.arguments) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            eprintln!(
                "mcp-gateway smoke: --arguments must be a JSON object, e.g. '{{\"text\": \"hi\"}}'"
            );
            return std::process::ExitCode::from(2);
        }
    };
    let report = run(&SmokeOptions {
        url: args.url,
        token: args.token,
        api_key: args.api_key,
        tool: args.tool,
        arguments,
        insecure: args.insecure,
        timeout: args.timeout.get(),
    });
    let mut out = std::io::stdout().lock();
    let written = if args.json {
        serde_json::to_writer_pretty(&mut out, &report)
            .map_err(std::io::Error::other)
            .and_then(|()| writeln!(out))
    } else {
        report.render(&mut out)
    };
    if written.is_err() || !report.passed() {
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}
