//! Tenant isolation of stored state (issue 12, items 4 and 5), against the real sandbox serving
//! the real `workspace`, `skills` and hostile components built from source:
//! - a workspace quota that counts bytes, files and directories, and skills, cannot be raced
//!   past by concurrent calls, and does not stop another caller;
//! - workspaces and skills keyed by principal, so one display name under two principals gets
//!   two of each, and name-keyed workspaces move to principals only by the operator's map;
//! - the shared skill catalog is read-only on the host for callers without a writer role,
//!   whatever the component tries.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use mcp_sandbox::service::{Owner, Workspaces};
use mcp_testkit::{Proc, ProcBuilder, TempDir};
use serde_json::{Value, json};

/// The quota the test tool set gives each workspace.
const MAX_BYTES: u64 = 64 * 1024;
const MAX_ENTRIES: u64 = 40;

const OIDC_ALICE: &str = "oidc:http://127.0.0.1:9000#3f9a-alice-sub";
const KEY_ALICE: &str = "key:k-0042";

struct Sandbox {
    proc: Proc,
    dir: TempDir,
    shared: TempDir,
    http: reqwest::blocking::Client,
}

/// One call's answer: the JSON body.
struct Answer(Value);

impl Answer {
    fn ok(&self) -> bool {
        self.0["ok"] == true
    }
    fn result(&self) -> &Value {
        assert!(self.ok(), "expected success, got {}", self.0);
        &self.0["result"]
    }
    fn failure(&self) -> (&str, &str) {
        assert!(!self.ok(), "expected a failure, got {}", self.0);
        let e = &self.0["error"];
        (
            e["kind"].as_str().unwrap_or(""),
            e["message"].as_str().unwrap_or(""),
        )
    }
}

/// Who calls: display name, principal (None: no gateway), roles.
#[derive(Clone, Copy)]
struct Who(&'static str, Option<&'static str>, &'static [&'static str]);

const ANALYST: &[&str] = &["analyst"];
const SKILL_ADMIN: &[&str] = &["analyst", "skill-admin"];

impl Sandbox {
    /// Serves the `storage` tool set: `workspace` and `skills` under a small quota, and the
    /// hostile component, with the shared skill catalog mounted read-write for `skill-admin`
    /// only. The `skills` component is told (wrongly, on purpose) that `analyst` may write it
    /// too, so that only the host stands in the way.
    fn start() -> Self {
        let dir = TempDir::new().unwrap();
        let shared = TempDir::new().unwrap();
        let toolsets = dir.path().join("toolsets");
        std::fs::create_dir_all(&toolsets).unwrap();
        let quota_env = format!(
            "MCP_WORKSPACE_MAX_BYTES: \"{MAX_BYTES}\", MCP_WORKSPACE_MAX_ENTRIES: \"{MAX_ENTRIES}\""
        );
        let shared_mount = format!(
            "{{ host: {:?}, guest: /shared-skills, mode: read-write, write_roles: [skill-admin] }}",
            shared.path()
        );
        let manifest = format!(
            "name: storage\n\
             defaults:\n  limits: {{ fuel: 5000000000, timeout: 20s, memory: 128MiB, output: 4MiB }}\n\
             components:\n\
             \x20 - file: workspace.wasm\n\
             \x20   capabilities: {{ workspace: read-write, env: {{ {quota_env} }} }}\n\
             \x20 - file: skills.wasm\n\
             \x20   capabilities:\n\
             \x20     workspace: read-write\n\
             \x20     dirs: [{shared_mount}]\n\
             \x20     env: {{ {quota_env}, MCP_SHARED_SKILLS_WRITE_ROLES: \"analyst,skill-admin\" }}\n\
             \x20 - file: hostile.wasm\n\
             \x20   capabilities: {{ dirs: [{shared_mount}] }}\n"
        );
        std::fs::write(toolsets.join("storage.yaml"), manifest).unwrap();
        let policy = dir.path().join("access.yaml");
        std::fs::write(
            &policy,
            "toolsets:\n  storage: { roles: [analyst, skill-admin] }\n",
        )
        .unwrap();
        let proc = ProcBuilder::new(&mcp_testkit::bin("mcp-sandbox"), &dir.path().join("logs"))
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .arg("--toolsets")
            .arg(&toolsets)
            .arg("--modules")
            .arg(mcp_testkit::tools_dir())
            .arg("--policy")
            .arg(&policy)
            .arg("--workspaces")
            .arg(dir.path().join("workspaces"))
            .arg("--cache")
            .arg(mcp_testkit::repo_root().join("target/wasm-cache"))
            .args(["--max-concurrent", "16", "--max-queue", "32"])
            .start(Duration::from_secs(300));
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        Self {
            proc,
            dir,
            shared,
            http,
        }
    }

