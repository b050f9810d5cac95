//! Access-token verification against a forged identity provider (`mcp_testkit::forge`): real
//! RS256 keys, a real JWKS over HTTP on loopback, and every attack we defend against.

use std::sync::Arc;
use std::time::Duration;

use mcp_contract::units::Span;
use mcp_gateway_auth::{
    Algorithm, AuthError, AuthMethod, Authenticator, Credential, OidcConfig, Principal,
};
use mcp_testkit::forge::{self, AUDIENCE, Forge};
use serde_json::json;

fn config(idp: &Forge) -> OidcConfig {
    OidcConfig::new(idp.issuer(), AUDIENCE)
}

fn authenticator(config: OidcConfig) -> Authenticator {
    Authenticator::new(Some(config), None).expect("valid config")
}

async fn check(auth: &Authenticator, token: &str) -> Result<Principal, AuthError> {
    auth.authenticate(Some(&format!("Bearer {token}"))).await
}

/// Retries until the token verifies, for changes that wait on `refresh_min_interval`.
async fn eventually_ok(auth: &Authenticator, token: &str) -> Principal {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match check(auth, token).await {
            Ok(p) => return p,
            Err(e) if tokio::time::Instant::now() > deadline => panic!("still failing: {e:?}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

#[tokio::test]
async fn a_valid_token_verifies_to_its_user_and_roles() {
    let idp = Forge::start();
    let auth = authenticator(config(&idp));
    assert_eq!(auth.refresh_keys().await.map_err(|e| e.to_string()), Ok(1));
    let claims = idp.claims("alice", &["mcp-user", "mcp-admin"]);
    let p = check(&auth, &idp.sign(&claims)).await.unwrap();
    assert_eq!(&*p.user, "alice");
    assert_eq!(&*p.roles, ["mcp-user", "mcp-admin"]);
    assert_eq!(p.method, AuthMethod::Jwt);
    let exp = claims["exp"].as_u64().unwrap();
    assert_eq!(
        p.expires_at,
        Some(std::time::UNIX_EPOCH + Duration::from_secs(exp))
    );
    let state = auth.jwks_state();
    assert!(state.is_ready() && !state.is_failing());
    assert_eq!(state.jwks_uri.as_deref(), Some(idp.jwks_uri().as_str()));
    assert_eq!((idp.discovery_hits(), idp.jwks_hits()), (1, 1));
}

#[tokio::test]
async fn expired_and_not_yet_valid_tokens_are_rejected_beyond_the_leeway() {
    let idp = Forge::start();
    let auth = authenticator(config(&idp));
    let now = forge::now();
    let base = idp.claims("alice", &[]);
    let expired = idp.sign(&forge::with(base.clone(), "exp", now - 120));
    let e = check(&auth, &expired).await.unwrap_err();
    assert_eq!(e, AuthError::Expired(Credential::Token));
    assert_eq!(e.reason(), "expired");
    let within_leeway = idp.sign(&forge::with(base.clone(), "exp", now - 10));
    assert!(check(&auth, &within_leeway).await.is_ok(), "30s leeway");
    let future = idp.sign(&forge::with(base.clone(), "nbf", now + 300));
    let e = check(&auth, &future).await.unwrap_err();
    assert_eq!(e, AuthError::NotYetValid);
    assert_eq!(e.reason(), "expired");
    let no_exp = idp.sign(&forge::with(base, "exp", serde_json::Value::Null));
    assert_eq!(
        check(&auth, &no_exp).await.unwrap_err().reason(),
        "malformed"
    );
}

#[tokio::test]
async fn wrong_issuer_and_audience_are_rejected() {
    let idp = Forge::start();
    let auth = authenticator(config(&idp));
    let base = idp.claims("alice", &[]);
    let cases = [
        (
            forge::with(base.clone(), "iss", "http://evil.example"),
            AuthError::WrongIssuer,
        ),
        (
            forge::with(base.clone(), "iss", format!("{}/", idp.issuer())),
            AuthError::WrongIssuer,
        ),
        (
            forge::with(base.clone(), "iss", serde_json::Value::Null),
            AuthError::WrongIssuer,
        ),
        (
            forge::with(base.clone(), "aud", "other-api"),
            AuthError::WrongAudience,
        ),
        (
            forge::with(base.clone(), "aud", json!(["a", "b"])),
            AuthError::WrongAudience,
        ),
        (
            forge::with(base.clone(), "aud", serde_json::Value::Null),
            AuthError::WrongAudience,
        ),
    ];
    for (claims, want) in cases {
        let got = check(&auth, &idp.sign(&claims)).await.unwrap_err();
        assert_eq!(got, want, "{claims}");
    }
    let multi = forge::with(base, "aud", json!(["account", AUDIENCE]));
    assert!(
        check(&auth, &idp.sign(&multi)).await.is_ok(),
        "aud array containing ours"
    );
}

#[tokio::test]
async fn alg_none_and_hs256_with_the_public_key_are_refused_before_any_key_is_fetched() {
    let idp = Forge::start();
    let auth = authenticator(config(&idp));
    let claims = idp.claims("mallory", &["mcp-admin"]);
    let none = forge::unsigned(&claims);
    let e = check(&auth, &none).await.unwrap_err();
    assert_eq!(e, AuthError::DisallowedAlgorithm("\"none\"".into()));
    assert_eq!(e.reason(), "bad_signature");

    let key = idp.signing_key();
    let confused = forge::hs256(&claims, key.kid(), key.public_key_pem().as_bytes());
    let e = check(&auth, &confused).await.unwrap_err();
    assert_eq!(e, AuthError::DisallowedAlgorithm("\"HS256\"".into()));
    assert_eq!(
        idp.jwks_hits() + idp.discovery_hits(),
        0,
        "keys were never touched"
    );
}

#[tokio::test]
async fn algorithms_outside_the_allow_list_or_the_keys_own_alg_are_refused() {
    let idp = Forge::start();
    let key = idp.signing_key();
    let claims = idp.claims("alice", &[]);
    let rs384 = key.sign_raw(
        &json!({"alg": "RS384", "kid": key.kid(), "typ": "at+jwt"}),
        &claims,
    );
    let auth = authenticator(config(&idp));
    let e = check(&auth, &rs384).await.unwrap_err();
    assert_eq!(e, AuthError::DisallowedAlgorithm("\"RS384\"".into()));

    // RS384 allowed, but the JWK says `alg: RS256`: the key is pinned to RS256.
    let mut c = config(&idp);
    c.algorithms = vec![Algorithm::RS256, Algorithm::RS384];
    let auth = authenticator(c);
    let e = check(&auth, &rs384).await.unwrap_err();
    assert_eq!(e, AuthError::BadSignature(Credential::Token));
}

#[tokio::test]
async fn tampered_payloads_fail_the_signature_check() {
    let idp = Forge::start();
    let auth = authenticator(config(&idp));
    let token = idp.token("alice", &["mcp-user"]);
    assert!(check(&auth, &token).await.is_ok());
    let tampered = forge::tamper(&token, |c| {
        c["realm_access"]["roles"] = json!(["mcp-admin"])
    });
    let e = check(&auth, &tampered).await.unwrap_err();
    assert_eq!(e, AuthError::BadSignature(Credential::Token));
    assert_eq!(e.reason(), "bad_signature");
    let truncated = &token[..token.len() - 4];
    assert!(check(&auth, truncated).await.is_err());
}

#[tokio::test]
async fn a_token_without_a_user_claim_is_malformed_with_a_clear_message() {
    let idp = Forge::start();
    let auth = authenticator(config(&idp));
    let claims = forge::with(
        forge::with(
            idp.claims("alice", &[]),
            "preferred_username",
            serde_json::Value::Null,
        ),
        "sub",
        serde_json::Value::Null,
    );
    let e = check(&auth, &idp.sign(&claims)).await.unwrap_err();
    assert_eq!(e.reason(), "malformed");
    assert!(e.to_string().contains("preferred_username, sub"), "{e}");
}

#[tokio::test]
async fn token_types_other_than_access_tokens_are_refused() {
    let idp = Forge::start();
    let auth = authenticator(config(&idp));
    let key = idp.signing_key();
    let claims = idp.claims("alice", &[]);
    let sign = |typ: serde_json::Value| {
        let mut header = json!({"alg": "RS256", "kid": key.kid()});
        if !typ.is_null() {
            header["typ"] = typ;
        }
        key.sign_raw(&header, &claims)
    };
    for ok in [
        json!("at+jwt"),
        json!("application/at+jwt"),
        json!("JWT"),
        serde_json::Value::Null,
    ] {
        assert!(check(&auth, &sign(ok.clone())).await.is_ok(), "{ok}");
    }
    let e = check(&auth, &sign(json!("dpop+jwt"))).await.unwrap_err();
    assert_eq!(e.reason(), "malformed");
    assert!(e.to_string().contains("\"dpop+jwt\""), "{e}");
}

#[tokio::test]
async fn an_unknown_kid_triggers_one_rate_limited_coalesced_refetch() {
    let idp = Forge::start();
    let auth = Arc::new(authenticator(config(&idp)));
    let stranger = idp.new_key();
    let token = stranger.sign(&idp.claims("mallory", &[]));

    // 20 concurrent requests with an unknown kid, no keys loaded yet: one fetch serves them all.
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (auth, token) = (Arc::clone(&auth), token.clone());
            tokio::spawn(async move { check(&auth, &token).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(
            t.await.unwrap().unwrap_err(),
            AuthError::UnknownKey(Credential::Token)
        );
    }
    assert_eq!(idp.jwks_hits(), 1);
    // More unknown kids within refresh_min_interval (30s): no more fetches.
    for _ in 0..10 {
        let other = forge::tamper(&token, |c| c["jti"] = json!(forge::now()));
        assert!(check(&auth, &other).await.is_err());
    }
    assert_eq!(idp.jwks_hits(), 1);
    assert!(
        check(&auth, &idp.token("alice", &[])).await.is_ok(),
        "known keys still work"
    );
}

#[tokio::test]
async fn a_key_rotation_at_the_provider_is_picked_up_by_the_refetch() {
    let idp = Forge::start();
    let mut c = config(&idp);
    c.refresh_min_interval = Span::from_millis(100);
    let auth = authenticator(c);
    assert!(check(&auth, &idp.token("alice", &[])).await.is_ok());
    let new_key = idp.rotate_key();
    let token = idp.token("alice", &["mcp-user"]);
    assert!(token.contains('.') && idp.signing_key().kid() == new_key.kid());
    let p = eventually_ok(&auth, &token).await;
    assert_eq!(&*p.user, "alice");
    assert_eq!(auth.jwks_state().keys, 2);
}

#[tokio::test]
async fn when_the_jwks_is_down_cached_keys_work_and_new_kids_fail_clearly_until_it_returns() {
    let idp = Forge::start();
    let mut c = config(&idp);
    c.refresh_min_interval = Span::from_millis(100);
    let auth = authenticator(c);
    auth.refresh_keys().await.unwrap();
    idp.stop_serving();

    // A token never seen before, signed by the cached key: fine.
    let fresh = idp.sign(&forge::with(idp.claims("alice", &[]), "jti", "first"));
    assert!(check(&auth, &fresh).await.is_ok());
    assert!(auth.refresh_keys().await.is_err());

    // The provider rotated while unreachable: the new kid cannot be verified, and says why.
    let rotated = idp.rotate_key();
    let token = rotated.sign(&idp.claims("alice", &[]));
    let e = check(&auth, &token).await.unwrap_err();
    assert!(matches!(e, AuthError::KeysUnavailable(_)), "{e:?}");
    assert!(e.is_transient());
    assert_eq!(e.reason(), "unknown_key");
    assert!(e.to_string().contains("retry later"), "{e}");
    let state = auth.jwks_state();
    assert_eq!(state.keys, 1, "cached keys are kept");
    assert!(state.is_failing(), "{state:?}");
    // The error names the URL that failed: the JWKS, or the discovery document when the
    // refresh starts by rediscovering it.
    let last_error = state.last_error.as_deref().unwrap_or("");
    assert!(
        last_error.contains("/jwks") || last_error.contains("/.well-known/openid-configuration"),
        "{state:?}"
    );

    idp.resume_serving();
    assert!(eventually_ok(&auth, &token).await.user.as_ref() == "alice");
    let state = auth.jwks_state();
    assert!(!state.is_failing() && state.keys == 2, "{state:?}");
}

#[tokio::test]
async fn tokens_verified_with_a_key_the_provider_withdrew_are_no_longer_accepted() {
    let idp = Forge::start();
    let auth = authenticator(config(&idp));
    let old = idp.signing_key();
    let token = idp.token("alice", &[]);
    assert!(check(&auth, &token).await.is_ok());
    assert!(check(&auth, &token).await.is_ok(), "served from the cache");
    idp.rotate_key();
    idp.unpublish(old.kid());
    assert_eq!(auth.refresh_keys().await.map_err(|e| e.to_string()), Ok(1));
    let e = check(&auth, &token).await.unwrap_err();
    assert_eq!(e, AuthError::UnknownKey(Credential::Token));
}

#[tokio::test]
async fn a_token_without_kid_uses_the_only_key_but_not_one_of_several() {
    let idp = Forge::start();
    let mut c = config(&idp);
    c.refresh_min_interval = Span::from_millis(100);
    let auth = authenticator(c);
    let key = idp.signing_key();
    let no_kid = key.sign_raw(
        &json!({"alg": "RS256", "typ": "at+jwt"}),
        &idp.claims("alice", &[]),
    );
    assert!(check(&auth, &no_kid).await.is_ok());
    idp.publish(idp.new_key());
    auth.refresh_keys().await.unwrap();
    let no_kid = key.sign_raw(&json!({"alg": "RS256"}), &idp.claims("bob", &[]));
    let e = check(&auth, &no_kid).await.unwrap_err();
    assert_eq!(e, AuthError::UnknownKey(Credential::Token));
}

#[tokio::test]
async fn keys_embedded_in_or_linked_from_the_header_are_ignored() {
    let idp = Forge::start();
    let attacker = Forge::start();
    let evil = attacker.signing_key();
    let header = json!({
        "alg": "RS256", "typ": "at+jwt", "kid": evil.kid(),
        "jwk": evil.jwk(), "jku": attacker.jwks_uri(), "x5u": attacker.jwks_uri(),
    });
    let token = evil.sign_raw(&header, &idp.claims("mallory", &["mcp-admin"]));
    let auth = authenticator(config(&idp));
    let e = check(&auth, &token).await.unwrap_err();
    // Both forges call their first key test-key-1, so the kid exists at the real IdP, but the
    // attacker's signature does not verify with the real key.
    assert_eq!(e, AuthError::BadSignature(Credential::Token));
    assert_eq!(attacker.jwks_hits() + attacker.discovery_hits(), 0);
}

#[tokio::test]
async fn the_discovery_document_must_name_the_configured_issuer() {
    let idp = Forge::start();
    let auth = authenticator(OidcConfig::new(format!("{}/", idp.issuer()), AUDIENCE));
    let e = auth.refresh_keys().await.unwrap_err().to_string();
    assert!(
        e.contains("names issuer") && e.contains("set oidc.issuer"),
        "{e}"
    );
    assert!(auth.jwks_state().is_failing());

    // With jwks_uri configured, discovery is skipped.
    let mut c = config(&idp);
    c.jwks_uri = Some(idp.jwks_uri());
    let auth = authenticator(c);
    assert_eq!(auth.refresh_keys().await.map_err(|e| e.to_string()), Ok(1));
    assert_eq!(
        idp.discovery_hits(),
        1,
        "only the first authenticator used discovery"
    );
}

#[tokio::test]
async fn oversized_and_garbage_credentials_are_malformed() {
    let idp = Forge::start();
    let auth = authenticator(config(&idp));
    let huge = idp.sign(&forge::with(
        idp.claims("a", &[]),
        "pad",
        "x".repeat(20_000),
    ));
    for bad in [
        huge.as_str(),
        "not-a-jwt",
        "a.b.c",
        "eyJhbGciOiJSUzI1NiJ9.e30",
    ] {
        let e = check(&auth, bad).await.unwrap_err();
        assert_eq!(e.reason(), "malformed", "{bad:.40}: {e}");
    }
    assert_eq!(idp.jwks_hits(), 0);
}
