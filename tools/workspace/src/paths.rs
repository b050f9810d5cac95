//! Workspace paths: what a caller may name, decided lexically before any file is touched.
//!
//! A path is relative to the workspace root (`notes/today.md`), or absolute inside it
//! (`/workspace/notes/today.md`). `.` and empty components are dropped and `..` removes the
//! previous component; a path that would climb above the root, an absolute path elsewhere, a
//! NUL or other control character, an over-long path, or a name reserved for the tools' own
//! bookkeeping (checkpoints, skills, quota reservations, temporary files) is refused with the reason. The
//! sandbox's preopened directory is the second line of defence; [`reject_symlinks`] a third,
//! for links placed in the workspace from outside.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where the sandbox mounts the caller's workspace.
pub const GUEST_ROOT: &str = "/workspace";
/// Directories at the workspace root that belong to the tools, not to the caller's files
/// (checkpoints, personal skills, the quota's reservations).
pub const RESERVED_DIRS: [&str; 3] = [".checkpoints", ".skills", workspace_quota::RESERVATIONS_DIR];
/// Prefix of the temporary files of atomic writes.
pub use workspace_quota::TEMP_PREFIX;

const MAX_PATH_BYTES: usize = 1024;
const MAX_COMPONENT_BYTES: usize = 255;

/// A validated path inside the workspace, as its normal components (empty = the root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsPath(Vec<String>);

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    Empty,
    ControlCharacter,
    TooLong,
    ComponentTooLong(String),
    OutsideWorkspace,
    Escapes,
    Reserved(String),
    Symlink(String),
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "is empty; name a file such as `notes/today.md`"),
            Self::ControlCharacter => write!(f, "contains a NUL or other control character"),
            Self::TooLong => write!(f, "is longer than {MAX_PATH_BYTES} bytes"),
            Self::ComponentTooLong(part) => write!(
                f,
                "has a component longer than {MAX_COMPONENT_BYTES} bytes ({}...)",
                &part[..part.floor_char_boundary(20)]
            ),
            Self::OutsideWorkspace => write!(
                f,
                "is absolute and outside {GUEST_ROOT}; use a path relative to the workspace"
            ),
            Self::Escapes => write!(f, "climbs out of the workspace with `..`"),
            Self::Reserved(name) => write!(
                f,
                "is inside `{name}`, which is reserved for the workspace's own bookkeeping \
                 (use the checkpoint or skill tools)"
            ),
            Self::Symlink(at) => write!(
                f,
                "goes through the symbolic link `{at}`; the workspace tools do not follow links"
            ),
        }
    }
}

impl WsPath {
    /// Parses a caller's path. `allow_root` admits a path naming the workspace itself.
    pub fn parse(input: &str, allow_root: bool) -> Result<Self, PathError> {
        if input.chars().any(char::is_control) {
            return Err(PathError::ControlCharacter);
        }
        if input.len() > MAX_PATH_BYTES {
            return Err(PathError::TooLong);
        }
        let relative = if input.starts_with('/') {
            match input.strip_prefix(GUEST_ROOT) {
                Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
                _ => return Err(PathError::OutsideWorkspace),
            }
        } else {
            input
        };
        let mut parts: Vec<String> = Vec::new();
        for part in relative.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    parts.pop().ok_or(PathError::Escapes)?;
                }
                _ if part.len() > MAX_COMPONENT_BYTES => {
                    return Err(PathError::ComponentTooLong(part.to_owned()));
                }
                _ => parts.push(part.to_owned()),
            }
        }
        if let Some(first) = parts
            .first()
            .filter(|p| RESERVED_DIRS.contains(&p.as_str()))
        {
            return Err(PathError::Reserved(first.clone()));
        }
        if let Some(temp) = parts.iter().find(|p| p.starts_with(TEMP_PREFIX)) {
            return Err(PathError::Reserved(temp.clone()));
        }
        if parts.is_empty() && !allow_root {
            return Err(PathError::Empty);
        }
        Ok(Self(parts))
    }

    /// A path the tools build themselves (checkpoints), not checked for reserved names.
    pub fn internal(parts: &[&str]) -> Self {
        Self(parts.iter().map(|p| (*p).to_owned()).collect())
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The path as the caller sees it: `notes/today.md`, or `.` for the root.
    pub fn display(&self) -> String {
        if self.0.is_empty() {
            ".".to_owned()
        } else {
            self.0.join("/")
        }
    }

    /// The path under `root`.
    pub fn under(&self, root: &Path) -> PathBuf {
        self.0
            .iter()
            .fold(root.to_owned(), |path, part| path.join(part))
    }
}

