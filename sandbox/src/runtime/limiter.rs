//! Per-call memory and table caps. Growing past the cap traps the guest with
//! [`MemoryLimitExceeded`] (rather than failing the grow), so a memory bomb ends with a precise
//! `memory_limit` error instead of whatever the guest's allocator does on failure.

use wasmtime::ResourceLimiter;

/// The error a guest traps with when it grows its memory past its cap.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("tried to grow linear memory to {desired} bytes; the cap is {cap} bytes")]
pub struct MemoryLimitExceeded {
    pub desired: usize,
    pub cap: usize,
}

/// Limits one store's memories and tables and records the peak memory size.
#[derive(Debug)]
pub struct CallLimiter {
    memory_cap: usize,
    table_cap: usize,
    peak: usize,
}

/// Table elements any one table may hold; generous for real toolchains' function tables.
const TABLE_ELEMENTS_CAP: usize = 100_000;

impl CallLimiter {
    pub fn new(memory_cap: usize) -> Self {
        Self {
            memory_cap,
            table_cap: TABLE_ELEMENTS_CAP,
            peak: 0,
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
        _current: usize,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_past_the_cap_traps_with_the_sizes() {
        let mut l = CallLimiter::new(1 << 20);
        assert!(l.memory_growing(0, 1 << 16, None).unwrap());
        let err = l.memory_growing(1 << 16, 2 << 20, None).unwrap_err();
        let hit = err.downcast_ref::<MemoryLimitExceeded>().unwrap();
        assert_eq!((hit.desired, hit.cap), (2 << 20, 1 << 20));
        assert_eq!(l.peak(), 1 << 16);
    }

    #[test]
    fn growth_past_the_declared_maximum_fails_without_trapping() {
        let mut l = CallLimiter::new(1 << 20);
        assert!(!l.memory_growing(0, 1 << 17, Some(1 << 16)).unwrap());
    }
}
