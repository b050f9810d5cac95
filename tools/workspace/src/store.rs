//! The files of one workspace: atomic writes under quota, reads, listings, deletes and usage.
//! Paths arrive validated ([`WsPath`]); this module owns what happens on disk. The quota
//! (bytes, files and directories, shared with the `skills` component) and how concurrent
//! writes are kept within it belong to `workspace_quota`: a write reserves its bytes and new
//! entries before it checks, and releases them once its file is in place.
//!
//! A write goes to a temporary file in the target's directory, is synced, then renamed over
//! the target, so after a crash the target holds the old content or the new, never a mix.
//! Stale temporary files (a crash between write and rename) are hidden from listings and
//! removed by later writes to the same directory.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use workspace_quota::{Need, Quota, QuotaError, atomic_replace, format_bytes};

use crate::paths::{RESERVED_DIRS, TEMP_PREFIX, WsPath};

/// Temporary files older than this are leftovers of a crash, not writes in flight.
const STALE_TEMP_AGE: Duration = Duration::from_secs(600);

/// A workspace root and its quota.
#[derive(Debug, Clone)]
pub struct Store {
    pub root: PathBuf,
    pub quota: Quota,
}

/// Why a store operation failed, in words for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The request cannot be carried out as asked (a missing file, a directory for a file).
    Refused(String),
    /// The write would pass a quota.
    Quota(String),
    /// The filesystem failed.
    Io(String),
}

/// A file (or an empty directory) found by [`Store::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub path: String,
    pub bytes: u64,
    pub modified: Option<SystemTime>,
    /// An empty directory: it holds no file but takes an entry of the quota.
    pub directory: bool,
}

/// Bytes, files and directories in a workspace.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Every byte stored, bookkeeping included.
    pub bytes: u64,
    /// The caller's own files (not checkpoints, skills or temporary files).
    pub files: u64,
    /// Files and directories of every kind: what the quota's entry limit counts.
    pub entries: u64,
}

fn io_error(what: &str, path: &WsPath) -> impl FnOnce(io::Error) -> StoreError {
    let path = path.display();
    let what = what.to_owned();
    move |error| StoreError::Io(format!("could not {what} `{path}`: {error}"))
}

impl Store {
    pub fn new(root: PathBuf, limits: workspace_quota::Limits) -> Self {
        Self {
            quota: Quota::new(root.clone(), limits),
            root,
        }
    }

    pub fn max_file_bytes(&self) -> u64 {
        self.quota.limits.max_file_bytes
    }

    /// Replaces (or creates) the file at `path` with `content`, atomically, within quota.
    /// Returns whether the file is new.
    pub fn write(&self, path: &WsPath, content: &[u8]) -> Result<bool, StoreError> {
        let target = path.under(&self.root);
        let size = content.len() as u64;
        let what = format!("writing `{}`", path.display());
        self.quota
            .check_file_size(&format!("`{}`", path.display()), size)
            .map_err(quota_error)?;
        let existing = match fs::metadata(&target) {
            Ok(meta) if meta.is_dir() => {
                return Err(StoreError::Refused(format!(
                    "`{}` is a directory; choose a file name inside it",
                    path.display()
                )));
            }
            Ok(_) => true,
            Err(_) => false,
        };
        let need = Need {
            bytes: size,
            entries: u64::from(!existing) + missing_dirs(&self.root, path),
        };
        let reservation = self
            .quota
            .reserve(&what, &target, need)
            .map_err(quota_error)?;
        let dir = target.parent().unwrap_or(&self.root);
        fs::create_dir_all(dir).map_err(|error| {
            StoreError::Refused(format!(
                "cannot create the directories of `{}` (is a parent a file?): {error}",
                path.display()
            ))
        })?;
        remove_stale_temps(dir);
        atomic_replace(dir, &target, content).map_err(io_error("write", path))?;
        drop(reservation);
        Ok(!existing)
    }

