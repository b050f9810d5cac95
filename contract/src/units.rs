//! Units used in configuration and policy files: durations (`30s`, `500ms`, `90d`), byte sizes
//! (`64MiB`, `10MB`, `4096`) and rates (`60/min`). Each parses from a string once, with an error
//! that quotes the value and says what form is expected.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A parse failure for one of the unit types; the message quotes the bad value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {value:?} is not valid: expected {expected}")]
pub struct UnitError {
    what: &'static str,
    value: String,
    expected: &'static str,
}

impl UnitError {
    fn new(what: &'static str, value: &str, expected: &'static str) -> Self {
        Self {
            what,
            value: value.to_owned(),
            expected,
        }
    }
}

/// Splits `"30s"` into `(30, "s")`; the number may not be empty.
fn split_number(s: &str) -> Option<(u64, &str)> {
    let s = s.trim();
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let n = s[..digits].parse().ok()?;
    Some((n, s[digits..].trim()))
}

/// A span of time written as `<n><unit>` with unit `ms`, `s`, `m`, `h` or `d` (`30s`, `90d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span(pub Duration);

impl Span {
    /// A span of `secs` seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }
    /// A span of `ms` milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Self(Duration::from_millis(ms))
    }
    /// The span as a `Duration`.
    pub const fn get(self) -> Duration {
        self.0
    }
}

impl FromStr for Span {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, UnitError> {
        const EXPECTED: &str = "a number with a unit: ms, s, m, h or d (e.g. 30s, 500ms, 90d)";
        let err = || UnitError::new("duration", s, EXPECTED);
        let (n, unit) = split_number(s).ok_or_else(err)?;
        let ms_per_unit: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" | "min" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(err()),
        };
        let ms = n.checked_mul(ms_per_unit).ok_or_else(err)?;
        Ok(Self(Duration::from_millis(ms)))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        let units = [
            (86_400_000, "d"),
            (3_600_000, "h"),
            (60_000, "m"),
            (1_000, "s"),
        ];
        for (size, unit) in units {
            if ms >= size && ms.is_multiple_of(size) {
                return write!(f, "{}{unit}", ms / size);
            }
        }
        write!(f, "{ms}ms")
    }
}

/// A number of bytes written as `<n>` or `<n><unit>` with unit `B`, `KB`, `KiB`, `MB`, `MiB`,
/// `GB` or `GiB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// `n` mebibytes.
    pub const fn mib(n: u64) -> Self {
        Self(n * 1024 * 1024)
    }
    /// `n` kibibytes.
    pub const fn kib(n: u64) -> Self {
        Self(n * 1024)
    }
    /// The number of bytes.
    pub const fn get(self) -> u64 {
        self.0
    }
    /// The size as a `usize`, saturating on 32-bit targets.
    pub fn as_usize(self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }
}

impl FromStr for ByteSize {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, UnitError> {
        const EXPECTED: &str =
            "a number of bytes, optionally with a unit: KiB, MiB, GiB, KB, MB, GB (e.g. 64MiB)";
        let err = || UnitError::new("size", s, EXPECTED);
        let (n, unit) = split_number(s).ok_or_else(err)?;
        let mult: u64 = match unit {
            "" | "B" => 1,
            "KB" | "kB" => 1_000,
            "KiB" => 1 << 10,
            "MB" => 1_000_000,
            "MiB" => 1 << 20,
            "GB" => 1_000_000_000,
            "GiB" => 1 << 30,
            _ => return Err(err()),
        };
        n.checked_mul(mult).map(Self).ok_or_else(err)
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (size, unit) in [(1u64 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")] {
            if n >= size && n.is_multiple_of(size) {
                return write!(f, "{}{unit}", n / size);
            }
        }
        write!(f, "{n}B")
    }
}

/// A rate written as `<count>/<period>`: `60/min`, `10/s`, `1000/h`, `5/30s`.
/// Used as a token bucket: `count` is the burst, refilled evenly over `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    /// Requests allowed per period: the bucket's size.
    pub count: u32,
    /// The time over which the bucket refills completely.
    pub period: Duration,
}

