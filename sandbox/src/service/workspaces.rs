//! Per-user workspaces: one directory per user under a root, created on first use with mode
//! 0700. A user's directory is mounted at `/workspace` for tools granted the capability; no
//! other user's directory is ever mounted for them.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

#[derive(Debug, Clone)]
pub struct Workspaces {
    root: PathBuf,
}

impl Workspaces {
    pub fn new(root: PathBuf) -> std::io::Result<Self> {
        create_private_dir(&root)?;
        Ok(Self { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The user's workspace directory, created if needed.
    pub fn dir_for(&self, user: &str) -> std::io::Result<PathBuf> {
        let dir = self.root.join(dir_name(user));
        create_private_dir(&dir)?;
        Ok(dir)
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// A directory name for a user that cannot escape the root or collide with another user's:
/// plain names (`alice`, `bob@example.com`) are used as they are; anything else (`../x`, `.`,
/// names with `/` or control characters) becomes `_` + a SHA-256 prefix. Plain names never
/// start with `_`, so the two forms cannot collide.
pub fn dir_name(user: &str) -> String {
    let plain = (1..=128).contains(&user.len())
        && user
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'@'));
    if plain {
        user.to_owned()
    } else {
        let digest = Sha256::digest(user.as_bytes());
        let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        format!("_{hex}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_are_kept_and_others_hashed() {
        assert_eq!(dir_name("alice"), "alice");
        assert_eq!(dir_name("bob@example.com"), "bob@example.com");
        for hostile in ["../bob", "..", ".", "a/b", "", "_abc", "x\0y", "-rf"] {
            let d = dir_name(hostile);
            assert!(d.starts_with('_') && d.len() == 33, "{hostile:?} -> {d}");
        }
        assert_ne!(dir_name("../bob"), dir_name("../alice"));
    }

    #[test]
    fn directories_are_private_and_distinct() {
        let root = std::env::temp_dir().join(format!("mcp-ws-test-{}", std::process::id()));
        let ws = Workspaces::new(root.clone()).unwrap();
        let a = ws.dir_for("alice").unwrap();
        let b = ws.dir_for("../alice").unwrap();
        assert_ne!(a, b);
        assert!(b.starts_with(&root));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&a).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        std::fs::remove_dir_all(&root).unwrap();
    }
}
