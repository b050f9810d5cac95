//! Per-caller workspaces: one directory per caller under a root, created on first use with mode
//! 0700. A caller's directory is mounted at `/workspace` for tools granted the capability (and
//! holds their checkpoints and personal skills); no other caller's directory is ever mounted
//! for them.
//!
//! ## Whose directory
//! A workspace belongs to an [`Owner`]: the caller's principal, the immutable, issuer-scoped id
//! the gateway sends (`oidc:<issuer>#<sub>`, `key:<key id>`), never the display name, so an
//! OIDC user `alice` and an API-key user `alice` get different workspaces. Only a call without
//! a principal (a sandbox used without the gateway, in development) is keyed by its user name,
//! in a namespace of its own:
//!
//! ```text
//! <root>/@principals/<hint>-<sha256(principal), 32 hex>   keyed by principal
//! <root>/@users/<hint>-<sha256(user name), 32 hex>        no principal: keyed by user name
//! <root>/<name> or <root>/_<hash>                         before principals (legacy)
//! ```
//!
//! The id is never used as a path: the name is its hash, after a short sanitized hint
//! (`[A-Za-z0-9._-]`, at most 40 bytes) for the operator. Legacy names start with a letter,
//! digit or `_`, so none can be `@principals` or `@users`.
//!
//! ## Moving legacy workspaces
//! Workspaces made before principals are named by user name. They are never handed to a
//! principal by name: that would give API-key `alice` the files of OIDC `alice`.
//! - A call **without** a principal adopts the legacy workspace of its user name on first use
//!   (it is the same identity, keyed the same way as before).
//! - For calls **with** a principal, the operator says whose each legacy workspace is:
//!   `mcp-sandbox workspaces migrate --map alice=oidc:https://idp/realms/x#<sub>` (or
//!   `--map-file` with one `user=principal` a line, `--dry-run` to see the plan; where every
//!   user is of one kind, e.g. API keys only, `--all-with-prefix apikey:` maps each legacy
//!   workspace `<name>` to `apikey:<name>`). It moves the
//!   directory (a rename; files, checkpoints and skills go with it), and refuses when the
//!   principal already has a workspace with something in it. Unmapped legacy workspaces stay
//!   where they are, reachable by nobody but the operator.

use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Workspaces keyed by principal.
pub const PRINCIPALS_DIR: &str = "@principals";
/// Workspaces of calls without a principal, keyed by user name.
pub const USERS_DIR: &str = "@users";

const MAX_HINT_BYTES: usize = 40;

