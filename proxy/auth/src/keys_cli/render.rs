//! How the commands print: aligned tables and notes for people, `--json` for scripts.
//! The only place a secret is ever printed is [`new_keys`], once per created key.

use std::io::{self, Write};
use std::path::PathBuf;

use mcp_contract::units::Span;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::dir::KeyDir;
use super::ops::{Created, fmt};
use crate::keystore::record::{KeyRecord, KeyStatus};

/// Days from `now` to the key's expiry, rounded to the nearest day, while it is usable (a 90d
/// key shows 90 right after creation, one expiring in 10 hours shows 0).
fn days_left(r: &KeyRecord, now: OffsetDateTime) -> Option<i64> {
    match r.status(now) {
        KeyStatus::Active | KeyStatus::Rotated => r
            .expires
            .map(|e| ((e - now).whole_seconds() + 43_200).div_euclid(86_400)),
        _ => None,
    }
}

fn date(t: Option<OffsetDateTime>) -> String {
    t.map_or_else(|| "never".to_owned(), |t| fmt(t)[..10].to_owned())
}

fn summary_json(r: &KeyRecord, now: OffsetDateTime) -> Value {
    json!({
        "id": r.id.as_str(),
        "user": r.user,
        "roles": r.roles,
        "created": fmt(r.created),
        "expires": r.expires.map(fmt),
        "revoked": r.revoked.map(fmt),
        "days_left": days_left(r, now),
        "status": r.status(now).as_str(),
        "description": r.description,
        "replaced_by": r.replaced_by.as_ref().map(|id| id.as_str()),
    })
}

fn table(out: &mut dyn Write, header: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  "));
            }
        }
        s
    };
    writeln!(out, "{}", line(header.to_vec()))?;
    for row in rows {
        writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

/// The records as a pretty-printed JSON array of [`summary_json`]s (`keys list --json`,
/// `keys expiring --json`).
pub(crate) fn summaries_json(
    out: &mut dyn Write,
    records: &[KeyRecord],
    now: OffsetDateTime,
) -> io::Result<()> {
    let all: Vec<Value> = records.iter().map(|r| summary_json(r, now)).collect();
    writeln!(
        out,
        "{}",
        serde_json::to_string_pretty(&all).unwrap_or_default()
    )
}

/// `keys list` as a table.
pub(crate) fn list(
    out: &mut dyn Write,
    records: &[KeyRecord],
    now: OffsetDateTime,
) -> io::Result<()> {
    if records.is_empty() {
        return writeln!(out, "no keys");
    }
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            vec![
                r.id.to_string(),
                r.user.clone(),
                r.roles.join(","),
                date(Some(r.created)),
                date(r.expires),
                days_left(r, now).map_or_else(|| "-".to_owned(), |d| d.to_string()),
                r.status(now).as_str().to_owned(),
            ]
        })
        .collect();
    table(
        out,
        &[
            "ID",
            "USER",
            "ROLES",
            "CREATED",
            "EXPIRES",
            "DAYS LEFT",
            "STATUS",
        ],
        &rows,
    )
}

/// `keys list --csv`: one row per key, for spreadsheets and reports. Fields that may hold commas
/// or quotes are quoted (RFC 4180).
pub(crate) fn list_csv(
    out: &mut dyn Write,
    records: &[KeyRecord],
    now: OffsetDateTime,
) -> io::Result<()> {
    fn field(s: &str) -> String {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_owned()
        }
    }
    writeln!(
        out,
        "id,user,roles,created,expires,days_left,status,description"
    )?;
    for r in records {
        let row = [
            r.id.to_string(),
            r.user.clone(),
            r.roles.join(" "),
            fmt(r.created),
            r.expires.map(fmt).unwrap_or_else(|| "never".to_owned()),
            days_left(r, now).map(|d| d.to_string()).unwrap_or_default(),
            r.status(now).as_str().to_owned(),
            r.description.clone().unwrap_or_default(),
        ];
        let row: Vec<String> = row.iter().map(|f| field(f.as_str())).collect();
        writeln!(out, "{}", row.join(","))?;
    }
    Ok(())
}

