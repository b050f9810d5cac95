//! Atomic file replacement for every component that writes a workspace (`workspace` for files
//! and checkpoints, `skills` for saved skills): the content goes to a temporary file beside the
//! target, is synced, then renamed over it, so after a crash the target holds the old content or
//! the new, never a mix. Temporary files carry [`TEMP_PREFIX`] so listings can hide them and
//! later writes can remove the ones a crash left behind; the quota counts them while they exist.

use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, RandomState};
use std::io::{self, Write};
use std::path::Path;
use std::time::SystemTime;

/// Prefix of the temporary files of atomic writes.
pub const TEMP_PREFIX: &str = ".mcp-tmp-";

/// Writes `content` to a new temporary file in `dir`, syncs it and renames it over `target`
/// (which must be in `dir`), then syncs `dir` where the filesystem allows it.
pub fn atomic_replace(dir: &Path, target: &Path, content: &[u8]) -> io::Result<()> {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Random per process (WASI's random source); two writers never share a temporary file.
    let nonce = RandomState::new().hash_one(SystemTime::now());
    let temp = dir.join(format!("{TEMP_PREFIX}{nonce:016x}-{name}"));
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        file.write_all(content)?;
        file.sync_all()
    })();
    let renamed = written.and_then(|()| fs::rename(&temp, target));
    if renamed.is_err() {
        let _ = fs::remove_file(&temp);
    }
    renamed?;
    // Persist the rename itself; not every filesystem lets a directory be synced, and the
    // data is already safe, so a failure here is not an error.
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_target_and_leaves_no_temporary_file() {
        let dir = std::env::temp_dir().join(format!("atomic-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let target = dir.join("note.txt");
        atomic_replace(&dir, &target, b"old").unwrap();
        atomic_replace(&dir, &target, b"new").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new");
        let leftovers: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(TEMP_PREFIX))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        // A target outside an existing directory fails and leaves nothing behind.
        let missing = dir.join("absent");
        assert!(atomic_replace(&missing, &missing.join("x"), b"x").is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