/// Whose workspace: a principal, or (without one) a user name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner<'a> {
    Principal(&'a str),
    User(&'a str),
}

impl<'a> Owner<'a> {
    /// The principal when there is one; the user name only without.
    pub fn of(principal: Option<&'a str>, user: &'a str) -> Self {
        match principal {
            Some(principal) => Owner::Principal(principal),
            None => Owner::User(user),
        }
    }
}

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

    /// Where `owner`'s workspace is (whether or not it exists yet).
    pub fn path_for(&self, owner: Owner<'_>) -> PathBuf {
        match owner {
            Owner::Principal(id) => self.root.join(PRINCIPALS_DIR).join(dir_name(id)),
            Owner::User(name) => self.root.join(USERS_DIR).join(dir_name(name)),
        }
    }

    /// The owner's workspace directory, created if needed. A user without a principal adopts
    /// their legacy (name-keyed) workspace the first time.
    pub fn dir_for(&self, owner: Owner<'_>) -> std::io::Result<PathBuf> {
        if owner == Owner::Principal("") {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the call names an empty principal; the gateway must send the caller's id",
            ));
        }
        let dir = self.path_for(owner);
        if let Owner::User(name) = owner
            && !dir.exists()
        {
            let legacy = self.root.join(legacy_dir_name(name));
            if legacy.is_dir() {
                create_private_dir(&self.root.join(USERS_DIR))?;
                match std::fs::rename(&legacy, &dir) {
                    Ok(()) => tracing::info!(user = name, from = %legacy.display(),
                        to = %dir.display(), "adopted a legacy workspace"),
                    // Another call adopted it at the same moment.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) if dir.is_dir() => tracing::debug!(error = %e, "adopted concurrently"),
                    Err(e) => return Err(e),
                }
            }
        }
        create_private_dir(dir.parent().unwrap_or(&self.root))?;
        create_private_dir(&dir)?;
        Ok(dir)
    }

    /// The user names of the legacy workspaces that can be told from their directory name
    /// (plain names; a hashed `_<hash>` name cannot be turned back into its user's name).
    pub fn legacy_users(&self) -> io::Result<Vec<String>> {
        let mut users: Vec<String> = std::fs::read_dir(&self.root)?
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let name = entry.file_name().into_string().ok()?;
                let plain = legacy_dir_name(&name) == name;
                (plain && entry.file_type().ok()?.is_dir()).then_some(name)
            })
            .collect();
        users.sort();
        Ok(users)
    }

    /// Moves the legacy workspace of each `(user, principal)` to the principal's. With
    /// `dry_run`, only says what it would do.
    pub fn migrate(&self, map: &[(String, String)], dry_run: bool) -> Vec<Migration> {
        map.iter()
            .map(|(user, principal)| {
                let to = self.path_for(Owner::Principal(principal));
                let outcome = self.migrate_one(user, principal, &to, dry_run);
                Migration {
                    user: user.clone(),
                    principal: principal.clone(),
                    to,
                    outcome,
                }
            })
            .collect()
    }

    fn migrate_one(&self, user: &str, principal: &str, to: &Path, dry_run: bool) -> Outcome {
        if principal.is_empty() {
            return Outcome::Failed("the principal is empty".to_owned());
        }
        // The name-keyed workspace: legacy, or adopted by a call without a principal.
        let Some(from) = [
            self.root.join(legacy_dir_name(user)),
            self.path_for(Owner::User(user)),
        ]
        .into_iter()
        .find(|dir| dir.is_dir()) else {
            return Outcome::NothingToMove;
        };
        let in_use = std::fs::read_dir(to).is_ok_and(|mut entries| entries.next().is_some());
        if in_use {
            return Outcome::TargetInUse { from };
        }
        if dry_run {
            return Outcome::WouldMove { from };
        }
        let moved = (|| {
            create_private_dir(&self.root.join(PRINCIPALS_DIR))?;
            // An empty workspace the principal got before the migration gives way.
            if to.is_dir() {
                std::fs::remove_dir(to)?;
            }
            std::fs::rename(&from, to)
        })();
        match moved {
            Ok(()) => {
                tracing::info!(user, principal, from = %from.display(), to = %to.display(),
                    "migrated a workspace");
                Outcome::Moved { from }
            }
            Err(e) => Outcome::Failed(format!("could not move {}: {e}", from.display())),
        }
    }
}

/// What `migrate` did with one mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    pub user: String,
    pub principal: String,
    /// The principal's workspace.
    pub to: PathBuf,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Moved {
        from: PathBuf,
    },
    WouldMove {
        from: PathBuf,
    },
    /// The user has no name-keyed workspace.
    NothingToMove,
    /// The principal's workspace already holds files; nothing was moved.
    TargetInUse {
        from: PathBuf,
    },
    Failed(String),
}

impl Outcome {
    /// Whether the mapping needs the operator's attention.
    pub fn is_problem(&self) -> bool {
        matches!(self, Outcome::TargetInUse { .. } | Outcome::Failed(_))
    }
}

