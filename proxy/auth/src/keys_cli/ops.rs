//! What the lifecycle commands do to the key directory: create, update, revoke, rotate, and
//! which keys are expiring. Output formatting is in `render`.

use std::io::Write;

use mcp_contract::units::Span;
use time::OffsetDateTime;

use super::KeysCliError;
use super::dir::KeyDir;
use crate::apikey::{KeyId, NewKey};
use crate::keystore::record::{KeyRecord, KeyStatus, validate_roles, validate_user};

/// A key's lifetime from creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// The key never expires.
    Never,
    /// The key expires this long after it is created.
    After(Span),
}

/// A key just created (or created by rotation), with the secret to show once.
pub(crate) struct Created {
    pub record: KeyRecord,
    pub key: NewKey,
    /// For rotation: the key it replaces, after the update.
    pub replaces: Option<KeyRecord>,
}

pub(crate) enum RotateTarget {
    Id(KeyId),
    User(String),
    ExpiringWithin(Span),
    /// Active keys created more than this long ago (the guide's "rotate keys older than 90 days").
    OlderThan(Span),
    /// Every active key.
    All,
}

/// What `keys update` changes; `None` keeps the field as it is.
pub(crate) struct Change {
    pub roles: Option<Vec<String>>,
    pub description: Option<String>,
    /// A new lifetime from now (or never).
    pub expires: Option<Expiry>,
}

fn add(t: OffsetDateTime, span: std::time::Duration) -> Result<OffsetDateTime, KeysCliError> {
    time::Duration::try_from(span)
        .ok()
        .and_then(|d| t.checked_add(d))
        .ok_or_else(|| KeysCliError::Invalid(format!("{} is too far in the future", Span(span))))
}

/// A key id not used by any file in the directory.
fn fresh_key(dir: &KeyDir) -> NewKey {
    loop {
        let key = NewKey::generate();
        if !dir.file_of(&key.id).exists() {
            return key;
        }
    }
}

/// Validates a record by its file form, so every command writes only what the store accepts.
fn checked(record: KeyRecord) -> Result<KeyRecord, KeysCliError> {
    KeyRecord::from_json(record.to_json().as_bytes())
        .map_err(|e| KeysCliError::Invalid(e.to_string()))
}

pub(crate) fn create(
    dir: &KeyDir,
    user: &str,
    roles: Vec<String>,
    expires: Expiry,
    description: Option<String>,
    now: OffsetDateTime,
) -> Result<Created, KeysCliError> {
    let user = validate_user(user).map_err(|e| KeysCliError::Invalid(format!("--user: {e}")))?;
    let roles = validate_roles(roles).map_err(|e| KeysCliError::Invalid(format!("--role: {e}")))?;
    let expires = match expires {
        Expiry::Never => None,
        Expiry::After(span) if span.get().is_zero() => {
            return Err(KeysCliError::Invalid(
                "--expires: must be above 0, or \"never\"".into(),
            ));
        }
        Expiry::After(span) => Some(add(now, span.get())?),
    };
    let key = fresh_key(dir);
    let record = checked(KeyRecord {
        id: key.id.clone(),
        user,
        roles,
        created: now,
        expires,
        revoked: None,
        hash: key.hash.clone(),
        description,
        replaced_by: None,
    })
    .map_err(|e| KeysCliError::Invalid(format!("--description: {e}")))?;
    dir.write(&record)?;
    Ok(Created {
        record,
        key,
        replaces: None,
    })
}

/// Changes a key's roles, description or expiry in place: the same id and secret, so its owner
/// changes nothing, and every gateway applies it at its next reload of the file. Returns the
/// record before and after.
pub(crate) fn update(
    dir: &KeyDir,
    id: &KeyId,
    change: Change,
    now: OffsetDateTime,
) -> Result<(KeyRecord, KeyRecord), KeysCliError> {
    let before = dir.load(id)?;
    if before.revoked.is_some() {
        return Err(KeysCliError::UpdateRevoked(id.clone()));
    }
    let mut after = before.clone();
    if let Some(roles) = change.roles {
        after.roles =
            validate_roles(roles).map_err(|e| KeysCliError::Invalid(format!("--role: {e}")))?;
    }
    if let Some(description) = change.description {
        after.description = (!description.is_empty()).then_some(description);
    }
    match change.expires {
        None => {}
        Some(Expiry::Never) => after.expires = None,
        Some(Expiry::After(span)) if span.get().is_zero() => {
            return Err(KeysCliError::Invalid(
                "--expires: must be above 0, or \"never\" (to end a key now, revoke it)".into(),
            ));
        }
        Some(Expiry::After(span)) => after.expires = Some(add(now, span.get())?),
    }
    let after = checked(after)?;
    dir.write(&after)?;
    Ok((before, after))
}

