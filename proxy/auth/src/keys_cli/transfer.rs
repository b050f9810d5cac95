//! `keys export` and `keys import`: moving key records (with hashes, never secrets) between
//! directories, e.g. for backups or to seed a Kubernetes Secret.
//!
//! ```json
//! {"format": "mcp-gateway-keys", "version": 1, "exported": "2026-01-05T09:30:00Z",
//!  "keys": [ <key record>, ... ]}
//! ```

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::KeysCliError;
use super::dir::KeyDir;
use super::ops::fmt;
use crate::keystore::record::{KeyRecord, RawRecord};

const FORMAT: &str = "mcp-gateway-keys";
const VERSION: u32 = 1;
const MAX_IMPORT_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportDoc {
    format: String,
    version: u32,
    exported: String,
    keys: Vec<serde_json::Value>,
}

/// Writes every record to `file` (atomically, mode 0600) or to `out`. Refuses while any key
/// file is invalid, so an export is never silently incomplete.
pub(crate) fn export(
    dir: &KeyDir,
    file: Option<&Path>,
    now: OffsetDateTime,
    out: &mut dyn Write,
) -> Result<usize, KeysCliError> {
    let mut records = dir.all_valid()?;
    records.sort_by(|a, b| a.id.cmp(&b.id));
    let doc = ExportDoc {
        format: FORMAT.into(),
        version: VERSION,
        exported: fmt(now),
        keys: records
            .iter()
            .map(|r| serde_json::to_value(r.to_raw()).unwrap_or_default())
            .collect(),
    };
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    match file {
        Some(path) => KeyDir::write_file_atomic(path, text.as_bytes())?,
        None => out.write_all(text.as_bytes())?,
    }
    Ok(records.len())
}

/// Validates every record of an export, then writes the new and changed ones. Without
/// `overwrite`, a record whose id exists with different contents stops the import before
/// anything is written.
pub(crate) fn import(dir: &KeyDir, file: &Path, overwrite: bool) -> Result<String, KeysCliError> {
    let fail = |problem: String| KeysCliError::Import {
        path: file.to_owned(),
        problem,
    };
    let meta = std::fs::metadata(file).map_err(|source| KeysCliError::Io {
        path: file.to_owned(),
        source,
    })?;
    if meta.len() > MAX_IMPORT_BYTES {
        return Err(fail(format!("larger than {MAX_IMPORT_BYTES} bytes")));
    }
    let bytes = std::fs::read(file).map_err(|source| KeysCliError::Io {
        path: file.to_owned(),
        source,
    })?;
    let doc: ExportDoc = serde_json::from_slice(&bytes)
        .map_err(|e| fail(format!("not a key export (from `keys export`): {e}")))?;
    if doc.format != FORMAT || doc.version != VERSION {
        return Err(fail(format!(
            "format {:?} version {} is not {FORMAT:?} version {VERSION}",
            doc.format, doc.version
        )));
    }
    let mut records: Vec<KeyRecord> = Vec::with_capacity(doc.keys.len());
    for (i, value) in doc.keys.into_iter().enumerate() {
        let id = value
            .get("id")
            .and_then(|v| v.as_str())
            .map(|s| format!(" (id {s:?})"))
            .unwrap_or_default();
        let raw: RawRecord =
            serde_json::from_value(value).map_err(|e| fail(format!("keys[{i}]{id}: {e}")))?;
        let record = KeyRecord::from_raw(raw).map_err(|e| fail(format!("keys[{i}]{id}: {e}")))?;
        if records.iter().any(|r| r.id == record.id) {
            return Err(fail(format!("keys[{i}]{id}: the id appears twice")));
        }
        records.push(record);
    }
    let mut to_write = Vec::new();
    let (mut added, mut replaced, mut unchanged) = (0, 0, 0);
    let mut conflicts = Vec::new();
    for record in records {
        let path = dir.file_of(&record.id);
        if !path.exists() {
            added += 1;
            to_write.push(record);
            continue;
        }
        match dir.load(&record.id) {
            Ok(existing) if existing == record => unchanged += 1,
            _ if overwrite => {
                replaced += 1;
                to_write.push(record);
            }
            _ => conflicts.push(record.id.to_string()),
        }
    }
    if !conflicts.is_empty() {
        return Err(fail(format!(
            "{} key(s) already exist in {} with other contents: {}; nothing was imported (pass \
             --overwrite to replace them)",
            conflicts.len(),
            dir.path().display(),
            conflicts.join(", ")
        )));
    }
    for record in &to_write {
        dir.write(record)?;
    }
    Ok(format!(
        "imported into {}: {added} new, {replaced} replaced, {unchanged} unchanged",
        dir.path().display()
    ))
}
