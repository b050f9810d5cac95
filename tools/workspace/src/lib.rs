//! The `workspace` component: the caller's persistent files and checkpoints under
//! `/workspace`, which the sandbox mounts per user (tool set capability
//! `workspace: read-write`), so one user never sees another's files.
//!
//! It owns three things, one module each:
//! - [`paths`]: which paths a caller may name, checked lexically before anything is touched;
//! - [`store`]: atomic writes (temporary file, sync, rename), reads, listings, deletes, under
//!   the workspace's quota (`workspace_quota`): by default 10 MiB per file, and 100 MiB and
//!   10,000 files and directories per workspace, checkpoints and skills included; set in the
//!   tool set manifest (`capabilities.env`: `MCP_WORKSPACE_MAX_BYTES`,
//!   `MCP_WORKSPACE_MAX_ENTRIES`, `MCP_WORKSPACE_MAX_FILE_BYTES`);
//! - [`checkpoints`]: named JSON values in the reserved `.checkpoints/` directory.
//!
//! Files are UTF-8 text: `read_file` refuses anything else rather than return mangled bytes.

mod checkpoints;
mod paths;
mod store;

use std::path::Path;
use std::time::SystemTime;

use mcp_tool_sdk::prelude::*;
use mcp_tool_sdk::serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use checkpoints::Checkpoint;
use paths::{GUEST_ROOT, WsPath};
use store::{Store, StoreError};

/// Files listed at most by one `list_files` call.
const MAX_LISTED: usize = 1000;

/// A path in the caller's workspace.
#[derive(Deserialize, JsonSchema)]
struct PathArgs {
    /// Path relative to the workspace (`notes/today.md`); `/workspace/...` is accepted too.
    path: String,
}

/// Arguments of `write_file`.
#[derive(Deserialize, JsonSchema)]
struct WriteArgs {
    /// Path relative to the workspace (`notes/today.md`); missing directories are created.
    path: String,
    /// The whole new content of the file (UTF-8 text, at most 10 MiB unless the workspace's
    /// quota says otherwise).
    content: String,
}

/// Arguments of `list_files`.
#[derive(Deserialize, JsonSchema)]
struct ListArgs {
    /// Directory to list, relative to the workspace (default: the whole workspace).
    #[serde(default)]
    path: Option<String>,
}

/// Arguments of `save_checkpoint`.
#[derive(Deserialize, JsonSchema)]
struct SaveCheckpointArgs {
    /// 1-64 characters of A-Z a-z 0-9 _ - . (a checkpoint of the same name is replaced).
    name: String,
    /// Any JSON value to keep.
    data: Value,
}

/// Arguments of `load_checkpoint`.
#[derive(Deserialize, JsonSchema)]
struct NameArgs {
    /// The checkpoint's name.
    name: String,
}

/// What `write_file` did.
#[derive(Serialize, JsonSchema)]
struct Written {
    path: String,
    bytes: u64,
    /// Whether the file is new (false: it replaced an existing file).
    created: bool,
}

/// A file's content.
#[derive(Serialize, JsonSchema)]
struct FileContent {
    path: String,
    content: String,
    bytes: u64,
    /// Last modified, RFC 3339 UTC.
    modified: Option<String>,
}

/// One file (or empty directory) in a listing.
#[derive(Serialize, JsonSchema)]
struct FileEntry {
    /// Path relative to the workspace.
    path: String,
    bytes: u64,
    /// Last modified, RFC 3339 UTC.
    modified: Option<String>,
    /// Present (true) for an empty directory, which counts against the quota's entries and
    /// can be removed with delete_file.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    directory: bool,
}

/// The files under a directory.
#[derive(Serialize, JsonSchema)]
struct Listing {
    /// The directory listed (`.` for the whole workspace).
    path: String,
    /// Files (and empty directories), recursively, in path order.
    files: Vec<FileEntry>,
    /// Whether there were more than the 1000 files listed.
    truncated: bool,
}

/// What `delete_file` did.
#[derive(Serialize, JsonSchema)]
struct Deleted {
    path: String,
    bytes_freed: u64,
}

/// A saved checkpoint.
#[derive(Serialize, JsonSchema)]
struct SavedCheckpoint {
    name: String,
    bytes: u64,
    /// RFC 3339 UTC.
    saved_at: String,
}

/// A loaded checkpoint.
#[derive(Serialize, JsonSchema)]
struct LoadedCheckpoint {
    name: String,
    /// RFC 3339 UTC.
    saved_at: String,
    /// The value saved.
    data: Value,
}

/// The saved checkpoints, by name.
#[derive(Serialize, JsonSchema)]
struct CheckpointList {
    checkpoints: Vec<SavedCheckpoint>,
}

