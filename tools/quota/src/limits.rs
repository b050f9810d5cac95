//! The quota's limits and how they are read from the component's environment.

/// Bytes in all, e.g. `100MiB`.
pub const ENV_MAX_BYTES: &str = "MCP_WORKSPACE_MAX_BYTES";
/// Files and directories in all, e.g. `10000`.
pub const ENV_MAX_ENTRIES: &str = "MCP_WORKSPACE_MAX_ENTRIES";
/// One file, e.g. `10MiB`.
pub const ENV_MAX_FILE_BYTES: &str = "MCP_WORKSPACE_MAX_FILE_BYTES";

/// The limits of one workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_bytes: u64,
    pub max_entries: u64,
    pub max_file_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 100 * 1024 * 1024,
            max_entries: 10_000,
            max_file_bytes: 10 * 1024 * 1024,
        }
    }
}

impl Limits {
    /// The limits set in the environment, defaults for those not set. A value that does not
    /// parse is an error (a typo must not lift a limit).
    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let defaults = Self::default();
        let read = |name: &str, default: u64, parse: fn(&str) -> Option<u64>| match lookup(name) {
            None => Ok(default),
            Some(text) => parse(text.trim()).ok_or_else(|| {
                format!(
                    "the tool set manifest sets {name}={text:?}, which is not a valid limit; \
                     use a number{}",
                    if name == ENV_MAX_ENTRIES {
                        ""
                    } else {
                        " of bytes with an optional unit (KiB, MiB, GiB), e.g. 100MiB"
                    }
                )
            }),
        };
        Ok(Self {
            max_bytes: read(ENV_MAX_BYTES, defaults.max_bytes, parse_bytes)?,
            max_entries: read(ENV_MAX_ENTRIES, defaults.max_entries, |t| t.parse().ok())?,
            max_file_bytes: read(ENV_MAX_FILE_BYTES, defaults.max_file_bytes, parse_bytes)?,
        })
    }
}

/// A byte count: `512`, `512B`, `64KiB`, `100MiB`, `2GiB` (binary units; `KB`, `MB`, `GB` are
/// read as the same binary units).
pub fn parse_bytes(text: &str) -> Option<u64> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "K" | "KB" | "KiB" => 1 << 10,
        "M" | "MB" | "MiB" => 1 << 20,
        "G" | "GB" | "GiB" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(scale)
}

/// A byte count for people: `100 MiB`, `64 KiB`, `1500 bytes`.
pub fn format_bytes(bytes: u64) -> String {
    for (unit, scale) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if bytes >= scale && bytes.is_multiple_of(scale) {
            return format!("{} {unit}", bytes / scale);
        }
    }
    format!("{bytes} bytes")
}