    fn call(&self, who: Who, tool: &str, arguments: Value) -> Answer {
        let Who(user, principal, roles) = who;
        let mut body = json!({"tool": tool, "arguments": arguments, "user": user,
                              "roles": roles, "request_id": "tenant-storage"});
        if let Some(principal) = principal {
            body["principal"] = json!(principal);
        }
        let r = self
            .http
            .post(format!("{}/v1/call", self.proc.url()))
            .json(&body)
            .send()
            .unwrap();
        Answer(r.json().unwrap())
    }

    fn workspaces(&self) -> PathBuf {
        self.dir.path().join("workspaces")
    }

    /// The host directory of `who`'s workspace.
    fn workspace_of(&self, who: Who) -> PathBuf {
        Workspaces::new(self.workspaces())
            .unwrap()
            .path_for(Owner::of(who.1, who.0))
    }
}

/// Bytes and entries (files and directories) under `dir`, the quota's own bookkeeping left
/// out, as the host sees them.
fn on_disk(dir: &Path) -> (u64, u64) {
    let mut sum = (0, 0);
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() == ".quota" {
            continue;
        }
        let meta = entry.metadata().unwrap();
        sum.1 += 1;
        if meta.is_dir() {
            let (bytes, entries) = on_disk(&entry.path());
            sum.0 += bytes;
            sum.1 += entries;
        } else {
            sum.0 += meta.len();
        }
    }
    sum
}

fn skill(name: &str, description: &str, code: &str) -> Value {
    json!({"name": name, "description": description, "code": code})
}

