//! Where skills live: one JSON file per skill, `<name>.json`, in the caller's personal catalog
//! (`/workspace/.skills/`, inside the per-user workspace the sandbox mounts) or in the shared
//! catalog (`/shared-skills/`, one host directory mounted for every caller). Writes are atomic
//! (temporary file, sync, rename). Personal skills count against the workspace's quota
//! (`workspace_quota`, the same one the `workspace` component keeps): each save reserves its
//! bytes and new entries before it checks. Who may write where is decided by the caller of this
//! module and, for the shared catalog, by the host, which mounts it read-only for callers
//! whose roles do not grant writing.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use mcp_tool_sdk::serde_json;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use workspace_quota::{Need, Quota, atomic_replace};

use crate::params::Parameter;

/// Skills one catalog holds at most.
pub const MAX_SKILLS: usize = 500;

/// Which catalog a skill is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Personal,
    Shared,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Personal => "personal",
            Scope::Shared => "shared",
        }
    }
}

/// A skill as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Skill {
    pub name: String,
    pub description: String,
    /// Python source; it reads its arguments from the dict `args`.
    pub code: String,
    pub parameters: Vec<Parameter>,
    /// The user who saved it.
    pub author: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    pub updated_at: String,
}

/// The two catalogs, as mounted.
pub struct Catalogs {
    pub personal: PathBuf,
    /// The quota of the workspace the personal catalog is in.
    pub quota: Quota,
    /// `None` when the tool set mounts no shared catalog.
    pub shared: Option<PathBuf>,
}

/// Checks a skill name: a lower-case Python identifier of at most 64 characters.
pub fn check_name(name: &str) -> Result<(), String> {
    let valid = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "skill name {name:?} is not valid; use 1-64 characters of a-z 0-9 _ starting with a \
             letter (e.g. `error_digest`)"
        ))
    }
}

impl Catalogs {
    fn dir(&self, scope: Scope) -> Result<&Path, String> {
        match scope {
            Scope::Personal => Ok(&self.personal),
            Scope::Shared => self.shared.as_deref().ok_or_else(|| {
                "no shared skill catalog is mounted; the tool set manifest must mount one at \
                 /shared-skills"
                    .to_owned()
            }),
        }
    }

    /// Saves `skill` in `scope`, replacing one of the same name there (its `created_at` is
    /// kept). Returns the skill as stored.
    pub fn save(&self, scope: Scope, mut skill: Skill) -> Result<Skill, String> {
        check_name(&skill.name)?;
        let dir = self.dir(scope)?;
        match self.read(dir, &skill.name)? {
            Some(previous) => skill.created_at = previous.created_at,
            None => {
                let count = self.read_all(dir)?.len();
                if count >= MAX_SKILLS {
                    return Err(format!(
                        "the {} catalog already holds {count} skills, the most it may; replace \
                         one instead of adding another",
                        scope.as_str()
                    ));
                }
            }
        }
        let bytes = serde_json::to_vec_pretty(&skill)
            .map_err(|e| format!("could not encode the skill: {e}"))?;
        let target = dir.join(format!("{}.json", skill.name));
        let _reservation = match scope {
            Scope::Personal => {
                let need = Need {
                    bytes: bytes.len() as u64,
                    entries: u64::from(!target.exists()) + u64::from(!dir.is_dir()),
                };
                let what = format!("saving skill `{}`", skill.name);
                Some(
                    self.quota
                        .reserve(&what, &target, need)
                        .map_err(|e| e.to_string())?,
                )
            }
            Scope::Shared => None,
        };
        fs::create_dir_all(dir).map_err(|e| write_error(scope, "create the skill catalog", &e))?;
        atomic_replace(dir, &target, &bytes)
            .map_err(|e| write_error(scope, &format!("save skill `{}`", skill.name), &e))?;
        Ok(skill)
    }

    /// Deletes the skill `name` from `scope`'s catalog.
    pub fn delete(&self, scope: Scope, name: &str) -> Result<(), String> {
        check_name(name)?;
        let dir = self.dir(scope)?;
        match fs::remove_file(dir.join(format!("{name}.json"))) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(format!(
                "no {} skill is named `{name}`; list_skills shows the available ones",
                scope.as_str()
            )),
            Err(e) => Err(write_error(scope, &format!("delete skill `{name}`"), &e)),
        }
    }

    /// The skill `name`, personal first, then shared.
    pub fn get(&self, name: &str) -> Result<Option<(Scope, Skill)>, String> {
        check_name(name)?;
        for scope in [Scope::Personal, Scope::Shared] {
            let Ok(dir) = self.dir(scope) else { continue };
            if let Some(skill) = self.read(dir, name)? {
                return Ok(Some((scope, skill)));
            }
        }
        Ok(None)
    }

    /// Every skill: personal ones, then shared ones, each by name. A shared skill with the
    /// name of a personal one is listed too (the personal one is what `get` finds).
    pub fn list(&self) -> Result<Vec<(Scope, Skill)>, String> {
        let mut all = Vec::new();
        for scope in [Scope::Personal, Scope::Shared] {
            let Ok(dir) = self.dir(scope) else { continue };
            all.extend(self.read_all(dir)?.into_iter().map(|skill| (scope, skill)));
        }
        Ok(all)
    }

    fn read(&self, dir: &Path, name: &str) -> Result<Option<Skill>, String> {
        let path = dir.join(format!("{name}.json"));
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                format!("skill `{name}` is damaged ({e}); save it again to replace it")
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("could not read skill `{name}`: {e}")),
        }
    }

    /// The readable skills of a catalog, by name; damaged files are left out.
    fn read_all(&self, dir: &Path) -> Result<Vec<Skill>, String> {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(format!("could not list skills: {e}")),
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|entry| {
                let file = entry.file_name().to_string_lossy().into_owned();
                let name = file.strip_suffix(".json")?;
                check_name(name).ok().map(|()| name.to_owned())
            })
            .collect();
        names.sort();
        Ok(names
            .iter()
            .filter_map(|name| self.read(dir, name).ok().flatten())
            .collect())
    }
}

