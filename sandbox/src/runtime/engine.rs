//! The process's one wasmtime [`Engine`]: fuel metering, epoch interruption, the pooling
//! instance allocator, and the thread that advances the epoch.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mcp_contract::units::ByteSize;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances. A guest that runs past its deadline is stopped within about
/// one tick, and a busy guest yields to other tasks once per tick.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Settings of the engine, fixed for the life of the process.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Use the pooling instance allocator (pre-reserved, reused instance slots).
    pub pooling: bool,
    /// Component instances that may exist at once (top-level and nested calls together).
    pub max_instances: u32,
    /// The largest linear memory any tool may be granted.
    pub max_memory: ByteSize,
    /// Bytes of each memory slot kept resident (zeroed instead of unmapped) between calls,
    /// when the kernel cannot tell which pages a call dirtied (no `PAGEMAP_SCAN`, Linux < 6.7):
    /// then the lowest `keep_resident` bytes are `memset` whole. Measured on 2 cores with a
    /// trivial tool: 64 KiB gives p50 ~32 µs per call; 1 MiB costs ~20 µs more per call in
    /// `memset` (benches/benches/sandbox_call.rs).
    pub keep_resident: ByteSize,
    /// Bytes of each memory slot reset in place between calls when the kernel reports which
    /// pages a call dirtied (`PAGEMAP_SCAN`): only those pages are restored from the memory
    /// image, the rest stay mapped (see `pooling_config` for why this matters).
    pub keep_resident_scanned: ByteSize,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            pooling: true,
            max_instances: 64,
            max_memory: ByteSize::mib(512),
            keep_resident: ByteSize::kib(64),
            keep_resident_scanned: ByteSize::mib(32),
        }
    }
}

/// Builds the engine. Components, instances and stores made from it inherit these settings.
pub fn build_engine(settings: &EngineSettings) -> wasmtime::Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.consume_fuel(true);
    config.epoch_interruption(true);
    // Guests run on fibers; a guest's own stack is bounded separately from the fiber.
    config.max_wasm_stack(1 << 20);
    config.async_stack_size(4 << 20);
    config.parallel_compilation(true);
    if settings.pooling {
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling_config(
            settings,
        )));
    }
    Engine::new(&config)
}

fn pooling_config(settings: &EngineSettings) -> PoolingAllocationConfig {
    // A component such as CPython brings several core instances, memories and tables; size the
    // per-component limits for that, and the totals for `max_instances` of them.
    const CORE_PER_COMPONENT: u32 = 32;
    const MEMORIES_PER_COMPONENT: u32 = 4;
    const TABLES_PER_COMPONENT: u32 = 16;
    let n = settings.max_instances.max(1);
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(n)
        .total_core_instances(n * CORE_PER_COMPONENT)
        .max_core_instances_per_component(CORE_PER_COMPONENT)
        .total_memories(n * MEMORIES_PER_COMPONENT)
        .max_memories_per_component(MEMORIES_PER_COMPONENT)
        .total_tables(n * TABLES_PER_COMPONENT)
        .max_tables_per_component(TABLES_PER_COMPONENT)
        .max_tables_per_module(2)
        .table_elements(100_000)
        .total_stacks(n)
        .max_memory_size(settings.max_memory.as_usize())
        .max_component_instance_size(4 << 20)
        .max_core_instance_size(2 << 20)
        .table_keep_resident(64 << 10);
    // Reuse warm slots without returning their pages to the kernel. A slot reset with
    // `madvise(DONTNEED)` loses the private copies of the component's memory image, so the next
    // call copy-on-write faults them in again; a fault on a page already mapped read-only must
    // flush it from the TLB of every other core running this process (an IPI: a VM exit under
    // a hypervisor), so kernel time per call grows with the cores in use. With `PAGEMAP_SCAN`
    // the pool restores only the pages a call dirtied, in place, up to `keep_resident_scanned`
    // bytes, and the next call touches them without a fault. Measured (benches/RESULTS.md,
    // 2 cores): echo goes from 5 faults and ~80 us CPU per call to 0 faults and ~55 us;
    // execute_code (CPython, a ~20 MiB interpreter snapshot) from ~550 to ~455 faults, since
    // wasmtime 48 scans at most 32 dirty runs per reset and decommits the rest.
    if PoolingAllocationConfig::is_pagemap_scan_available() {
        pool.pagemap_scan(Enabled::Yes)
            .linear_memory_keep_resident(settings.keep_resident_scanned.as_usize());
    } else {
        pool.linear_memory_keep_resident(settings.keep_resident.as_usize());
    }
    pool
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until dropped.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EpochTicker {
    pub fn start(engine: Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawning the epoch thread");
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile_key(settings: &EngineSettings) -> u64 {
        use std::hash::{Hash, Hasher};
        let engine = build_engine(settings).expect("engine");
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        h.finish()
    }

    /// `tool compile` builds its engine from the default settings, `serve` from its flags
    /// (`--max-concurrent`, `--max-memory`, `--no-pooling`); the artifact cache is keyed by the
    /// engine's compatibility hash, so a setting that reached the compiler would make `serve`
    /// miss every artifact `tool compile` (or a differently sized replica) wrote, and compile
    /// again at start. Only instance allocation may vary with the flags.
    #[test]
    fn serve_flags_do_not_change_the_compiled_artifacts_cache_key() {
        let small = |s: EngineSettings| EngineSettings {
            max_memory: ByteSize::mib(64),
            max_instances: 2,
            ..s
        };
        let default = compile_key(&small(EngineSettings::default()));
        let variants = [
            EngineSettings {
                max_instances: 3,
                ..small(EngineSettings::default())
            },
            EngineSettings {
                max_memory: ByteSize::mib(128),
                ..small(EngineSettings::default())
            },
            EngineSettings {
                keep_resident: ByteSize::mib(1),
                keep_resident_scanned: ByteSize::mib(1),
                ..small(EngineSettings::default())
            },
            EngineSettings {
                pooling: false,
                ..EngineSettings::default()
            },
        ];
        for v in &variants {
            assert_eq!(compile_key(v), default, "{v:?} changes the cache key");
        }
    }
}