#[test]
fn inode_exhaustion_is_refused_with_a_clear_error_while_another_user_writes() {
    let sb = Arc::new(Sandbox::start());
    let mallory = Who("mallory", Some("key:k-mallory"), ANALYST);
    let victim = Who("victim", Some("oidc:http://idp#victim"), ANALYST);
    let attacker = {
        let sb = sb.clone();
        std::thread::spawn(move || {
            // Empty files in fresh directories: no bytes, two inodes each.
            for i in 0..MAX_ENTRIES {
                let a = sb.call(
                    mallory,
                    "write_file",
                    json!({"path": format!("d{i}/empty"), "content": ""}),
                );
                if !a.ok() {
                    return (i, a.0);
                }
            }
            panic!("{MAX_ENTRIES} directories and files went past the entry quota");
        })
    };
    for i in 0..10 {
        let a = sb.call(
            victim,
            "write_file",
            json!({"path": format!("v{i}.txt"), "content": "v".repeat(1024)}),
        );
        assert_eq!(a.result()["created"], true, "victim's write {i}");
    }
    let (written, refusal) = attacker.join().unwrap();
    assert_eq!(written, MAX_ENTRIES / 2, "each write took two entries");
    let refusal = Answer(refusal);
    let (kind, message) = refusal.failure();
    assert_eq!(kind, "tool_error");
    for needle in [
        "workspace quota reached",
        "20 files and 20 directories",
        "may hold 40 in all (MCP_WORKSPACE_MAX_ENTRIES",
        "empty files and directories count too",
        "delete_file",
    ] {
        assert!(message.contains(needle), "{needle:?} in {message}");
    }
    let dir = sb.workspace_of(mallory);
    assert_eq!(on_disk(&dir), (0, MAX_ENTRIES));

    // Skills count against the same quota.
    let a = sb.call(mallory, "save_skill", skill("one_more", "d", "print(1)"));
    let (_, message) = a.failure();
    assert!(
        message.contains("saving skill `one_more`")
            && message.contains("MCP_WORKSPACE_MAX_ENTRIES"),
        "{message}"
    );
    // So do bytes: growing an existing file past the byte quota is refused.
    let a = sb.call(
        mallory,
        "write_file",
        json!({"path": "d0/empty", "content": "x".repeat(MAX_BYTES as usize + 1)}),
    );
    let (_, message) = a.failure();
    assert!(
        message.contains("MCP_WORKSPACE_MAX_BYTES") && message.contains("list_files"),
        "{message}"
    );
    // Empty directories are listed, so the caller can find and free them.
    sb.call(mallory, "delete_file", json!({"path": "d1/empty"}))
        .result();
    let listed = sb.call(mallory, "list_files", json!({}));
    let d1 = listed.result()["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "d1")
        .cloned();
    assert_eq!(
        d1.map(|f| f["directory"].clone()),
        Some(json!(true)),
        "{}",
        listed.0
    );
    sb.call(mallory, "delete_file", json!({"path": "d1"}))
        .result();
    let a = sb.call(mallory, "save_skill", skill("one_more", "d", "print(1)"));
    assert_eq!(a.result()["scope"], "personal");
    let info = sb.call(mallory, "get_workspace_info", json!({}));
    let info = info.result();
    assert_eq!(
        (&info["quota_entries"], &info["entries_used"]),
        (&json!(MAX_ENTRIES), &json!(MAX_ENTRIES))
    );

    // The victim was never affected.
    let (bytes, entries) = on_disk(&sb.workspace_of(victim));
    assert_eq!((bytes, entries), (10 * 1024, 10));
}

#[test]
fn concurrent_writes_cannot_exceed_the_quota() {
    let sb = Arc::new(Sandbox::start());
    let racer = Who("racer", Some("key:k-racer"), ANALYST);
    // Warm up both components so that the racing calls start together.
    sb.call(racer, "get_workspace_info", json!({})).result();
    sb.call(racer, "list_skills", json!({})).result();
    // 14 writes of 9000 bytes or a little more, through two components at once; 64 KiB hold
    // at most 7 of them.
    let calls = 14;
    let barrier = Arc::new(Barrier::new(calls));
    let threads: Vec<_> = (0..calls)
        .map(|i| {
            let (sb, barrier) = (sb.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                if i % 2 == 0 {
                    sb.call(
                        racer,
                        "write_file",
                        json!({"path": format!("f{i}.txt"), "content": "w".repeat(9000)}),
                    )
                } else {
                    sb.call(
                        racer,
                        "save_skill",
                        skill(&format!("s{i}"), "padding", &"s".repeat(9000)),
                    )
                }
            })
        })
        .collect();
    let answers: Vec<Answer> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let passed = answers.iter().filter(|a| a.ok()).count();
    for refused in answers.iter().filter(|a| !a.ok()) {
        let (kind, message) = refused.failure();
        assert_eq!(kind, "tool_error", "{message}");
        assert!(
            message.contains("workspace quota reached")
                && message.contains("MCP_WORKSPACE_MAX_BYTES"),
            "{message}"
        );
    }
    let (bytes, _) = on_disk(&sb.workspace_of(racer));
    assert!(
        bytes <= MAX_BYTES,
        "{passed} concurrent writes stored {bytes} bytes, over the quota of {MAX_BYTES}"
    );
    assert!(
        (1..=7).contains(&passed),
        "{passed} of {calls} writes passed"
    );
    assert!(
        bytes >= passed as u64 * 9000,
        "every write that passed is stored"
    );
    // Once the calls are over, nothing stays reserved: the room left is usable.
    let left = MAX_BYTES - bytes;
    if left > 100 {
        let a = sb.call(
            racer,
            "write_file",
            json!({"path": "rest.txt", "content": "r".repeat(left as usize - 100)}),
        );
        a.result();
    }
}

