//! The API key lifecycle commands, mounted by the gateway as `mcp-gateway keys ...`:
//! `create`, `list`, `update`, `revoke`, `rotate`, `expiring`, `export`, `import`.
//!
//! This module owns the command line (clap types), the operations on the key directory, and
//! their output. Every write is atomic (see `keystore::files`), so a running gateway's watcher
//! sees the old or the new record, never half a file. Secrets are printed exactly once, by
//! `create` and `rotate`, and never written anywhere.
//!
//! ```text
//! mcp-gateway keys --dir /etc/mcp-gateway/keys create --user alice --role mcp-user --expires 90d
//! mcp-gateway keys list
//! mcp-gateway keys list --csv > keys.csv
//! mcp-gateway keys update 3f9a0c1b7d2e --role mcp-user --role mcp-log-analyst
//! mcp-gateway keys rotate 3f9a0c1b7d2e --grace 24h
//! mcp-gateway keys rotate --older-than 90d --grace 24h
//! mcp-gateway keys revoke --user alice
//! mcp-gateway keys expiring --within 7d --fail-if-any
//! ```

mod dir;
mod ops;
mod render;
mod transfer;

use std::io::{self, Write};
use std::path::PathBuf;
use std::str::FromStr;

use clap::ArgGroup;
use mcp_contract::units::Span;

use crate::apikey::KeyId;
use crate::keystore::FileError;

pub use ops::Expiry;

/// `mcp-gateway keys [--dir DIR] <command>`.
#[derive(Debug, clap::Args)]
pub struct KeysArgs {
    /// The API key directory (one <id>.json file per key)
    #[arg(long, env = "MCP_GATEWAY_KEYS_DIR", global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    #[allow(
        missing_docs,
        reason = "a doc comment here would become clap help text; each command has its own"
    )]
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[allow(
    missing_docs,
    reason = "a doc comment here would become clap help text; each command has its own"
)]
#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it once (only its hash is stored)
    Create {
        /// The user the key authenticates as
        #[arg(long)]
        user: String,
        /// A role of the key (repeat the flag or separate with commas)
        #[arg(
            long = "role",
            required = true,
            value_delimiter = ',',
            value_name = "ROLE"
        )]
        roles: Vec<String>,
        /// Lifetime, e.g. 90d or 12h, or "never"
        #[arg(long, default_value = "90d", value_name = "SPAN|never")]
        expires: Expiry,
        /// What the key is for
        #[arg(long)]
        description: Option<String>,
        /// Print JSON (including the key) for scripts
        #[arg(long)]
        json: bool,
    },
    /// List keys with their expiry and status
    #[command(group(ArgGroup::new("format").args(["json", "csv"])))]
    List {
        /// Print JSON for scripts (no hashes)
        #[arg(long)]
        json: bool,
        /// Print CSV for reports (id,user,roles,created,expires,days_left,status,description)
        #[arg(long)]
        csv: bool,
    },
    /// Change a key's roles, description or expiry in place (same key, no new secret)
    #[command(group(ArgGroup::new("change").required(true).multiple(true).args(["roles", "description", "expires"])))]
    Update {
        /// The key id
        id: String,
        /// The key's new roles, replacing the old ones (repeat the flag or separate with commas)
        #[arg(long = "role", value_delimiter = ',', value_name = "ROLE")]
        roles: Vec<String>,
        /// A new description
        #[arg(long)]
        description: Option<String>,
        /// A new lifetime counted from now, e.g. 30d, or "never"
        #[arg(long, value_name = "SPAN|never")]
        expires: Option<Expiry>,
    },
    /// Revoke a key, or every key of a user (offboarding)
    #[command(group(ArgGroup::new("target").required(true).args(["id", "user"])))]
    Revoke {
        /// The key id
        id: Option<String>,
        /// Revoke all keys of this user
        #[arg(long)]
        user: Option<String>,
    },
    /// Replace keys by new ones (same user, roles and lifetime) and print the new keys once
    #[command(group(ArgGroup::new("target").required(true).args(["id", "user", "all_expiring_within", "older_than", "all"])))]
    Rotate {
        /// The key id
        id: Option<String>,
        /// Rotate all active keys of this user
        #[arg(long)]
        user: Option<String>,
        /// Rotate all active keys that expire within this span, e.g. 7d
        #[arg(long, value_name = "SPAN")]
        all_expiring_within: Option<Span>,
        /// Rotate all active keys created more than this span ago, e.g. 90d
        #[arg(long, value_name = "SPAN")]
        older_than: Option<Span>,
        /// Rotate every active key
        #[arg(long)]
        all: bool,
        /// Keep each old key valid this long (e.g. 24h); without it old keys are revoked now
        #[arg(long, value_name = "SPAN")]
        grace: Option<Span>,
        /// Print JSON (including the new keys) for scripts
        #[arg(long)]
        json: bool,
    },
    /// Show active keys that expire within a span (exit status 0 unless --fail-if-any)
    Expiring {
        /// The span, e.g. 7d
        #[arg(long, value_name = "SPAN")]
        within: Span,
        /// Exit with status 1 when some key expires within the span
        #[arg(long)]
        fail_if_any: bool,
        /// Print JSON for scripts
        #[arg(long)]
        json: bool,
    },
    /// Write every key record (hashes, never secrets) as JSON to stdout or a file
    Export {
        /// Write to this file (atomically, mode 0600) instead of stdout
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Add the keys of an export; every record is validated before any is written
    Import {
        /// A file written by `keys export`
        file: PathBuf,
        /// Replace existing keys with the same id
        #[arg(long)]
        overwrite: bool,
    },
}

