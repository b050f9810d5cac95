//! A parsed JWKS: the identity provider's public signing keys, each with the algorithms it may
//! verify, and the rule for picking the key for a token (`kid` plus algorithm fit).
//!
//! The fit check is what stops algorithm confusion: a key is only used for an algorithm of its
//! own type (RSA keys for RS*/PS*, P-256 for ES256, P-384 for ES384, Ed25519 for EdDSA), and
//! if the JWK names an `alg`, for that one only. Symmetric (`oct`) keys, encryption keys and
//! RSA keys under 2048 bits are skipped.

use std::str::FromStr;
use std::sync::Arc;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde_json::Value;

/// More keys than this in one JWKS is not a real identity provider.
const MAX_KEYS: usize = 64;
const MIN_RSA_MODULUS_BYTES: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl KeyKind {
    fn fits(self, alg: Algorithm) -> bool {
        match alg.family() {
            AlgorithmFamily::Rsa => self == Self::Rsa,
            AlgorithmFamily::Ec => {
                (alg == Algorithm::ES256 && self == Self::P256)
                    || (alg == Algorithm::ES384 && self == Self::P384)
            }
            AlgorithmFamily::Ed => self == Self::Ed25519,
            AlgorithmFamily::Hmac => false,
        }
    }
}

/// One usable public key.
pub(crate) struct SigningKey {
    pub kid: Option<String>,
    kind: KeyKind,
    /// The JWK's own `alg`, if it names one.
    alg: Option<Algorithm>,
    pub key: DecodingKey,
    /// The JWK as published, to tell whether a refresh replaced or removed this key.
    identity: String,
}

impl SigningKey {
    fn fits(&self, alg: Algorithm) -> bool {
        self.kind.fits(alg) && self.alg.is_none_or(|a| a == alg)
    }
}

/// The result of looking up a token's key.
pub(crate) enum Lookup {
    Found(Arc<SigningKey>),
    /// A key with the token's `kid` exists but cannot verify the token's algorithm.
    WrongType,
    /// No key with the token's `kid` (or, without a `kid`, no suitable key at all).
    Missing,
    /// No `kid`, and more than one suitable key.
    Ambiguous,
}

#[derive(Default)]
pub(crate) struct KeySet {
    keys: Vec<Arc<SigningKey>>,
}

/// Why a JWKS document gives no key set.
#[derive(Debug, thiserror::Error)]
pub enum KeySetError {
    /// The document is not JSON.
    #[error("the JWKS is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    /// The document has no `keys`.
    #[error("the JWKS has no `keys` array")]
    NoKeysArray,
    /// More keys than accepted.
    #[error("the JWKS lists {count} keys, more than the {MAX_KEYS} accepted")]
    TooMany {
        /// How many keys the document lists.
        count: usize,
    },
    /// No key fits the accepted algorithms.
    #[error(
        "the JWKS has no key usable with the accepted algorithms {allowed:?}{}",
        skipped_note(skipped)
    )]
    NoneUsable {
        /// The accepted algorithms.
        allowed: Vec<Algorithm>,
        /// Why each key was skipped, e.g. `keys[0] (kid "a"): unsupported key type`.
        skipped: Vec<String>,
    },
}

fn skipped_note(skipped: &[String]) -> String {
    if skipped.is_empty() {
        String::new()
    } else {
        format!(" (skipped: {})", skipped.join("; "))
    }
}

impl KeySet {
    /// Parses a JWKS document, keeping the keys usable with `allowed` algorithms. Returns the
    /// set and a note for each skipped key; fails if no key is usable.
    pub fn parse(body: &[u8], allowed: &[Algorithm]) -> Result<(Self, Vec<String>), KeySetError> {
        let doc: Value = serde_json::from_slice(body).map_err(KeySetError::NotJson)?;
        let entries = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(KeySetError::NoKeysArray)?;
        if entries.len() > MAX_KEYS {
            return Err(KeySetError::TooMany {
                count: entries.len(),
            });
        }
        let mut keys = Vec::new();
        let mut skipped = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            match parse_key(entry, allowed) {
                Ok(key) => keys.push(Arc::new(key)),
                Err(why) => {
                    let kid = entry.get("kid").and_then(Value::as_str).unwrap_or("-");
                    skipped.push(format!("keys[{i}] (kid {kid:?}): {why}"));
                }
            }
        }
        if keys.is_empty() {
            return Err(KeySetError::NoneUsable {
                allowed: allowed.to_vec(),
                skipped,
            });
        }
        Ok((Self { keys }, skipped))
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Finds the key for a token with this `kid` and `alg`.
    pub fn find(&self, kid: Option<&str>, alg: Algorithm) -> Lookup {
        match kid {
            Some(kid) => {
                let mut named = self.keys.iter().filter(|k| k.kid.as_deref() == Some(kid));
                let Some(first) = named.next() else {
                    return Lookup::Missing;
                };
                std::iter::once(first)
                    .chain(named)
                    .find(|k| k.fits(alg))
                    .map_or(Lookup::WrongType, |k| Lookup::Found(Arc::clone(k)))
            }
            None => {
                let mut fitting = self.keys.iter().filter(|k| k.fits(alg));
                match (fitting.next(), fitting.next()) {
                    (Some(k), None) => Lookup::Found(Arc::clone(k)),
                    (Some(_), Some(_)) => Lookup::Ambiguous,
                    (None, _) => Lookup::Missing,
                }
            }
        }
    }

