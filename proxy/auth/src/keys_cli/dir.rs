//! The key directory as the commands see it: strict where the gateway is lenient. An invalid
//! file is an error naming the file and field (or, for listings, a warning), never silently
//! skipped.

use std::path::{Path, PathBuf};

use super::KeysCliError;
use crate::apikey::KeyId;
use crate::keystore::record::KeyRecord;
use crate::keystore::{ensure_dir, key_path, list_files, read_file, write_atomic};

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