impl Rate {
    /// Time between two tokens when the bucket refills.
    pub fn interval(&self) -> Duration {
        self.period / self.count
    }
}

impl FromStr for Rate {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, UnitError> {
        const EXPECTED: &str = "<count>/<period> with a count above 0 and a period like s, min, h or 30s (e.g. 60/min)";
        let err = || UnitError::new("rate", s, EXPECTED);
        let (count, period) = s.split_once('/').ok_or_else(err)?;
        let count: u32 = count.trim().parse().map_err(|_| err())?;
        let period = period.trim();
        let period = match period {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            "d" | "day" => Duration::from_secs(86_400),
            other => other.parse::<Span>().map_err(|_| err())?.0,
        };
        if count == 0 || period.is_zero() {
            return Err(err());
        }
        Ok(Self { count, period })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, Span(self.period))
    }
}

macro_rules! serde_via_str {
    ($($ty:ty),*) => {$(
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                // A visitor (not an intermediate `Value`) so the error is raised at the field
                // and the YAML error names its path. Bare numbers are accepted too
                // (`memory: 1048576`); `timeout: 30` is then rejected for lacking a unit.
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("a string or a number")
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$ty, E> {
                        v.parse().map_err(E::custom)
                    }
                    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<$ty, E> {
                        self.visit_str(&v.to_string())
                    }
                    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<$ty, E> {
                        self.visit_str(&v.to_string())
                    }
                }
                d.deserialize_any(V)
            }
        }
    )*};
}
serde_via_str!(Span, ByteSize, Rate);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_parse_with_units_and_print_back() {
        assert_eq!("30s".parse::<Span>().unwrap(), Span::from_secs(30));
        assert_eq!("500ms".parse::<Span>().unwrap(), Span::from_millis(500));
        assert_eq!("90d".parse::<Span>().unwrap(), Span::from_secs(90 * 86_400));
        assert_eq!("2m".parse::<Span>().unwrap().to_string(), "2m");
        assert_eq!(Span::from_millis(1500).to_string(), "1500ms");
    }

    #[test]
    fn spans_without_unit_or_with_junk_are_rejected() {
        for bad in [
            "30",
            "s",
            "",
            "-1s",
            "1.5s",
            "10 years",
            "99999999999999999999d",
        ] {
            let e = bad.parse::<Span>().unwrap_err();
            assert!(
                e.to_string().contains("expected a number with a unit"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn sizes_parse_binary_and_decimal_units() {
        assert_eq!("64MiB".parse::<ByteSize>().unwrap(), ByteSize::mib(64));
        assert_eq!("10MB".parse::<ByteSize>().unwrap(), ByteSize(10_000_000));
        assert_eq!("4096".parse::<ByteSize>().unwrap(), ByteSize(4096));
        assert!("64 potatoes".parse::<ByteSize>().is_err());
        assert_eq!(ByteSize::mib(256).to_string(), "256MiB");
    }

    #[test]
    fn rates_parse_named_and_spanned_periods() {
        let r: Rate = "60/min".parse().unwrap();
        assert_eq!((r.count, r.period), (60, Duration::from_secs(60)));
        assert_eq!(r.interval(), Duration::from_secs(1));
        let r: Rate = "5/30s".parse().unwrap();
        assert_eq!(r.period, Duration::from_secs(30));
        for bad in ["0/min", "10", "10/fortnight", "x/s", "10/0s"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
    }

    #[test]
    fn units_deserialize_from_yaml_strings_and_numbers() {
        #[derive(Deserialize)]
        struct T {
            a: ByteSize,
            b: Span,
            c: Rate,
        }
        let t: T = serde_yaml::from_str("a: 1024\nb: 5s\nc: 10/s\n").unwrap();
        assert_eq!(t.a, ByteSize(1024));
        assert_eq!(t.b, Span::from_secs(5));
        assert_eq!(t.c.count, 10);
        let e = serde_yaml::from_str::<T>("a: 1\nb: 5\nc: 10/s\n")
            .err()
            .unwrap();
        assert!(e.to_string().contains("b: duration \"5\""), "{e}");
    }
}
