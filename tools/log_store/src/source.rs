//! The log source: every regular file under a root directory (`/logs` in the component),
//! recursively, in path order, read line by line so memory stays flat however large the files
//! are. Lines are handed to a visitor already parsed; unparseable ones are counted here.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::entry::{self, Entry};

/// Directories deeper than this below the root are not read (and symlink loops end here).
const MAX_DEPTH: usize = 16;
/// Files read at most in one call.
const MAX_FILES: usize = 10_000;
/// A longer line is skipped as unparseable (and not held in memory).
const MAX_LINE_BYTES: usize = 64 * 1024;
/// Skipped lines and unreadable files reported by location, at most.
const MAX_EXAMPLES: usize = 10;

/// What reading the source found besides the entries themselves.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ScanStats {
    pub files_scanned: usize,
    pub lines_read: u64,
    /// Non-blank lines that are in neither format (blank lines are ignored).
    pub skipped_lines: u64,
    /// `file:line` of the first skipped lines.
    pub skipped_examples: Vec<String>,
    /// Files or directories that could not be read, with the reason.
    pub unreadable: Vec<String>,
}

/// Where an entry came from: the file relative to the root, and its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Origin {
    pub file: String,
    pub line: u64,
}

/// Reads every file under `root` and calls `visit` with each parsed entry.
pub fn scan(root: &Path, mut visit: impl FnMut(Entry, &Origin)) -> io::Result<ScanStats> {
    let mut stats = ScanStats::default();
    let mut files = Vec::new();
    collect_files(root, 0, &mut files, &mut stats)?;
    files.sort();
    if files.len() > MAX_FILES {
        let left_out = files.len() - MAX_FILES;
        note(
            &mut stats.unreadable,
            format!("{left_out} file(s) past the first {MAX_FILES} (in path order) were not read"),
        );
    }
    for path in files.into_iter().take(MAX_FILES) {
        let relative = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
        match File::open(&path) {
            Ok(file) => {
                stats.files_scanned += 1;
                if let Err(error) = scan_file(file, &relative, &mut stats, &mut visit) {
                    note(&mut stats.unreadable, format!("{relative}: {error}"));
                }
            }
            Err(error) => note(&mut stats.unreadable, format!("{relative}: {error}")),
        }
    }
    Ok(stats)
}

/// The files under `dir`. Only the root itself failing to open is an error; anything below
/// that cannot be read is noted and skipped.
fn collect_files(
    dir: &Path,
    depth: usize,
    files: &mut Vec<PathBuf>,
    stats: &mut ScanStats,
) -> io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if depth == 0 => return Err(error),
        Err(error) => {
            note(&mut stats.unreadable, format!("{}: {error}", dir.display()));
            return Ok(());
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        // Follows symlinks; the sandbox's preopen keeps them inside the mount.
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_dir() && depth < MAX_DEPTH => {
                collect_files(&path, depth + 1, files, stats)?;
            }
            Ok(meta) if meta.is_file() => files.push(path),
            Ok(_) => {}
            Err(error) => note(
                &mut stats.unreadable,
                format!("{}: {error}", path.display()),
            ),
        }
    }
    Ok(())
}

fn scan_file(
    file: File,
    relative: &str,
    stats: &mut ScanStats,
    visit: &mut impl FnMut(Entry, &Origin),
) -> io::Result<()> {
    let mut reader = BufReader::new(file);
    let mut buf = Vec::new();
    let mut origin = Origin {
        file: relative.to_owned(),
        line: 0,
    };
    while let Some(complete) = next_line(&mut reader, &mut buf)? {
        origin.line += 1;
        stats.lines_read += 1;
        let line = String::from_utf8_lossy(&buf);
        if complete && line.trim().is_empty() {
            continue;
        }
        match complete.then(|| entry::parse_line(&line)).flatten() {
            Some(entry) => visit(entry, &origin),
            None => {
                stats.skipped_lines += 1;
                let at = format!("{}:{}", origin.file, origin.line);
                note(&mut stats.skipped_examples, at);
            }
        }
    }
    Ok(())
}

/// Reads the next line into `buf` (without its newline). `Some(false)` means the line was
/// longer than [`MAX_LINE_BYTES`]: its start is in `buf` and the rest was discarded.
fn next_line(reader: &mut impl BufRead, buf: &mut Vec<u8>) -> io::Result<Option<bool>> {
    buf.clear();
    let read = reader
        .by_ref()
        .take(MAX_LINE_BYTES as u64 + 1)
        .read_until(b'\n', buf)?;
    if read == 0 {
        return Ok(None);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        return Ok(Some(true));
    }
    if buf.len() <= MAX_LINE_BYTES {
        return Ok(Some(true)); // the last line, without a newline
    }
    // Too long: drop the rest of the line without keeping it.
    let mut rest = Vec::new();
    loop {
        rest.clear();
        let n = reader
            .by_ref()
            .take(MAX_LINE_BYTES as u64)
            .read_until(b'\n', &mut rest)?;
        if n == 0 || rest.last() == Some(&b'\n') {
            return Ok(Some(false));
        }
    }
}

fn note(list: &mut Vec<String>, item: String) {
    if list.len() < MAX_EXAMPLES {
        list.push(item);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("log-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("nested/deeper")).unwrap();
        dir
    }

    #[test]
    fn scans_nested_files_in_path_order_and_counts_bad_lines() {
        let root = temp_dir("scan");
        std::fs::write(
            root.join("b.log"),
            "2026-01-15T10:00:00Z INFO api one\n\nnot a log line\n",
        )
        .unwrap();
        std::fs::write(
            root.join("nested/deeper/a.jsonl"),
            "{\"timestamp\":\"2026-01-15T11:00:00Z\",\"service\":\"db\",\"level\":\"ERROR\",\"message\":\"two\"}",
        )
        .unwrap();
        let mut seen = Vec::new();
        let stats = scan(&root, |entry, origin| {
            seen.push((origin.file.clone(), origin.line, entry.message))
        })
        .unwrap();
        assert_eq!(
            seen,
            vec![
                ("b.log".to_owned(), 1, "one".to_owned()),
                ("nested/deeper/a.jsonl".to_owned(), 1, "two".to_owned()),
            ]
        );
        assert_eq!(stats.files_scanned, 2);
        assert_eq!(stats.skipped_lines, 1);
        assert_eq!(stats.skipped_examples, vec!["b.log:3".to_owned()]);
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn overlong_lines_are_skipped_without_losing_the_next_line() {
        let root = temp_dir("long");
        let long = "x".repeat(MAX_LINE_BYTES * 3);
        std::fs::write(
            root.join("big.log"),
            format!("{long}\r\n2026-01-15T10:00:00Z INFO api after\r\n"),
        )
        .unwrap();
        let mut messages = Vec::new();
        let stats = scan(&root, |entry, _| messages.push(entry.message)).unwrap();
        assert_eq!(messages, vec!["after".to_owned()]);
        assert_eq!(stats.skipped_lines, 1);
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn a_missing_root_is_an_error() {
        assert!(scan(Path::new("/no/such/log/dir"), |_, _| {}).is_err());
    }
}