/// `keys update`: what changed.
pub(crate) fn updated(
    out: &mut dyn Write,
    before: &KeyRecord,
    after: &KeyRecord,
) -> io::Result<()> {
    writeln!(out, "updated key {} ({})", after.id, after.user)?;
    if before.roles != after.roles {
        writeln!(
            out,
            "  roles:    {} -> {}",
            before.roles.join(", "),
            after.roles.join(", ")
        )?;
    }
    if before.expires != after.expires {
        writeln!(
            out,
            "  expires:  {} -> {}",
            date(before.expires),
            date(after.expires)
        )?;
    }
    if before.description != after.description {
        writeln!(
            out,
            "  description: {} -> {}",
            before.description.as_deref().unwrap_or("-"),
            after.description.as_deref().unwrap_or("-")
        )?;
    }
    if before == after {
        writeln!(out, "  (nothing changed)")?;
    }
    writeln!(out, "same key and secret: its owner changes nothing")
}

/// `keys expiring`.
pub(crate) fn expiring(
    out: &mut dyn Write,
    records: &[KeyRecord],
    within: Span,
    now: OffsetDateTime,
) -> io::Result<()> {
    if records.is_empty() {
        return writeln!(out, "no active keys expire within {within}");
    }
    writeln!(
        out,
        "{} active key(s) expire within {within}:",
        records.len()
    )?;
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            vec![
                r.id.to_string(),
                r.user.clone(),
                r.expires.map(fmt).unwrap_or_default(),
                days_left(r, now).map_or_else(|| "-".to_owned(), |d| d.to_string()),
            ]
        })
        .collect();
    table(out, &["ID", "USER", "EXPIRES", "DAYS LEFT"], &rows)?;
    writeln!(
        out,
        "rotate them with `keys rotate --all-expiring-within {within} --grace 24h`"
    )
}

/// `keys create` and `keys rotate`: the new keys, each secret shown this once.
pub(crate) fn new_keys(
    out: &mut dyn Write,
    dir: &KeyDir,
    created: &[Created],
    json: bool,
) -> io::Result<()> {
    if json {
        let all: Vec<Value> = created
            .iter()
            .map(|c| {
                json!({
                    "id": c.record.id.as_str(),
                    "user": c.record.user,
                    "roles": c.record.roles,
                    "expires": c.record.expires.map(fmt),
                    "replaces": c.replaces.as_ref().map(|o| o.id.as_str()),
                    "key": c.key.reveal(),
                })
            })
            .collect();
        let doc = if all.len() == 1 && created[0].replaces.is_none() {
            all.into_iter().next().unwrap_or(Value::Null)
        } else {
            Value::Array(all)
        };
        return writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&doc).unwrap_or_default()
        );
    }
    for c in created {
        let r = &c.record;
        writeln!(out, "created key {} for {}", r.id, r.user)?;
        writeln!(out, "  roles:    {}", r.roles.join(", "))?;
        let expires = r.expires.map_or_else(
            || "never".to_owned(),
            |e| format!("{} ({} days)", fmt(e), (e - r.created).whole_days()),
        );
        writeln!(out, "  expires:  {expires}")?;
        writeln!(out, "  file:     {}", dir.file_of(&r.id).display())?;
        writeln!(out)?;
        writeln!(out, "  {}", c.key.reveal())?;
        writeln!(out)?;
    }
    if !created.is_empty() {
        writeln!(
            out,
            "This is the only time the key is shown: only its hash is stored. Hand it over on a \
             secure channel."
        )?;
    }
    Ok(())
}

/// `keys rotate`: what happened to the old keys, then the new ones.
pub(crate) fn rotated(
    out: &mut dyn Write,
    dir: &KeyDir,
    created: &[Created],
    grace: Option<Span>,
    json: bool,
) -> io::Result<()> {
    if !json {
        for c in created {
            if let Some(old) = &c.replaces {
                match grace {
                    Some(g) => writeln!(
                        out,
                        "rotated key {} ({}): it stays valid until {} (grace {g})",
                        old.id,
                        old.user,
                        old.expires.map(fmt).unwrap_or_default()
                    )?,
                    None => writeln!(out, "rotated key {} ({}): it is revoked", old.id, old.user)?,
                }
            }
        }
        if !created.is_empty() {
            writeln!(out)?;
        }
    }
    new_keys(out, dir, created, json)
}

/// Warnings about invalid files, for listings that still show the valid ones.
pub(crate) fn warn_invalid(err: &mut dyn Write, invalid: &[(PathBuf, String)]) -> io::Result<()> {
    for (path, reason) in invalid {
        writeln!(err, "warning: {}: {reason} (ignored)", path.display())?;
    }
    Ok(())
}

pub(crate) fn invalid_list(files: &[(PathBuf, String)]) -> String {
    files
        .iter()
        .map(|(p, reason)| format!("  {}: {reason}", p.display()))
        .collect::<Vec<_>>()
        .join("\n")
}
