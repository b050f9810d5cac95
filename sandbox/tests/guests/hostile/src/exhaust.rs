//! Tools that use up a resource: fuel, memory, stack, output, time.

use std::hint::black_box;
use std::io::Write;
use std::time::Duration;

use mcp_tool_sdk::prelude::*;

const MIB: u64 = 1024 * 1024;

/// How much to produce.
#[derive(Deserialize, JsonSchema)]
pub struct SizeArgs {
    /// Bytes to produce; 100 MiB if absent.
    #[serde(default)]
    bytes: Option<u64>,
}

impl SizeArgs {
    fn bytes(&self) -> Result<usize, ToolError> {
        let bytes = self.bytes.unwrap_or(100 * MIB);
        usize::try_from(bytes).map_err(|_| ToolError::invalid_arguments("`bytes` is too large"))
    }
}

/// How long to sleep.
#[derive(Deserialize, JsonSchema)]
pub struct SleepArgs {
    /// Milliseconds to sleep.
    ms: u64,
}

pub fn spin(_: NoArgs, _cx: &Context) -> Result<String, ToolError> {
    let mut counter: u64 = 0;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}

pub fn memory_bomb(_: NoArgs, _cx: &Context) -> Result<String, ToolError> {
    const BLOCK: usize = MIB as usize;
    const PAGE: usize = 4096;
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    loop {
        // Allocation failure aborts the instance: that is the point.
        let mut block = vec![0u8; BLOCK];
        for offset in (0..BLOCK).step_by(PAGE) {
            block[offset] = black_box(1);
        }
        blocks.push(black_box(block));
    }
}

pub fn huge_output(args: SizeArgs, _cx: &Context) -> Result<String, ToolError> {
    Ok("x".repeat(args.bytes()?))
}

pub fn stdout_flood(args: SizeArgs, _cx: &Context) -> Result<String, ToolError> {
    let total = args.bytes()?;
    let mut line = [b'y'; 64 * 1024];
    line[line.len() - 1] = b'\n';
    let mut stdout = std::io::stdout().lock();
    let mut written = 0;
    while written < total {
        let chunk = &line[..line.len().min(total - written)];
        stdout.write_all(chunk).map_err(|error| {
            ToolError::failed(format!(
                "writing to stdout failed after {written} bytes: {error}"
            ))
        })?;
        written += chunk.len();
    }
    stdout
        .flush()
        .map_err(|error| ToolError::failed(format!("flushing stdout failed: {error}")))?;
    Ok(format!("wrote {written} bytes to stdout"))
}

pub fn stack_overflow(_: NoArgs, _cx: &Context) -> Result<String, ToolError> {
    Ok(format!("recursion ended: {}", recurse(1)))
}

/// Read through a volatile load, so the optimiser cannot prove the recursion unbounded (and so
/// cannot drop it) nor bounded.
static STOP_AT: u64 = u64::MAX;

/// Recursion that is neither a tail call nor an accumulator loop (the result divides by the inner
/// result), so every level keeps a real frame. No local has its address taken, so the frames
/// live on the wasm call stack rather than in linear memory.
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    // SAFETY: reading an initialised, properly aligned static.
    if depth == unsafe { std::ptr::read_volatile(&raw const STOP_AT) } {
        return depth;
    }
    depth.wrapping_mul(7) / (recurse(depth + 1) | 1)
}

pub fn sleep_ms(args: SleepArgs, _cx: &Context) -> Result<String, ToolError> {
    std::thread::sleep(Duration::from_millis(args.ms));
    Ok(format!("slept {} ms", args.ms))
}