    /// Whether some key of `self` is absent from `newer` (removed or replaced), so that tokens
    /// verified with it must be verified again.
    pub fn lost_keys_in(&self, newer: &KeySet) -> bool {
        self.keys
            .iter()
            .any(|k| !newer.keys.iter().any(|n| n.identity == k.identity))
    }

    pub fn kids(&self) -> Vec<&str> {
        self.keys
            .iter()
            .map(|k| k.kid.as_deref().unwrap_or("-"))
            .collect()
    }
}

/// Why a JWKS entry is skipped (the set is still used if another key is usable).
#[derive(Debug, thiserror::Error)]
enum KeyRejected {
    #[error("`use` is {0}, not \"sig\"")]
    Use(Value),
    #[error("`key_ops` does not include \"verify\"")]
    KeyOps,
    #[error("for {0}, which is not an accepted algorithm")]
    AlgNotAccepted(String),
    #[error("`alg` {0:?} is not a signature algorithm")]
    AlgUnknown(String),
    #[error("`alg` is {0}, not a string")]
    AlgNotString(Value),
    #[error("not a JWK: {0}")]
    NotJwk(#[source] serde_json::Error),
    #[error("`n` is not base64url")]
    ModulusNotBase64,
    #[error("RSA key of {bits} bits; at least 2048 needed")]
    RsaTooSmall { bits: usize },
    #[error("EC curve {0:?} is not supported")]
    EcCurve(EllipticCurve),
    #[error("OKP curve {0:?} is not supported")]
    OkpCurve(EllipticCurve),
    #[error("a symmetric (oct) key is never used to verify tokens")]
    Symmetric,
    #[error("unsupported key type")]
    Unsupported,
    #[error("`alg` {alg:?} does not fit a {kind:?} key")]
    AlgMismatch { alg: Algorithm, kind: KeyKind },
    #[error("a {0:?} key fits none of the accepted algorithms")]
    NoAcceptedAlg(KeyKind),
    #[error("unusable key: {0}")]
    Unusable(#[source] jsonwebtoken::errors::Error),
}

fn parse_key(entry: &Value, allowed: &[Algorithm]) -> Result<SigningKey, KeyRejected> {
    if let Some(use_) = entry.get("use")
        && use_ != "sig"
    {
        return Err(KeyRejected::Use(use_.clone()));
    }
    if let Some(ops) = entry.get("key_ops")
        && !ops
            .as_array()
            .is_some_and(|ops| ops.iter().any(|o| o == "verify"))
    {
        return Err(KeyRejected::KeyOps);
    }
    let alg = match entry.get("alg") {
        None => None,
        Some(Value::String(name)) => match Algorithm::from_str(name) {
            Ok(alg) if allowed.contains(&alg) => Some(alg),
            Ok(_) => return Err(KeyRejected::AlgNotAccepted(name.clone())),
            Err(_) => return Err(KeyRejected::AlgUnknown(name.clone())),
        },
        Some(other) => return Err(KeyRejected::AlgNotString(other.clone())),
    };
    let jwk: Jwk = serde_json::from_value(entry.clone()).map_err(KeyRejected::NotJwk)?;
    let kind = match &jwk.algorithm {
        AlgorithmParameters::RSA(p) => {
            let n = base64::Engine::decode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                p.n.trim_end_matches('='),
            )
            .map_err(|_| KeyRejected::ModulusNotBase64)?;
            let bytes = n.iter().skip_while(|b| **b == 0).count();
            if bytes < MIN_RSA_MODULUS_BYTES {
                return Err(KeyRejected::RsaTooSmall { bits: bytes * 8 });
            }
            KeyKind::Rsa
        }
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => KeyKind::P256,
            EllipticCurve::P384 => KeyKind::P384,
            ref other => return Err(KeyRejected::EcCurve(other.clone())),
        },
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            KeyKind::Ed25519
        }
        AlgorithmParameters::OctetKeyPair(p) => {
            return Err(KeyRejected::OkpCurve(p.curve.clone()));
        }
        AlgorithmParameters::OctetKey(_) => {
            return Err(KeyRejected::Symmetric);
        }
        _ => return Err(KeyRejected::Unsupported),
    };
    if let Some(alg) = alg
        && !kind.fits(alg)
    {
        return Err(KeyRejected::AlgMismatch { alg, kind });
    }
    if !allowed.iter().any(|a| kind.fits(*a)) {
        return Err(KeyRejected::NoAcceptedAlg(kind));
    }
    let key = DecodingKey::from_jwk(&jwk).map_err(KeyRejected::Unusable)?;
    Ok(SigningKey {
        kid: jwk.common.key_id.clone(),
        kind,
        alg,
        key,
        identity: entry.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rsa_jwk(kid: &str, alg: Option<&str>) -> Value {
        // A syntactically valid 2048-bit modulus (not a real key; parsing never checks primes).
        let n = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            [0xc5u8; 256],
        );
        let mut v = json!({"kty": "RSA", "kid": kid, "n": n, "e": "AQAB", "use": "sig"});
        if let Some(alg) = alg {
            v["alg"] = json!(alg);
        }
        v
    }

    fn parse(
        keys: Vec<Value>,
        allowed: &[Algorithm],
    ) -> Result<(KeySet, Vec<String>), KeySetError> {
        KeySet::parse(json!({ "keys": keys }).to_string().as_bytes(), allowed)
    }

    #[test]
    fn keys_are_found_by_kid_only_for_algorithms_they_fit() {
        let allowed = [Algorithm::RS256, Algorithm::ES256];
        let (set, _) = parse(vec![rsa_jwk("a", Some("RS256"))], &allowed).unwrap();
        assert!(matches!(
            set.find(Some("a"), Algorithm::RS256),
            Lookup::Found(_)
        ));
        assert!(matches!(
            set.find(Some("a"), Algorithm::ES256),
            Lookup::WrongType
        ));
        assert!(matches!(
            set.find(Some("a"), Algorithm::HS256),
            Lookup::WrongType
        ));
        assert!(matches!(
            set.find(Some("b"), Algorithm::RS256),
            Lookup::Missing
        ));
    }

    #[test]
    fn a_jwk_alg_pins_the_key_to_that_algorithm() {
        let allowed = [Algorithm::RS256, Algorithm::PS256];
        let (set, _) = parse(vec![rsa_jwk("a", Some("RS256"))], &allowed).unwrap();
        assert!(matches!(
            set.find(Some("a"), Algorithm::PS256),
            Lookup::WrongType
        ));
        let (set, _) = parse(vec![rsa_jwk("a", None)], &allowed).unwrap();
        assert!(matches!(
            set.find(Some("a"), Algorithm::PS256),
            Lookup::Found(_)
        ));
    }

    #[test]
    fn without_kid_only_a_single_suitable_key_is_used() {
        let allowed = [Algorithm::RS256];
        let (one, _) = parse(vec![rsa_jwk("a", None)], &allowed).unwrap();
        assert!(matches!(one.find(None, Algorithm::RS256), Lookup::Found(_)));
        let (two, _) = parse(vec![rsa_jwk("a", None), rsa_jwk("b", None)], &allowed).unwrap();
        assert!(matches!(
            two.find(None, Algorithm::RS256),
            Lookup::Ambiguous
        ));
    }

    #[test]
    fn unusable_keys_are_skipped_with_a_reason() {
        let allowed = [Algorithm::RS256];
        let mut enc = rsa_jwk("enc", Some("RSA-OAEP"));
        enc["use"] = json!("enc");
        let oct = json!({"kty": "oct", "kid": "h", "k": "c2VjcmV0"});
        let mut small = rsa_jwk("small", None);
        small["n"] = json!("xcXFxcXFxcXFxcXFxcXFxQ");
        let (set, skipped) = parse(
            vec![
                enc,
                oct,
                small,
                rsa_jwk("rs384", Some("RS384")),
                rsa_jwk("ok", None),
            ],
            &allowed,
        )
        .unwrap();
        assert_eq!(set.kids(), ["ok"]);
        assert_eq!(skipped.len(), 4, "{skipped:?}");
        assert!(skipped[0].contains("`use`"), "{skipped:?}");
        assert!(skipped[1].contains("symmetric"), "{skipped:?}");
        assert!(skipped[2].contains("at least 2048"), "{skipped:?}");
        assert!(
            skipped[3].contains("not an accepted algorithm"),
            "{skipped:?}"
        );
    }

    #[test]
    fn a_jwks_without_usable_keys_is_an_error() {
        let e = parse(
            vec![json!({"kty": "oct", "k": "c2VjcmV0"})],
            &[Algorithm::RS256],
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("no key usable"), "{e}");
        assert!(KeySet::parse(b"{}", &[Algorithm::RS256]).is_err());
        assert!(KeySet::parse(b"<html>", &[Algorithm::RS256]).is_err());
    }

    #[test]
    fn replaced_or_removed_keys_are_noticed() {
        let allowed = [Algorithm::RS256];
        let (old, _) = parse(vec![rsa_jwk("a", None), rsa_jwk("b", None)], &allowed).unwrap();
        let (added, _) = parse(
            vec![rsa_jwk("a", None), rsa_jwk("b", None), rsa_jwk("c", None)],
            &allowed,
        )
        .unwrap();
        let (removed, _) = parse(vec![rsa_jwk("a", None)], &allowed).unwrap();
        assert!(!old.lost_keys_in(&added));
        assert!(old.lost_keys_in(&removed));
    }
}