/// How a command ended, for the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The command did what it was asked.
    Done,
    /// `expiring --fail-if-any` found keys.
    ExpiringKeysFound,
}

impl Outcome {
    /// The process exit status for this outcome.
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Done => 0,
            Self::ExpiringKeysFound => 1,
        }
    }
}

/// Why a command failed; messages name the file and field.
#[derive(Debug, thiserror::Error)]
pub enum KeysCliError {
    /// Neither `--dir` nor `MCP_GATEWAY_KEYS_DIR` names the key directory.
    #[error("no key directory: pass --dir DIR or set MCP_GATEWAY_KEYS_DIR")]
    NoDir,
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A key file the command needs is not a valid key record.
    #[error("{}: {source}", path.display())]
    InvalidFile {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        source: FileError,
    },
    /// No key has the given id.
    #[error("no key with id {id} in {} (see `keys list`)", dir.display())]
    NotFound {
        /// The id asked for.
        id: KeyId,
        /// The key directory searched.
        dir: PathBuf,
    },
    /// An argument is invalid (user, role, expiry, ...); the message says which and why.
    #[error("{0}")]
    Invalid(String),
    /// `rotate` was asked for a revoked key.
    #[error("key {0} is revoked and cannot be rotated: create a new key instead")]
    RotateRevoked(KeyId),
    /// `update` was asked for a revoked key.
    #[error("key {0} is revoked and cannot be updated: create a new key instead")]
    UpdateRevoked(KeyId),
    /// `rotate` was asked for a key that already has a replacement.
    #[error("key {id} was already rotated and replaced by {by}: rotate {by} instead")]
    AlreadyRotated {
        /// The key asked for.
        id: KeyId,
        /// The key that replaced it.
        by: KeyId,
    },
    /// An import file cannot be used.
    #[error("{}: {problem}", path.display())]
    Import {
        /// The import file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// Some key files in the directory are invalid, so the command refuses to act on it.
    #[error(
        "{} key file(s) in {} are invalid; fix or remove them, then run the command again:\n{}",
        files.len(), dir.display(), render::invalid_list(files)
    )]
    InvalidFiles {
        /// The key directory.
        dir: PathBuf,
        /// Each invalid file with the reason.
        files: Vec<(PathBuf, String)>,
    },
    /// Writing to standard output failed.
    #[error("cannot write output: {0}")]
    Output(#[from] io::Error),
}

