use std::sync::{Arc, Barrier};

use super::*;

struct Root(PathBuf);

impl Root {
    fn new(name: &str) -> Self {
        let root = std::env::temp_dir().join(format!("ws-quota-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        Self(root)
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn quota(root: &Root, max_bytes: u64, max_entries: u64) -> Quota {
    Quota::new(
        &root.0,
        Limits {
            max_bytes,
            max_entries,
            max_file_bytes: 1000,
        },
    )
}

fn need(bytes: u64, entries: u64) -> Need {
    Need { bytes, entries }
}

#[test]
fn limits_come_from_the_environment_with_defaults() {
    let none = Limits::from_lookup(|_| None).unwrap();
    assert_eq!(none, Limits::default());
    assert_eq!(none.max_bytes, 100 << 20);
    let set = Limits::from_lookup(|name| match name {
        ENV_MAX_BYTES => Some("64KiB".to_owned()),
        ENV_MAX_ENTRIES => Some(" 20 ".to_owned()),
        _ => None,
    })
    .unwrap();
    assert_eq!(
        (set.max_bytes, set.max_entries, set.max_file_bytes),
        (64 << 10, 20, 10 << 20)
    );
    let error =
        Limits::from_lookup(|name| (name == ENV_MAX_BYTES).then(|| "lots".to_owned())).unwrap_err();
    assert!(
        error.contains(ENV_MAX_BYTES) && error.contains("100MiB"),
        "{error}"
    );
    assert!(
        Limits::from_lookup(|name| (name == ENV_MAX_ENTRIES).then(|| "1k".to_owned())).is_err()
    );
}

#[test]
fn byte_counts_parse_and_print() {
    for (text, bytes) in [
        ("0", 0),
        ("512B", 512),
        ("64KiB", 65_536),
        ("100MiB", 104_857_600),
        ("2GiB", 2 << 30),
        ("10MB", 10 << 20),
    ] {
        assert_eq!(parse_bytes(text), Some(bytes), "{text}");
    }
    for bad in [
        "",
        "MiB",
        "1.5MiB",
        "-1",
        "10 TiB",
        "99999999999999999999GiB",
    ] {
        assert_eq!(parse_bytes(bad), None, "{bad}");
    }
    assert_eq!(format_bytes(100 << 20), "100 MiB");
    assert_eq!(format_bytes(65_536), "64 KiB");
    assert_eq!(format_bytes(1500), "1500 bytes");
}

#[test]
fn usage_counts_bytes_files_and_directories_but_not_reservations() {
    let root = Root::new("usage");
    fs::create_dir_all(root.0.join("a/b/c")).unwrap();
    fs::write(root.0.join("a/b/c/data"), b"12345").unwrap();
    fs::write(root.0.join("empty"), b"").unwrap();
    fs::create_dir_all(root.0.join(".skills")).unwrap();
    fs::write(root.0.join(".skills/s.json"), b"{}").unwrap();
    fs::create_dir_all(root.0.join(RESERVATIONS_DIR)).unwrap();
    fs::write(root.0.join(RESERVATIONS_DIR).join("x-1-1"), b"").unwrap();
    let usage = quota(&root, 100, 100).usage().unwrap();
    assert_eq!(
        usage,
        Usage {
            bytes: 7,
            files: 3,
            dirs: 4
        }
    );
    assert_eq!(usage.entries(), 7);
}

#[test]
fn bytes_over_quota_are_refused_with_what_to_do() {
    let root = Root::new("bytes");
    let q = quota(&root, 100, 100);
    fs::write(root.0.join("old"), [0u8; 60]).unwrap();
    let target = root.0.join("new");
    let error = q
        .reserve("writing `new`", &target, need(50, 1))
        .unwrap_err();
    let text = error.to_string();
    assert!(
        matches!(error, QuotaError::Bytes { used: 60, .. }),
        "{text}"
    );
    for needle in [
        "workspace quota reached",
        ENV_MAX_BYTES,
        "delete_file",
        "60 bytes",
    ] {
        assert!(text.contains(needle), "{needle:?} in {text}");
    }
    assert_eq!(
        fs::read_dir(root.0.join(RESERVATIONS_DIR)).unwrap().count(),
        0,
        "a refused write leaves no reservation"
    );
    let fits = q.reserve("writing `new`", &target, need(40, 1)).unwrap();
    drop(fits);
    assert_eq!(
        fs::read_dir(root.0.join(RESERVATIONS_DIR)).unwrap().count(),
        0
    );
}

#[test]
fn replacing_a_file_is_credited_with_its_old_size() {
    let root = Root::new("replace");
    let q = quota(&root, 100, 100);
    let target = root.0.join("f");
    fs::write(&target, [0u8; 90]).unwrap();
    assert!(q.reserve("w", &target, need(95, 0)).is_ok());
    assert!(q.reserve("w", &root.0.join("g"), need(11, 1)).is_err());
    // Over quota (the limit was lowered): shrinking is still allowed, growing is not.
    let lowered = quota(&root, 50, 100);
    assert!(lowered.reserve("w", &target, need(80, 0)).is_ok());
    assert!(matches!(
        lowered.reserve("w", &target, need(91, 0)),
        Err(QuotaError::Bytes { .. })
    ));
}

#[test]
fn entries_count_empty_files_and_directories() {
    let root = Root::new("entries");
    let q = quota(&root, 1000, 5);
    fs::create_dir_all(root.0.join("d1/d2")).unwrap();
    fs::write(root.0.join("d1/e1"), b"").unwrap();
    fs::write(root.0.join("e2"), b"").unwrap();
    // 4 entries, all taking no bytes.
    assert!(q.reserve("w", &root.0.join("e3"), need(0, 1)).is_ok());
    let error = q
        .reserve("writing `x/y/z`", &root.0.join("x/y/z"), need(0, 3))
        .unwrap_err();
    let text = error.to_string();
    assert!(
        matches!(
            error,
            QuotaError::Entries {
                needs: 3,
                max: 5,
                used: Usage {
                    files: 2,
                    dirs: 2,
                    ..
                },
                ..
            }
        ),
        "{text}"
    );
    for needle in ["2 files and 2 directories", ENV_MAX_ENTRIES, "empty files"] {
        assert!(text.contains(needle), "{needle:?} in {text}");
    }
    // Replacing an existing file adds no entry.
    assert!(q.reserve("w", &root.0.join("e2"), need(0, 0)).is_ok());
}

#[test]
fn files_larger_than_the_file_limit_are_refused() {
    let root = Root::new("file");
    let error = quota(&root, 1 << 20, 10)
        .reserve("writing `big`", &root.0.join("big"), need(1001, 1))
        .unwrap_err();
    assert!(matches!(error, QuotaError::FileTooLarge { .. }));
    assert!(error.to_string().contains("split the content"), "{error}");
}

#[test]
fn live_reservations_count_and_stale_ones_are_removed() {
    let root = Root::new("stale");
    let q = quota(&root, 100, 100);
    let held = q.reserve("first", &root.0.join("a"), need(60, 1)).unwrap();
    let error = q
        .reserve("second", &root.0.join("b"), need(60, 1))
        .unwrap_err();
    assert!(
        matches!(error, QuotaError::Bytes { in_flight: 60, .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("being written by your other calls")
    );
    // The first call was killed mid-write: its reservation stays until it is stale.
    std::mem::forget(held);
    let dir = root.0.join(RESERVATIONS_DIR);
    let left = fs::read_dir(&dir).unwrap().next().unwrap().unwrap().path();
    let old = SystemTime::now() - STALE_RESERVATION - Duration::from_secs(1);
    fs::File::options()
        .write(true)
        .open(&left)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let ok = q.reserve("third", &root.0.join("b"), need(60, 1)).unwrap();
    assert!(!left.exists(), "the stale reservation was removed");
    drop(ok);
}

/// Many writers at once, each reserving, writing and releasing: what ends up stored never
/// passes the quota, and the writes that were refused wrote nothing.
#[test]
fn concurrent_writes_never_pass_the_quota() {
    let root = Root::new("race");
    let q = Arc::new(quota(&root, 1000, 1000));
    let writers = 16;
    let barrier = Arc::new(Barrier::new(writers));
    let handles: Vec<_> = (0..writers)
        .map(|i| {
            let (q, barrier) = (q.clone(), barrier.clone());
            std::thread::spawn(move || {
                let target = q.root.join(format!("f{i}"));
                barrier.wait();
                let reservation = q.reserve("w", &target, need(300, 1));
                if reservation.is_ok() {
                    fs::write(&target, [0u8; 300]).unwrap();
                }
                reservation.is_ok()
            })
        })
        .collect();
    let passed = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|ok| *ok)
        .count();
    let usage = q.usage().unwrap();
    assert!(usage.bytes <= 1000, "{usage:?}");
    assert_eq!(usage.bytes, passed as u64 * 300);
    assert!(passed >= 1, "at least one write gets through");
}
