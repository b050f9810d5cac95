//! Operator commands built into the binary: `doctor` (the daily health check), `audit`
//! (summaries of the audit log) and `smoke` (a live end-to-end check of a running gateway).
//! They use the same configuration and libraries as `serve`.

pub mod audit_report;
pub mod doctor;
pub mod smoke;