impl std::fmt::Display for Migration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (user, principal, to) = (&self.user, &self.principal, self.to.display());
        match &self.outcome {
            Outcome::Moved { from } => write!(
                f,
                "moved    {user} -> {principal}: {} -> {to}",
                from.display()
            ),
            Outcome::WouldMove { from } => {
                write!(
                    f,
                    "would move {user} -> {principal}: {} -> {to}",
                    from.display()
                )
            }
            Outcome::NothingToMove => {
                write!(
                    f,
                    "skipped  {user} -> {principal}: {user} has no name-keyed workspace"
                )
            }
            Outcome::TargetInUse { from } => write!(
                f,
                "REFUSED  {user} -> {principal}: {to} already holds files; merge {} into it by \
                 hand, or remove it, and run again",
                from.display()
            ),
            Outcome::Failed(why) => write!(f, "FAILED   {user} -> {principal}: {why}"),
        }
    }
}

/// A `--map` or map-file line that is not `user=principal`; carries the text as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{text:?} is not a mapping; write user=principal, e.g. \
     alice=oidc:https://idp.example/realms/mcp#8d1c..."
)]
pub struct MappingError {
    pub text: String,
}

/// A bad line of a `--map-file`, numbered from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {source}")]
pub struct MappingFileError {
    pub line: usize,
    pub source: MappingError,
}

/// Parses `user=principal` (the principal may itself hold `=`, the user name may not).
pub fn parse_mapping(text: &str) -> Result<(String, String), MappingError> {
    match text.trim().split_once('=') {
        Some((user, principal)) if !user.trim().is_empty() && !principal.trim().is_empty() => {
            Ok((user.trim().to_owned(), principal.trim().to_owned()))
        }
        _ => Err(MappingError {
            text: text.to_owned(),
        }),
    }
}

/// The mappings of a `--map-file`: one `user=principal` a line; blank lines and `#` comments
/// are skipped.
pub fn parse_mapping_file(text: &str) -> Result<Vec<(String, String)>, MappingFileError> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
        .map(|(i, line)| {
            parse_mapping(line).map_err(|source| MappingFileError {
                line: i + 1,
                source,
            })
        })
        .collect()
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

/// The directory name of an id (a principal or a user name) inside its namespace: a sanitized
/// hint for the operator, then 128 bits of the id's SHA-256, which alone tell ids apart. It
/// cannot escape the namespace: only `[A-Za-z0-9._-]`, never `.` or `..`.
pub fn dir_name(id: &str) -> String {
    let digest = Sha256::digest(id.as_bytes());
    let hash: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    let hint = hint(id);
    if hint.is_empty() {
        hash
    } else {
        format!("{hint}-{hash}")
    }
}

/// A readable fragment of an id: for `oidc:<issuer>#<sub>` the scheme and subject
/// (`oidc-<sub>`), for `key:<id>` `key-<id>`, for a user name the name; characters outside
/// `[A-Za-z0-9._-]` dropped, at most [`MAX_HINT_BYTES`], never starting with `.` or `-`.
fn hint(id: &str) -> String {
    let readable = match id.split_once(':') {
        Some((scheme, rest))
            if !scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            let tail = rest.rsplit(['#', '/', ':']).next().unwrap_or(rest);
            format!("{scheme}-{tail}")
        }
        _ => id.to_owned(),
    };
    let kept: String = readable
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .take(MAX_HINT_BYTES)
        .collect();
    kept.trim_start_matches(['.', '-']).to_owned()
}