#[test]
fn one_display_name_under_two_principals_gets_two_workspaces_and_skill_sets() {
    let sb = Sandbox::start();
    let oidc = Who("alice", Some(OIDC_ALICE), ANALYST);
    let key = Who("alice", Some(KEY_ALICE), ANALYST);
    let dev = Who("alice", None, ANALYST);
    for (who, text) in [(oidc, "oidc alice"), (key, "key alice"), (dev, "dev alice")] {
        sb.call(
            who,
            "write_file",
            json!({"path": "notes.txt", "content": text}),
        )
        .result();
        sb.call(who, "save_skill", skill("digest", text, "print(args)"))
            .result();
    }
    for (who, text) in [(oidc, "oidc alice"), (key, "key alice"), (dev, "dev alice")] {
        let a = sb.call(who, "read_file", json!({"path": "notes.txt"}));
        assert_eq!(a.result()["content"], text);
        let a = sb.call(who, "get_skill", json!({"name": "digest"}));
        assert_eq!(a.result()["description"], text);
        assert_eq!(
            a.result()["author"],
            "alice",
            "the display name stays for humans"
        );
        let a = sb.call(who, "list_skills", json!({}));
        assert_eq!(a.result()["skills"].as_array().unwrap().len(), 1);
    }
    // Three directories, none named after the display name, none a path from the id.
    let dirs: Vec<PathBuf> = [oidc, key, dev].map(|w| sb.workspace_of(w)).into();
    assert_eq!(
        dirs.iter().collect::<std::collections::HashSet<_>>().len(),
        3
    );
    for dir in &dirs {
        assert!(dir.join("notes.txt").is_file(), "{dir:?}");
        assert!(dir.starts_with(sb.workspaces()));
    }
    assert!(!sb.workspaces().join("alice").exists());
    // A principal that looks like a path stays inside the root.
    let sneaky = Who("alice", Some("key:../../../etc"), ANALYST);
    sb.call(sneaky, "write_file", json!({"path": "x", "content": "x"}))
        .result();
    assert!(
        sb.workspace_of(sneaky)
            .starts_with(sb.workspaces().join("@principals"))
    );
}

