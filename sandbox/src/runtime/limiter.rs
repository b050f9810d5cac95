//! Per-call memory and table caps, and the memory budget of a whole call tree. Growing past
//! either traps the guest with [`MemoryLimitExceeded`] or [`TreeMemoryExceeded`] (rather than
//! failing the grow), so a memory bomb ends with a precise `memory_limit` error instead of
//! whatever the guest's allocator does on failure.
//!
//! A call tree (a call from the gateway and the tool calls it makes through the host, however
//! deep) shares one [`TreeMemory`]: the top-level tool's cap. A nested call may use what its
//! ancestors have not, never its own cap on top of theirs, so `execute_code` calling
//! `execute_code` three deep holds at most one cap's worth of memory, not four.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use wasmtime::ResourceLimiter;

/// The error a guest traps with when it grows its memory past its cap.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("tried to grow linear memory to {desired} bytes; the cap is {cap} bytes")]
pub struct MemoryLimitExceeded {
    pub desired: usize,
    pub cap: usize,
}

/// The error a guest traps with when growing its memory would take its call tree past the
/// tree's memory budget.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error(
    "tried to grow linear memory by {wanted} bytes; its call tree already holds {in_use} of its {budget} bytes"
)]
pub struct TreeMemoryExceeded {
    pub wanted: usize,
    pub in_use: usize,
    pub budget: usize,
}

/// The linear memory a call tree may hold at once, over all of its instances.
#[derive(Debug)]
pub struct TreeMemory {
    budget: usize,
    in_use: AtomicUsize,
}

impl TreeMemory {
    pub fn new(budget: usize) -> Arc<Self> {
        Arc::new(Self {
            budget,
            in_use: AtomicUsize::new(0),
        })
    }

    pub fn budget(&self) -> usize {
        self.budget
    }

    /// Bytes the tree's live instances hold now.
    pub fn in_use(&self) -> usize {
        self.in_use.load(Ordering::Acquire)
    }

    fn take(&self, bytes: usize) -> Result<(), TreeMemoryExceeded> {
        self.in_use
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                n.checked_add(bytes).filter(|&total| total <= self.budget)
            })
            .map(|_| ())
            .map_err(|in_use| TreeMemoryExceeded {
                wanted: bytes,
                in_use,
                budget: self.budget,
            })
    }

    fn give_back(&self, bytes: usize) {
        self.in_use.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// Limits one store's memories and tables and records the peak memory size.
#[derive(Debug)]
pub struct CallLimiter {
    memory_cap: usize,
    table_cap: usize,
    peak: usize,
    tree: Arc<TreeMemory>,
    /// What this store has taken from the tree's budget (the sum of its memories' sizes).
    held: usize,
}

/// Table elements any one table may hold; generous for real toolchains' function tables.
const TABLE_ELEMENTS_CAP: usize = 100_000;

impl CallLimiter {
    pub fn new(memory_cap: usize, tree: Arc<TreeMemory>) -> Self {
        Self {
            memory_cap,
            table_cap: TABLE_ELEMENTS_CAP,
            peak: 0,
            tree,
            held: 0,
        }
    }

    /// The largest size any memory of the store reached, in bytes.
    pub fn peak(&self) -> usize {
        self.peak
    }
}

impl ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_cap {
            return Err(MemoryLimitExceeded {
                desired,
                cap: self.memory_cap,
            }
            .into());
        }
        if maximum.is_some_and(|m| desired > m) {
            return Ok(false);
        }
        let grow = desired.saturating_sub(current);
        self.tree.take(grow)?;
        self.held += grow;
        self.peak = self.peak.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= self.table_cap && maximum.is_none_or(|m| desired <= m))
    }
}

impl Drop for CallLimiter {
    /// The store (and so its memories) is gone: the tree may use that memory again.
    fn drop(&mut self) {
        self.tree.give_back(self.held);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(cap: usize) -> CallLimiter {
        CallLimiter::new(cap, TreeMemory::new(usize::MAX))
    }

    #[test]
    fn a_call_tree_shares_one_memory_budget() {
        let tree = TreeMemory::new(3 << 20);
        let mut parent = CallLimiter::new(2 << 20, tree.clone());
        let mut child = CallLimiter::new(2 << 20, tree.clone());
        assert!(parent.memory_growing(0, 2 << 20, None).unwrap());
        // The child's own cap would allow 2 MiB, but only 1 MiB of the tree's 3 is left.
        assert!(child.memory_growing(0, 1 << 20, None).unwrap());
        let err = child.memory_growing(1 << 20, 2 << 20, None).unwrap_err();
        let hit = err.downcast_ref::<TreeMemoryExceeded>().unwrap();
        assert_eq!((hit.in_use, hit.budget), (3 << 20, 3 << 20));
        assert_eq!(tree.in_use(), 3 << 20);
        drop(child);
        assert_eq!(tree.in_use(), 2 << 20);
        drop(parent);
        assert_eq!(tree.in_use(), 0);
    }

    #[test]
    fn growth_past_the_cap_traps_with_the_sizes() {
        let mut l = limiter(1 << 20);
        assert!(l.memory_growing(0, 1 << 16, None).unwrap());
        let err = l.memory_growing(1 << 16, 2 << 20, None).unwrap_err();
        let hit = err.downcast_ref::<MemoryLimitExceeded>().unwrap();
        assert_eq!((hit.desired, hit.cap), (2 << 20, 1 << 20));
        assert_eq!(l.peak(), 1 << 16);
    }

    #[test]
    fn growth_past_the_declared_maximum_fails_without_trapping() {
        let mut l = limiter(1 << 20);
        assert!(!l.memory_growing(0, 1 << 17, Some(1 << 16)).unwrap());
    }
}
