//! One API key's record: the JSON shape of a key file, validated strictly into [`KeyRecord`].
//!
//! ```json
//! {
//!   "id": "3f9a0c1b7d2e",
//!   "user": "alice",
//!   "roles": ["mcp-user"],
//!   "created": "2026-01-05T09:30:00Z",
//!   "expires": "2026-04-05T09:30:00Z",
//!   "revoked": null,
//!   "hash": "sha256:9b1c...",
//!   "description": "CI pipeline",
//!   "replaced_by": null
//! }
//! ```
//! `expires: null` means the key never expires; `revoked` is the time it was revoked;
//! `replaced_by` is set by `keys rotate` on the old key. Unknown fields are errors, so a typo
//! cannot silently change what a key may do.

use std::time::SystemTime;

use mcp_contract::policy::RoleName;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::apikey::{KeyHash, KeyId};

const MAX_USER_LEN: usize = 256;
const MAX_DESCRIPTION_LEN: usize = 1024;
const MAX_ROLES: usize = 64;

/// A validated API key record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// The key's public id, also its file name.
    pub id: KeyId,
    /// The user the key authenticates as.
    pub user: String,
    /// The roles the key grants.
    pub roles: Vec<String>,
    /// When the key was created.
    pub created: OffsetDateTime,
    /// `None`: never expires.
    pub expires: Option<OffsetDateTime>,
    /// When the key was revoked; `None`: not revoked.
    pub revoked: Option<OffsetDateTime>,
    /// The hash of the key's secret.
    pub hash: KeyHash,
    /// A free-text note from whoever created the key.
    pub description: Option<String>,
    /// The key that replaced this one (`keys rotate`); bulk rotation skips such keys.
    pub replaced_by: Option<KeyId>,
}

/// Where a key stands at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    /// Valid and not replaced.
    Active,
    /// Replaced by a newer key but still valid until it expires (rotation grace period).
    Rotated,
    /// Past its expiry.
    Expired,
    /// Revoked by an administrator.
    Revoked,
}

impl KeyStatus {
    /// The status as `keys list` and metrics show it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Rotated => "rotated",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }

    /// Whether the key authenticates requests in this state.
    pub fn is_usable(self) -> bool {
        matches!(self, Self::Active | Self::Rotated)
    }
}

/// A record that failed validation: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{problem}", field.map(|f| format!("field `{f}`: ")).unwrap_or_default())]
pub struct RecordError {
    /// The field at fault, when the problem is with one field.
    pub field: Option<&'static str>,
    /// What is wrong.
    pub problem: String,
}

impl RecordError {
    fn field(field: &'static str, problem: impl std::fmt::Display) -> Self {
        Self {
            field: Some(field),
            problem: problem.to_string(),
        }
    }
}

/// What is wrong with one field of a key record (or the matching `keys` option).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// The user name is empty, too long, padded or holds control characters.
    #[error(
        "user {0:?} is not valid: use 1-{MAX_USER_LEN} characters without control characters or surrounding spaces"
    )]
    User(String),
    /// No role.
    #[error("a key needs at least one role")]
    NoRoles,
    /// More than the roles a key may have.
    #[error("at most {MAX_ROLES} roles")]
    TooManyRoles,
    /// A role that is not a valid role name.
    #[error(transparent)]
    Role(#[from] mcp_contract::policy::InvalidRoleName),
    /// `*`, which no key can hold.
    #[error(
        "\"*\" is the policy's wildcard for any authenticated caller, not a role a key can hold"
    )]
    WildcardRole,
    /// The same role twice.
    #[error("role {0:?} is listed twice")]
    DuplicateRole(String),
    /// The description is too long or holds control characters.
    #[error("at most {MAX_DESCRIPTION_LEN} characters, without control characters")]
    Description,
    /// A time that is not RFC 3339.
    #[error("{0:?} is not an RFC 3339 time (e.g. 2026-04-05T09:30:00Z)")]
    NotRfc3339(String),
    /// A time outside what a key file can hold.
    #[error("{0:?} is outside the years 0000-9999 once converted to UTC")]
    OutOfRange(String),
}

/// The file's shape, as serde reads and writes it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRecord {
    id: String,
    user: String,
    roles: Vec<String>,
    created: String,
    expires: Option<String>,
    revoked: Option<String>,
    hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    replaced_by: Option<String>,
}

