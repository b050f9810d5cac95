//! The workspace tools: per-user files and checkpoints under quota, with escapes refused.

use std::time::{Duration, SystemTime};

use serde_json::json;

use crate::{Fixture, assert_fails};

const MIB: usize = 1024 * 1024;

#[test]
fn files_round_trip_list_and_delete() {
    let fx = Fixture::start();
    let sb = &fx.sb;
    let a = sb.call(
        "write_file",
        json!({"path": "notes/today.md", "content": "# Incidents\nnone ✓\n"}),
    );
    assert_eq!(a.result()["created"], true, "{}", a.body);
    assert_eq!(a.result()["bytes"], "# Incidents\nnone ✓\n".len());
    let a = sb.call(
        "write_file",
        json!({"path": "/workspace/b.txt", "content": "b"}),
    );
    assert_eq!(a.result()["path"], "b.txt");

    let a = sb.call("read_file", json!({"path": "./notes//today.md"}));
    assert_eq!(a.result()["content"], "# Incidents\nnone ✓\n");
    assert!(a.result()["modified"].as_str().unwrap().ends_with('Z'));

    let a = sb.call("list_files", json!({}));
    let paths: Vec<&str> = a.result()["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["b.txt", "notes/today.md"]);
    let a = sb.call("list_files", json!({"path": "notes"}));
    assert_eq!(a.result()["files"][0]["path"], "notes/today.md");

    let info = sb.call("get_workspace_info", json!({}));
    let r = info.result();
    assert_eq!(r["files"], 2);
    assert_eq!(r["quota_bytes"], 100 * MIB);
    assert_eq!(r["max_file_bytes"], 10 * MIB);

    let a = sb.call("delete_file", json!({"path": "b.txt"}));
    assert_eq!(a.result()["bytes_freed"], 1);
    let a = sb.call("read_file", json!({"path": "b.txt"}));
    assert_fails(&a, "invalid_arguments", "nothing exists at `b.txt`");
    let a = sb.call("delete_file", json!({"path": "notes"}));
    assert_fails(&a, "invalid_arguments", "delete its files first");
}

#[test]
fn quotas_name_their_limit() {
    let fx = Fixture::start();
    let big = "x".repeat(10 * MIB + 1);
    let a = fx
        .sb
        .call("write_file", json!({"path": "big.txt", "content": big}));
    assert_fails(&a, "tool_error", "at most 10 MiB (10485760 bytes");

    // A workspace already near its quota (a sparse file counts at its full length).
    let dir = fx.workspace_of("alice");
    let filler = std::fs::File::create(dir.join("filler.bin")).unwrap();
    filler.set_len((100 * MIB - 1000) as u64).unwrap();
    let a = fx.sb.call(
        "write_file",
        json!({"path": "more.txt", "content": "y".repeat(2000)}),
    );
    assert_fails(&a, "tool_error", "workspace quota reached");
    assert_fails(
        &a,
        "tool_error",
        "of its 100 MiB (104857600 bytes, MCP_WORKSPACE_MAX_BYTES)",
    );
    assert!(!dir.join("more.txt").exists());
    let a = fx.sb.call(
        "write_file",
        json!({"path": "fits.txt", "content": "y".repeat(900)}),
    );
    assert_eq!(a.result()["created"], true);
    let info = fx.sb.call("get_workspace_info", json!({}));
    assert_eq!(info.result()["bytes_free"], 100);
}

#[test]
fn paths_that_escape_the_workspace_are_refused() {
    let fx = Fixture::start();
    let outside = fx.sb.dir.path().join("outside.txt");
    std::fs::write(&outside, "secret").unwrap();
    let escapes = [
        ("../outside.txt", "climbs out of the workspace"),
        ("a/../../outside.txt", "climbs out of the workspace"),
        ("/workspace/../outside.txt", "climbs out of the workspace"),
        ("/etc/passwd", "outside /workspace"),
        ("x\u{0}y", "control character"),
        (".checkpoints/c.json", "reserved"),
        (".skills/s.json", "reserved"),
    ];
    for (path, needle) in escapes {
        for tool in ["read_file", "delete_file"] {
            let a = fx.sb.call(tool, json!({ "path": path }));
            assert_fails(&a, "invalid_arguments", needle);
        }
        let a = fx
            .sb
            .call("write_file", json!({"path": path, "content": "x"}));
        assert_fails(&a, "invalid_arguments", needle);
    }
    // A link planted in the workspace is not followed.
    let dir = fx.workspace_of("alice");
    std::os::unix::fs::symlink(fx.sb.dir.path(), dir.join("link")).unwrap();
    let a = fx.sb.call("read_file", json!({"path": "link/outside.txt"}));
    assert_fails(&a, "invalid_arguments", "symbolic link `link`");
    let a = fx
        .sb
        .call("write_file", json!({"path": "link/x", "content": "x"}));
    assert_fails(&a, "invalid_arguments", "symbolic link");
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "secret");
    assert!(!fx.sb.dir.path().join("x").exists());
}

