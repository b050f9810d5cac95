//! Test helpers shared by the integration tests: build the wasm tools from source (once per
//! test process), start the real `mcp-sandbox` and `mcp-gateway` binaries on ephemeral ports,
//! stop them with SIGINT, and wait on conditions with a deadline instead of sleeping.
//! Identity providers for authentication tests: [`oidc`] runs the real OIDC provider,
//! [`forge`] forges tokens and serves their keys; [`http_stub`] is the loopback server
//! behind the forge. [`otlp`] runs the real OTLP trace receiver (Arize Phoenix).

pub mod forge;
pub mod http_stub;
pub mod oidc;
pub mod otlp;
mod process;
pub mod redis;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use process::{Proc, ProcBuilder};
pub use tempfile::TempDir;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit lives one level below the repository root")
        .to_owned()
}

/// The directory of built tool components, built from source on first use in this process.
/// `scripts/build-tools.sh` is incremental, so later test processes pay about a second.
pub fn tools_dir() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = repo_root();
            let script = root.join("scripts/build-tools.sh");
            let lock = root.join("target/.build-tools.lock");
            std::fs::create_dir_all(root.join("target")).expect("creating target/");
            let _guard = FileLock::acquire(&lock);
            let status = Command::new("bash")
                .arg(&script)
                .status()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
            assert!(status.success(), "{} failed: {status}", script.display());
            root.join("target/tools")
        })
        .clone()
}

/// A built binary of this workspace (`cargo build --workspace` must have run).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current test executable");
    // Test executables live in target/<profile>/deps/, binaries (and benchmark bins) in
    // target/<profile>/.
    let mut dir = exe.parent().expect("the executable's directory");
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir = dir.parent().expect("target/<profile>");
    }
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} does not exist: run `cargo build --workspace` before the tests",
        path.display()
    );
    path
}

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(5);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// An exclusive advisory lock on a file, released on drop.
struct FileLock(std::fs::File);

impl FileLock {
    fn acquire(path: &Path) -> Self {
        use std::os::unix::io::AsRawFd;
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .unwrap_or_else(|e| panic!("cannot open lock {}: {e}", path.display()));
        // SAFETY: flock on a valid, owned descriptor.
        let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(rc, 0, "flock {}", path.display());
        Self(f)
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        use std::os::unix::io::AsRawFd;
        // SAFETY: as above.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bound, then released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("binding an ephemeral port");
    l.local_addr().expect("local address").port()
}