#[test]
fn legacy_workspaces_move_to_principals_only_by_the_operators_map() {
    let sb = Sandbox::start();
    let root = sb.workspaces();
    // Workspaces as a sandbox before principals left them: named by user name.
    for user in ["alice", "bob", "carol"] {
        let dir = root.join(user);
        std::fs::create_dir_all(dir.join(".skills")).unwrap();
        std::fs::write(dir.join("notes.txt"), format!("{user}'s notes")).unwrap();
        let old_skill = json!({"name": "old", "description": format!("{user}'s skill"),
            "code": "print(1)", "parameters": [], "author": user,
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"});
        std::fs::write(dir.join(".skills/old.json"), old_skill.to_string()).unwrap();
    }
    let oidc = Who("alice", Some(OIDC_ALICE), ANALYST);
    let key = Who("alice", Some(KEY_ALICE), ANALYST);
    // Before the migration, a principal never gets a workspace by its display name.
    let a = sb.call(oidc, "read_file", json!({"path": "notes.txt"}));
    assert!(a.failure().1.contains("nothing exists"), "{}", a.0);
    // carol's principal already has files: the migration must not overwrite them.
    let carol = Who("carol", Some("key:k-carol"), ANALYST);
    sb.call(
        carol,
        "write_file",
        json!({"path": "new.txt", "content": "new"}),
    )
    .result();

    // Mappings come as flags and from a file.
    let map_file = sb.dir.path().join("who-is-who.txt");
    std::fs::write(&map_file, "# user=principal\ncarol=key:k-carol\n").unwrap();
    let migrate = |extra: &[&str]| {
        let out = std::process::Command::new(mcp_testkit::bin("mcp-sandbox"))
            .args(["workspaces", "migrate", "--workspaces"])
            .arg(&root)
            .args(["--map", &format!("alice={OIDC_ALICE}")])
            .arg("--map-file")
            .arg(&map_file)
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (ok, plan) = migrate(&["--dry-run"]);
    assert!(!ok, "carol's conflict fails the run: {plan}");
    assert!(plan.contains("would move alice"), "{plan}");
    assert!(root.join("alice").is_dir(), "a dry run moves nothing");
    let (ok, report) = migrate(&[]);
    assert!(!ok, "{report}");
    assert!(report.contains("moved    alice -> "), "{report}");
    assert!(
        report.contains("REFUSED  carol -> key:k-carol") && report.contains("already holds files"),
        "{report}"
    );

    // alice's OIDC principal has her files and skills; her API-key principal does not.
    let a = sb.call(oidc, "read_file", json!({"path": "notes.txt"}));
    assert_eq!(a.result()["content"], "alice's notes");
    let a = sb.call(oidc, "get_skill", json!({"name": "old"}));
    assert_eq!(a.result()["description"], "alice's skill");
    let a = sb.call(key, "read_file", json!({"path": "notes.txt"}));
    assert!(a.failure().1.contains("nothing exists"), "{}", a.0);
    assert!(!root.join("alice").exists());
    // carol's legacy files stayed where they were, and so did her principal's.
    assert!(root.join("carol/notes.txt").is_file());
    let a = sb.call(carol, "read_file", json!({"path": "new.txt"}));
    assert_eq!(a.result()["content"], "new");
    // A call without a principal (no gateway) adopts the legacy workspace of its user name.
    let bob = Who("bob", None, ANALYST);
    let a = sb.call(bob, "read_file", json!({"path": "notes.txt"}));
    assert_eq!(a.result()["content"], "bob's notes");
    assert!(!root.join("bob").exists());
    // Running it again finds nothing more to move for alice.
    let out = std::process::Command::new(mcp_testkit::bin("mcp-sandbox"))
        .args(["workspaces", "migrate", "--workspaces"])
        .arg(&root)
        .args(["--map", &format!("alice={OIDC_ALICE}")])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("skipped  alice"));
    // Where every user has been an API-key user, one flag maps what is left by name.
    std::fs::create_dir_all(root.join("dave")).unwrap();
    std::fs::write(root.join("dave/notes.txt"), "dave's notes").unwrap();
    let out = std::process::Command::new(mcp_testkit::bin("mcp-sandbox"))
        .args(["workspaces", "migrate", "--workspaces"])
        .arg(&root)
        .args(["--all-with-prefix", "apikey:"])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("moved    dave -> apikey:dave"), "{report}");
    assert!(
        report.contains("moved    carol -> apikey:carol"),
        "{report}"
    );
    let dave = Who("dave", Some("apikey:dave"), ANALYST);
    let a = sb.call(dave, "read_file", json!({"path": "notes.txt"}));
    assert_eq!(a.result()["content"], "dave's notes");
}

#[test]
fn shared_skills_are_read_only_on_the_host_for_roles_without_write() {
    let sb = Sandbox::start();
    let analyst = Who("ann", Some("key:k-ann"), ANALYST);
    let admin = Who("root", Some("key:k-root"), SKILL_ADMIN);
    let shared = sb.shared.path();

    // The skills component lets the analyst through (its own check is misconfigured on
    // purpose); the host's read-only mount stops the write.
    let mut digest = skill("digest", "the team's digest", "print(1)");
    digest["shared"] = json!(true);
    let a = sb.call(analyst, "save_skill", digest.clone());
    let (kind, message) = a.failure();
    assert_eq!(kind, "tool_error");
    assert!(
        message.contains("mounts the shared skill catalog read-only for you"),
        "{message}"
    );
    // A component that writes to the mount directly fails the same way.
    let a = sb.call(
        analyst,
        "escape_write_file",
        json!({"path": "/shared-skills/evil.json", "content": "{}"}),
    );
    let (_, message) = a.failure();
    assert!(
        message.starts_with("writing /shared-skills/evil.json"),
        "{message}"
    );
    let a = sb.call(
        analyst,
        "escape_list_dir",
        json!({"path": "/shared-skills"}),
    );
    assert_eq!(a.result(), &json!([]), "reading is still allowed");
    assert_eq!(std::fs::read_dir(shared).unwrap().count(), 0);

    // A writer role gets the same mount read-write: the refusals above were the host's.
    let a = sb.call(
        admin,
        "escape_write_file",
        json!({"path": "/shared-skills/probe.txt", "content": "ok"}),
    );
    a.result();
    std::fs::remove_file(shared.join("probe.txt")).unwrap();
    let a = sb.call(admin, "save_skill", digest);
    assert_eq!(a.result()["scope"], "shared");
    assert!(shared.join("digest.json").is_file());
    // Everyone reads it; only the writer may delete it.
    let a = sb.call(analyst, "get_skill", json!({"name": "digest"}));
    assert_eq!(a.result()["scope"], "shared");
    let a = sb.call(
        analyst,
        "delete_skill",
        json!({"name": "digest", "shared": true}),
    );
    assert!(a.failure().1.contains("read-only"), "{}", a.0);
    assert!(shared.join("digest.json").is_file());
    let a = sb.call(
        admin,
        "delete_skill",
        json!({"name": "digest", "shared": true}),
    );
    a.result();
    assert!(!shared.join("digest.json").exists());
}

/// The harness itself: a call takes well under the tools' timeouts (so the tests above stay
/// bounded) and the sandbox started with the tool set.
#[test]
fn the_storage_tool_set_is_served() {
    let sb = Sandbox::start();
    let started = Instant::now();
    let a = sb.call(
        Who("x", Some("key:x"), ANALYST),
        "get_workspace_info",
        json!({}),
    );
    assert_eq!(a.result()["quota_bytes"], MAX_BYTES);
    assert!(started.elapsed() < Duration::from_secs(20));
}