/// Why a write to `scope`'s catalog failed. A refusal of the shared catalog comes from the host,
/// which mounts it read-only for callers whose roles do not grant writing to it.
fn write_error(scope: Scope, what: &str, error: &io::Error) -> String {
    let refused = matches!(
        error.kind(),
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
    );
    if scope == Scope::Shared && refused {
        format!(
            "could not {what}: the sandbox mounts the shared skill catalog read-only for you, \
             since none of your roles may write to it ({error}); keep the skill in your own \
             catalog instead (save it without `shared`)"
        )
    } else {
        format!("could not {what}: {error}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalogs(name: &str) -> Catalogs {
        let root = std::env::temp_dir().join(format!("skills-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("shared")).unwrap();
        fs::create_dir_all(root.join("ws")).unwrap();
        Catalogs {
            personal: root.join("ws/.skills"),
            quota: Quota::new(
                root.join("ws"),
                workspace_quota::Limits {
                    max_bytes: 4096,
                    max_entries: 4,
                    max_file_bytes: 8192,
                },
            ),
            shared: Some(root.join("shared")),
        }
    }

    fn skill(name: &str, description: &str, at: &str) -> Skill {
        Skill {
            name: name.to_owned(),
            description: description.to_owned(),
            code: "print(args)".to_owned(),
            parameters: Vec::new(),
            author: "alice".to_owned(),
            created_at: at.to_owned(),
            updated_at: at.to_owned(),
        }
    }

    #[test]
    fn personal_skills_shadow_shared_ones_and_keep_their_creation_time() {
        let c = catalogs("shadow");
        c.save(Scope::Shared, skill("digest", "shared one", "t1"))
            .unwrap();
        assert_eq!(c.get("digest").unwrap().unwrap().0, Scope::Shared);
        c.save(Scope::Personal, skill("digest", "mine", "t2"))
            .unwrap();
        let saved = c
            .save(Scope::Personal, skill("digest", "mine v2", "t3"))
            .unwrap();
        assert_eq!(
            (saved.created_at.as_str(), saved.updated_at.as_str()),
            ("t2", "t3")
        );
        let (scope, found) = c.get("digest").unwrap().unwrap();
        assert_eq!(
            (scope, found.description.as_str()),
            (Scope::Personal, "mine v2")
        );
        let listed: Vec<_> = c
            .list()
            .unwrap()
            .into_iter()
            .map(|(s, k)| (s, k.name))
            .collect();
        assert_eq!(
            listed,
            vec![
                (Scope::Personal, "digest".to_owned()),
                (Scope::Shared, "digest".to_owned())
            ]
        );
        assert_eq!(c.get("missing").unwrap(), None);
        fs::remove_dir_all(c.personal.parent().unwrap().parent().unwrap()).unwrap();
    }

    #[test]
    fn personal_skills_count_against_the_workspace_quota() {
        let c = catalogs("quota");
        // `.skills` and three skills: the workspace's four entries.
        for name in ["a", "b", "c"] {
            c.save(Scope::Personal, skill(name, "d", "t")).unwrap();
        }
        let error = c.save(Scope::Personal, skill("d", "d", "t")).unwrap_err();
        assert!(
            error.contains("workspace quota reached") && error.contains("delete_skill"),
            "{error}"
        );
        // Replacing one adds nothing; deleting one makes room.
        c.save(Scope::Personal, skill("a", "d2", "t")).unwrap();
        c.delete(Scope::Personal, "b").unwrap();
        c.save(Scope::Personal, skill("d", "d", "t")).unwrap();
        let error = c.delete(Scope::Personal, "b").unwrap_err();
        assert!(error.contains("no personal skill is named `b`"), "{error}");
        // Bytes count too.
        let mut big = skill("a", "d", "t");
        big.code = "x".repeat(4000);
        let error = c.save(Scope::Personal, big).unwrap_err();
        assert!(error.contains("MCP_WORKSPACE_MAX_BYTES"), "{error}");
        fs::remove_dir_all(c.personal.parent().unwrap().parent().unwrap()).unwrap();
    }

    #[test]
    fn without_a_shared_mount_shared_saves_explain_and_reads_skip_it() {
        let mut c = catalogs("noshared");
        c.shared = None;
        let error = c.save(Scope::Shared, skill("x", "d", "t")).unwrap_err();
        assert!(error.contains("/shared-skills"), "{error}");
        assert_eq!(c.list().unwrap(), vec![]);
    }

    #[test]
    fn skill_names_are_lower_case_identifiers() {
        for bad in ["", "Digest", "1st", "a-b", "../x", &"a".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_name("error_digest_2").is_ok());
    }
}