/// Refuses a path any existing component of which is a symbolic link.
pub fn reject_symlinks(root: &Path, path: &WsPath) -> Result<(), PathError> {
    let mut at = root.to_owned();
    for (i, part) in path.0.iter().enumerate() {
        at.push(part);
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(PathError::Symlink(path.0[..=i].join("/")));
            }
            Ok(_) => {}
            Err(_) => return Ok(()), // nothing further exists to be a link
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(input: &str) -> String {
        WsPath::parse(input, true)
            .unwrap_or_else(|e| panic!("{input:?}: {e}"))
            .display()
    }

    #[test]
    fn paths_normalise_lexically() {
        assert_eq!(ok("notes/today.md"), "notes/today.md");
        assert_eq!(ok("./notes//./today.md/"), "notes/today.md");
        assert_eq!(ok("a/b/../c"), "a/c");
        assert_eq!(ok("/workspace/a.txt"), "a.txt");
        assert_eq!(ok("/workspace"), ".");
        assert_eq!(ok(""), ".");
        assert_eq!(ok("..hidden/x"), "..hidden/x");
    }

    #[test]
    fn escapes_and_bad_characters_are_refused() {
        for (input, error) in [
            ("../x", PathError::Escapes),
            ("a/../../x", PathError::Escapes),
            ("/workspace/../etc/passwd", PathError::Escapes),
            ("/etc/passwd", PathError::OutsideWorkspace),
            ("/workspaces/x", PathError::OutsideWorkspace),
            ("a\0b", PathError::ControlCharacter),
            ("a\nb", PathError::ControlCharacter),
            (
                ".checkpoints/x.json",
                PathError::Reserved(".checkpoints".to_owned()),
            ),
            ("x/../.skills/a", PathError::Reserved(".skills".to_owned())),
            ("d/.mcp-tmp-1", PathError::Reserved(".mcp-tmp-1".to_owned())),
        ] {
            assert_eq!(WsPath::parse(input, true), Err(error), "{input:?}");
        }
        assert_eq!(WsPath::parse("", false), Err(PathError::Empty));
        assert_eq!(WsPath::parse("a/..", false), Err(PathError::Empty));
        assert_eq!(
            WsPath::parse(&"a/".repeat(600), true),
            Err(PathError::TooLong)
        );
        assert!(matches!(
            WsPath::parse(&"é".repeat(200), true),
            Err(PathError::ComponentTooLong(_))
        ));
        assert!(
            PathError::ComponentTooLong("é".repeat(200))
                .to_string()
                .contains("éé")
        );
    }

    #[test]
    #[cfg(unix)]
    fn symlinks_inside_the_workspace_are_refused() {
        let root = std::env::temp_dir().join(format!("ws-paths-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("real")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("link")).unwrap();
        let through = WsPath::parse("link/passwd", false).unwrap();
        assert_eq!(
            reject_symlinks(&root, &through),
            Err(PathError::Symlink("link".to_owned()))
        );
        let fine = WsPath::parse("real/new/file", false).unwrap();
        assert_eq!(reject_symlinks(&root, &fine), Ok(()));
        std::fs::remove_dir_all(root).unwrap();
    }
}
