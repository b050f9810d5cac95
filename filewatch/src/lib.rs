//! `mcp-filewatch`: notices when files that a running binary loaded have changed on disk, so it
//! can reload them. One utility for every such file: the gateway's access policy, its TLS
//! certificate and key, its API key directory, and the sandbox's tool sets, components and
//! policy.
//!
//! - [`FileStamp`] identifies one version of one file from a `stat` (device, inode, size,
//!   modification and change times). A rewrite through rename (an atomic write, a Kubernetes
//!   ConfigMap or Secret `..data` swap) changes the inode; an edit in place changes the times.
//!   Metadata follows symlinks, so a swapped link target counts as a change.
//! - [`Fingerprint`] folds the stamps of a set of files and directory trees into one value,
//!   walking directories a bounded number of levels and entries and skipping hidden entries
//!   (a ConfigMap's `..data` directories are reached through the links into them).
//! - [`Tracker`] remembers which fingerprint was last acted on and answers "act now?", either
//!   as soon as the fingerprint moves ([`Settle::Immediately`]) or once it has held still for
//!   one check ([`Settle::HeldStill`]), so a file still being copied is not loaded half-written.
//! - [`Watch`] runs the checks on a tokio task: every poll interval, on file-system events
//!   (inotify) and on SIGHUP, as the caller chooses, and calls the caller's reload.
//!
//! This crate reads nothing but metadata and never parses a file: what a change means, and
//! whether the new version is usable, is the caller's business.

mod stamp;
mod watch;

pub use stamp::{FileStamp, Fingerprint};
pub use watch::{Settle, Tracker, Trigger, Watch, WatchHandle};