/// Revokes one key or all keys of a user. Revocation is never blocked by unrelated invalid
/// files, but if any exist after revoking a user's keys, that is an error: one of them could
/// belong to the user.
pub(crate) fn revoke(
    dir: &KeyDir,
    id: Option<&str>,
    user: Option<&str>,
    now: OffsetDateTime,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), KeysCliError> {
    if let Some(id) = id {
        let id = KeyId::parse(id).map_err(|e| KeysCliError::Invalid(e.to_string()))?;
        let mut record = dir.load(&id)?;
        if let Some(at) = record.revoked {
            writeln!(
                out,
                "key {id} ({}) was already revoked at {}",
                record.user,
                fmt(at)
            )?;
            return Ok(());
        }
        record.revoked = Some(now);
        dir.write(&record)?;
        writeln!(out, "revoked key {id} ({})", record.user)?;
        return Ok(());
    }
    let Some(user) = user else {
        return Err(KeysCliError::Invalid(
            "say which keys to revoke: an ID or --user".into(),
        ));
    };
    let (records, invalid) = dir.scan()?;
    let mut count = 0;
    for mut record in records
        .into_iter()
        .filter(|r| r.user == user && r.revoked.is_none())
    {
        record.revoked = Some(now);
        dir.write(&record)?;
        writeln!(out, "revoked key {} ({user})", record.id)?;
        count += 1;
    }
    if !invalid.is_empty() {
        return Err(KeysCliError::InvalidFiles {
            dir: dir.path().to_owned(),
            files: invalid,
        });
    }
    if count == 0 {
        writeln!(err, "no unrevoked keys of user {user:?}; nothing to revoke")?;
    }
    Ok(())
}

/// Rotates the target keys: a new key with the same user, roles, description and lifetime
/// length; the old one points at it (`replaced_by`) and is revoked now, or expires after the
/// grace span. The new key is written first, so a crash in between leaves both usable.
pub(crate) fn rotate(
    dir: &KeyDir,
    target: RotateTarget,
    grace: Option<Span>,
    now: OffsetDateTime,
) -> Result<Vec<Created>, KeysCliError> {
    let olds = match target {
        RotateTarget::Id(id) => {
            let record = dir.load(&id)?;
            if record.revoked.is_some() {
                return Err(KeysCliError::RotateRevoked(id));
            }
            if let Some(by) = record.replaced_by {
                return Err(KeysCliError::AlreadyRotated { id, by });
            }
            vec![record]
        }
        // Bulk rotation only touches active keys: never revoked, expired or already rotated
        // ones (an expired key coming back to life would surprise its owner's offboarding).
        RotateTarget::User(user) => dir
            .all_valid()?
            .into_iter()
            .filter(|r| r.user == user && r.status(now) == KeyStatus::Active)
            .collect(),
        RotateTarget::ExpiringWithin(within) => expiring(&dir.all_valid()?, within, now),
        RotateTarget::OlderThan(age) => {
            let age = time::Duration::try_from(age.get()).unwrap_or(time::Duration::MAX);
            dir.all_valid()?
                .into_iter()
                .filter(|r| r.status(now) == KeyStatus::Active && now - r.created > age)
                .collect()
        }
        RotateTarget::All => dir
            .all_valid()?
            .into_iter()
            .filter(|r| r.status(now) == KeyStatus::Active)
            .collect(),
    };
    let mut rotated = Vec::with_capacity(olds.len());
    for mut old in olds {
        let key = fresh_key(dir);
        let lifetime = old.expires.map(|e| e - old.created);
        let expires = match lifetime {
            Some(l) => Some(now.checked_add(l).ok_or_else(|| {
                KeysCliError::Invalid(format!("key {}: lifetime too long", old.id))
            })?),
            None => None,
        };
        let new = checked(KeyRecord {
            id: key.id.clone(),
            user: old.user.clone(),
            roles: old.roles.clone(),
            created: now,
            expires,
            revoked: None,
            hash: key.hash.clone(),
            description: old.description.clone(),
            replaced_by: None,
        })?;
        dir.write(&new)?;
        old.replaced_by = Some(new.id.clone());
        match grace {
            Some(grace) => {
                let end = add(now, grace.get())?;
                old.expires = Some(old.expires.map_or(end, |e| e.min(end)));
            }
            None => old.revoked = Some(now),
        }
        dir.write(&old)?;
        rotated.push(Created {
            record: new,
            key,
            replaces: Some(old),
        });
    }
    Ok(rotated)
}

/// Active keys (not revoked, expired or rotated) that expire within `within` of `now`, soonest
/// first.
pub(crate) fn expiring(records: &[KeyRecord], within: Span, now: OffsetDateTime) -> Vec<KeyRecord> {
    let horizon = add(now, within.get()).unwrap_or(OffsetDateTime::new_utc(
        time::Date::MAX,
        time::Time::MIDNIGHT,
    ));
    let mut found: Vec<KeyRecord> = records
        .iter()
        .filter(|r| r.status(now) == KeyStatus::Active && r.expires.is_some_and(|e| e <= horizon))
        .cloned()
        .collect();
    found.sort_by_key(|r| r.expires);
    found
}

pub(crate) fn fmt(t: OffsetDateTime) -> String {
    crate::keystore::record::format_time(t)
}
