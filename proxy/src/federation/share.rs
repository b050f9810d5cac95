//! Each caller's share of an upstream server's `max_concurrent`: one caller may hold at most
//! half of the server's requests in flight (at least one), so a caller who floods one server,
//! or calls a slow tool of it many times at once, answers to themselves and cannot take every
//! place from the others. Counted per principal, in memory bounded by the requests in flight
//! (a caller's entry goes when their last request ends).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Requests in flight per caller, against one share for all.
pub struct CallerShares {
    share: usize,
    held: Arc<Mutex<HashMap<String, usize>>>,
}

/// One caller's place, given back when dropped.
pub struct SharePlace {
    caller: String,
    held: Arc<Mutex<HashMap<String, usize>>>,
}

impl CallerShares {
    /// Shares of a server that takes `max_concurrent` requests at once.
    pub fn new(max_concurrent: usize) -> Self {
        Self {
            share: (max_concurrent / 2).max(1),
            held: Arc::default(),
        }
    }

    /// Most requests one caller may have in flight.
    pub fn share(&self) -> usize {
        self.share
    }

    /// A place for `caller`, or `None` when they already hold their share.
    pub fn take(&self, caller: &str) -> Option<SharePlace> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let count = held.entry(caller.to_owned()).or_default();
        if *count >= self.share {
            return None;
        }
        *count += 1;
        Some(SharePlace {
            caller: caller.to_owned(),
            held: Arc::clone(&self.held),
        })
    }
}

impl Drop for SharePlace {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = held.get_mut(&self.caller) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                held.remove(&self.caller);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_holds_at_most_half_and_others_keep_their_places() {
        let shares = CallerShares::new(4);
        assert_eq!(shares.share(), 2);
        let a1 = shares.take("apikey:a").unwrap();
        let _a2 = shares.take("apikey:a").unwrap();
        assert!(shares.take("apikey:a").is_none(), "a third place for a");
        let _b1 = shares.take("apikey:b").unwrap();
        let _b2 = shares.take("apikey:b").unwrap();
        drop(a1);
        assert!(
            shares.take("apikey:a").is_some(),
            "a freed place is a's again"
        );
        assert_eq!(CallerShares::new(1).share(), 1, "at least one");
    }

    #[test]
    fn entries_go_with_the_last_request() {
        let shares = CallerShares::new(8);
        for i in 0..100 {
            drop(shares.take(&format!("apikey:u{i}")).unwrap());
        }
        assert!(shares.held.lock().unwrap().is_empty());
    }
}