    /// The file's content.
    pub fn read(&self, path: &WsPath) -> Result<(Vec<u8>, Option<SystemTime>), StoreError> {
        let target = path.under(&self.root);
        let meta = fs::metadata(&target).map_err(|_| not_found(path))?;
        if meta.is_dir() {
            return Err(StoreError::Refused(format!(
                "`{}` is a directory; use list_files to see what is in it",
                path.display()
            )));
        }
        if meta.len() > self.max_file_bytes() {
            return Err(StoreError::Refused(format!(
                "`{}` is {} bytes, more than the {} a file may hold; it was not written by these \
                 tools",
                path.display(),
                meta.len(),
                format_bytes(self.max_file_bytes())
            )));
        }
        let content = fs::read(&target).map_err(io_error("read", path))?;
        Ok((content, meta.modified().ok()))
    }

    /// The caller's files under `path`, recursively, in path order, at most `max`; and whether
    /// there were more.
    pub fn list(&self, path: &WsPath, max: usize) -> Result<(Vec<Listed>, bool), StoreError> {
        let dir = path.under(&self.root);
        match fs::metadata(&dir) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(StoreError::Refused(format!(
                    "`{}` is a file, not a directory; use read_file to read it",
                    path.display()
                )));
            }
            Err(_) => return Err(not_found(path)),
        }
        let mut found = Vec::new();
        let prefix = if path.is_root() {
            String::new()
        } else {
            format!("{}/", path.display())
        };
        let complete = walk(&dir, &prefix, path.is_root(), &mut |relative, meta| {
            if found.len() >= max {
                return false;
            }
            let directory = meta.is_dir();
            found.push(Listed {
                path: relative.to_owned(),
                bytes: if directory { 0 } else { meta.len() },
                modified: meta.modified().ok(),
                directory,
            });
            true
        })
        .map_err(io_error("list", path))?;
        Ok((found, !complete))
    }

    /// Deletes a file, or an empty directory. Returns the bytes freed.
    pub fn delete(&self, path: &WsPath) -> Result<u64, StoreError> {
        let target = path.under(&self.root);
        let meta = fs::symlink_metadata(&target).map_err(|_| not_found(path))?;
        if meta.is_dir() {
            let entries = fs::read_dir(&target)
                .map_err(io_error("open", path))?
                .count();
            if entries > 0 {
                return Err(StoreError::Refused(format!(
                    "`{}` is a directory holding {entries} entries; delete its files first",
                    path.display()
                )));
            }
            fs::remove_dir(&target).map_err(io_error("delete", path))?;
            return Ok(0);
        }
        fs::remove_file(&target).map_err(io_error("delete", path))?;
        Ok(meta.len())
    }

    /// Bytes stored in all, the caller's own files, and every file and directory.
    pub fn usage(&self) -> io::Result<Usage> {
        let mut usage = Usage {
            entries: self.quota.usage()?.entries(),
            ..Usage::default()
        };
        walk(&self.root, "", false, &mut |relative, meta| {
            if meta.is_dir() {
                return true;
            }
            usage.bytes += meta.len();
            let first = relative.split('/').next().unwrap_or_default();
            let bookkeeping = RESERVED_DIRS.contains(&first)
                || relative
                    .split('/')
                    .any(|part| part.starts_with(TEMP_PREFIX));
            if !bookkeeping {
                usage.files += 1;
            }
            true
        })?;
        Ok(usage)
    }
}

/// How many directories on the way to `path`'s file do not exist yet.
fn missing_dirs(root: &Path, path: &WsPath) -> u64 {
    let mut dir = path.under(root);
    let mut missing = 0;
    while dir.pop() && dir.starts_with(root) && dir != root {
        if dir.is_dir() {
            break;
        }
        missing += 1;
    }
    missing
}

fn quota_error(error: QuotaError) -> StoreError {
    match error {
        QuotaError::Io(message) => StoreError::Io(message),
        other => StoreError::Quota(other.to_string()),
    }
}

fn not_found(path: &WsPath) -> StoreError {
    StoreError::Refused(format!(
        "nothing exists at `{}`; list_files shows what is in the workspace",
        path.display()
    ))
}

