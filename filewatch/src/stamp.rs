//! What a file looks like to `stat`: [`FileStamp`] for one file, [`Fingerprint`] for a set of
//! files and directory trees.

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::io;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

/// Entries looked at per watched directory tree, so a huge mounted directory cannot make every
/// check expensive.
const MAX_ENTRIES: usize = 10_000;
/// Directory levels looked into below each watched directory.
const MAX_DEPTH: usize = 3;

/// One version of one file as far as a cheap `stat` can tell, without reading it: a rewrite via
/// rename changes the inode, an in-place edit the modification and change times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileStamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileStamp {
    /// The stamp of metadata already read.
    pub fn of(meta: &fs::Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// The stamp of `path`, following symlinks (so a swapped link target is a new stamp).
    pub fn read(path: &Path) -> io::Result<Self> {
        fs::metadata(path).map(|m| Self::of(&m))
    }
}

/// The state of a set of watched paths (files or directories) folded into one value: each
/// file's path and [`FileStamp`], or that it is missing. Directories count by the visible
/// entries they hold, a few levels deep and a bounded number of entries per tree; their own
/// times are left out, since they change with hidden entries too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint(u64);

impl Fingerprint {
    /// Fingerprints `paths` now.
    pub fn of(paths: &[PathBuf]) -> Self {
        let mut hasher = DefaultHasher::new();
        for path in paths {
            let mut budget = MAX_ENTRIES;
            visit(path, 0, &mut budget, &mut hasher);
        }
        Self(hasher.finish())
    }
}

fn visit(path: &Path, depth: usize, budget: &mut usize, hasher: &mut DefaultHasher) {
    if *budget == 0 {
        return;
    }
    *budget -= 1;
    path.hash(hasher);
    let Ok(meta) = fs::metadata(path) else {
        // Missing now: hashes differently from present.
        0u8.hash(hasher);
        return;
    };
    if !meta.is_dir() {
        FileStamp::of(&meta).hash(hasher);
        return;
    }
    if depth >= MAX_DEPTH {
        return;
    }
    let Ok(read) = fs::read_dir(path) else {
        return;
    };
    let mut children: Vec<PathBuf> = read
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    children.sort();
    for child in children {
        visit(&child, depth + 1, budget, hasher);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_change_with_content_names_and_link_targets_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        fs::write(root.join("a.yaml"), "one").unwrap();
        let paths = vec![root.clone(), root.join("missing.yaml")];
        let first = Fingerprint::of(&paths);
        assert_eq!(
            first,
            Fingerprint::of(&paths),
            "stable when nothing changes"
        );

        fs::write(root.join("a.yaml"), "three").unwrap();
        let second = Fingerprint::of(&paths);
        assert_ne!(first, second, "a content change is seen");

        fs::write(root.join(".hidden"), "x").unwrap();
        assert_eq!(
            second,
            Fingerprint::of(&paths),
            "hidden entries are not walked"
        );

        // A ConfigMap-style swap: the visible name is a link whose target is replaced.
        fs::create_dir(root.join(".v1")).unwrap();
        fs::create_dir(root.join(".v2")).unwrap();
        fs::write(root.join(".v1/b.yaml"), "same").unwrap();
        fs::write(root.join(".v2/b.yaml"), "same").unwrap();
        std::os::unix::fs::symlink(root.join(".v1/b.yaml"), root.join("b.yaml")).unwrap();
        let linked = Fingerprint::of(&paths);
        fs::remove_file(root.join("b.yaml")).unwrap();
        std::os::unix::fs::symlink(root.join(".v2/b.yaml"), root.join("b.yaml")).unwrap();
        assert_ne!(
            linked,
            Fingerprint::of(&paths),
            "a swapped link target is seen"
        );

        fs::write(root.join("missing.yaml"), "").unwrap();
        assert_ne!(linked, Fingerprint::of(&paths), "a file appearing is seen");
    }

    #[test]
    fn a_stamp_follows_symlinks_and_sees_a_rename_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        fs::write(p.join("v1"), "same").unwrap();
        fs::write(p.join("v2"), "same").unwrap();
        std::os::unix::fs::symlink(p.join("v1"), p.join("link")).unwrap();
        let v1 = FileStamp::read(&p.join("link")).unwrap();
        assert_eq!(v1, FileStamp::read(&p.join("v1")).unwrap());
        fs::rename(p.join("v2"), p.join("v1")).unwrap();
        assert_ne!(v1, FileStamp::read(&p.join("link")).unwrap());
        assert!(FileStamp::read(&p.join("missing")).is_err());
    }
}
