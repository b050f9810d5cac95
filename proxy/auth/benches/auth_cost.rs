//! What `Authenticator::authenticate` costs per request, by credential kind: an API key, an
//! RS256 access token seen for the first time (signature verified), and the same token again
//! (served from the verification cache). Run with
//! `cargo bench -p mcp-gateway-auth --bench auth_cost`; prints mean and p50/p99 per call.

use std::time::{Duration, Instant};

use mcp_gateway_auth::keys_cli::{self, Expiry, KeysArgs, KeysCommand};
use mcp_gateway_auth::{Authenticator, KeyStore, OidcConfig};
use mcp_testkit::forge::{self, AUDIENCE, Forge};

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let total: Duration = samples.iter().sum();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    println!(
        "{name:<28} n={:<7} mean={:>9.2?} p50={:>9.2?} p99={:>9.2?}",
        samples.len(),
        total / samples.len() as u32,
        at(0.5),
        at(0.99)
    );
}

async fn time_each<'a>(
    auth: &Authenticator,
    headers: impl IntoIterator<Item = &'a String>,
) -> Vec<Duration> {
    let mut samples = Vec::new();
    for h in headers {
        let start = Instant::now();
        let r = auth.authenticate(Some(h)).await;
        samples.push(start.elapsed());
        assert!(r.is_ok(), "{r:?}");
    }
    samples
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut out = Vec::new();
        keys_cli::run(
            KeysArgs {
                dir: Some(dir.path().to_owned()),
                command: KeysCommand::Create {
                    user: "bench".into(),
                    roles: vec!["mcp-user".into()],
                    expires: Expiry::Never,
                    description: None,
                    json: true,
                },
            },
            &mut out,
            &mut Vec::new(),
        )
        .expect("create key");
        let created: serde_json::Value = serde_json::from_slice(&out).expect("json");
        let key_header = format!("Bearer {}", created["key"].as_str().expect("key"));

        let idp = Forge::start();
        let keys = KeyStore::open(dir.path()).expect("key store");
        let auth = Authenticator::new(Some(OidcConfig::new(idp.issuer(), AUDIENCE)), Some(keys))
            .expect("authenticator");
        auth.refresh_keys().await.expect("jwks");

        let key_headers = vec![key_header; 100_000];
        time_each(&auth, &key_headers[..1000]).await;
        report("api key", time_each(&auth, &key_headers).await);

        let fresh: Vec<String> = (0..2000)
            .map(|i| {
                let claims = forge::with(idp.claims("alice", &["mcp-user"]), "jti", i);
                format!("Bearer {}", idp.sign(&claims))
            })
            .collect();
        report("jwt RS256, first use", time_each(&auth, &fresh).await);

        let cached = vec![fresh[0].clone(); 100_000];
        report("jwt RS256, cached", time_each(&auth, &cached).await);
    });
}
