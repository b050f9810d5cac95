//! `Authenticator::authenticate(Some(header))` on any `Authorization` header value, with a key
//! store holding three real API keys (live, revoked, expired) and an OIDC issuer that cannot be
//! reached: the `Bearer` parser, the routing by prefix, the API key parser and store, and a
//! token's shape and header checks (`jwt::header::inspect`) up to key lookup.
//!
//! Invariants: only the live key, sent with the Bearer scheme, authenticates, and as its user;
//! every rejection has a reason from `AuthError::REASONS` and a message that is printable,
//! bounded and never quotes the credential.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_fuzz::keys::{LIVE_USER, authenticator, check_rejection, keys};

fuzz_target!(|data: &[u8]| {
    // Header values reach the authenticator as text (pingora's `to_str`).
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    let auth = authenticator();
    let live = &keys().live;
    let result = mcp_fuzz::runtime().block_on(auth.authenticate(Some(header)));
    let credential = header
        .trim()
        .split_once(' ')
        .map_or("", |(_, c)| c.trim_start());
    match result {
        Ok(principal) => {
            let (scheme, _) = header.trim().split_once(' ').expect("a scheme and a value");
            assert!(scheme.eq_ignore_ascii_case("bearer"), "scheme {scheme:?}");
            assert_eq!(credential, live, "authenticated with another credential");
            assert_eq!(&*principal.user, LIVE_USER);
        }
        Err(e) => {
            check_rejection(&e, credential);
            if credential == live {
                // Only the scheme or surrounding whitespace can be wrong then.
                assert_eq!(e.reason(), "malformed", "{e}");
            }
        }
    }
});