/// Runs a `keys` command; normal output goes to `out`, warnings and notes to `err`.
pub fn run(
    args: KeysArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Outcome, KeysCliError> {
    let path = args.dir.ok_or(KeysCliError::NoDir)?;
    let now = crate::keystore::record::now();
    match args.command {
        KeysCommand::Create {
            user,
            roles,
            expires,
            description,
            json,
        } => {
            let dir = dir::KeyDir::create(&path)?;
            let created = ops::create(&dir, &user, roles, expires, description, now)?;
            render::new_keys(out, &dir, std::slice::from_ref(&created), json)?;
        }
        KeysCommand::List { json, csv } => {
            let dir = dir::KeyDir::existing(&path)?;
            let (records, invalid) = dir.scan()?;
            if csv {
                render::list_csv(out, &records, now)?;
            } else if json {
                render::summaries_json(out, &records, now)?;
            } else {
                render::list(out, &records, now)?;
            }
            render::warn_invalid(err, &invalid)?;
        }
        KeysCommand::Update {
            id,
            roles,
            description,
            expires,
        } => {
            let dir = dir::KeyDir::existing(&path)?;
            let change = ops::Change {
                roles: (!roles.is_empty()).then_some(roles),
                description,
                expires,
            };
            let (before, after) = ops::update(&dir, &parse_id(&id)?, change, now)?;
            render::updated(out, &before, &after)?;
        }
        KeysCommand::Revoke { id, user } => {
            let dir = dir::KeyDir::existing(&path)?;
            ops::revoke(&dir, id.as_deref(), user.as_deref(), now, out, err)?;
        }
        KeysCommand::Rotate {
            id,
            user,
            all_expiring_within,
            older_than,
            all,
            grace,
            json,
        } => {
            let dir = dir::KeyDir::existing(&path)?;
            let target = if let Some(id) = id {
                ops::RotateTarget::Id(parse_id(&id)?)
            } else if let Some(user) = user {
                ops::RotateTarget::User(user)
            } else if let Some(within) = all_expiring_within {
                ops::RotateTarget::ExpiringWithin(within)
            } else if let Some(age) = older_than {
                ops::RotateTarget::OlderThan(age)
            } else if all {
                ops::RotateTarget::All
            } else {
                return Err(KeysCliError::Invalid(
                    "say which keys to rotate: an ID, --user, --all-expiring-within, \
                     --older-than or --all"
                        .into(),
                ));
            };
            let rotated = ops::rotate(&dir, target, grace, now)?;
            if rotated.is_empty() {
                writeln!(err, "no active keys matched; nothing rotated")?;
            }
            render::rotated(out, &dir, &rotated, grace, json)?;
        }
        KeysCommand::Expiring {
            within,
            fail_if_any,
            json,
        } => {
            let dir = dir::KeyDir::existing(&path)?;
            let (records, invalid) = dir.scan()?;
            let expiring = ops::expiring(&records, within, now);
            if json {
                render::summaries_json(out, &expiring, now)?;
            } else {
                render::expiring(out, &expiring, within, now)?;
            }
            render::warn_invalid(err, &invalid)?;
            if fail_if_any && !expiring.is_empty() {
                return Ok(Outcome::ExpiringKeysFound);
            }
        }
        KeysCommand::Export { out: file } => {
            let dir = dir::KeyDir::existing(&path)?;
            let n = transfer::export(&dir, file.as_deref(), now, out)?;
            if let Some(file) = file {
                writeln!(err, "exported {n} keys to {}", file.display())?;
            }
        }
        KeysCommand::Import { file, overwrite } => {
            let dir = dir::KeyDir::create(&path)?;
            let summary = transfer::import(&dir, &file, overwrite)?;
            writeln!(out, "{summary}")?;
        }
    }
    Ok(Outcome::Done)
}

fn parse_id(id: &str) -> Result<KeyId, KeysCliError> {
    KeyId::parse(id).map_err(|e| KeysCliError::Invalid(e.to_string()))
}

/// An `--expires` that is neither a span nor `never`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}, or \"never\"")]
pub struct InvalidExpiry(#[source] pub mcp_contract::units::UnitError);

impl FromStr for Expiry {
    type Err = InvalidExpiry;
    fn from_str(s: &str) -> Result<Self, InvalidExpiry> {
        if s == "never" {
            return Ok(Self::Never);
        }
        s.parse::<Span>().map(Self::After).map_err(InvalidExpiry)
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_lifecycle;
