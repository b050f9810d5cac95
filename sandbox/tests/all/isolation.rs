//! Capabilities are deny by default: no host files, no environment, no network; each user sees
//! only their own workspace, and paths cannot climb out of it.

use crate::common::{Sandbox, Setup};
use serde_json::json;

#[test]
fn host_files_are_out_of_reach() {
    let sb = Sandbox::start(Setup::default());
    for path in [
        "/etc/passwd",
        "../../../../etc/passwd",
        "/workspace/../../etc/passwd",
    ] {
        let a = sb.call("escape_read_file", json!({"path": path}));
        assert_eq!(a.kind(), "tool_error", "{path}: {}", a.body);
        assert!(
            !a.body.to_string().contains("root:"),
            "{path} leaked: {}",
            a.body
        );
    }
    sb.assert_still_serving();
}

#[test]
fn the_environment_is_empty() {
    // The sandbox process has a PATH and HOME; the guest must see none of it.
    let sb = Sandbox::start(Setup::default());
    let a = sb.call("read_env", json!({}));
    assert_eq!(a.result(), &json!({}), "{}", a.body);
}

#[test]
fn sockets_are_denied() {
    let sb = Sandbox::start(Setup::default());
    // The sandbox's own port is certainly open on the host.
    let a = sb.call("open_socket", json!({"addr": sb.proc.addr()}));
    assert_eq!(a.kind(), "tool_error", "{}", a.body);
    assert!(
        a.message().to_lowercase().contains("denied"),
        "{}",
        a.message()
    );
}

#[test]
fn each_user_sees_only_their_own_workspace() {
    let sb = Sandbox::start(Setup::default());
    let w = sb.call_as(
        "escape_write_file",
        json!({"path": "/workspace/secret.txt", "content": "alice's"}),
        "alice",
        &["tester"],
    );
    assert!(w.body["ok"].as_bool().unwrap(), "{}", w.body);
    let own = sb.call_as(
        "escape_read_file",
        json!({"path": "/workspace/secret.txt"}),
        "alice",
        &["tester"],
    );
    assert_eq!(own.result(), "alice's");
    let other = sb.call_as(
        "escape_read_file",
        json!({"path": "/workspace/secret.txt"}),
        "bob",
        &["tester"],
    );
    assert_eq!(
        other.kind(),
        "tool_error",
        "bob read alice's file: {}",
        other.body
    );
    let listing = sb.call_as(
        "escape_list_dir",
        json!({"path": "/workspace"}),
        "bob",
        &["tester"],
    );
    assert!(
        !listing.body.to_string().contains("secret.txt"),
        "{}",
        listing.body
    );
    // On the host, the two users have distinct directories under the workspace root.
    let ws = mcp_sandbox::service::Workspaces::new(sb.dir.path().join("workspaces")).unwrap();
    let dir_of = |user| ws.path_for(mcp_sandbox::service::Owner::User(user));
    assert!(dir_of("alice").join("secret.txt").exists());
    assert!(!dir_of("bob").join("secret.txt").exists());
}

#[test]
fn paths_cannot_climb_out_of_the_workspace() {
    let sb = Sandbox::start(Setup::default());
    sb.call_as(
        "escape_write_file",
        json!({"path": "/workspace/mine.txt", "content": "bob's"}),
        "bob",
        &["tester"],
    );
    for path in [
        "/workspace/../bob/mine.txt",
        "/workspace/../../workspaces/bob/mine.txt",
        "/workspace/..",
    ] {
        let a = sb.call_as(
            "escape_read_file",
            json!({"path": path}),
            "alice",
            &["tester"],
        );
        assert_eq!(a.kind(), "tool_error", "{path}: {}", a.body);
        assert!(
            !a.body.to_string().contains("bob's"),
            "{path} leaked: {}",
            a.body
        );
    }
    let a = sb.call_as(
        "escape_write_file",
        json!({"path": "/workspace/../escaped.txt", "content": "x"}),
        "alice",
        &["tester"],
    );
    assert_eq!(a.kind(), "tool_error", "{}", a.body);
    assert!(!sb.dir.path().join("workspaces/escaped.txt").exists());
    // A user name that looks like a path gets its own hashed directory, not bob's.
    let a = sb.call_as(
        "escape_read_file",
        json!({"path": "/workspace/mine.txt"}),
        "../bob",
        &["tester"],
    );
    assert_eq!(a.kind(), "tool_error", "{}", a.body);
}
