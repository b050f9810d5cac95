//! When to reload: [`Tracker`] decides from fingerprints, [`Watch`] runs the checks on a task
//! (poll interval, inotify wake-ups, SIGHUP) and calls the caller's reload.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher as _};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::Fingerprint;

/// File-system events arrive in bursts (create, write, rename); one check this long after the
/// first is enough for all of them.
const DEBOUNCE: Duration = Duration::from_millis(15);

/// When a change is acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// At the first check that sees it.
    Immediately,
    /// Once the fingerprint has held still between two consecutive checks, so a file still
    /// being copied is not loaded half-written.
    HeldStill,
}

/// Remembers the fingerprint last acted on and decides when a new one should be.
#[derive(Debug, Clone)]
pub struct Tracker {
    paths: Vec<PathBuf>,
    settle: Settle,
    acted: Fingerprint,
    seen: Fingerprint,
}

impl Tracker {
    /// Tracks `paths` from their state now, which counts as acted on: take it *before* loading
    /// them, so a change made during the load is seen by the next check.
    pub fn new(paths: Vec<PathBuf>, settle: Settle) -> Self {
        let now = Fingerprint::of(&paths);
        Self {
            paths,
            settle,
            acted: now,
            seen: now,
        }
    }

    /// The watched paths.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// Checks the paths: `true` when they changed since last acted on (and, with
    /// [`Settle::HeldStill`], have not changed since the previous check). A `true` counts as
    /// acted on, whatever the reload makes of it: a state that fails to load is not retried
    /// at every check, only after the next change.
    pub fn changed(&mut self) -> bool {
        let now = Fingerprint::of(&self.paths);
        let settled = match self.settle {
            Settle::Immediately => true,
            Settle::HeldStill => now == self.seen,
        };
        self.seen = now;
        if now == self.acted || !settled {
            return false;
        }
        self.acted = now;
        true
    }

    /// Records the paths' state now as acted on (a reload forced by a signal).
    pub fn acted_now(&mut self) {
        let now = Fingerprint::of(&self.paths);
        self.acted = now;
        self.seen = now;
    }
}

/// What made a [`Watch`] call its reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A check (poll or file-system event) found a change.
    Change,
    /// The process got SIGHUP.
    Signal,
}

/// Which checks run and when the reload is called; see [`Watch::spawn`].
#[derive(Debug)]
pub struct Watch {
    /// `None`: every wake-up calls the reload, which finds what changed itself.
    tracker: Option<Tracker>,
    paths: Vec<PathBuf>,
    poll: Option<Duration>,
    events: bool,
    hangup: bool,
}

impl Watch {
    /// Calls the reload when `tracker` says the paths changed.
    pub fn on_change(tracker: Tracker) -> Self {
        Self {
            paths: tracker.paths().to_vec(),
            tracker: Some(tracker),
            poll: None,
            events: false,
            hangup: false,
        }
    }

    /// Calls the reload at every wake-up, for a reload that compares each file's
    /// [`FileStamp`](crate::FileStamp) itself and so needs no fingerprint of the whole set
    /// first. `paths` are what [`events`](Self::events) watches.
    pub fn on_every_wake(paths: Vec<PathBuf>) -> Self {
        Self {
            tracker: None,
            paths,
            poll: None,
            events: false,
            hangup: false,
        }
    }

    /// Checks every `interval` (`None`: no polling).
    pub fn poll(mut self, interval: Option<Duration>) -> Self {
        self.poll = interval;
        self
    }

    /// Also checks within milliseconds of a file-system event in one of the paths (inotify;
    /// directories are watched for their direct entries). Where no watch can be set up, a
    /// warning is logged and only the other checks run.
    pub fn events(mut self) -> Self {
        self.events = true;
        self
    }

    /// Also reloads on SIGHUP, whether or not anything changed.
    pub fn hangup(mut self) -> Self {
        self.hangup = true;
        self
    }

    /// Starts the checks on the current tokio runtime; they run until the returned handle is
    /// dropped (or for the life of the process, once [detached](WatchHandle::detach)). `reload`
    /// is awaited before the next check, so reloads never overlap.
    pub fn spawn<F, Fut>(self, mut reload: F) -> WatchHandle
    where
        F: FnMut(Trigger) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let wake = Arc::new(Notify::new());
        let events = if self.events {
            watch_events(&self.paths, &wake, self.poll)
        } else {
            None
        };
        let events_active = events.is_some();
        let Self {
            mut tracker,
            poll,
            hangup,
            ..
        } = self;
        let task = tokio::spawn(async move {
            // The event watch lives as long as this task.
            let _events = events;
            let mut hangup = if hangup { hangup_signal() } else { None };
            let mut ticker = tokio::time::interval(poll.unwrap_or(Duration::from_secs(3600)));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await; // the first tick is immediate; the paths were just loaded
            loop {
                let trigger = tokio::select! {
                    _ = ticker.tick(), if poll.is_some() => Trigger::Change,
                    () = wake.notified() => {
                        tokio::time::sleep(DEBOUNCE).await;
                        Trigger::Change
                    }
                    Some(()) = recv(&mut hangup) => Trigger::Signal,
                };
                if let Some(tracker) = &mut tracker {
                    match trigger {
                        Trigger::Change if !tracker.changed() => continue,
                        Trigger::Change => {}
                        Trigger::Signal => tracker.acted_now(),
                    }
                }
                reload(trigger).await;
            }
        });
        WatchHandle {
            task: Some(task),
            events_active,
        }
    }
}

