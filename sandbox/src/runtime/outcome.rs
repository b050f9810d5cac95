//! Turning what a guest did into a [`CallError`] of the right kind.
//!
//! Messages are predicates about the tool ("used all of its fuel ..."): the caller puts the
//! tool's name in front of them.

use std::time::Duration;

use mcp_contract::sandbox_api::{CallError, ErrorKind};
use mcp_contract::units::{ByteSize, Span};
use wasmtime::Trap;

use super::bindings::ToolError;
use super::limiter::MemoryLimitExceeded;
use super::output::OutputOverflow;
use crate::toolset::manifest::Limits;

/// The error a guest traps with when it runs past its wall-clock deadline.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the call ran past its deadline")]
pub struct DeadlineExceeded;

fn err(kind: ErrorKind, message: String) -> CallError {
    CallError::new(kind, message)
}

pub fn deadline_error(limits: &Limits) -> CallError {
    err(
        ErrorKind::Timeout,
        format!(
            "ran past its wall-clock limit of {} and was stopped",
            limits.timeout
        ),
    )
}

/// Restates a timeout of a call that brought its own deadline forward (`limit-deadline`, e.g.
/// `execute_code`'s `timeout_s`): the tool's limit would mislead; `budget` is the time from
/// the start of the call to that deadline.
pub fn own_deadline(e: CallError, limits: &Limits, budget: Duration) -> CallError {
    if e.kind != ErrorKind::Timeout {
        return e;
    }
    let budget = Duration::from_millis(budget.as_millis() as u64);
    err(
        ErrorKind::Timeout,
        format!(
            "ran past the deadline it set itself, {} after the call started (its limit is {}), \
             and was stopped",
            Span(budget),
            limits.timeout
        ),
    )
}

/// Restates a timeout of a call whose caller's deadline (e.g. the gateway's execute timeout)
/// came before the tool's own limit: that deadline, `budget` after the start, stopped it.
pub fn caller_deadline(e: CallError, limits: &Limits, budget: Duration) -> CallError {
    let budget = Duration::from_millis(budget.as_millis() as u64);
    if e.kind != ErrorKind::Timeout || budget >= limits.timeout.get() {
        return e;
    }
    err(
        ErrorKind::Timeout,
        format!(
            "ran past the caller's deadline, {} after the call started, and was stopped",
            Span(budget)
        ),
    )
}

/// Attaches the structured detail a guest set (`fail-detail`) to the failure it reported: a
/// JSON object no larger than the output cap; anything else is dropped.
pub fn with_detail(e: CallError, detail: &str, limits: &Limits) -> CallError {
    if !matches!(e.kind, ErrorKind::ToolError | ErrorKind::InvalidArguments)
        || detail.len() > limits.output.as_usize()
    {
        return e;
    }
    match serde_json::from_str::<serde_json::Value>(detail) {
        Ok(v) if v.is_object() => e.with_detail(v),
        _ => e,
    }
}

/// Classifies an error that ended a guest's instantiation or call.
pub fn classify(e: &wasmtime::Error, limits: &Limits, stderr: &[u8]) -> CallError {
    if e.downcast_ref::<DeadlineExceeded>().is_some() {
        return deadline_error(limits);
    }
    if let Some(m) = e.downcast_ref::<MemoryLimitExceeded>() {
        return err(
            ErrorKind::MemoryLimit,
            format!(
                "tried to grow its memory to {} bytes, past its cap of {}, and was stopped",
                m.desired, limits.memory
            ),
        );
    }
    if let Some(o) = e.downcast_ref::<OutputOverflow>() {
        return err(
            ErrorKind::OutputTooLarge,
            format!(
                "wrote more than its output cap of {} to {} and was stopped",
                ByteSize(o.cap as u64),
                o.stream
            ),
        );
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => err(
            ErrorKind::FuelExhausted,
            format!(
                "used all of its fuel ({} units) and was stopped",
                limits.fuel
            ),
        ),
        Some(Trap::StackOverflow) => err(
            ErrorKind::StackOverflow,
            "overflowed its stack (unbounded recursion?) and was stopped".to_owned(),
        ),
        Some(Trap::Interrupt) => deadline_error(limits),
        Some(trap) => {
            let mut message = format!("crashed: {trap}");
            if let Some(panic) = panic_message(stderr) {
                message.push_str(&format!(" ({panic})"));
            }
            err(ErrorKind::ToolTrap, message)
        }
        None => err(ErrorKind::ToolTrap, format!("failed: {e:#}")),
    }
}

/// The last "panicked at" report a Rust guest wrote to stderr, if any.
fn panic_message(stderr: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(stderr);
    let start = text.rfind("panicked at")?;
    let report: String = text[start..].lines().take(2).collect::<Vec<_>>().join(": ");
    Some(report.chars().take(500).collect())
}

/// Checks a guest's result text against the output cap and parses it as JSON.
pub fn parse_result(text: &str, limits: &Limits) -> Result<serde_json::Value, CallError> {
    if text.len() > limits.output.as_usize() {
        return Err(err(
            ErrorKind::OutputTooLarge,
            format!(
                "returned {} bytes, past its output cap of {}",
                text.len(),
                limits.output
            ),
        ));
    }
    serde_json::from_str(text).map_err(|e| {
        err(
            ErrorKind::BadOutput,
            format!("returned a result that is not valid JSON ({e})"),
        )
    })
}