impl KeyRecord {
    /// The status at `now`: revoked, else expired, else rotated (replaced, in grace), else active.
    pub fn status(&self, now: OffsetDateTime) -> KeyStatus {
        if self.revoked.is_some() {
            KeyStatus::Revoked
        } else if self.expires.is_some_and(|e| e <= now) {
            KeyStatus::Expired
        } else if self.replaced_by.is_some() {
            KeyStatus::Rotated
        } else {
            KeyStatus::Active
        }
    }

    /// When the key expires, as a `SystemTime`; `None`: never.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires.map(SystemTime::from)
    }

    /// Parses and validates a key file's contents.
    pub fn from_json(bytes: &[u8]) -> Result<Self, RecordError> {
        let raw: RawRecord = serde_json::from_slice(bytes).map_err(|e| RecordError {
            field: None,
            problem: format!("not a valid key record: {e}"),
        })?;
        Self::from_raw(raw)
    }

    pub(crate) fn from_raw(raw: RawRecord) -> Result<Self, RecordError> {
        let id = KeyId::parse(&raw.id).map_err(|e| RecordError::field("id", e))?;
        let user = validate_user(&raw.user).map_err(|e| RecordError::field("user", e))?;
        let roles = validate_roles(raw.roles).map_err(|e| RecordError::field("roles", e))?;
        let created = parse_time(&raw.created).map_err(|e| RecordError::field("created", e))?;
        let expires = raw
            .expires
            .as_deref()
            .map(parse_time)
            .transpose()
            .map_err(|e| RecordError::field("expires", e))?;
        if let Some(expires) = expires
            && expires < created
        {
            return Err(RecordError::field("expires", "is before `created`"));
        }
        let revoked = raw
            .revoked
            .as_deref()
            .map(parse_time)
            .transpose()
            .map_err(|e| RecordError::field("revoked", e))?;
        let hash = KeyHash::parse(&raw.hash).map_err(|e| RecordError::field("hash", e))?;
        let description = raw
            .description
            .map(|d| validate_description(&d).map(|()| d))
            .transpose()
            .map_err(|e| RecordError::field("description", e))?;
        let replaced_by = raw
            .replaced_by
            .as_deref()
            .map(KeyId::parse)
            .transpose()
            .map_err(|e| RecordError::field("replaced_by", e))?;
        Ok(Self {
            id,
            user,
            roles,
            created,
            expires,
            revoked,
            hash,
            description,
            replaced_by,
        })
    }

    pub(crate) fn to_raw(&self) -> RawRecord {
        RawRecord {
            id: self.id.to_string(),
            user: self.user.clone(),
            roles: self.roles.clone(),
            created: format_time(self.created),
            expires: self.expires.map(format_time),
            revoked: self.revoked.map(format_time),
            hash: self.hash.to_string(),
            description: self.description.clone(),
            replaced_by: self.replaced_by.as_ref().map(KeyId::to_string),
        }
    }

    /// The file contents: pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(&self.to_raw())
            .expect("a record of strings always serialises");
        s.push('\n');
        s
    }
}

/// A user name: 1-256 characters, no control characters, no surrounding whitespace.
pub(crate) fn validate_user(user: &str) -> Result<String, FieldError> {
    let ok = !user.is_empty()
        && user.chars().count() <= MAX_USER_LEN
        && user.trim() == user
        && !user.chars().any(char::is_control);
    if ok {
        Ok(user.to_owned())
    } else {
        Err(FieldError::User(user.to_owned()))
    }
}

/// Role names valid in the access policy, at least one, no duplicates, and not the policy's
/// wildcard `*` (which means "any authenticated caller", not a role one can hold).
pub(crate) fn validate_roles(roles: Vec<String>) -> Result<Vec<String>, FieldError> {
    if roles.is_empty() {
        return Err(FieldError::NoRoles);
    }
    if roles.len() > MAX_ROLES {
        return Err(FieldError::TooManyRoles);
    }
    let mut seen = std::collections::HashSet::new();
    for role in &roles {
        let parsed = RoleName::parse(role)?;
        if parsed.is_wildcard() {
            return Err(FieldError::WildcardRole);
        }
        if !seen.insert(role.as_str()) {
            return Err(FieldError::DuplicateRole(role.clone()));
        }
    }
    Ok(roles)
}

fn validate_description(d: &str) -> Result<(), FieldError> {
    if d.chars().count() > MAX_DESCRIPTION_LEN || d.chars().any(|c| c.is_control() && c != '\n') {
        return Err(FieldError::Description);
    }
    Ok(())
}