/// The name a workspace had before principals: plain names (`alice`, `bob@example.com`) as
/// they are; anything else (`../x`, `.`, names with `/` or control characters) `_` + a SHA-256
/// prefix. Plain names never start with `_`, so the two forms cannot collide.
pub fn legacy_dir_name(user: &str) -> String {
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

    struct Root(PathBuf, Workspaces);

    impl Root {
        fn new(name: &str) -> Self {
            let root = std::env::temp_dir().join(format!("mcp-ws-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&root);
            let ws = Workspaces::new(root.clone()).unwrap();
            Self(root, ws)
        }
    }

    impl Drop for Root {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn legacy_plain_names_are_kept_and_others_hashed() {
        assert_eq!(legacy_dir_name("alice"), "alice");
        assert_eq!(legacy_dir_name("bob@example.com"), "bob@example.com");
        for hostile in [
            "../bob", "..", ".", "a/b", "", "_abc", "x\0y", "-rf", "@users",
        ] {
            let d = legacy_dir_name(hostile);
            assert!(d.starts_with('_') && d.len() == 33, "{hostile:?} -> {d}");
        }
    }

    #[test]
    fn directory_names_are_safe_hashes_with_a_hint() {
        let oidc = "oidc:https://idp.example/realms/mcp#8d1c-41aa";
        assert_eq!(dir_name(oidc), format!("oidc-8d1c-41aa-{}", hash_of(oidc)));
        assert!(dir_name("key:k_123").starts_with("key-k_123-"));
        assert!(dir_name("alice").starts_with("alice-"));
        for hostile in [
            "..",
            ".",
            "../../etc",
            "a/b",
            "x\0y",
            "/",
            "oidc:..#..",
            "-rf",
            "",
        ] {
            let d = dir_name(hostile);
            assert!(
                !d.starts_with('.') && !d.starts_with('-') && !d.contains('/'),
                "{hostile:?} -> {d}"
            );
            assert!(d.ends_with(&hash_of(hostile)), "{hostile:?} -> {d}");
        }
        let long = format!("key:{}", "k".repeat(500));
        assert!(dir_name(&long).len() <= MAX_HINT_BYTES + 33);
        assert_ne!(dir_name("oidc:a#x"), dir_name("oidc:b#x"));
    }

    fn hash_of(id: &str) -> String {
        Sha256::digest(id.as_bytes())
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn principals_and_user_names_never_share_a_directory() {
        let r = Root::new("owners");
        let oidc =
            r.1.dir_for(Owner::Principal("oidc:https://idp#alice"))
                .unwrap();
        let key = r.1.dir_for(Owner::Principal("key:alice")).unwrap();
        let dev = r.1.dir_for(Owner::User("alice")).unwrap();
        let dev_named_like_a_principal = r.1.dir_for(Owner::User("key:alice")).unwrap();
        let all = [&oidc, &key, &dev, &dev_named_like_a_principal];
        for (i, a) in all.iter().enumerate() {
            assert!(a.starts_with(&r.0) && a.is_dir(), "{a:?}");
            for b in &all[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(
            r.1.dir_for(Owner::Principal("key:alice")).unwrap(),
            key,
            "stable"
        );
        assert!(r.1.dir_for(Owner::Principal("")).is_err());
        assert_eq!(Owner::of(Some("key:k"), "alice"), Owner::Principal("key:k"));
        assert_eq!(Owner::of(None, "alice"), Owner::User("alice"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for dir in [&oidc, &dev, &r.0.join(PRINCIPALS_DIR)] {
                let mode = std::fs::metadata(dir).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o700, "{dir:?}");
            }
        }
    }

    #[test]
    fn a_call_without_principal_adopts_its_legacy_workspace_and_a_principal_does_not() {
        let r = Root::new("adopt");
        std::fs::create_dir_all(r.0.join("alice/.skills")).unwrap();
        std::fs::write(r.0.join("alice/notes.txt"), "legacy").unwrap();
        let by_key = r.1.dir_for(Owner::Principal("key:alice")).unwrap();
        assert!(!by_key.join("notes.txt").exists(), "never by display name");
        assert!(r.0.join("alice").is_dir());
        let dev = r.1.dir_for(Owner::User("alice")).unwrap();
        assert_eq!(
            std::fs::read_to_string(dev.join("notes.txt")).unwrap(),
            "legacy"
        );
        assert!(dev.join(".skills").is_dir());
        assert!(!r.0.join("alice").exists());
    }

    #[test]
    fn migration_moves_mapped_workspaces_and_refuses_to_overwrite() {
        let r = Root::new("migrate");
        for user in ["alice", "bob", "carol"] {
            std::fs::create_dir_all(r.0.join(user)).unwrap();
            std::fs::write(r.0.join(user).join("f"), user).unwrap();
        }
        let alice = "oidc:https://idp#a-1";
        // bob's principal already has files; carol's has an empty workspace.
        let bob_dir =
            r.1.dir_for(Owner::Principal("oidc:https://idp#b-2"))
                .unwrap();
        std::fs::write(bob_dir.join("new"), "x").unwrap();
        let carol_dir = r.1.dir_for(Owner::Principal("key:c-3")).unwrap();
        let map = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(u, p)| ((*u).to_owned(), (*p).to_owned()))
                .collect()
        };
        let plan = map(&[
            ("alice", alice),
            ("bob", "oidc:https://idp#b-2"),
            ("carol", "key:c-3"),
            ("dave", "key:d-4"),
        ]);
        let dry = r.1.migrate(&plan, true);
        assert!(
            matches!(dry[0].outcome, Outcome::WouldMove { .. }),
            "{}",
            dry[0]
        );
        assert!(r.0.join("alice").is_dir(), "a dry run moves nothing");
        let done = r.1.migrate(&plan, false);
        let outcomes: Vec<_> = done.iter().map(|m| m.to_string()).collect();
        assert!(
            matches!(done[0].outcome, Outcome::Moved { .. }),
            "{outcomes:?}"
        );
        assert!(
            matches!(done[1].outcome, Outcome::TargetInUse { .. }),
            "{outcomes:?}"
        );
        assert!(done[1].outcome.is_problem() && outcomes[1].contains("already holds files"));
        assert!(
            matches!(done[2].outcome, Outcome::Moved { .. }),
            "{outcomes:?}"
        );
        assert_eq!(done[3].outcome, Outcome::NothingToMove);
        let alice_dir = r.1.dir_for(Owner::Principal(alice)).unwrap();
        assert_eq!(
            std::fs::read_to_string(alice_dir.join("f")).unwrap(),
            "alice"
        );
        assert_eq!(
            std::fs::read_to_string(carol_dir.join("f")).unwrap(),
            "carol"
        );
        assert_eq!(std::fs::read_to_string(r.0.join("bob/f")).unwrap(), "bob");
        assert!(!bob_dir.join("f").exists());
        // Run again: nothing left to move for alice.
        assert_eq!(
            r.1.migrate(&plan[..1], false)[0].outcome,
            Outcome::NothingToMove
        );
    }

    #[test]
    fn mappings_parse_from_flags_and_files() {
        assert_eq!(
            parse_mapping(" alice = oidc:https://idp/r#x=y ").unwrap(),
            ("alice".to_owned(), "oidc:https://idp/r#x=y".to_owned())
        );
        for bad in ["alice", "=key:x", "alice=", ""] {
            assert!(parse_mapping(bad).is_err(), "{bad:?}");
        }
        let file = "# who is who\nalice=key:a\n\nbob=oidc:i#b\n";
        let r = Root::new("legacy-users");
        for dir in [
            "alice",
            "bob@example.com",
            "_0123456789abcdef0123456789abcdef",
        ] {
            std::fs::create_dir_all(r.0.join(dir)).unwrap();
        }
        std::fs::write(r.0.join("stray-file"), "").unwrap();
        r.1.dir_for(Owner::Principal("key:x")).unwrap();
        r.1.dir_for(Owner::User("carol")).unwrap();
        assert_eq!(r.1.legacy_users().unwrap(), ["alice", "bob@example.com"]);
        assert_eq!(parse_mapping_file(file).unwrap().len(), 2);
        let error = parse_mapping_file("alice=key:a\nbroken\n")
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("line 2:"), "{error}");
    }
}