/// Calls `visit(relative path, metadata)` for each file and each empty directory under `dir`,
/// sorted, until it returns `false`; returns whether the walk completed. With `hide_bookkeeping`, the reserved
/// directories at the root and temporary files are skipped. Links are not followed.
fn walk(
    dir: &Path,
    prefix: &str,
    hide_bookkeeping: bool,
    visit: &mut dyn FnMut(&str, &fs::Metadata) -> bool,
) -> io::Result<bool> {
    let mut entries = workspace_quota::read_dir_all(dir)?;
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let hidden = name.starts_with(TEMP_PREFIX)
            || (prefix.is_empty() && RESERVED_DIRS.contains(&name.as_str()));
        if hide_bookkeeping && hidden {
            continue;
        }
        // Gone since the listing (deleted, or a temporary file renamed): not there any more.
        let gone = |e: &io::Error| e.kind() == io::ErrorKind::NotFound;
        let meta = match entry.metadata() {
            Ok(meta) => meta,
            Err(e) if gone(&e) => continue,
            Err(e) => return Err(e),
        };
        let relative = format!("{prefix}{name}");
        if meta.is_dir() {
            let empty = match workspace_quota::read_dir_all(&entry.path()) {
                Ok(children) => children.is_empty(),
                Err(e) if gone(&e) => continue,
                Err(e) => return Err(e),
            };
            if empty && !visit(&relative, &meta) {
                return Ok(false);
            }
            if !walk(
                &entry.path(),
                &format!("{relative}/"),
                hide_bookkeeping,
                visit,
            )? {
                return Ok(false);
            }
        } else if meta.is_file() && !visit(&relative, &meta) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Removes temporary files in `dir` left behind by a crash.
fn remove_stale_temps(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let stale = entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX)
            && entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|at| now.duration_since(at).unwrap_or_default() > STALE_TEMP_AGE);
        if stale {
            let _ = fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(name: &str) -> Store {
        let root = std::env::temp_dir().join(format!("ws-store-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        Store::new(
            root,
            workspace_quota::Limits {
                max_bytes: 250,
                max_entries: 8,
                max_file_bytes: 100,
            },
        )
    }

    fn p(path: &str) -> WsPath {
        WsPath::parse(path, true).unwrap()
    }

    #[test]
    fn write_read_list_delete_round_trip() {
        let s = store("round");
        assert_eq!(s.write(&p("a/b.txt"), b"hello"), Ok(true));
        assert_eq!(s.write(&p("a/b.txt"), b"hello again"), Ok(false));
        assert_eq!(s.write(&p("c.txt"), b"x"), Ok(true));
        assert_eq!(s.read(&p("a/b.txt")).unwrap().0, b"hello again");
        let (files, truncated) = s.list(&p(""), 10).unwrap();
        let paths: Vec<_> = files.iter().map(|f| (f.path.as_str(), f.bytes)).collect();
        assert_eq!(paths, vec![("a/b.txt", 11), ("c.txt", 1)]);
        assert!(!truncated);
        let (files, truncated) = s.list(&p("a"), 10).unwrap();
        assert_eq!((files[0].path.as_str(), truncated), ("a/b.txt", false));
        assert!(s.list(&p(""), 1).unwrap().1, "a listing past `max` says so");
        assert_eq!(
            s.usage().unwrap(),
            Usage {
                bytes: 12,
                files: 2,
                entries: 3
            }
        );
        assert!(
            matches!(s.delete(&p("a")), Err(StoreError::Refused(m)) if m.contains("1 entries"))
        );
        assert_eq!(s.delete(&p("a/b.txt")), Ok(11));
        assert_eq!(s.delete(&p("a")), Ok(0));
        assert!(
            matches!(s.read(&p("a/b.txt")), Err(StoreError::Refused(m)) if m.contains("nothing exists"))
        );
        fs::remove_dir_all(&s.root).unwrap();
    }

    #[test]
    fn quotas_are_checked_before_writing() {
        let s = store("quota");
        let error = s.write(&p("big"), &[b'x'; 101]).unwrap_err();
        assert!(
            matches!(&error, StoreError::Quota(m) if m.contains("at most")),
            "{error:?}"
        );
        s.write(&p("one"), &[b'x'; 100]).unwrap();
        s.write(&p("two"), &[b'x'; 100]).unwrap();
        let error = s.write(&p("three"), &[b'x'; 100]).unwrap_err();
        assert!(
            matches!(&error, StoreError::Quota(m) if m.contains("workspace quota reached") && m.contains("200 bytes")),
            "{error:?}"
        );
        assert!(
            fs::metadata(s.root.join("three")).is_err(),
            "nothing was written"
        );
        // Overwriting counts the old size as freed.
        s.write(&p("two"), &[b'y'; 50]).unwrap();
        s.write(&p("three"), &[b'z'; 50]).unwrap();
        fs::remove_dir_all(&s.root).unwrap();
    }

    #[test]
    fn bookkeeping_and_temporary_files_are_hidden_but_counted() {
        let s = store("hidden");
        fs::create_dir_all(s.root.join(".checkpoints")).unwrap();
        fs::write(s.root.join(".checkpoints/c.json"), b"{}").unwrap();
        fs::write(s.root.join(".mcp-tmp-1-x"), b"torn").unwrap();
        fs::write(s.root.join("mine"), b"1").unwrap();
        let (files, _) = s.list(&p(""), 10).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(
            s.usage().unwrap(),
            Usage {
                bytes: 7,
                files: 1,
                entries: 4
            }
        );
        fs::remove_dir_all(&s.root).unwrap();
    }

    #[test]
    fn directories_and_empty_files_count_against_the_entry_limit() {
        let s = store("entries");
        let error = s.write(&p("a/b/c/d/e/f/g/h/i"), b"").unwrap_err();
        assert!(
            matches!(&error, StoreError::Quota(m) if m.contains("needs 9 new") && m.contains("may hold 8")),
            "{error:?}"
        );
        assert!(!s.root.join("a").exists(), "nothing was created");
        for i in 0..8 {
            s.write(&p(&format!("e{i}")), b"").unwrap();
        }
        let error = s.write(&p("one-more"), b"").unwrap_err();
        assert!(
            matches!(&error, StoreError::Quota(m) if m.contains("8 files and 0 directories")),
            "{error:?}"
        );
        // Replacing a file adds no entry; deleting one makes room.
        s.write(&p("e0"), b"now with content").unwrap();
        s.delete(&p("e1")).unwrap();
        s.write(&p("d/x"), b"").unwrap_err();
        s.write(&p("one-more"), b"").unwrap();
        fs::remove_dir_all(&s.root).unwrap();
    }

    #[test]
    fn empty_directories_are_listed_so_they_can_be_deleted() {
        let s = store("emptydirs");
        s.write(&p("d/inner/f"), b"1").unwrap();
        s.delete(&p("d/inner/f")).unwrap();
        let (listed, _) = s.list(&p(""), 10).unwrap();
        let shown: Vec<_> = listed
            .iter()
            .map(|l| (l.path.as_str(), l.directory))
            .collect();
        assert_eq!(shown, vec![("d/inner", true)]);
        s.delete(&p("d/inner")).unwrap();
        let (listed, _) = s.list(&p(""), 10).unwrap();
        assert_eq!(listed[0].path, "d");
        fs::remove_dir_all(&s.root).unwrap();
    }

    #[test]
    fn directories_and_files_are_not_confused() {
        let s = store("kinds");
        s.write(&p("d/f"), b"1").unwrap();
        assert!(
            matches!(s.write(&p("d"), b"x"), Err(StoreError::Refused(m)) if m.contains("is a directory"))
        );
        assert!(matches!(s.read(&p("d")), Err(StoreError::Refused(m)) if m.contains("list_files")));
        assert!(
            matches!(s.list(&p("d/f"), 5), Err(StoreError::Refused(m)) if m.contains("read_file"))
        );
        assert!(
            matches!(s.write(&p("d/f/g"), b"x"), Err(StoreError::Refused(m)) if m.contains("parent"))
        );
        fs::remove_dir_all(&s.root).unwrap();
    }
}
