//! Checkpoints: named JSON values an agent saves to resume work later, stored as
//! `.checkpoints/<name>.json` in the caller's workspace (hidden from `list_files`, counted in
//! the quota, written atomically like any file).

use std::time::SystemTime;

use mcp_tool_sdk::serde_json::{self, Value};
use serde::{Deserialize, Serialize};

use crate::paths::WsPath;
use crate::store::{Store, StoreError};

const DIR: &str = ".checkpoints";
const MAX_NAME_CHARS: usize = 64;

/// A checkpoint as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub name: String,
    /// RFC 3339, UTC.
    pub saved_at: String,
    pub data: Value,
}

/// A checkpoint as listed: its name, size and when it was saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    pub name: String,
    pub bytes: u64,
    pub modified: Option<SystemTime>,
}

/// Checks a checkpoint name: 1-64 of `A-Z a-z 0-9 _ - .`, not starting with a dot.
pub fn check_name(name: &str) -> Result<(), StoreError> {
    let valid = !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if valid {
        Ok(())
    } else {
        Err(StoreError::Refused(format!(
            "checkpoint name {name:?} is not valid; use 1-{MAX_NAME_CHARS} characters of \
             A-Z a-z 0-9 _ - . not starting with a dot (e.g. `analysis-step-2`)"
        )))
    }
}

fn path(name: &str) -> WsPath {
    WsPath::internal(&[DIR, &format!("{name}.json")])
}

/// Saves `checkpoint`, replacing one of the same name. Returns its size in bytes.
pub fn save(store: &Store, checkpoint: &Checkpoint) -> Result<u64, StoreError> {
    check_name(&checkpoint.name)?;
    let bytes = serde_json::to_vec(checkpoint)
        .map_err(|e| StoreError::Io(format!("could not encode the checkpoint: {e}")))?;
    store.write(&path(&checkpoint.name), &bytes)?;
    Ok(bytes.len() as u64)
}

/// Loads the checkpoint `name`.
pub fn load(store: &Store, name: &str) -> Result<Checkpoint, StoreError> {
    check_name(name)?;
    let (bytes, _) = store.read(&path(name)).map_err(|error| match error {
        StoreError::Refused(_) => StoreError::Refused(format!(
            "no checkpoint is named `{name}`; list_checkpoints shows the saved ones"
        )),
        other => other,
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        StoreError::Io(format!(
            "checkpoint `{name}` is damaged ({e}); save it again to replace it"
        ))
    })
}

/// Every checkpoint, by name.
pub fn list(store: &Store) -> Result<Vec<Saved>, StoreError> {
    let dir = store.root.join(DIR);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => {
            return Err(StoreError::Io(format!(
                "could not list checkpoints: {error}"
            )));
        }
    };
    let mut saved: Vec<Saved> = entries
        .flatten()
        .filter_map(|entry| {
            let file = entry.file_name().to_string_lossy().into_owned();
            let name = file.strip_suffix(".json")?.to_owned();
            check_name(&name).ok()?;
            let meta = entry.metadata().ok().filter(|m| m.is_file())?;
            Some(Saved {
                name,
                bytes: meta.len(),
                modified: meta.modified().ok(),
            })
        })
        .collect();
    saved.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(saved)
}

#[cfg(test)]
mod tests {
    use mcp_tool_sdk::serde_json::json;

    use super::*;

    #[test]
    fn checkpoints_round_trip_and_list_by_name() {
        let root = std::env::temp_dir().join(format!("ws-checkpoints-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let store = Store::new(root.clone(), workspace_quota::Limits::default());
        let checkpoint = |name: &str, data| Checkpoint {
            name: name.to_owned(),
            saved_at: "2026-01-15T10:00:00Z".to_owned(),
            data,
        };
        save(&store, &checkpoint("step-2", json!({"done": [1, 2]}))).unwrap();
        save(&store, &checkpoint("a.first", json!(null))).unwrap();
        save(&store, &checkpoint("step-2", json!({"done": [1, 2, 3]}))).unwrap();
        assert_eq!(
            load(&store, "step-2").unwrap().data,
            json!({"done": [1, 2, 3]})
        );
        let names: Vec<_> = list(&store).unwrap().into_iter().map(|s| s.name).collect();
        assert_eq!(names, vec!["a.first", "step-2"]);
        let missing = load(&store, "nope").unwrap_err();
        assert!(matches!(&missing, StoreError::Refused(m) if m.contains("list_checkpoints")));
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn names_that_could_escape_are_refused() {
        for bad in ["", "../x", "a/b", ".hidden", "x\0", &"n".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_name("run_1.v2-final").is_ok());
    }
}
