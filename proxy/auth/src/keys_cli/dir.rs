//! The key directory as the commands see it: strict where the gateway is lenient. An invalid
//! file is an error naming the file and field (or, for listings, a warning), never silently
//! skipped.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::KeysCliError;
use crate::apikey::KeyId;
use crate::keystore::record::KeyRecord;
use crate::keystore::{key_path, list_files, read_file};

pub(crate) struct KeyDir {
    path: PathBuf,
}

/// Files that could not be read, with the reason.
pub(crate) type InvalidFiles = Vec<(PathBuf, String)>;

impl KeyDir {
    /// An existing directory.
    pub fn existing(path: &Path) -> Result<Self, KeysCliError> {
        if !path.is_dir() {
            return Err(KeysCliError::Io {
                path: path.to_owned(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "not a directory (create a key first, or check --dir / MCP_GATEWAY_KEYS_DIR)",
                ),
            });
        }
        Ok(Self {
            path: path.to_owned(),
        })
    }

    /// The directory, created (mode 0700) if missing.
    pub fn create(path: &Path) -> Result<Self, KeysCliError> {
        ensure_dir(path).map_err(|source| KeysCliError::Io {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self {
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file_of(&self, id: &KeyId) -> PathBuf {
        key_path(&self.path, id)
    }

    /// Every valid record (sorted by user, then creation) and every invalid file.
    pub fn scan(&self) -> Result<(Vec<KeyRecord>, InvalidFiles), KeysCliError> {
        let listed = list_files(&self.path).map_err(|source| KeysCliError::Io {
            path: self.path.clone(),
            source,
        })?;
        let mut records = Vec::new();
        let mut invalid = Vec::new();
        for (path, meta) in listed {
            let result = meta
                .map_err(|e| e.to_string())
                .and_then(|_| read_file(&path).map_err(|e| e.to_string()));
            match result {
                Ok(record) => records.push(record),
                Err(reason) => invalid.push((path, reason)),
            }
        }
        records.sort_by(|a, b| (&a.user, a.created, &a.id).cmp(&(&b.user, b.created, &b.id)));
        Ok((records, invalid))
    }

    /// Every record; any invalid file is an error.
    pub fn all_valid(&self) -> Result<Vec<KeyRecord>, KeysCliError> {
        let (records, invalid) = self.scan()?;
        if !invalid.is_empty() {
            return Err(KeysCliError::InvalidFiles {
                dir: self.path.clone(),
                files: invalid,
            });
        }
        Ok(records)
    }

    /// One key's record.
    pub fn load(&self, id: &KeyId) -> Result<KeyRecord, KeysCliError> {
        let path = self.file_of(id);
        if !path.exists() {
            return Err(KeysCliError::NotFound {
                id: id.clone(),
                dir: self.path.clone(),
            });
        }
        read_file(&path).map_err(|source| KeysCliError::InvalidFile { path, source })
    }

    /// Writes a record atomically (mode 0600); returns its path.
    pub fn write(&self, record: &KeyRecord) -> Result<PathBuf, KeysCliError> {
        let path = self.file_of(&record.id);
        let name = format!("{}.json", record.id);
        write_atomic(&self.path, &name, record.to_json().as_bytes()).map_err(|source| {
            KeysCliError::Io {
                path: path.clone(),
                source,
            }
        })?;
        Ok(path)
    }

    /// Writes any file into the directory's filesystem atomically (used for exports).
    pub fn write_file_atomic(path: &Path, contents: &[u8]) -> Result<(), KeysCliError> {
        let io_err = |source| KeysCliError::Io {
            path: path.to_owned(),
            source,
        };
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| io_err(std::io::Error::other("not a file name")))?;
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        write_atomic(parent, name, contents).map_err(io_err)
    }
}

/// Writes `contents` to `dir/name` atomically: a temp file in the same directory (mode 0600),
/// fsync, rename over the target, fsync the directory. Readers see the old or the new file,
/// never a partial one, and the change survives a crash once this returns.
fn write_atomic(dir: &Path, name: &str, contents: &[u8]) -> io::Result<()> {
    let mut suffix = [0u8; 6];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut suffix);
    let tmp = dir.join(format!(".{name}.{}.tmp", crate::apikey::hex(&suffix)));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, dir.join(name))?;
        fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Creates the key directory (mode 0700) if it does not exist.
fn ensure_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt as _;

    use super::*;

    #[test]
    fn atomic_writes_leave_a_0600_file_and_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        write_atomic(dir.path(), "a.json", b"{}").unwrap();
        write_atomic(dir.path(), "a.json", b"{\"v\":2}").unwrap();
        let meta = fs::metadata(dir.path().join("a.json")).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o600);
        assert_eq!(
            fs::read_to_string(dir.path().join("a.json")).unwrap(),
            "{\"v\":2}"
        );
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["a.json"]);
    }
}