/// How full the workspace is.
#[derive(Serialize, JsonSchema)]
struct WorkspaceInfo {
    /// The caller's files (checkpoints and skills not included).
    files: u64,
    checkpoints: usize,
    /// Bytes stored, checkpoints and skills included.
    bytes_used: u64,
    /// The workspace's quota in bytes.
    quota_bytes: u64,
    bytes_free: u64,
    /// Files and directories of every kind (checkpoints and skills included): each takes an
    /// inode, so they count against their own quota, empty ones too.
    entries_used: u64,
    /// The most files and directories the workspace may hold.
    quota_entries: u64,
    entries_free: u64,
    /// Largest file in bytes.
    max_file_bytes: u64,
}

/// The caller's mounted workspace.
fn store() -> Result<Store, ToolError> {
    if !Path::new(GUEST_ROOT).is_dir() {
        return Err(ToolError::failed(format!(
            "no workspace is mounted at {GUEST_ROOT}; the tool set manifest must grant this \
             component `capabilities: {{ workspace: read-write }}`"
        )));
    }
    let limits = workspace_quota::Limits::from_env().map_err(ToolError::failed)?;
    Ok(Store::new(GUEST_ROOT.into(), limits))
}

/// Parses a caller's path and refuses one that goes through a link.
fn checked(store: &Store, input: &str, allow_root: bool) -> Result<WsPath, ToolError> {
    let path = WsPath::parse(input, allow_root)
        .and_then(|path| paths::reject_symlinks(&store.root, &path).map(|()| path))
        .map_err(|error| ToolError::invalid_arguments(format!("the path {input:?} {error}")))?;
    Ok(path)
}

fn tool_error(error: StoreError) -> ToolError {
    match error {
        StoreError::Refused(message) => ToolError::invalid_arguments(message),
        StoreError::Quota(message) | StoreError::Io(message) => ToolError::failed(message),
    }
}

fn rfc3339(at: SystemTime) -> String {
    let at = OffsetDateTime::from(at);
    let at = at.replace_nanosecond(0).unwrap_or(at);
    at.format(&Rfc3339)
        .unwrap_or_else(|_| at.unix_timestamp().to_string())
}

fn write_file(args: WriteArgs, _cx: &Context) -> Result<Written, ToolError> {
    let store = store()?;
    let path = checked(&store, &args.path, false)?;
    let created = store
        .write(&path, args.content.as_bytes())
        .map_err(tool_error)?;
    Ok(Written {
        path: path.display(),
        bytes: args.content.len() as u64,
        created,
    })
}

fn read_file(args: PathArgs, _cx: &Context) -> Result<FileContent, ToolError> {
    let store = store()?;
    let path = checked(&store, &args.path, false)?;
    let (bytes, modified) = store.read(&path).map_err(tool_error)?;
    let size = bytes.len() as u64;
    let content = String::from_utf8(bytes).map_err(|_| {
        ToolError::invalid_arguments(format!(
            "`{}` ({size} bytes) is not UTF-8 text; read_file returns text files only",
            path.display()
        ))
    })?;
    Ok(FileContent {
        path: path.display(),
        content,
        bytes: size,
        modified: modified.map(rfc3339),
    })
}

fn list_files(args: ListArgs, _cx: &Context) -> Result<Listing, ToolError> {
    let store = store()?;
    let path = checked(&store, args.path.as_deref().unwrap_or(""), true)?;
    let (files, truncated) = store.list(&path, MAX_LISTED).map_err(tool_error)?;
    Ok(Listing {
        path: path.display(),
        files: files
            .into_iter()
            .map(|file| FileEntry {
                path: file.path,
                bytes: file.bytes,
                modified: file.modified.map(rfc3339),
                directory: file.directory,
            })
            .collect(),
        truncated,
    })
}

fn delete_file(args: PathArgs, _cx: &Context) -> Result<Deleted, ToolError> {
    let store = store()?;
    let path = checked(&store, &args.path, false)?;
    let bytes_freed = store.delete(&path).map_err(tool_error)?;
    Ok(Deleted {
        path: path.display(),
        bytes_freed,
    })
}

fn save_checkpoint(args: SaveCheckpointArgs, _cx: &Context) -> Result<SavedCheckpoint, ToolError> {
    let store = store()?;
    let checkpoint = Checkpoint {
        name: args.name,
        saved_at: rfc3339(SystemTime::now()),
        data: args.data,
    };
    let bytes = checkpoints::save(&store, &checkpoint).map_err(tool_error)?;
    Ok(SavedCheckpoint {
        name: checkpoint.name,
        bytes,
        saved_at: checkpoint.saved_at,
    })
}

