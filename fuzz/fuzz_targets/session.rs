//! `Mcp-Session-Id` validation (`mcp::session::SessionKeys::open`) against hostile ids,
//! principals and clocks.
//!
//! The first byte picks what the fuzzer controls:
//! - 0: the whole id;
//! - 1: byte edits (position, xor) applied to an id this gateway issued;
//! - 2: the principal presenting a genuine id;
//! - 3: the clock at which a genuine id is presented.
//!
//! Invariants: an id is accepted only if it is, byte for byte, one the keys issued (now or
//! under the previous key); a genuine id is accepted only for the principal it was issued to,
//! and only before it expires; every rejection is one of the three documented errors.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mcp_fuzz::session::{SessionError, SessionKeys};

const NOW: u64 = 1_800_000_000;
const TTL: u64 = 3600;
const PRINCIPAL: &str = "jwt:alice";

struct Fixture {
    keys: SessionKeys,
    /// Issued under the current key and under the previous one.
    issued: [String; 2],
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let current = [7u8; 32];
        let previous = [8u8; 32];
        let old = SessionKeys::new(previous, None, TTL);
        let keys = SessionKeys::new(current, Some(previous), TTL);
        let issued = [
            keys.issue(PRINCIPAL, "2025-06-18", NOW),
            old.issue(PRINCIPAL, "2025-11-25", NOW),
        ];
        for id in &issued {
            assert!(keys.open(id, PRINCIPAL, NOW).is_ok());
        }
        Fixture { keys, issued }
    })
}

fn accepted_only_if_issued(f: &Fixture, id: &str, result: Result<(), SessionError>) {
    if result.is_ok() {
        assert!(
            f.issued.iter().any(|i| i == id),
            "accepted a session id it did not issue: {id:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => {
            let Ok(id) = std::str::from_utf8(rest) else {
                return;
            };
            let r = f.keys.open(id, PRINCIPAL, NOW).map(|_| ());
            accepted_only_if_issued(f, id, r);
        }
        1 => {
            let mut id = f.issued[usize::from(rest.first().copied().unwrap_or(0) & 1)]
                .clone()
                .into_bytes();
            for edit in rest.get(1..).unwrap_or_default().chunks_exact(2) {
                if id.is_empty() {
                    break;
                }
                let at = usize::from(edit[0]) % id.len();
                id[at] ^= edit[1];
            }
            let Ok(id) = String::from_utf8(id) else {
                return;
            };
            let r = f.keys.open(&id, PRINCIPAL, NOW).map(|_| ());
            accepted_only_if_issued(f, &id, r);
        }
        2 => {
            let principal = String::from_utf8_lossy(rest);
            for id in &f.issued {
                let r = f.keys.open(id, &principal, NOW);
                if principal == PRINCIPAL {
                    assert!(r.is_ok(), "{r:?}");
                } else {
                    assert_eq!(r, Err(SessionError::OtherPrincipal), "for {principal:?}");
                }
            }
        }
        _ => {
            let mut clock = [0u8; 8];
            for (c, b) in clock.iter_mut().zip(rest) {
                *c = *b;
            }
            let now = u64::from_le_bytes(clock);
            for id in &f.issued {
                let r = f.keys.open(id, PRINCIPAL, now);
                if now < NOW + TTL {
                    let s = r.expect("a genuine id before its expiry");
                    assert_eq!(s.expires_at, NOW + TTL);
                } else {
                    assert_eq!(r, Err(SessionError::Expired), "at {now}");
                }
            }
        }
    }
});
