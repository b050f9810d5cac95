//! OIDC access tokens end to end through `Authenticator::authenticate`, against a forged identity
//! provider on loopback (`mcp_testkit::forge`) whose JWKS the authenticator has fetched: the
//! header checks, key selection, signature, the `iss`/`aud`/`exp`/`nbf` checks and the user and
//! role claims (`oidc::claims`).
//!
//! Input: a JOSE header and a claims set, as JSON separated by a zero byte, signed with the
//! provider's real key (RS256 unless the header names another RSA algorithm), so the fuzzer
//! reaches everything behind the signature. `"$ISS"` in the claims stands for the provider's
//! issuer URL, whose port changes per run. Inputs that are not two JSON values are presented
//! as a raw token instead, which can never verify.
//!
//! Invariants: an accepted token has an allowed `alg` (RS256), no `crit`, an accepted or absent
//! `typ`, exactly the configured `iss`, our audience in `aud`, an `exp` in the future (within
//! the leeway) and no `nbf` beyond it; the principal's user is one of the claims' strings and
//! each role is a role claim's value. Rejections satisfy `keys::check_rejection`.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mcp_gateway_auth::{Authenticator, OidcConfig};
use mcp_testkit::forge::{self, AUDIENCE, Forge};
use serde_json::Value;

const LEEWAY: u64 = 30;

struct Fixture {
    idp: Forge,
    auth: Authenticator,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let idp = Forge::start();
        let mut oidc = OidcConfig::new(idp.issuer(), AUDIENCE);
        oidc.jwks_uri = Some(idp.jwks_uri());
        // Unknown kids must not refetch on every input.
        oidc.refresh_min_interval = mcp_contract::units::Span::from_secs(86_400);
        let auth = Authenticator::new(Some(oidc), None).expect("a valid OIDC configuration");
        let keys = mcp_fuzz::runtime()
            .block_on(auth.refresh_keys())
            .expect("the forged provider serves its JWKS");
        assert_eq!(keys, 1);
        let good = idp.token("alice", &["mcp-user"]);
        let p = mcp_fuzz::runtime()
            .block_on(auth.authenticate(Some(&format!("Bearer {good}"))))
            .expect("a genuine token verifies");
        assert_eq!(&*p.user, "alice");
        Fixture { idp, auth }
    })
}

fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

fn check_accepted(f: &Fixture, header: &Value, claims: &Value, user: &str, roles: &[String]) {
    assert_eq!(header["alg"], "RS256", "accepted alg {}", header["alg"]);
    assert!(header.get("crit").is_none(), "accepted a crit header");
    if let Some(typ) = header.get("typ") {
        let t = typ
            .as_str()
            .expect("typ is a string")
            .trim()
            .to_ascii_lowercase();
        let t = t.strip_prefix("application/").unwrap_or(&t);
        assert!(t == "at+jwt" || t == "jwt", "accepted typ {typ}");
    }
    assert_eq!(
        claims["iss"],
        f.idp.issuer(),
        "accepted iss {}",
        claims["iss"]
    );
    let aud_ok = match &claims["aud"] {
        Value::String(a) => a == AUDIENCE,
        Value::Array(a) => a.iter().any(|x| x == AUDIENCE),
        _ => false,
    };
    assert!(aud_ok, "accepted aud {}", claims["aud"]);
    let now = forge::now();
    let exp = claims["exp"]
        .as_f64()
        .expect("accepted a token without a numeric exp");
    assert!(
        exp + LEEWAY as f64 >= now as f64,
        "accepted exp {exp} at {now}"
    );
    if let Some(nbf) = claims.get("nbf") {
        let nbf = nbf.as_f64().expect("accepted a non-numeric nbf");
        assert!(
            nbf <= (now + LEEWAY + 1) as f64,
            "accepted nbf {nbf} at {now}"
        );
    }
    let mut all = Vec::new();
    strings(claims, &mut all);
    assert!(!user.is_empty(), "accepted an empty user");
    assert!(
        all.iter().any(|s| s == user),
        "user {user:?} is in no claim"
    );
    for role in roles {
        assert!(
            all.iter()
                .any(|s| s == role || s.split(' ').any(|w| w == role)),
            "role {role:?} is in no claim"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let [header, claims] = mcp_fuzz::fields::<2>(data);
    let parsed = serde_json::from_slice::<Value>(header).ok().zip(
        std::str::from_utf8(claims)
            .ok()
            .and_then(|c| serde_json::from_str::<Value>(&c.replace("$ISS", f.idp.issuer())).ok()),
    );
    let Some((header, claims)) = parsed else {
        let Ok(token) = std::str::from_utf8(data) else {
            return;
        };
        let r = mcp_fuzz::runtime().block_on(f.auth.authenticate(Some(&format!("Bearer {token}"))));
        match r {
            Ok(p) => panic!("an unsigned token authenticated as {}", p.user),
            Err(e) => mcp_fuzz::keys::check_rejection(&e, token),
        }
        return;
    };
    let token = f.idp.signing_key().sign_raw(&header, &claims);
    let r = mcp_fuzz::runtime().block_on(f.auth.authenticate(Some(&format!("Bearer {token}"))));
    match r {
        Ok(p) => {
            let roles: Vec<String> = p.roles.iter().map(|r| r.as_str().to_owned()).collect();
            check_accepted(f, &header, &claims, &p.user, &roles);
        }
        Err(e) => mcp_fuzz::keys::check_rejection(&e, &token),
    }
});