/// A running [`Watch`]; dropping it stops the checks.
#[derive(Debug)]
pub struct WatchHandle {
    task: Option<JoinHandle<()>>,
    events_active: bool,
}

impl WatchHandle {
    /// Whether file-system events are being received (else only polling and SIGHUP wake it).
    pub fn events_active(&self) -> bool {
        self.events_active
    }

    /// Lets the checks run for the life of the process.
    pub fn detach(mut self) {
        self.task = None;
    }
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn watch_events(
    paths: &[PathBuf],
    wake: &Arc<Notify>,
    poll: Option<Duration>,
) -> Option<notify::RecommendedWatcher> {
    let watch = {
        let wake = Arc::clone(wake);
        notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            // Any event (or watch error) is a reason to check; the check decides what changed.
            let _ = event;
            wake.notify_one();
        })
        .and_then(|mut w| {
            for path in paths {
                w.watch(path, RecursiveMode::NonRecursive)?;
            }
            Ok(w)
        })
    };
    match watch {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(paths = ?paths, error = %e, poll = ?poll,
                "cannot watch for file-system events; changes are picked up by polling only");
            None
        }
    }
}

type Hangup = Option<tokio::signal::unix::Signal>;

fn hangup_signal() -> Hangup {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; reloads only on change");
            None
        }
    }
}

async fn recv(hangup: &mut Hangup) -> Option<()> {
    match hangup {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn immediately_acts_at_the_first_check_that_sees_a_change_and_only_once() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("access.yaml");
        std::fs::write(&file, "one").unwrap();
        let mut t = Tracker::new(vec![file.clone()], Settle::Immediately);
        assert!(!t.changed(), "nothing changed since the load");
        std::fs::write(&file, "three").unwrap();
        assert!(t.changed());
        assert!(!t.changed(), "a change is acted on once");
        std::fs::remove_file(&file).unwrap();
        assert!(t.changed(), "a deleted file is a change");
    }

    #[test]
    fn held_still_waits_for_one_quiet_check() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tools.yaml");
        std::fs::write(&file, "one").unwrap();
        let mut t = Tracker::new(vec![dir.path().to_owned()], Settle::HeldStill);
        std::fs::write(&file, "two!").unwrap();
        assert!(!t.changed(), "seen moving: not yet");
        std::fs::write(&file, "three").unwrap();
        assert!(!t.changed(), "still moving");
        assert!(t.changed(), "held still since the last check");
        assert!(!t.changed());

        std::fs::write(&file, "four!!").unwrap();
        t.acted_now();
        assert!(!t.changed(), "a forced reload covers the state it saw");
    }

    #[tokio::test]
    async fn a_watch_reloads_on_change_and_stops_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cert.pem");
        std::fs::write(&file, "one").unwrap();
        let reloads = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&reloads);
        let watch = Watch::on_change(Tracker::new(vec![file.clone()], Settle::Immediately))
            .poll(Some(Duration::from_millis(5)))
            .spawn(move |trigger| {
                assert_eq!(trigger, Trigger::Change);
                counted.fetch_add(1, Ordering::SeqCst);
                std::future::ready(())
            });
        std::fs::write(&file, "two!").unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while reloads.load(Ordering::SeqCst) == 0 {
            assert!(tokio::time::Instant::now() < deadline, "no reload");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        // Unchanged since: polls go on but call nothing.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(reloads.load(Ordering::SeqCst), 1);
        drop(watch);
        tokio::task::yield_now().await;
        std::fs::write(&file, "three").unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(reloads.load(Ordering::SeqCst), 1, "a dropped watch stops");
    }

    #[tokio::test]
    async fn events_wake_a_watch_that_never_polls() {
        let dir = tempfile::tempdir().unwrap();
        let reloads = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&reloads);
        let watch = Watch::on_every_wake(vec![dir.path().to_owned()])
            .events()
            .spawn(move |_| {
                counted.fetch_add(1, Ordering::SeqCst);
                std::future::ready(())
            });
        assert!(watch.events_active());
        std::fs::write(dir.path().join("k.json"), "{}").unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while reloads.load(Ordering::SeqCst) == 0 {
            assert!(tokio::time::Instant::now() < deadline, "no reload");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}
