//! Tools that reach outside the sandbox through WASI: files, environment, network. Each reports
//! what the OS said, so a test can check the capability was really denied (or granted).

use std::collections::BTreeMap;
use std::net::TcpStream;

use mcp_tool_sdk::prelude::*;

/// A path to read or list.
#[derive(Deserialize, JsonSchema)]
pub struct PathArgs {
    /// Path as the component sees it, e.g. `/workspace/notes.txt` or `/etc/passwd`.
    path: String,
}

/// What to write where.
#[derive(Deserialize, JsonSchema)]
pub struct WriteArgs {
    /// Path as the component sees it.
    path: String,
    /// Text to write; replaces the file.
    content: String,
}

/// Where to connect.
#[derive(Deserialize, JsonSchema)]
pub struct SocketArgs {
    /// `host:port`, e.g. `127.0.0.1:80`.
    addr: String,
}

pub fn read_file(args: PathArgs, _cx: &Context) -> Result<String, ToolError> {
    std::fs::read_to_string(&args.path)
        .map_err(|error| ToolError::failed(format!("reading {}: {error}", args.path)))
}

pub fn write_file(args: WriteArgs, _cx: &Context) -> Result<String, ToolError> {
    std::fs::write(&args.path, &args.content)
        .map_err(|error| ToolError::failed(format!("writing {}: {error}", args.path)))?;
    Ok(format!(
        "wrote {} bytes to {}",
        args.content.len(),
        args.path
    ))
}

pub fn list_dir(args: PathArgs, _cx: &Context) -> Result<Vec<String>, ToolError> {
    let failed =
        |error: std::io::Error| ToolError::failed(format!("listing {}: {error}", args.path));
    let mut names = std::fs::read_dir(&args.path)
        .map_err(failed)?
        .map(|entry| entry.map(|entry| entry.file_name().to_string_lossy().into_owned()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(failed)?;
    names.sort();
    Ok(names)
}

pub fn read_env(_: NoArgs, _cx: &Context) -> Result<BTreeMap<String, String>, ToolError> {
    Ok(std::env::vars().collect())
}

pub fn open_socket(args: SocketArgs, _cx: &Context) -> Result<String, ToolError> {
    match TcpStream::connect(&args.addr) {
        Ok(stream) => Ok(format!(
            "connected to {} from {:?}",
            args.addr,
            stream.local_addr().ok()
        )),
        Err(error) => Err(ToolError::failed(format!(
            "connecting to {}: {error}",
            args.addr
        ))),
    }
}