/// Parses an RFC 3339 time into UTC.
pub(crate) fn parse_time(s: &str) -> Result<OffsetDateTime, FieldError> {
    let t = OffsetDateTime::parse(s, &Rfc3339).map_err(|_| FieldError::NotRfc3339(s.to_owned()))?;
    // Checked: near year 0 or 9999 an offset can move the UTC time out of range (found by
    // fuzz/fuzz_targets/apikey.rs), and such a time could not be written back to a key file.
    t.checked_to_offset(time::UtcOffset::UTC)
        .filter(|t| (0..=9999).contains(&t.year()))
        .ok_or_else(|| FieldError::OutOfRange(s.to_owned()))
}

/// Formats a time as RFC 3339 in UTC, to the second.
pub(crate) fn format_time(t: OffsetDateTime) -> String {
    let t = t
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(t);
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Now, in UTC, to the second (the precision of key files).
#[cfg(any(feature = "cli", test))]
pub(crate) fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(0).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> String {
        let hash = crate::apikey::NewKey::generate().hash.to_string();
        format!(
            r#"{{"id":"3f9a0c1b7d2e","user":"alice","roles":["mcp-user","mcp-admin"],
               "created":"2026-01-05T09:30:00Z","expires":"2026-04-05T09:30:00+02:00",
               "revoked":null,"hash":"{hash}","description":"CI"}}"#
        )
    }

    #[test]
    fn a_valid_record_parses_and_round_trips() {
        let rec = KeyRecord::from_json(sample().as_bytes()).unwrap();
        assert_eq!(rec.user, "alice");
        assert_eq!(rec.roles, ["mcp-user", "mcp-admin"]);
        assert_eq!(
            format_time(rec.expires.unwrap()),
            "2026-04-05T07:30:00Z",
            "offsets are normalised to UTC"
        );
        let again = KeyRecord::from_json(rec.to_json().as_bytes()).unwrap();
        assert_eq!(again, rec);
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            (r#""user":"alice""#, r#""user":"""#, "user"),
            (
                r#""roles":["mcp-user","mcp-admin"]"#,
                r#""roles":[]"#,
                "roles",
            ),
            (
                r#""roles":["mcp-user","mcp-admin"]"#,
                r#""roles":["bad role"]"#,
                "roles",
            ),
            (
                r#""roles":["mcp-user","mcp-admin"]"#,
                r#""roles":["*"]"#,
                "roles",
            ),
            (
                r#""created":"2026-01-05T09:30:00Z""#,
                r#""created":"yesterday""#,
                "created",
            ),
            (
                r#""created":"2026-01-05T09:30:00Z""#,
                r#""created":"2027-01-05T09:30:00Z""#,
                "expires",
            ),
            (r#""id":"3f9a0c1b7d2e""#, r#""id":"../../etc""#, "id"),
            (r#""revoked":null"#, r#""revoked":"soon""#, "revoked"),
            // In UTC these fall outside years 0000-9999.
            (
                r#""created":"2026-01-05T09:30:00Z""#,
                r#""created":"0000-01-01T00:30:00+01:00""#,
                "created",
            ),
            (
                r#""revoked":null"#,
                r#""revoked":"9999-12-31T23:30:00-01:00""#,
                "revoked",
            ),
        ];
        for (from, to, field) in cases {
            let text = sample().replace(from, to);
            assert_ne!(text, sample(), "{from}");
            let e = KeyRecord::from_json(text.as_bytes()).unwrap_err();
            assert_eq!(e.field, Some(field), "{to}: {e}");
            assert!(
                e.to_string().starts_with(&format!("field `{field}`")),
                "{e}"
            );
        }
    }

    #[test]
    fn unknown_fields_and_truncated_files_are_rejected() {
        let text = sample().replace(r#""description""#, r#""admin":true,"description""#);
        let e = KeyRecord::from_json(text.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("unknown field `admin`"), "{e}");
        let text = sample();
        let e = KeyRecord::from_json(&text.as_bytes()[..text.len() / 2]).unwrap_err();
        assert!(e.to_string().contains("EOF"), "{e}");
    }

    #[test]
    fn status_follows_revoked_expired_rotated_order() {
        let mut rec = KeyRecord::from_json(sample().as_bytes()).unwrap();
        let before = rec.created;
        let after = rec.expires.unwrap() + time::Duration::seconds(1);
        assert_eq!(rec.status(before), KeyStatus::Active);
        assert_eq!(rec.status(after), KeyStatus::Expired);
        rec.replaced_by = Some(KeyId::generate());
        assert_eq!(rec.status(before), KeyStatus::Rotated);
        assert!(rec.status(before).is_usable());
        rec.revoked = Some(before);
        assert_eq!(rec.status(before), KeyStatus::Revoked);
    }
}