fn load_checkpoint(args: NameArgs, _cx: &Context) -> Result<LoadedCheckpoint, ToolError> {
    let store = store()?;
    let checkpoint = checkpoints::load(&store, &args.name).map_err(tool_error)?;
    Ok(LoadedCheckpoint {
        name: checkpoint.name,
        saved_at: checkpoint.saved_at,
        data: checkpoint.data,
    })
}

fn list_checkpoints(_: NoArgs, _cx: &Context) -> Result<CheckpointList, ToolError> {
    let store = store()?;
    let saved = checkpoints::list(&store).map_err(tool_error)?;
    Ok(CheckpointList {
        checkpoints: saved
            .into_iter()
            .map(|saved| SavedCheckpoint {
                name: saved.name,
                bytes: saved.bytes,
                saved_at: saved.modified.map(rfc3339).unwrap_or_default(),
            })
            .collect(),
    })
}

fn get_workspace_info(_: NoArgs, _cx: &Context) -> Result<WorkspaceInfo, ToolError> {
    let store = store()?;
    let usage = store
        .usage()
        .map_err(|error| ToolError::failed(format!("could not measure the workspace: {error}")))?;
    let checkpoints = checkpoints::list(&store).map_err(tool_error)?.len();
    let limits = store.quota.limits;
    Ok(WorkspaceInfo {
        files: usage.files,
        checkpoints,
        bytes_used: usage.bytes,
        quota_bytes: limits.max_bytes,
        bytes_free: limits.max_bytes.saturating_sub(usage.bytes),
        entries_used: usage.entries,
        quota_entries: limits.max_entries,
        entries_free: limits.max_entries.saturating_sub(usage.entries),
        max_file_bytes: limits.max_file_bytes,
    })
}

fn tools() -> Toolbox {
    let local = |tool: Tool| tool.open_world(false);
    Toolbox::new()
        .tool(local(
            Tool::new(
                "write_file",
                "Write a text file in your persistent workspace (replacing it atomically if it \
                 exists); by default at most 10 MiB per file, and 100 MiB and 10,000 files and \
                 directories in all (get_workspace_info shows the quota)",
                write_file,
            )
            .destructive(true)
            .idempotent(),
        ))
        .tool(local(
            Tool::new(
                "read_file",
                "Read a text file from your workspace",
                read_file,
            )
            .read_only()
            .idempotent(),
        ))
        .tool(local(
            Tool::new(
                "list_files",
                "List the files (and empty directories) in your workspace, or under one \
                 directory of it, with sizes and modification times",
                list_files,
            )
            .read_only()
            .idempotent(),
        ))
        .tool(local(
            Tool::new(
                "delete_file",
                "Delete a file (or an empty directory) from your workspace",
                delete_file,
            )
            .destructive(true)
            .idempotent(),
        ))
        .tool(local(
            Tool::new(
                "save_checkpoint",
                "Save any JSON value under a name in your workspace, to resume work later \
                 (replaces a checkpoint of the same name)",
                save_checkpoint,
            )
            .destructive(true),
        ))
        .tool(local(
            Tool::new(
                "load_checkpoint",
                "Load a JSON value saved with save_checkpoint",
                load_checkpoint,
            )
            .read_only()
            .idempotent(),
        ))
        .tool(local(
            Tool::new(
                "list_checkpoints",
                "List your saved checkpoints with their sizes and save times",
                list_checkpoints,
            )
            .read_only()
            .idempotent(),
        ))
        .tool(local(
            Tool::new(
                "get_workspace_info",
                "How full your workspace is: files, checkpoints, bytes and entries (files and \
                 directories) used, their quotas and what is free",
                get_workspace_info,
            )
            .read_only()
            .idempotent(),
        ))
}

mcp_tool_sdk::export_tools!(tools);

#[cfg(test)]
mod tests {
    use mcp_tool_sdk::testing::FakeHost;

    use super::*;

    #[test]
    fn the_toolbox_describes_itself() {
        let tools = tools().describe().unwrap();
        let names: Vec<_> = tools.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "write_file",
                "read_file",
                "list_files",
                "delete_file",
                "save_checkpoint",
                "load_checkpoint",
                "list_checkpoints",
                "get_workspace_info"
            ]
        );
    }

    #[test]
    fn timestamps_are_whole_seconds_in_utc() {
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_768_471_200_123);
        assert_eq!(rfc3339(at), "2026-01-15T10:00:00Z");
    }

    #[test]
    fn without_a_workspace_the_error_says_how_to_grant_one() {
        if Path::new(GUEST_ROOT).exists() {
            return;
        }
        let cx = Context::new(FakeHost::new());
        let error = tools().call("list_files", "{}", &cx).unwrap_err();
        assert!(error.message().contains("workspace: read-write"), "{error}");
    }
}
