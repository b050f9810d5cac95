//! Child processes of the real binaries, with their output captured to files and the address
//! they announce on stdout (`... listening on <url>`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Builds a [`Proc`].
pub struct ProcBuilder {
    cmd: Command,
    name: String,
    log_dir: PathBuf,
}

impl ProcBuilder {
    pub fn new(bin: &Path, log_dir: &Path) -> Self {
        let name = bin
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "proc".into());
        let mut cmd = Command::new(bin);
        cmd.current_dir(crate::repo_root());
        Self {
            cmd,
            name,
            log_dir: log_dir.to_owned(),
        }
    }

    pub fn arg(mut self, a: impl AsRef<std::ffi::OsStr>) -> Self {
        self.cmd.arg(a);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn env(mut self, k: &str, v: impl AsRef<std::ffi::OsStr>) -> Self {
        self.cmd.env(k, v);
        self
    }

    /// Starts a process that does not announce its address on stdout (a third-party peer);
    /// `url` is where it will listen. The caller waits for it to be ready.
    pub fn spawn(mut self, url: impl Into<String>) -> Proc {
        std::fs::create_dir_all(&self.log_dir).expect("log dir");
        let stderr_path = self.log_dir.join(format!("{}.stderr.log", self.name));
        let stderr = std::fs::File::create(&stderr_path).expect("stderr log");
        let stdout = std::fs::File::create(self.log_dir.join(format!("{}.stdout.log", self.name)))
            .expect("stdout log");
        let child = self
            .cmd
            .stdout(stdout)
            .stderr(stderr)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.name));
        Proc {
            child,
            url: url.into(),
            stderr_path,
        }
    }

    /// Starts the process and waits (up to `timeout`) for it to announce its address.
    pub fn start(self, timeout: Duration) -> Proc {
        self.start_then(timeout, |_| {})
    }

    /// Like [`Self::start`], but calls `after_spawn` with the child's pid before waiting for the
    /// announcement (for a process that announces only once something else happened, such as
    /// a gateway taking over sockets in a zero-downtime upgrade).
    pub fn start_then(mut self, timeout: Duration, after_spawn: impl FnOnce(u32)) -> Proc {
        std::fs::create_dir_all(&self.log_dir).expect("log dir");
        let stderr_path = self.log_dir.join(format!("{}.stderr.log", self.name));
        let stderr = std::fs::File::create(&stderr_path).expect("stderr log");
        let mut child = self
            .cmd
            .stdout(Stdio::piped())
            .stderr(stderr)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.name));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        let stdout_path = self.log_dir.join(format!("{}.stdout.log", self.name));
        std::thread::spawn(move || {
            let mut log = std::fs::File::create(stdout_path).ok();
            let mut announced = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(l) = log.as_mut() {
                    use std::io::Write;
                    let _ = writeln!(l, "{line}");
                }
                if !announced && let Some((_, url)) = line.split_once(" listening on ") {
                    announced = true;
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        after_spawn(child.id());
        let url = match rx.recv_timeout(timeout) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                let log = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                panic!(
                    "{} did not announce its address within {timeout:?}; stderr:\n{}",
                    self.name,
                    tail(&log, 60)
                );
            }
        };
        Proc {
            child,
            url,
            stderr_path,
        }
    }
}

/// A running binary; stopped with SIGINT (then SIGKILL) on drop.
pub struct Proc {
    child: Child,
    url: String,
    stderr_path: PathBuf,
}

impl Proc {
    /// The URL it announced, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `host:port` of a TCP listener.
    pub fn addr(&self) -> &str {
        self.url
            .strip_prefix("http://")
            .or_else(|| self.url.strip_prefix("https://"))
            .unwrap_or(&self.url)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends a signal (e.g. `libc::SIGKILL`).
    pub fn signal(&self, sig: i32) {
        // SAFETY: sending a signal to our own child.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// Stops it with SIGINT and waits up to `timeout`; kills it after that.
    pub fn stop(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        self.signal(libc::SIGINT);
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.is_running() {
            self.stop(Duration::from_secs(3));
        }
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