#[test]
fn overwrites_are_atomic_and_leave_no_temporary_files() {
    let fx = Fixture::start();
    let dir = fx.workspace_of("alice");
    std::fs::create_dir_all(dir.join("data")).unwrap();
    // What a crash between write and rename leaves behind, long ago.
    let stale = dir.join("data/.mcp-tmp-0000-report.json");
    let f = std::fs::File::create(&stale).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
    drop(f);

    for version in 1..=3 {
        let content = format!("{{\"version\": {version}}}");
        let a = fx.sb.call(
            "write_file",
            json!({"path": "data/report.json", "content": content}),
        );
        assert_eq!(a.result()["created"], version == 1, "{}", a.body);
        let r = fx.sb.call("read_file", json!({"path": "data/report.json"}));
        assert_eq!(r.result()["content"], content);
    }
    let names: Vec<String> = std::fs::read_dir(dir.join("data"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["report.json"], "temporary files were cleaned up");
    let listed = fx.sb.call("list_files", json!({}));
    assert_eq!(listed.result()["files"].as_array().unwrap().len(), 1);
}

#[test]
fn checkpoints_save_load_and_list_hidden_from_files() {
    let fx = Fixture::start();
    let data = json!({"step": 2, "services": ["api", "db"], "note": "half way"});
    let a = fx
        .sb
        .call("save_checkpoint", json!({"name": "triage-1", "data": data}));
    assert_eq!(a.result()["name"], "triage-1", "{}", a.body);
    fx.sb
        .call("save_checkpoint", json!({"name": "alpha", "data": null}))
        .result();
    let a = fx.sb.call(
        "save_checkpoint",
        json!({"name": "triage-1", "data": {"step": 3}}),
    );
    a.result();

    let a = fx.sb.call("load_checkpoint", json!({"name": "triage-1"}));
    assert_eq!(a.result()["data"], json!({"step": 3}));
    assert!(a.result()["saved_at"].as_str().unwrap().ends_with('Z'));
    let a = fx.sb.call("list_checkpoints", json!({}));
    let names: Vec<&str> = a.result()["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha", "triage-1"]);

    let a = fx.sb.call("list_files", json!({}));
    assert_eq!(a.result()["files"], json!([]), "checkpoints are not files");
    let info = fx.sb.call("get_workspace_info", json!({}));
    assert_eq!(info.result()["checkpoints"], 2);
    assert!(info.result()["bytes_used"].as_u64().unwrap() > 0);

    let a = fx.sb.call("load_checkpoint", json!({"name": "missing"}));
    assert_fails(&a, "invalid_arguments", "list_checkpoints");
    let a = fx
        .sb
        .call("save_checkpoint", json!({"name": "../escape", "data": 1}));
    assert_fails(&a, "invalid_arguments", "not valid");
}

#[test]
fn users_do_not_see_each_others_files_or_checkpoints() {
    let fx = Fixture::start();
    let as_user = |tool: &str, args, user: &str| fx.sb.call_as(tool, args, user, &["tester"]);
    as_user(
        "write_file",
        json!({"path": "secret.txt", "content": "alice only"}),
        "alice",
    )
    .result();
    as_user(
        "save_checkpoint",
        json!({"name": "mine", "data": 1}),
        "alice",
    )
    .result();

    let a = as_user("read_file", json!({"path": "secret.txt"}), "bob");
    assert_fails(&a, "invalid_arguments", "nothing exists");
    let a = as_user("read_file", json!({"path": "../alice/secret.txt"}), "bob");
    assert_fails(&a, "invalid_arguments", "climbs out");
    let a = as_user("list_files", json!({}), "bob");
    assert_eq!(a.result()["files"], json!([]));
    let a = as_user("list_checkpoints", json!({}), "bob");
    assert_eq!(a.result()["checkpoints"], json!([]));
    let a = as_user("load_checkpoint", json!({"name": "mine"}), "bob");
    assert_fails(&a, "invalid_arguments", "no checkpoint");

    let a = as_user("read_file", json!({"path": "secret.txt"}), "alice");
    assert_eq!(a.result()["content"], "alice only");
}