/// Maps a failure the tool reported itself.
pub fn tool_error(e: ToolError) -> CallError {
    match e {
        ToolError::InvalidArguments(m) => err(ErrorKind::InvalidArguments, m),
        ToolError::Failed(m) => err(ErrorKind::ToolError, m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traps_map_to_their_kinds() {
        let limits = Limits::default();
        let cases = [
            (
                wasmtime::Error::new(Trap::OutOfFuel),
                ErrorKind::FuelExhausted,
            ),
            (
                wasmtime::Error::new(Trap::StackOverflow),
                ErrorKind::StackOverflow,
            ),
            (wasmtime::Error::new(Trap::Interrupt), ErrorKind::Timeout),
            (
                wasmtime::Error::new(Trap::UnreachableCodeReached),
                ErrorKind::ToolTrap,
            ),
            (wasmtime::Error::new(DeadlineExceeded), ErrorKind::Timeout),
            (
                wasmtime::Error::new(MemoryLimitExceeded {
                    desired: 10,
                    cap: 5,
                }),
                ErrorKind::MemoryLimit,
            ),
            (
                wasmtime::Error::new(OutputOverflow {
                    stream: "stdout",
                    cap: 5,
                }),
                ErrorKind::OutputTooLarge,
            ),
        ];
        for (e, kind) in cases {
            assert_eq!(classify(&e, &limits, b"").kind, kind, "{e:?}");
        }
    }

    #[test]
    fn a_timeout_at_a_deadline_the_guest_set_names_that_deadline() {
        let limits = Limits::default();
        let e = own_deadline(
            deadline_error(&limits),
            &limits,
            Duration::from_micros(2_000_400),
        );
        assert_eq!(e.kind, ErrorKind::Timeout);
        assert!(
            e.message.contains("set itself, 2s after") && e.message.contains("limit is 30s"),
            "{}",
            e.message
        );
        let trap = err(ErrorKind::ToolTrap, "crashed".into());
        assert_eq!(
            own_deadline(trap, &limits, Duration::ZERO).message,
            "crashed"
        );
    }

    #[test]
    fn a_timeout_at_the_callers_earlier_deadline_names_that_deadline() {
        let limits = Limits {
            timeout: Span(Duration::from_secs(120)),
            ..Limits::default()
        };
        let e = caller_deadline(
            deadline_error(&limits),
            &limits,
            Duration::from_micros(30_000_200),
        );
        assert_eq!(e.kind, ErrorKind::Timeout);
        assert!(
            e.message.contains("caller's deadline, 30s after") && !e.message.contains("2m"),
            "{}",
            e.message
        );
        // At the tool's own limit the limit is the deadline: the message stays.
        let same = caller_deadline(deadline_error(&limits), &limits, Duration::from_secs(120));
        assert!(same.message.contains("limit of 2m"), "{}", same.message);
    }

    #[test]
    fn failure_detail_is_kept_only_as_a_bounded_json_object() {
        let limits = Limits {
            output: ByteSize(64),
            ..Limits::default()
        };
        let failed = || err(ErrorKind::ToolError, "boom".into());
        let e = with_detail(failed(), r#"{"error":"ValueError: x"}"#, &limits);
        assert_eq!(
            e.detail.as_deref(),
            Some(&serde_json::json!({"error": "ValueError: x"}))
        );
        assert!(with_detail(failed(), "[1]", &limits).detail.is_none());
        assert!(with_detail(failed(), "{oops", &limits).detail.is_none());
        let big = format!(r#"{{"x":"{}"}}"#, "a".repeat(100));
        assert!(with_detail(failed(), &big, &limits).detail.is_none());
        let trap = err(ErrorKind::ToolTrap, "crashed".into());
        assert!(with_detail(trap, "{}", &limits).detail.is_none());
    }

    #[test]
    fn trap_reports_carry_the_guest_panic_message() {
        let stderr = b"\nthread '<unnamed>' panicked at src/lib.rs:10:5:\nboom\nnote: run with RUST_BACKTRACE=1\n";
        let e = classify(
            &wasmtime::Error::new(Trap::UnreachableCodeReached),
            &Limits::default(),
            stderr,
        );
        assert!(
            e.message.contains("panicked at src/lib.rs:10:5:: boom"),
            "{}",
            e.message
        );
    }

    #[test]
    fn results_past_the_cap_or_not_json_are_rejected() {
        let limits = Limits {
            output: ByteSize(8),
            ..Limits::default()
        };
        assert_eq!(
            parse_result("\"123456789\"", &limits).unwrap_err().kind,
            ErrorKind::OutputTooLarge
        );
        assert_eq!(
            parse_result("{oops", &limits).unwrap_err().kind,
            ErrorKind::BadOutput
        );
        assert_eq!(
            parse_result("[1,2]", &limits).unwrap(),
            serde_json::json!([1, 2])
        );
    }
}
