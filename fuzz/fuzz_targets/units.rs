//! The unit types of configuration and policy files (`mcp_contract::units`): `Span` (`30s`),
//! `ByteSize` (`64MiB`) and `Rate` (`60/min`), from strings and from YAML scalars.
//!
//! Invariants: whatever parses prints (`Display`) to a string that parses back to the same
//! value; a rate's count and period are above zero; YAML gives the same value as `FromStr`.
#![no_main]

use std::fmt::Display;
use std::str::FromStr;

use libfuzzer_sys::fuzz_target;
use mcp_contract::units::{ByteSize, Rate, Span};

fn round_trip<T>(s: &str) -> Option<T>
where
    T: FromStr + Display + PartialEq + std::fmt::Debug + serde::de::DeserializeOwned,
    T::Err: Display,
{
    let v: T = s.parse().ok()?;
    let printed = v.to_string();
    let back: T = printed
        .parse()
        .unwrap_or_else(|e| panic!("{v:?} prints as {printed:?}, which does not parse: {e}"));
    assert_eq!(back, v, "{s:?} -> {printed:?}");
    // As a YAML string scalar, the same value.
    if let Ok(quoted) = serde_json::to_string(s) {
        let from_yaml: T = serde_yaml::from_str(&quoted)
            .unwrap_or_else(|e| panic!("{s:?} parses but not from YAML {quoted}: {e}"));
        assert_eq!(from_yaml, v);
    }
    Some(v)
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = round_trip::<Span>(s);
    let _ = round_trip::<ByteSize>(s).map(ByteSize::as_usize);
    if let Some(rate) = round_trip::<Rate>(s) {
        assert!(rate.count > 0 && !rate.period.is_zero());
        let _ = rate.interval();
    }
});
