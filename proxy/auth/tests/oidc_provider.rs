//! Against the real OpenID Connect provider (panva/oidc-provider, standing in for Keycloak):
//! discovery, JWKS, and `client_credentials` access tokens of its three test clients.
//! Needs `scripts/setup-peers.sh`; fails (does not skip) without it.

use mcp_gateway_auth::{AuthError, AuthMethod, Authenticator, Credential, OidcConfig};
use mcp_testkit::forge;
use mcp_testkit::oidc::{AUDIENCE, OidcProvider, TestClient};
use serde_json::json;

async fn check(
    auth: &Authenticator,
    token: &str,
) -> Result<mcp_gateway_auth::Principal, AuthError> {
    auth.authenticate(Some(&format!("Bearer {token}"))).await
}

#[tokio::test]
async fn tokens_of_the_real_provider_verify_to_keycloak_style_users_and_roles() {
    let idp = OidcProvider::start();
    let auth = Authenticator::new(Some(OidcConfig::new(idp.issuer(), AUDIENCE)), None).unwrap();
    assert_eq!(auth.refresh_keys().await.map_err(|e| e.to_string()), Ok(1));
    assert_eq!(
        auth.jwks_state().jwks_uri.as_deref(),
        Some(idp.jwks_uri().as_str())
    );

    for client in [
        TestClient::McpUser,
        TestClient::McpAdmin,
        TestClient::NoRoles,
    ] {
        let token = idp.token(client);
        let p = check(&auth, &token)
            .await
            .unwrap_or_else(|e| panic!("{client:?}: {e}"));
        assert_eq!(&*p.user, client.user(), "{client:?}");
        let roles: Vec<&str> = p.roles.iter().map(String::as_str).collect();
        assert_eq!(roles, client.roles(), "{client:?}");
        assert_eq!(p.method, AuthMethod::Jwt);
        assert!(p.expires_at.is_some());
    }
    assert_eq!(
        check(&auth, &idp.token(TestClient::McpUser))
            .await
            .unwrap()
            .user
            .as_ref(),
        "alice"
    );
}

#[tokio::test]
async fn tampered_or_misaddressed_tokens_of_the_real_provider_fail() {
    let idp = OidcProvider::start();
    let auth = Authenticator::new(Some(OidcConfig::new(idp.issuer(), AUDIENCE)), None).unwrap();
    let token = idp.token(TestClient::McpUser);

    let escalated = forge::tamper(&token, |c| {
        c["realm_access"]["roles"] = json!(["mcp-user", "mcp-admin"]);
    });
    assert_eq!(
        check(&auth, &escalated).await.unwrap_err(),
        AuthError::BadSignature(Credential::Token)
    );
    let impersonated = forge::tamper(&token, |c| c["preferred_username"] = json!("bob"));
    assert_eq!(
        check(&auth, &impersonated).await.unwrap_err().reason(),
        "bad_signature"
    );

    let other_audience =
        Authenticator::new(Some(OidcConfig::new(idp.issuer(), "another-api")), None).unwrap();
    assert_eq!(
        check(&other_audience, &token).await.unwrap_err(),
        AuthError::WrongAudience
    );
    assert!(idp.token_for("mcp-user", "wrong-secret").is_err());
    assert!(
        check(&auth, &token).await.is_ok(),
        "the untampered token still verifies"
    );
}
