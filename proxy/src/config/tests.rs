//! Tests of loading and validating the gateway configuration.
use super::*;

fn write(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("gateway.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

const MINIMAL: &str = "listen: 127.0.0.1:8080\nsandboxes: [{name: local, url: 'http://127.0.0.1:7070'}]\npolicy: access.yaml\nkeys: {dir: keys}\n";

#[test]
fn minimal_config_loads_with_defaults_and_resolved_paths() {
    let dir = mcp_testkit::TempDir::new().unwrap();
    let c = Config::load(&write(dir.path(), MINIMAL), []).unwrap();
    assert_eq!(c.listen.port(), 8080);
    assert_eq!(c.policy, dir.path().join("access.yaml"));
    assert_eq!(c.keys.unwrap().dir, dir.path().join("keys"));
    assert_eq!(c.upstream.request_timeout, Span::from_secs(60));
    assert_eq!(c.upstream.execute_timeout, Span::from_secs(30));
    assert_eq!(c.upstream.connect_timeout, Span::from_secs(5));
    assert_eq!(c.limits.max_body, ByteSize::mib(16));
}

#[test]
fn sandbox_urls_take_addresses_host_names_and_sockets() {
    let ok = |s: &str| s.parse::<SandboxUrl>().unwrap();
    assert_eq!(
        ok("http://127.0.0.1:7070"),
        SandboxUrl::Tcp("127.0.0.1:7070".parse().unwrap())
    );
    assert_eq!(
        ok("http://mcp-sandbox.mcp.svc:7070"),
        SandboxUrl::Host {
            host: "mcp-sandbox.mcp.svc".into(),
            port: 7070
        }
    );
    assert_eq!(
        ok("unix:/run/s.sock"),
        SandboxUrl::Unix("/run/s.sock".into())
    );
    for bad in [
        "http://host",
        "http://:80",
        "http://a b:80",
        "http://h:0",
        "http://h:99999",
    ] {
        assert!(bad.parse::<SandboxUrl>().is_err(), "{bad}");
    }
}

#[test]
fn environment_overrides_fields_by_path() {
    let dir = mcp_testkit::TempDir::new().unwrap();
    let env = [
        ("MCP_GATEWAY__LISTEN".to_owned(), "0.0.0.0:9443".to_owned()),
        (
            "MCP_GATEWAY__SANDBOXES__0__URL".to_owned(),
            "unix:/run/s.sock".to_owned(),
        ),
        (
            "MCP_GATEWAY__UPSTREAM__POOL_SIZE".to_owned(),
            "7".to_owned(),
        ),
        ("UNRELATED".to_owned(), "x".to_owned()),
    ];
    let c = Config::load(&write(dir.path(), MINIMAL), env).unwrap();
    assert_eq!(c.listen.port(), 9443);
    assert_eq!(c.sandboxes[0].url, SandboxUrl::Unix("/run/s.sock".into()));
    assert_eq!(c.upstream.pool_size, 7);
}

#[test]
fn errors_name_the_file_and_field() {
    let dir = mcp_testkit::TempDir::new().unwrap();
    let cases = [
        (MINIMAL.replace("8080", "eighty"), "listen"),
        (
            MINIMAL.replace("http://127.0.0.1:7070", "ftp://x"),
            "sandboxes[0].url",
        ),
        (
            format!("{MINIMAL}upstream: {{request_timeout: 10}}\n"),
            "upstream.request_timeout",
        ),
        (format!("{MINIMAL}lisen: x\n"), "unknown field `lisen`"),
        (
            format!("{MINIMAL}admin_listen: 0.0.0.0:8080\n"),
            "admin_listen: 0.0.0.0:8080 must use another port",
        ),
        (
            MINIMAL.replace("keys: {dir: keys}\n", ""),
            "no authentication configured",
        ),
        (
            format!("{MINIMAL}upstream: {{execute_timeout: 90s}}\n"),
            "must be shorter than upstream.request_timeout",
        ),
        (
            format!("{MINIMAL}allowed_origins: ['https://a.example/']\n"),
            "allowed_origins[0]",
        ),
    ];
    for (text, want) in cases {
        let e = Config::load(&write(dir.path(), &text), [])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("gateway.yaml") && e.contains(want),
            "want {want:?} in: {e}"
        );
    }
}
