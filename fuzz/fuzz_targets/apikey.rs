//! API keys: the presented key (`mcpk_<id>_<secret>`, parsed by `apikey::parse_presented` inside
//! `KeyStore::verify`), the stored forms `KeyId::parse` and `KeyHash::parse`, and key files
//! (`KeyRecord::from_json`).
//!
//! The first byte picks the parser. Invariants:
//! - a presented key authenticates only if it is the live key of the store, byte for byte; the
//!   revoked and expired keys never do; rejections satisfy `keys::check_rejection`;
//! - `KeyId` and `KeyHash` accept only their canonical spelling (`Display` gives the input back);
//! - a key file that parses serialises (`to_json`) to one that parses to the same record, to
//!   the second (the precision of key files).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_fuzz::keys::{LIVE_USER, check_rejection, keys};
use mcp_gateway_auth::{KeyHash, KeyId, KeyRecord};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => {
            let Ok(tail) = std::str::from_utf8(rest) else {
                return;
            };
            let k = keys();
            // The fuzzer writes what follows the prefix, or edits a real key.
            let presented = match tail.strip_prefix('@') {
                Some(edit) => {
                    let base = [&k.live, &k.revoked, &k.expired][edit.len() % 3];
                    let cut = edit.len().min(base.len());
                    let mut s = base[..base.floor_char_boundary(base.len() - cut)].to_owned();
                    s.push_str(edit);
                    s
                }
                None => format!("mcpk_{tail}"),
            };
            match k.store.verify(&presented) {
                Ok(p) => {
                    assert_eq!(presented, k.live, "authenticated with another key");
                    assert_eq!(&*p.user, LIVE_USER);
                }
                Err(e) => {
                    check_rejection(&e, &presented);
                    assert_ne!(presented, k.live, "the live key was refused: {e}");
                }
            }
        }
        1 => {
            let s = String::from_utf8_lossy(rest);
            if let Ok(id) = KeyId::parse(&s) {
                assert_eq!(id.to_string(), s);
            }
        }
        2 => {
            let s = String::from_utf8_lossy(rest);
            if let Ok(h) = KeyHash::parse(&s) {
                assert_eq!(h.to_string(), s);
            }
        }
        _ => {
            if let Ok(record) = KeyRecord::from_json(rest) {
                let json = record.to_json();
                let again = KeyRecord::from_json(json.as_bytes()).unwrap_or_else(|e| {
                    panic!("a record's own JSON does not parse ({e}):\n{json}")
                });
                // Key files keep times to the second.
                let second = |t: time::OffsetDateTime| t.unix_timestamp();
                assert_eq!(second(again.created), second(record.created));
                assert_eq!(again.expires.map(second), record.expires.map(second));
                assert_eq!(again.revoked.map(second), record.revoked.map(second));
                assert_eq!(
                    (&again.id, &again.user, &again.roles, &again.hash),
                    (&record.id, &record.user, &record.roles, &record.hash)
                );
                assert_eq!(
                    (&again.description, &again.replaced_by),
                    (&record.description, &record.replaced_by)
                );
            }
        }
    }
});
